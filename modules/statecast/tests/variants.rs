//! The bad variants' behaviour, natively, one node at a time. `bad-loop` is only run
//! up to the tick before it spins: natively nothing would stop it.

mod common;

use common::{addr, message, parse_view, poisoned_from, NodeHost};
use hearsay_guest::{factory, DynModule, Factory};
use statecast::engine::{wire, LOOP_FROM_TICK};
use statecast::{Fixed, Flood, Loop, Poison, Record, Silent, Statecast, Trap};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn start(code: Factory, bootstrap: usize) -> (NodeHost, Box<dyn DynModule>) {
    let mut host = NodeHost::new(addr(0), (1..=bootstrap).map(addr).collect(), 11);
    let module = code(r#"{"fanout":2}"#, &mut host).expect("init");
    (host, module)
}

#[test]
fn trap_gossips_until_its_first_message_then_traps() {
    let (mut host, mut m) = start(factory::<Statecast<Trap>>(), 3);
    m.tick(100, &mut host);
    m.tick(200, &mut host);
    assert_eq!(host.outbox.len(), 4, "ticks normally before any message");
    let msg = message(Record::new(1, 1));
    let r = catch_unwind(AssertUnwindSafe(|| m.receive(&addr(1), &msg, &mut host)));
    assert!(r.is_err(), "the first message traps");
    let r = catch_unwind(AssertUnwindSafe(|| m.tick(300, &mut host)));
    assert!(r.is_err(), "and it stays dead if the host keeps it");
    assert_eq!(parse_view(&m.query("", &mut host)).version, 0);
}

#[test]
fn loop_gossips_normally_before_its_third_tick() {
    assert_eq!(LOOP_FROM_TICK, 3);
    let (mut host, mut m) = start(factory::<Statecast<Loop>>(), 3);
    m.tick(100, &mut host);
    m.tick(200, &mut host);
    assert_eq!(host.outbox.len(), 4);
    host.outbox.clear();
    m.receive(&addr(1), &message(Record::new(2, 5)), &mut host);
    assert_eq!(host.outbox.len(), 1, "replies before it goes bad");
    assert_eq!(parse_view(&m.query("", &mut host)).value, 5);
    // Tick 3 would spin forever: only fuel in a wasm host stops it.
}

#[test]
fn silent_never_sends_but_still_merges() {
    let (mut host, mut m) = start(factory::<Statecast<Silent>>(), 3);
    for t in 1..10 {
        m.tick(t * 100, &mut host);
    }
    m.receive(&addr(1), &message(Record::new(4, 9)), &mut host);
    assert!(host.outbox.is_empty(), "sent {:?}", host.outbox);
    let v = parse_view(&m.query("", &mut host));
    assert_eq!((v.version, v.value, v.peers), (4, 9, 1));
}

#[test]
fn flood_sends_without_end_until_the_host_stops_it() {
    let (mut host, mut m) = start(factory::<Statecast<Flood>>(), 3);
    host.send_cap = Some(10_000);
    let r = catch_unwind(AssertUnwindSafe(|| m.tick(100, &mut host)));
    assert!(r.is_err(), "the tick only ends when the host cuts it off");
    assert_eq!(host.sent, 10_000);
    for (to, bytes) in &host.outbox {
        assert!([addr(1), addr(2), addr(3)].contains(to));
        let msg = wire::decode_message(bytes).expect("well-formed");
        assert!(
            !msg.want_reply,
            "push only: the flood isn't multiplied by replies"
        );
    }
    // Knowing nobody, there is nobody to flood: the tick returns.
    let (mut lonely_host, mut lonely) = start(factory::<Statecast<Flood>>(), 0);
    lonely.tick(100, &mut lonely_host);
    assert!(lonely_host.outbox.is_empty());
}

#[test]
fn only_the_poison_variant_takes_a_poisoned_record() {
    let bad = message(poisoned_from(Record::new(1, 1)));
    let codes: [(Factory, bool); 5] = [
        (factory::<Statecast<Fixed>>(), false),
        (factory::<Statecast<Poison>>(), true),
        (factory::<Statecast<Silent>>(), false),
        (factory::<Statecast<Flood>>(), false),
        (factory::<Statecast<Loop>>(), false),
    ];
    for (code, takes) in codes {
        let (mut host, mut m) = start(code, 0);
        m.receive(&addr(1), &bad, &mut host);
        assert_eq!(parse_view(&m.query("", &mut host)).poisoned, takes);
    }
}

#[test]
fn poison_at_corrupts_only_the_named_node() {
    let code = factory::<Statecast<Poison>>();
    let mut host = NodeHost::new(addr(0), vec![addr(1)], 1);
    let mut m = code(&format!(r#"{{"poison_at":"{}"}}"#, addr(5)), &mut host).unwrap();
    m.tick(100, &mut host);
    assert!(!parse_view(&m.query("", &mut host)).poisoned);
    let mut m = code(&format!(r#"{{"poison_at":"{}"}}"#, addr(0)), &mut host).unwrap();
    m.tick(100, &mut host);
    let v = parse_view(&m.query("", &mut host));
    assert!(v.poisoned);
    let bad = poisoned_from(Record::genesis());
    assert_eq!((v.version, v.value), (bad.version, bad.value));
    m.tick(200, &mut host);
    assert_eq!(
        parse_view(&m.query("", &mut host)).version,
        bad.version,
        "corrupts once"
    );
}
