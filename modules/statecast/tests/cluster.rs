//! The S3 story at cluster scale, natively: a healthy cluster converges, the poison
//! variant contaminates every node, and the fixed code purges the poison on hot swap
//! and never takes it back — even with poisoned peers gossiping straight at it.

mod common;

use common::{addr, fixed, message, poison, poisoned_from, Cluster};
use statecast::engine::wire;
use statecast::Record;

const N: usize = 30;
const PARAMS: &str = r#"{"fanout":3}"#;

fn poison_params(origin: usize) -> String {
    format!(r#"{{"fanout":3,"poison_at":"{}"}}"#, addr(origin))
}

/// A healthy cluster agreed on (1, 42), then every node swapped to the poison code
/// with node 4 as the origin, and gossiped until all are poisoned.
fn poisoned_cluster() -> Cluster {
    let mut c = Cluster::new(N, fixed(), PARAMS, 5);
    c.command(0, r#"{"set":42}"#);
    c.converge_on(1, 42, 12);
    for i in 0..N {
        assert!(
            c.swap(i, poison(), &poison_params(4)),
            "poison code takes the state over"
        );
    }
    let bad = poisoned_from(Record::new(1, 42));
    c.round();
    let first = c.poisoned();
    assert!(
        first > 1 && first < N,
        "poison spreads by gossip, not at once: {}",
        first
    );
    let rounds = c.converge_on(bad.version, bad.value, 10);
    eprintln!(
        "poison: {} of {} after round 1, all after {} rounds",
        first, N, rounds
    );
    c
}

#[test]
fn healthy_cluster_converges_on_the_highest_valid_record() {
    let mut c = Cluster::new(N, fixed(), PARAMS, 1);
    c.round();
    c.round();
    c.command(3, r#"{"set":10}"#);
    c.command(11, r#"{"set":99}"#);
    c.command(7, r#"{"set":5}"#);
    c.command(7, r#"{"set":20}"#);
    // A forged record far ahead, delivered straight to node 5: dropped.
    let mut forged = Record::new(1000, 7);
    forged.check ^= 0x10;
    let replies = c.deliver(5, &addr(9), &message(forged));
    assert_eq!(replies.len(), 1, "still answers the push-pull");
    assert!(!c.view(5).poisoned);
    assert_eq!(c.view(5).version, 0);

    let rounds = c.converge_on(2, 20, 12);
    assert!(rounds <= 8, "took {} rounds", rounds);
    eprintln!("healthy: converged in {} rounds", rounds);
    for v in c.views() {
        assert!(!v.poisoned, "{:?}", v);
        assert!(v.peers >= 3, "knows a few peers: {:?}", v);
    }
}

#[test]
fn ties_go_to_the_higher_value() {
    let mut c = Cluster::new(8, fixed(), PARAMS, 2);
    c.command(1, r#"{"set":10}"#);
    c.command(6, r#"{"set":99}"#);
    c.converge_on(1, 99, 10);
}

#[test]
fn poison_spreads_to_every_node_in_a_few_rounds() {
    let mut c = poisoned_cluster();
    assert_eq!(c.poisoned(), N);
    // And it stays: the poison code has no way back.
    for _ in 0..5 {
        c.round();
    }
    assert_eq!(c.poisoned(), N);
}

#[test]
fn without_poison_at_every_node_corrupts_itself() {
    let mut c = Cluster::new(10, poison(), PARAMS, 3);
    c.round();
    assert_eq!(c.poisoned(), 10);
    let bad = poisoned_from(Record::genesis());
    assert!(c
        .views()
        .iter()
        .all(|v| v.version == bad.version && v.value == bad.value));
}

#[test]
fn the_fix_purges_the_poison_and_never_accepts_it_again() {
    let mut c = poisoned_cluster();
    let bad = poisoned_from(Record::new(1, 42));

    // The fix reaches node 0 first: the handed-over poison is dropped and the node
    // falls back to the newest sound record the poisoned code had seen.
    assert!(c.swap(0, fixed(), PARAMS));
    let v = c.view(0);
    assert!(!v.poisoned);
    assert_eq!((v.version, v.value), (1, 42));
    let replies = c.deliver(0, &addr(1), &message(bad));
    assert!(!c.view(0).poisoned, "poison delivered directly is dropped");
    let (_, reply) = &replies[0];
    let reply = wire::decode_message(reply).expect("a reply");
    assert_eq!(reply.record, Record::new(1, 42), "answers with the sound record");

    // The fix spreads a few nodes a round while the poisoned ones keep gossiping
    // (natively nothing keeps code versions apart): no fixed node ever holds poison.
    let mut swapped = 1;
    while swapped < N {
        for i in swapped..(swapped + 4).min(N) {
            c.swap(i, fixed(), PARAMS);
        }
        swapped = (swapped + 4).min(N);
        c.round();
        for i in 0..swapped {
            assert!(!c.view(i).poisoned, "fixed node {} took the poison back", i);
        }
    }
    c.converge_on(1, 42, 5);
    assert_eq!(c.poisoned(), 0);

    // Poison thrown straight at every node, push and push-pull: still nobody takes it.
    for i in 0..N {
        c.deliver(i, &addr((i + 1) % N), &message(bad));
        c.deliver(i, &addr((i + 1) % N), &wire::encode_message(false, &bad, &[]));
    }
    for _ in 0..5 {
        c.round();
    }
    assert_eq!(c.poisoned(), 0);

    // And the repaired cluster works: a new write spreads.
    c.command(17, r#"{"set":7}"#);
    c.converge_on(2, 7, 10);
}

#[test]
fn a_poisoned_handover_without_a_sound_record_resets_to_version_zero() {
    let mut c = Cluster::new(1, fixed(), PARAMS, 4);
    let bad = poisoned_from(Record::new(3, 3));
    let state = wire::encode_state(&bad, &bad, &["10.9.9.9:7000"]);
    let node = &mut c.nodes[0];
    assert!(node.module.import_state(&state, &mut node.host));
    let v = c.view(0);
    assert_eq!((v.version, v.value, v.poisoned, v.peers), (0, 0, false, 1));
}
