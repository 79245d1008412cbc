//! The kv module in a deterministic cluster (`hearsay_guest::testing::Cluster`): the
//! module runs natively through `hearsay_guest::factory`, as the simulator runs it.
//! Every assertion is on rounds and counts, never on wall time.

use hearsay_guest::factory;
use hearsay_guest::json::{self, Value};
use hearsay_guest::testing::Cluster;
use kv::Kv;

/// Fast liveness and tombstone collection, so tests run few rounds.
const PARAMS: &str = "{\"dead_after_ms\":3000,\"forget_after_ms\":20000,\"tombstone_ms\":2000}";

fn cluster(n: usize, params: &str, seed: u64) -> Cluster {
    let mut c = Cluster::new(n, factory::<Kv>(), params, seed);
    // Everyone learns everyone.
    c.rounds(20);
    c
}

fn set(c: &mut Cluster, i: usize, key: &str, value: &str) {
    let answer = c.command(
        i,
        &format!("{{\"op\":\"set\",\"key\":\"{}\",\"value\":\"{}\"}}", key, value),
    );
    assert!(answer.contains("version"), "{}", answer);
}

fn delete(c: &mut Cluster, i: usize, key: &str) -> String {
    c.command(i, &format!("{{\"op\":\"delete\",\"key\":\"{}\"}}", key))
}

/// The values node `i` reads for `key`: (writer, value).
fn get(c: &mut Cluster, i: usize, key: &str) -> Vec<(String, String)> {
    let doc = json::parse(&c.query(i, &format!("get {}", key))).expect("JSON");
    match doc.get("values") {
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| {
                (
                    v.get("node").and_then(Value::as_str).unwrap().to_string(),
                    v.get("value").and_then(Value::as_str).unwrap().to_string(),
                )
            })
            .collect(),
        _ => panic!("no values"),
    }
}

fn count(c: &mut Cluster, i: usize, prefix: &str) -> u64 {
    let doc = json::parse(&c.query(i, &format!("list {}", prefix))).expect("JSON");
    doc.get("count").and_then(Value::as_u64).unwrap()
}

fn everyone_has(c: &mut Cluster, key: &str, value: &str) -> bool {
    let live: Vec<usize> = (0..c.nodes.len())
        .filter(|&i| c.nodes[i].module.is_some())
        .collect();
    live.into_iter()
        .all(|i| get(c, i, key).iter().any(|(_, v)| v == value))
}

fn summary(c: &mut Cluster, i: usize, field: &str) -> u64 {
    json::parse(&c.query(i, ""))
        .unwrap()
        .get(field)
        .and_then(Value::as_u64)
        .unwrap()
}

#[test]
fn every_node_learns_every_writer_and_no_node_tracks_the_silent_ones() {
    let mut c = cluster(40, PARAMS, 1);
    // Nobody wrote: every node holds its own state alone, and gossips with a view of
    // its peers.
    for i in 0..40 {
        assert_eq!(summary(&mut c, i, "nodes"), 1, "node {}", i);
        assert!(summary(&mut c, i, "peers") >= 8, "node {}", i);
    }
    for i in 0..30 {
        set(&mut c, i, &format!("n/{}", i), "x");
    }
    c.rounds(10);
    for i in 0..40 {
        assert_eq!(summary(&mut c, i, "writers"), 30, "node {}", i);
        // The 30 writers, and itself when it is not one of them.
        assert_eq!(
            summary(&mut c, i, "nodes"),
            if i < 30 { 30 } else { 31 },
            "node {}",
            i
        );
    }
}

#[test]
fn a_new_key_reaches_everyone_by_pushes_before_the_next_round() {
    for seed in 1..=5 {
        let mut c = cluster(60, PARAMS, seed);
        set(&mut c, 7, "service/web", "10.0.0.7:80");
        // The pushes alone (infect and die, fanout 4: about e^-4 of the nodes missed)
        // were delivered with the command.
        let have = (0..60)
            .filter(|&i| !get(&mut c, i, "service/web").is_empty())
            .count();
        assert!(have >= 54, "seed {}: {} of 60 by pushes alone", seed, have);
        // Anti-entropy does the rest in a round or two.
        let rounds = c.rounds_until(2, |c| everyone_has(c, "service/web", "10.0.0.7:80"));
        assert!(rounds.is_some(), "seed {}", seed);
    }
}

#[test]
fn a_large_state_converges_over_several_rounds_within_the_message_cap() {
    // No pushes: anti-entropy alone, 16 KiB messages, ~300 KB of keys at one node.
    let params = "{\"push_fanout\":0,\"dead_after_ms\":30000,\"forget_after_ms\":60000}";
    let mut c = cluster(12, params, 3);
    let value = "v".repeat(150);
    for k in 0..2000 {
        set(&mut c, 4, &format!("bulk/{:05}", k), &value);
    }
    let rounds = c
        .rounds_until(100, |c| (0..12).all(|i| count(c, i, "bulk/") == 2000))
        .expect("converges");
    assert!(
        rounds >= 3,
        "2,000 keys of 150 B can't fit one message: {} rounds",
        rounds
    );
    assert!(c.max_message <= 16 * 1024, "a message of {} bytes", c.max_message);
}

#[test]
fn loss_slows_convergence_but_loses_nothing() {
    let mut c = cluster(40, PARAMS, 4);
    c.drop_one_in = 10;
    for k in 0..200 {
        set(&mut c, k % 40, &format!("k{}", k), "x");
    }
    c.rounds_until(60, |c| (0..40).all(|i| count(c, i, "k") == 200))
        .expect("every key everywhere at 10% loss");
}

#[test]
fn each_change_is_one_event_at_every_node() {
    let mut c = cluster(20, PARAMS, 5);
    for i in 0..20 {
        c.events(i);
    }
    set(&mut c, 3, "a", "1");
    c.rounds(10);
    set(&mut c, 3, "a", "2");
    c.rounds(10);
    assert_eq!(delete(&mut c, 3, "a"), "{\"deleted\":true}");
    c.rounds(10);
    assert_eq!(delete(&mut c, 3, "a"), "{\"deleted\":false}");
    for i in 0..20 {
        let events: Vec<String> = c
            .events(i)
            .into_iter()
            .map(|(kind, data)| {
                let doc = json::parse(&data).unwrap();
                let detail = doc
                    .get("value")
                    .or_else(|| doc.get("reason"))
                    .and_then(Value::as_str)
                    .unwrap()
                    .to_string();
                format!("{} {}", kind, detail)
            })
            .collect();
        assert_eq!(
            events,
            ["key.set 1", "key.set 2", "key.removed deleted"],
            "node {}",
            i
        );
    }
}

#[test]
fn a_delete_missed_while_away_past_the_tombstones_life_is_not_resurrected() {
    let mut c = cluster(10, PARAMS, 6);
    set(&mut c, 0, "stays", "1");
    set(&mut c, 0, "goes", "1");
    c.rounds(10);
    assert!(!get(&mut c, 9, "goes").is_empty());
    c.isolated.insert(9);
    assert_eq!(delete(&mut c, 0, "goes"), "{\"deleted\":true}");
    // Away for 4 s: past the tombstone's 2 s, so node 0 dropped it, and past 3 s, so
    // node 9 takes node 0 for dead meanwhile.
    c.rounds(40);
    let doc = json::parse(&c.query(0, "nodes")).unwrap();
    let own_gc = match doc.get("nodes") {
        Some(Value::Array(nodes)) => nodes
            .iter()
            .find(|n| n.get("node").and_then(Value::as_str) == Some(Cluster::addr(0).as_str()))
            .and_then(|n| n.get("gc_version").and_then(Value::as_u64)),
        _ => None,
    };
    assert!(own_gc.unwrap_or(0) > 0, "node 0 collected its tombstone");
    c.isolated.clear();
    c.events(9);
    c.rounds(10);
    assert!(
        get(&mut c, 9, "goes").is_empty(),
        "resurrected at the node that was away"
    );
    assert_eq!(get(&mut c, 9, "stays").len(), 1);
    for i in 0..9 {
        assert!(get(&mut c, i, "goes").is_empty());
        assert_eq!(get(&mut c, i, "stays").len(), 1);
    }
}

#[test]
fn a_dead_writers_keys_go_and_a_restarted_one_starts_over() {
    let mut c = cluster(10, PARAMS, 7);
    set(&mut c, 2, "service/db", "10.0.0.2:5432");
    set(&mut c, 2, "deleted", "x");
    delete(&mut c, 2, "deleted");
    c.rounds(5);
    for i in 0..10 {
        c.events(i);
    }
    c.crash(2);
    c.rounds(40);
    for i in (0..10).filter(|&i| i != 2) {
        assert!(
            get(&mut c, i, "service/db").is_empty(),
            "node {} still reads a dead writer's key",
            i
        );
        let events = c.events(i);
        assert_eq!(events.len(), 1, "node {}: {:?}", i, events);
        assert!(events[0].1.contains("\"reason\":\"dead\""));
    }
    // Back as a new instance: its old keys are gone for good (the deleted one too),
    // what it writes now spreads.
    c.start(2);
    set(&mut c, 2, "service/db", "10.0.0.2:6000");
    c.rounds(10);
    for i in 0..10 {
        assert_eq!(
            get(&mut c, i, "service/db"),
            [(Cluster::addr(2), "10.0.0.2:6000".to_string())]
        );
        assert!(get(&mut c, i, "deleted").is_empty());
    }
}

#[test]
fn a_restart_without_a_crash_long_enough_to_be_dead_drops_the_old_keys() {
    let mut c = cluster(10, PARAMS, 8);
    set(&mut c, 5, "old", "1");
    set(&mut c, 6, "old", "1");
    c.rounds(5);
    // Node 5 restarts and writes again: its new generation resets every replica at
    // once. Node 6 restarts and writes nothing: replicas learn nothing of its new
    // instance, and drop the old one's keys when its heartbeat stops (dead_after_ms:
    // 30 rounds).
    for i in [5, 6] {
        c.crash(i);
        c.start(i);
    }
    set(&mut c, 5, "new", "2");
    c.rounds(10);
    for i in 0..10 {
        // Node 6's old instance's key, read everywhere but at its new instance.
        let old = if i == 6 { 0 } else { 1 };
        assert_eq!(get(&mut c, i, "old").len(), old, "node {}", i);
        assert_eq!(get(&mut c, i, "new").len(), 1, "node {}", i);
    }
    let reasons = |c: &mut Cluster| -> Vec<String> {
        c.events(0)
            .into_iter()
            .filter(|(k, _)| k == "key.removed")
            .map(|(_, d)| d)
            .collect()
    };
    let first = reasons(&mut c);
    assert_eq!(first.len(), 1, "{:?}", first);
    assert!(first[0].contains(&Cluster::addr(5)) && first[0].contains("restarted"));
    c.rounds(30);
    for i in 0..10 {
        assert!(get(&mut c, i, "old").is_empty(), "node {}", i);
    }
    let later = reasons(&mut c);
    assert_eq!(later.len(), 1, "{:?}", later);
    assert!(later[0].contains(&Cluster::addr(6)) && later[0].contains("\"dead\""));
}

#[test]
fn a_hot_swap_keeps_the_generation_and_the_keys() {
    let mut c = cluster(10, PARAMS, 9);
    set(&mut c, 4, "mine", "1");
    set(&mut c, 1, "theirs", "2");
    c.rounds(5);
    let before = json::parse(&c.query(4, "")).unwrap();
    assert!(c.swap(4, factory::<Kv>(), PARAMS));
    let after = json::parse(&c.query(4, "")).unwrap();
    assert_eq!(before.get("generation"), after.get("generation"));
    assert_eq!(get(&mut c, 4, "theirs").len(), 1);
    for i in 0..10 {
        c.events(i);
    }
    c.rounds(10);
    for i in 0..10 {
        assert_eq!(get(&mut c, i, "mine").len(), 1);
        assert!(c.events(i).is_empty(), "node {}: a swap is no change", i);
    }
}

#[test]
fn a_key_with_a_ttl_is_deleted_by_its_writer() {
    let mut c = cluster(10, PARAMS, 10);
    c.command(
        1,
        "{\"op\":\"set\",\"key\":\"lease\",\"value\":\"x\",\"ttl_ms\":500}",
    );
    c.rounds(2);
    assert_eq!(get(&mut c, 8, "lease").len(), 1);
    c.rounds(6);
    for i in 0..10 {
        assert!(get(&mut c, i, "lease").is_empty());
    }
}

#[test]
fn bad_commands_and_payloads_change_nothing() {
    let mut c = cluster(3, PARAMS, 11);
    for bad in [
        "not json",
        "{\"op\":\"set\",\"key\":\"\",\"value\":\"x\"}",
        "{\"op\":\"set\",\"key\":\"k\"}",
        "{\"op\":\"explode\",\"key\":\"k\"}",
        "{\"op\":\"set\",\"key\":\"k\",\"value\":\"x\",\"ttl_ms\":0}",
    ] {
        assert!(c.command(0, bad).contains("error"), "{}", bad);
    }
    let huge = format!(
        "{{\"op\":\"set\",\"key\":\"k\",\"value\":\"{}\"}}",
        "x".repeat(5000)
    );
    assert!(c.command(0, &huge).contains("error"));
    let node = &mut c.nodes[1];
    let module = node.module.as_mut().unwrap();
    for junk in [
        &b""[..],
        &b"\x01"[..],
        &b"\x01\x09"[..],
        &b"\x02\x01\xff\xff\xff\xff\x0f"[..],
    ] {
        module.receive(&Cluster::addr(0), junk, &mut node.host);
    }
    let doc = json::parse(&c.query(1, "")).unwrap();
    assert_eq!(doc.get("malformed").and_then(Value::as_u64), Some(4));
    assert_eq!(count(&mut c, 1, ""), 0);
}

/// Every (writer, key, value) node `i` reads.
fn snapshot(c: &mut Cluster, i: usize) -> Vec<(String, String, String)> {
    let doc = json::parse(&c.query(i, "list")).expect("JSON");
    match doc.get("keys") {
        Some(Value::Array(keys)) => keys
            .iter()
            .map(|k| {
                let s = |f: &str| k.get(f).and_then(Value::as_str).unwrap().to_string();
                (s("node"), s("key"), s("value"))
            })
            .collect(),
        _ => panic!("no keys"),
    }
}

#[test]
fn whatever_happens_on_the_way_every_replica_ends_as_the_writers_say() {
    use hearsay_guest::testing::splitmix;
    for seed in 1..=30u64 {
        let mut rng = seed;
        let mut c = cluster(6, PARAMS, seed);
        c.drop_one_in = 5;
        for _ in 0..300 {
            let node = (splitmix(&mut rng) % 6) as usize;
            let key = format!("k{}", splitmix(&mut rng) % 20);
            match splitmix(&mut rng) % 10 {
                0..=4 => set(&mut c, node, &key, &format!("v{}", splitmix(&mut rng) % 1000)),
                5..=6 => {
                    delete(&mut c, node, &key);
                }
                7 => {
                    if !c.isolated.remove(&node) {
                        c.isolated.insert(node);
                    }
                }
                _ => c.rounds((splitmix(&mut rng) % 25) as usize),
            }
        }
        c.isolated.clear();
        c.drop_one_in = 0;
        c.rounds(40);
        let mut truth = Vec::new();
        for i in 0..6 {
            let own = Cluster::addr(i);
            truth.extend(snapshot(&mut c, i).into_iter().filter(|(n, _, _)| *n == own));
        }
        truth.sort();
        for i in 0..6 {
            let mut seen = snapshot(&mut c, i);
            seen.sort();
            assert_eq!(seen, truth, "seed {}: node {} differs from the writers", seed, i);
        }
    }
}

#[test]
fn nodes_learn_every_writer_when_digests_are_only_samples() {
    // 300 writers' digest (~13 KiB) is more than half an 8 KiB message: every digest
    // is a sample, and nodes name the ones they lack to learn of them.
    let params = "{\"max_message\":8192,\"dead_after_ms\":60000,\"forget_after_ms\":120000}";
    let mut c = Cluster::new(300, factory::<Kv>(), params, 12);
    let alive = |c: &mut Cluster, i: usize| {
        json::parse(&c.query(i, ""))
            .unwrap()
            .get("alive")
            .and_then(Value::as_u64)
            .unwrap()
    };
    for i in 0..300 {
        set(&mut c, i, "here", "x");
    }
    let rounds = c.rounds_until(300, |c| (0..300).all(|i| alive(c, i) == 300));
    assert!(rounds.is_some(), "node 0 knows {} of 300", alive(&mut c, 0));
    assert!(c.max_message <= 8192, "a message of {} bytes", c.max_message);
    set(&mut c, 17, "late", "x");
    c.rounds_until(20, |c| everyone_has(c, "late", "x"))
        .expect("a key everywhere");
}

#[test]
fn islands_that_formed_through_different_peers_join_up_through_the_seeds() {
    let mut c = Cluster::new(10, factory::<Kv>(), PARAMS, 13);
    for (i, node) in c.nodes.iter_mut().enumerate() {
        node.host.bootstrap = vec![Cluster::addr(if i < 5 { 0 } else { 5 })];
    }
    for i in 0..10 {
        c.command(
            i,
            &format!("{{\"op\":\"set\",\"key\":\"n/{}\",\"value\":\"x\"}}", i),
        );
    }
    c.rounds(10);
    let knows = |c: &mut Cluster, i: usize| {
        json::parse(&c.query(i, ""))
            .unwrap()
            .get("nodes")
            .and_then(Value::as_u64)
            .unwrap()
    };
    assert_eq!(knows(&mut c, 1), 5, "two islands of five");
    // Every node's seeds are both islands' first nodes from now on.
    for node in &mut c.nodes {
        node.host.bootstrap = vec![Cluster::addr(0), Cluster::addr(5)];
    }
    c.rounds_until(100, |c| (0..10).all(|i| knows(c, i) == 10))
        .expect("the islands joined");
}

#[test]
fn a_burst_of_writes_travels_by_anti_entropy_past_the_push_cap() {
    let mut c = cluster(30, PARAMS, 14);
    let pushes = |c: &mut Cluster, field: &str| {
        json::parse(&c.query(3, ""))
            .unwrap()
            .get(field)
            .and_then(Value::as_u64)
            .unwrap()
    };
    let (sent, skipped) = (pushes(&mut c, "pushes"), pushes(&mut c, "pushes_skipped"));
    for k in 0..1000 {
        set(&mut c, 3, &format!("burst/{:04}", k), "v");
    }
    // Within one tick the writer pushed 16 of its writes (4 copies each); the rest
    // wait for anti-entropy, which carries hundreds of writes per message.
    assert_eq!(pushes(&mut c, "pushes") - sent, 16 * 4);
    assert_eq!(pushes(&mut c, "pushes_skipped") - skipped, 1000 - 16);
    c.rounds_until(40, |c| (0..30).all(|i| count(c, i, "burst/") == 1000))
        .expect("the burst everywhere");
}

#[test]
fn a_push_carries_the_writes_just_before_it_to_a_replica_that_missed_them() {
    for seed in 1..=5 {
        let mut c = cluster(10, PARAMS, 20 + seed);
        c.isolated.insert(9);
        set(&mut c, 0, "first", "1");
        c.isolated.clear();
        assert!(get(&mut c, 9, "first").is_empty());
        set(&mut c, 0, "second", "2");
        // No round has run: node 9 got both from the second write's push wave (it
        // would have ignored a push of the second alone: a gap in node 0's writes).
        assert_eq!(get(&mut c, 9, "first").len(), 1, "seed {}", seed);
        assert_eq!(get(&mut c, 9, "second").len(), 1, "seed {}", seed);
    }
}
