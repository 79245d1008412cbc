//! The aggregate module in a simulated cluster of its own native instances
//! (hearsay_guest::testing::Cluster): fixed seeds, rounds counted, no wall time.

use aggregate::Aggregate;
use hearsay_guest::json::{self, Value};
use hearsay_guest::testing::Cluster;

fn cluster(n: usize, params: &str, zone: impl Fn(usize) -> String, seed: u64) -> Cluster {
    let mut c = Cluster::new(n, hearsay_guest::factory::<Aggregate>(), params, seed);
    for i in 0..n {
        c.nodes[i].host.labels = format!("{{\"zone\":\"{}\"}}", zone(i));
    }
    c
}

fn root(c: &mut Cluster, i: usize) -> Value {
    let text = c.query(i, "");
    json::parse(&text).unwrap().get("root").cloned().unwrap()
}

fn num(v: &Value, key: &str) -> Option<f64> {
    match v.get(key) {
        Some(Value::Number(n)) => n.parse().ok(),
        _ => None,
    }
}

fn everyone(c: &mut Cluster, want: impl Fn(&Value) -> bool) -> bool {
    (0..c.nodes.len()).all(|i| c.nodes[i].module.is_none() || want(&root(c, i)))
}

const PARAMS: &str = r#"{"aggregates":{"nodes":"count()","max_load":"max(load)","mean_load":"avg(load)","worst":"top(3, load)","zones":"distinct(zone)"}}"#;

#[test]
fn nine_nodes_in_three_zones_see_the_whole_system_and_a_kill() {
    let zones = ["/eu", "/us", "/asia"];
    let mut c = cluster(9, PARAMS, |i| zones[i % 3].to_string(), 7);
    for i in 0..9 {
        let answer = c.command(i, &format!("set load {}", i as f64 / 10.0));
        assert_eq!(answer, "{\"ok\":true}");
    }
    let rounds = c.rounds_until(40, |c| {
        everyone(c, |r| {
            num(r, "nodes") == Some(9.0) && num(r, "max_load") == Some(0.8)
        })
    });
    assert!(
        rounds.is_some(),
        "not every node saw 9 nodes: {}",
        c.query(0, "tree")
    );
    let r = root(&mut c, 4);
    assert!((num(&r, "mean_load").unwrap() - 0.4).abs() < 1e-9);
    assert_eq!(
        r.get("zones").map(|z| format!("{:?}", z)),
        Some(format!(
            "{:?}",
            json::parse(r#"{"/asia":3,"/eu":3,"/us":3}"#).unwrap()
        ))
    );
    // The zone table of /eu at a node in it: three node rows; at a node elsewhere
    // only the zone's row.
    let eu = json::parse(&c.query(0, "zone /eu")).unwrap();
    assert!(matches!(eu.get("rows"), Some(Value::Array(rows)) if rows.len() == 3));
    let eu_elsewhere = json::parse(&c.query(1, "zone /eu")).unwrap();
    assert_eq!(eu_elsewhere.get("rows"), Some(&Value::Null));
    assert_eq!(
        num(eu_elsewhere.get("row").unwrap().get("attrs").unwrap(), "nodes"),
        Some(3.0)
    );

    // The node with the highest load stops: within expire_ms (6 s = 60 rounds of
    // 100 ms) plus a few rounds, every node counts 8 and a new maximum.
    c.crash(8);
    let rounds = c.rounds_until(100, |c| {
        everyone(c, |r| {
            num(r, "nodes") == Some(8.0) && num(r, "max_load") == Some(0.7)
        })
    });
    let rounds = rounds.expect("the stopped node left every root table");
    assert!(
        rounds >= 55,
        "removed after {} rounds, before it could have expired",
        rounds
    );
    let events = c.events(2); // node 2 is in /asia with it
    assert!(
        events
            .iter()
            .any(|(k, d)| k == "row.expired" && d.contains("10.9.0.9:7000")),
        "{:?}",
        events
    );
}

#[test]
fn three_levels_converge_within_the_bound_and_a_change_reaches_the_root() {
    // 4 regions × 4 racks × 8 nodes.
    let n = 128;
    let zone = |i: usize| format!("/r{}/k{}", i % 4, (i / 4) % 4);
    let mut c = cluster(n, PARAMS, zone, 11);
    let joined = c.rounds_until(60, |c| everyone(c, |r| num(r, "nodes") == Some(n as f64)));
    assert!(joined.is_some(), "{}", c.query(5, "tree"));
    // A changed attribute at one node is in every node's root aggregate within
    // 3·log(N)/log(fanout + 1) rounds (push-pull: fanout 1 exchanges both ways).
    c.command(77, "set load 9.5");
    let bound = (3.0 * (n as f64).ln() / 2f64.ln()).ceil() as usize;
    let rounds = c.rounds_until(bound, |c| everyone(c, |r| num(r, "max_load") == Some(9.5)));
    assert!(rounds.is_some(), "not within {} rounds", bound);
    // Messages stay within max_message.
    assert!(c.max_message <= 16 * 1024, "{}", c.max_message);
    // Every zone elected two representatives, and the same ones everywhere.
    let reps = |c: &mut Cluster, i: usize| {
        let tree = json::parse(&c.query(i, "zone /r1")).unwrap();
        format!("{:?}", tree.get("row").and_then(|r| r.get("contacts")))
    };
    let first = reps(&mut c, 1);
    assert!(first.contains(':'));
    for i in (5..n).step_by(4) {
        assert_eq!(reps(&mut c, i), first);
    }
}

#[test]
fn hostile_bytes_and_bad_commands_are_refused_and_counted() {
    let mut c = cluster(3, "", |_| "/eu".to_string(), 3);
    c.rounds(5);
    let node = &mut c.nodes[0];
    let m = node.module.as_mut().unwrap();
    for bad in [
        &b""[..],
        b"\x01",
        b"\x01\x01\x09",
        b"\x07\x01\x00\x00",
        &[1, 1, 0, 200, 200, 200, 200, 1],
    ] {
        m.receive("10.9.0.2:7000", bad, &mut node.host);
    }
    let summary = json::parse(&m.query("", &mut node.host)).unwrap();
    assert_eq!(num(&summary, "malformed"), Some(5.0));
    for bad in [
        "set",
        "set load",
        "set zone /x",
        "set a_version 1",
        "frob x 1",
        "{\"op\":\"set\",\"key\":\"x\",\"value\":[1]}",
    ] {
        let answer = c.command(0, bad);
        assert!(answer.contains("error"), "{} → {}", bad, answer);
    }
    // A word that is no number is a text ("NaN" and "inf" too: never a number).
    assert_eq!(c.command(0, "set load NaN"), "{\"ok\":true}");
    assert!(c.query(0, "row").contains("\"load\":\"NaN\""));
    assert_eq!(c.command(0, "set role db"), "{\"ok\":true}");
    assert!(c.query(0, "row").contains("\"role\":\"db\""));
    assert!(c.command(0, "delete role").contains("\"deleted\":true"));
}

#[test]
fn a_hot_swap_keeps_what_was_set_and_new_params_bring_new_aggregates() {
    let mut c = cluster(6, "", |i| format!("/z{}", i % 2), 5);
    for i in 0..6 {
        c.command(i, &format!("set load {}", i));
    }
    c.rounds(20);
    assert_eq!(num(&root(&mut c, 0), "nodes"), Some(6.0));
    assert_eq!(num(&root(&mut c, 0), "max_load"), None, "not declared yet");
    let factory = hearsay_guest::factory::<Aggregate>();
    for i in 0..6 {
        assert!(c.swap(i, factory, PARAMS));
    }
    // Right after the swap the tables are still there, and the new aggregate counts.
    assert_eq!(num(&root(&mut c, 3), "nodes"), Some(6.0));
    c.rounds(10);
    assert!(everyone(&mut c, |r| num(r, "max_load") == Some(5.0)));
}

#[test]
fn zones_that_formed_in_parts_join_up_whatever_the_seed() {
    // Everyone bootstraps through node 0 (in /eu), as agents with one rendezvous
    // node do: nodes of /us and /asia meet their zone in whatever order, and a part
    // that formed apart holds its own version of its zone's row until it hears of
    // the other part.
    let zones = ["/eu", "/us", "/asia"];
    for seed in 1..=20 {
        let mut c = cluster(9, PARAMS, |i| zones[i % 3].to_string(), seed);
        for i in 0..9 {
            c.nodes[i].host.bootstrap = vec![Cluster::addr(0)];
        }
        // They start one after another, as a deployment reaches them.
        for i in 1..9 {
            c.crash(i);
        }
        for i in 1..9 {
            c.round();
            c.start(i);
        }
        let rounds = c.rounds_until(60, |c| everyone(c, |r| num(r, "nodes") == Some(9.0)));
        assert!(rounds.is_some(), "seed {}: {}", seed, c.query(1, "tree"));
    }
}
