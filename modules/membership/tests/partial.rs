//! membership with partial views (`ring_neighbours`) in a deterministic cluster
//! (`hearsay_guest::testing::Cluster`, fixed seeds, rounds counted): every node finds
//! its true neighbours on the ring from a cold start, keeps a view whose size does
//! not follow the cluster's, closes the ring over a crash and opens it for a joiner,
//! and suspects nobody alive at 10% loss.

use hearsay_guest::testing::Cluster;
use hearsay_guest::{factory, json};
use membership::Membership;

const TICK_MS: u64 = 200;
/// Neighbours kept on each side.
const K: usize = 4;

fn cluster(n: usize, seed: u64) -> Cluster {
    let params = format!("{{\"ring_neighbours\":{}}}", K);
    let mut c = Cluster::new(n, factory::<Membership>(), &params, seed);
    c.tick_ms = TICK_MS;
    c
}

/// One node's `count` answer.
struct Count {
    addr: String,
    key: u64,
    successors: Vec<String>,
    predecessors: Vec<String>,
    live: u64,
    suspected: u64,
    removed: u64,
}

fn count(c: &mut Cluster, i: usize) -> Count {
    let v = json::parse(&c.query(i, "count")).unwrap();
    let list = |k: &str| -> Vec<String> {
        match v.get(k) {
            Some(json::Value::Array(items)) => items
                .iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect(),
            _ => panic!("no {} in the count of node {}", k, i),
        }
    };
    let num = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap();
    Count {
        addr: v.get("self").and_then(|s| s.as_str()).unwrap().to_string(),
        key: num("ring_key"),
        successors: list("successors"),
        predecessors: list("predecessors"),
        live: num("live"),
        suspected: num("suspected"),
        removed: num("removed"),
    }
}

fn running(c: &Cluster) -> Vec<usize> {
    (0..c.nodes.len())
        .filter(|&i| c.nodes[i].module.is_some())
        .collect()
}

/// Running nodes whose neighbours differ from the true ring of the running nodes.
fn misplaced(c: &mut Cluster) -> usize {
    let mut all: Vec<Count> = running(c).into_iter().map(|i| count(c, i)).collect();
    all.sort_by(|a, b| (a.key, &a.addr).cmp(&(b.key, &b.addr)));
    let n = all.len();
    let k = K.min(n - 1);
    (0..n)
        .filter(|&i| {
            let succ: Vec<&str> = (1..=k).map(|d| all[(i + d) % n].addr.as_str()).collect();
            let pred: Vec<&str> = (1..=k).map(|d| all[(i + n - d) % n].addr.as_str()).collect();
            all[i].successors != succ || all[i].predecessors != pred
        })
        .count()
}

fn settled(n: usize, seed: u64) -> Cluster {
    let mut c = cluster(n, seed);
    c.rounds_until(30, |c| misplaced(c) == 0).expect("the ring forms");
    c.rounds(10);
    c
}

fn removals(c: &mut Cluster) -> u64 {
    running(c).into_iter().map(|i| count(c, i).removed).sum()
}

#[test]
fn a_cold_start_finds_the_true_ring_and_views_stay_small() {
    let mut c = cluster(400, 3);
    let rounds = c
        .rounds_until(30, |c| misplaced(c) == 0)
        .expect("every node's neighbours are the true ring's");
    eprintln!("400 nodes: the true ring after {} rounds", rounds);
    assert!(rounds <= 8, "{} rounds to the true ring", rounds);
    c.rounds(100);
    assert_eq!(misplaced(&mut c), 0, "the ring stays right");
    for i in 0..400 {
        let n = count(&mut c, i);
        // K each side, at most 2 fingers in each of the ~9 bands 400 nodes fill
        // beyond them: a few dozen, where a full view holds 399.
        assert!(n.live <= 40, "node {} holds {} members", i, n.live);
        assert_eq!((n.suspected, n.removed), (0, 0), "node {}", i);
    }
}

#[test]
fn a_crashed_node_is_removed_by_its_watchers_and_the_ring_closes_over_it() {
    let mut c = settled(200, 5);
    c.crash(77);
    let rounds = c
        .rounds_until(40, |c| misplaced(c) == 0)
        .expect("the ring closes");
    // Four beats missed, a quorum of two watchers, then the neighbours' stabilisation.
    eprintln!("a crash: the ring closed after {} rounds", rounds);
    assert!(rounds <= 10, "{} rounds for the ring to close", rounds);
    let dead = Cluster::addr(77);
    for i in running(&c) {
        let n = count(&mut c, i);
        assert!(
            !n.successors.contains(&dead) && !n.predecessors.contains(&dead),
            "node {}",
            i
        );
    }
    assert!(removals(&mut c) >= 2, "its watchers removed it");
}

#[test]
fn a_joiner_takes_its_place_between_its_neighbours() {
    let mut c = settled(200, 7);
    let before = c.messages;
    c.add();
    let rounds = c
        .rounds_until(30, |c| misplaced(c) == 0)
        .expect("the joiner is placed");
    eprintln!("a joiner placed after {} rounds", rounds);
    assert!(rounds <= 3, "{} rounds for a joiner to be placed", rounds);
    assert!(c.messages > before);
    assert_eq!(removals(&mut c), 0);
}

#[test]
fn nobody_alive_is_removed_at_ten_percent_loss() {
    let mut c = settled(200, 11);
    c.drop_one_in = 10;
    c.rounds(300);
    assert_eq!(removals(&mut c), 0, "false removals at 10% loss");
    assert_eq!(misplaced(&mut c), 0);
}

#[test]
fn a_settled_nodes_traffic_does_not_follow_the_clusters_size() {
    let per_node_round = |n: usize| {
        let mut c = settled(n, 13);
        let (messages, bytes) = (c.messages, c.bytes);
        c.rounds(64);
        let rounds = 64.0 * n as f64;
        (
            (c.messages - messages) as f64 / rounds,
            (c.bytes - bytes) as f64 / rounds,
        )
    };
    let (small_msgs, small_bytes) = per_node_round(100);
    let (large_msgs, large_bytes) = per_node_round(1600);
    eprintln!(
        "per node and round: {:.2} messages, {:.0} B at 100; {:.2}, {:.0} B at 1,600",
        small_msgs, small_bytes, large_msgs, large_bytes
    );
    assert!(
        large_msgs < small_msgs * 1.5,
        "{} vs {} messages",
        large_msgs,
        small_msgs
    );
    assert!(
        large_bytes < small_bytes * 1.5,
        "{} vs {} bytes",
        large_bytes,
        small_bytes
    );
}
