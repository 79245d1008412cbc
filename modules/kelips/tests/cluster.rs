//! The kelips module in a deterministic cluster (`hearsay_guest::testing::Cluster`):
//! the module runs natively through `hearsay_guest::factory`, as the simulator runs
//! it. Every assertion is on rounds and counts, never on wall time.

use hearsay_guest::factory;
use hearsay_guest::json::{self, Value};
use hearsay_guest::testing::Cluster;
use kelips::hash::group_of;
use kelips::Kelips;

/// Fast liveness, retries and tombstone collection, so tests run few rounds (100 ms
/// ticks).
fn params(groups: u32) -> String {
    format!(
        "{{\"groups\":{},\"dead_after_ms\":2000,\"lookup_timeout_ms\":300,\"tombstone_ms\":3000}}",
        groups
    )
}

fn cluster(n: usize, groups: u32, seed: u64) -> Cluster {
    let mut c = Cluster::new(n, factory::<Kelips>(), &params(groups), seed);
    c.rounds(30);
    c
}

fn summary(c: &mut Cluster, i: usize) -> Value {
    json::parse(&c.query(i, "")).expect("JSON")
}

fn num(v: &Value, key: &str) -> u64 {
    v.get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no {}", key))
}

/// A request at node `i`, run until it ends (rounds pass only while it waits for a
/// retry): its outcome.
fn request(c: &mut Cluster, i: usize, args: &str) -> Value {
    let answer = json::parse(&c.command(i, args)).expect("JSON");
    assert!(answer.get("error").is_none(), "{:?}", answer);
    let id = num(&answer, "id");
    for _ in 0..20 {
        let doc = json::parse(&c.query(i, &format!("result {}", id))).expect("JSON");
        if doc.get("done").and_then(Value::as_bool) == Some(true) {
            return doc;
        }
        c.round();
    }
    panic!("request {} at node {} never ended", id, i);
}

fn put(c: &mut Cluster, i: usize, key: &str, value: &str) -> Value {
    request(
        c,
        i,
        &format!("{{\"op\":\"put\",\"key\":\"{}\",\"value\":\"{}\"}}", key, value),
    )
}

fn get(c: &mut Cluster, i: usize, key: &str) -> Value {
    request(c, i, &format!("{{\"op\":\"get\",\"key\":\"{}\"}}", key))
}

fn status(v: &Value) -> &str {
    v.get("status").and_then(Value::as_str).unwrap()
}

fn value(v: &Value) -> Option<&str> {
    v.get("value").and_then(Value::as_str)
}

fn live(c: &Cluster) -> Vec<usize> {
    (0..c.nodes.len())
        .filter(|&i| c.nodes[i].module.is_some())
        .collect()
}

/// A deterministic walk over node indices.
fn pick(state: &mut u64, n: usize) -> usize {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*state >> 33) as usize % n
}

#[test]
fn every_node_learns_its_whole_group_and_a_contact_in_every_other() {
    let n = 60;
    let groups = 6;
    let mut c = Cluster::new(n, factory::<Kelips>(), &params(groups), 1);
    let sizes: Vec<usize> = (0..groups)
        .map(|g| {
            (0..n)
                .filter(|&i| group_of(&Cluster::addr(i), groups) == g)
                .count()
        })
        .collect();
    let rounds = c.rounds_until(60, |c| {
        (0..n).all(|i| {
            let s = summary(c, i);
            let g = num(&s, "group") as usize;
            num(&s, "members") as usize == sizes[g] - 1
                && num(&s, "groups_covered") as usize == sizes.iter().filter(|&&x| x > 0).count() - 1
        })
    });
    assert!(rounds.is_some(), "views never completed");
    let s = summary(&mut c, 5);
    assert!(num(&s, "contacts") <= 2 * (groups as u64 - 1));
}

#[test]
fn puts_and_gets_from_random_nodes_find_every_key_in_about_one_hop() {
    let n = 50;
    let mut c = cluster(n, 7, 2);
    let mut walk = 7;
    for k in 0..300 {
        let at = pick(&mut walk, n);
        let out = put(&mut c, at, &format!("file/{}", k), &format!("v{}", k));
        assert_eq!(status(&out), "stored", "{:?}", out);
    }
    c.rounds(5);
    let (mut hops, mut remote) = (0, 0);
    for k in 0..300 {
        let at = pick(&mut walk, n);
        let out = get(&mut c, at, &format!("file/{}", k));
        assert_eq!(status(&out), "found", "key {} at node {}: {:?}", k, at, out);
        assert_eq!(value(&out), Some(format!("v{}", k).as_str()));
        let h = num(&out, "hops");
        if h > 0 {
            remote += 1;
            hops += h;
        }
    }
    assert!(remote > 200, "most keys live in another group: {}", remote);
    assert_eq!(hops, remote, "every remote lookup took exactly one hop");
    // Each node holds its own group's tuples: about 300 / 7, not 300.
    for i in 0..n {
        let s = summary(&mut c, i);
        let mine = (0..300)
            .filter(|k| group_of(&format!("file/{}", k), 7) == num(&s, "group") as u32)
            .count() as u64;
        assert_eq!(num(&s, "live_tuples"), mine, "node {}", i);
    }
}

#[test]
fn a_missing_key_is_not_found_and_an_overwrite_wins_everywhere() {
    let mut c = cluster(30, 5, 3);
    assert_eq!(status(&get(&mut c, 4, "nothing")), "not_found");
    put(&mut c, 1, "k", "old");
    let newer = put(&mut c, 9, "k", "new");
    assert_eq!(num(&newer, "version"), 2);
    c.rounds(5);
    for i in 0..30 {
        assert_eq!(value(&get(&mut c, i, "k")), Some("new"), "node {}", i);
    }
}

#[test]
fn a_delete_is_seen_everywhere_and_its_tombstone_does_not_come_back() {
    let mut c = cluster(30, 5, 4);
    put(&mut c, 2, "gone", "v");
    c.rounds(3);
    let out = request(&mut c, 7, "{\"op\":\"delete\",\"key\":\"gone\"}");
    assert_eq!(status(&out), "stored");
    c.rounds(3);
    for i in 0..30 {
        assert_eq!(status(&get(&mut c, i, "gone")), "not_found", "node {}", i);
    }
    // Tombstones are dropped after tombstone_ms everywhere, and anti-entropy does not
    // bring the key back.
    c.rounds(60);
    for i in 0..30 {
        let local = json::parse(&c.query(i, "local gone")).unwrap();
        assert!(
            local.get("version").is_none(),
            "node {} still holds {:?}",
            i,
            local
        );
        assert_eq!(status(&get(&mut c, i, "gone")), "not_found");
    }
}

/// Gets of keys k0..k99 from random live nodes: the outcomes not found, and how
/// many took more than one hop.
fn get_all(c: &mut Cluster, walk: &mut u64) -> (Vec<Value>, usize) {
    let (mut missed, mut retried) = (Vec::new(), 0);
    for k in 0..100 {
        let nodes = live(c);
        let at = nodes[pick(walk, nodes.len())];
        let out = get(c, at, &format!("k{}", k));
        if status(&out) != "found" {
            missed.push(out.clone());
        }
        if num(&out, "hops") > 1 {
            retried += 1;
        }
    }
    (missed, retried)
}

#[test]
fn lookups_survive_crashed_contacts_and_message_loss() {
    let n = 60;
    let mut c = cluster(n, 6, 5);
    for k in 0..100 {
        put(&mut c, k % n, &format!("k{}", k), "v");
    }
    c.rounds(5);
    // A third of the nodes crash at once, and one message in ten is lost: right after,
    // peers still list the crashed nodes as members and contacts, so requests time out
    // and go elsewhere (two nodes at once), some through a member of the origin's
    // group.
    for i in (0..n).filter(|i| i % 3 == 2) {
        c.crash(i);
    }
    c.drop_one_in = 10;
    let mut walk = 3;
    let (missed, retried) = get_all(&mut c, &mut walk);
    assert!(missed.len() <= 3, "not found right after the crash: {:?}", missed);
    assert!(retried > 10, "stale contacts were retried: {}", retried);
    // Once stale entries have expired (dead_after_ms: 20 rounds), every key is found,
    // loss or not.
    c.rounds(30);
    let (missed, retried) = get_all(&mut c, &mut walk);
    assert!(missed.is_empty(), "not found after repair: {:?}", missed);
    assert!(
        retried < 30,
        "{} lookups took more than one hop after repair",
        retried
    );
}

#[test]
fn a_restarted_node_gets_its_groups_tuples_back() {
    let n = 20;
    let mut c = cluster(n, 3, 6);
    for k in 0..60 {
        put(&mut c, k % n, &format!("k{}", k), "v");
    }
    c.rounds(3);
    let before = num(&summary(&mut c, 5), "live_tuples");
    assert!(before > 0);
    c.crash(5);
    c.rounds(5);
    c.start(5);
    // Fresh, it holds nothing yet: a key of its own group is still found (through a
    // member), never answered "not found" from its empty store.
    let own = (0..60)
        .map(|k| format!("k{}", k))
        .find(|k| group_of(k, 3) == group_of(&Cluster::addr(5), 3))
        .unwrap();
    let out = get(&mut c, 5, &own);
    assert_eq!(status(&out), "found", "{:?}", out);
    let back = c.rounds_until(30, |c| num(&summary(c, 5), "live_tuples") == before);
    assert!(back.is_some(), "anti-entropy never refilled the restarted node");
    let out = get(&mut c, 5, "k0");
    assert_eq!(status(&out), "found");
}

#[test]
fn writes_for_an_empty_group_are_handed_to_it_when_it_appears() {
    // 3 nodes in 12 groups: most groups have no member yet.
    let mut c = Cluster::new(3, factory::<Kelips>(), &params(12), 7);
    c.rounds(20);
    for k in 0..40 {
        let out = put(&mut c, k % 3, &format!("k{}", k), &format!("v{}", k));
        assert_eq!(status(&out), "stored");
    }
    for k in 0..40 {
        assert_eq!(
            value(&get(&mut c, (k + 1) % 3, &format!("k{}", k))),
            Some(format!("v{}", k).as_str())
        );
    }
    // Enough nodes join that every group has members; hinted tuples move home.
    for _ in 0..60 {
        c.add();
    }
    c.rounds(40);
    let hinted: u64 = (0..63).map(|i| num(&summary(&mut c, i), "hinted")).sum();
    assert_eq!(hinted, 0, "hinted tuples left");
    let mut walk = 11;
    for k in 0..40 {
        let at = pick(&mut walk, 63);
        let out = get(&mut c, at, &format!("k{}", k));
        assert_eq!(
            value(&out),
            Some(format!("v{}", k).as_str()),
            "key {} at {}",
            k,
            at
        );
    }
}

#[test]
fn new_group_count_by_hot_swap_moves_tuples_to_their_new_groups() {
    let n = 40;
    let mut c = cluster(n, 3, 8);
    for k in 0..80 {
        put(&mut c, k % n, &format!("k{}", k), "v");
    }
    c.rounds(3);
    for i in 0..n {
        assert!(
            c.swap(i, factory::<Kelips>(), &params(6)),
            "node {} refused the state",
            i
        );
    }
    c.rounds(40);
    let hinted: u64 = (0..n).map(|i| num(&summary(&mut c, i), "hinted")).sum();
    assert_eq!(hinted, 0);
    for k in 0..80 {
        assert_eq!(
            status(&get(&mut c, (k * 7) % n, &format!("k{}", k))),
            "found",
            "k{}",
            k
        );
    }
    assert_eq!(num(&summary(&mut c, 0), "groups"), 6);
}

#[test]
fn state_per_node_grows_as_the_square_root_of_the_cluster() {
    // 400 nodes in 20 groups: about 20 members and at most 2 × 19 contacts each.
    let n = 400;
    let mut c = Cluster::new(n, factory::<Kelips>(), &params(20), 9);
    c.rounds(60);
    for k in 0..400 {
        put(&mut c, k, &format!("k{}", k), "v");
    }
    c.rounds(5);
    let mut most = 0;
    for i in 0..n {
        let s = summary(&mut c, i);
        assert_eq!(num(&s, "groups_covered"), 19, "node {}", i);
        let views = num(&s, "members") + num(&s, "contacts");
        most = most.max(views);
        assert!(num(&s, "live_tuples") < 60, "node {}: {:?}", i, s);
    }
    assert!(most <= 45 + 38, "{} view entries at a node", most);
}

#[test]
fn bad_requests_and_malformed_messages_are_refused_and_counted() {
    let mut c = cluster(10, 3, 10);
    for bad in [
        "not json",
        "{\"op\":\"get\"}",
        "{\"op\":\"put\",\"key\":\"k\"}",
        "{\"op\":\"drop\",\"key\":\"k\"}",
        "{\"op\":\"get\",\"key\":\"\"}",
    ] {
        assert!(c.command(0, bad).contains("error"), "{}", bad);
    }
    let long = "x".repeat(1025);
    assert!(c
        .command(
            0,
            &format!("{{\"op\":\"put\",\"key\":\"k\",\"value\":\"{}\"}}", long)
        )
        .contains("error"));
    let node = &mut c.nodes[1];
    let m = node.module.as_mut().unwrap();
    for junk in [
        &b""[..],
        b"\x01",
        b"\x01\x05\xff",
        b"\x02\x01\x00",
        b"\x01\x01\x08",
    ] {
        m.receive("10.9.0.1:7000", junk, &mut node.host);
    }
    assert_eq!(num(&summary(&mut c, 1), "malformed"), 5);
    c.rounds(3);
    assert_eq!(status(&put(&mut c, 1, "still", "works")), "stored");
}

#[test]
fn a_relay_with_no_contact_in_the_keys_group_stays_silent_instead_of_saying_not_found() {
    // 3 nodes in 12 groups: node 1 knows nobody in most groups.
    let mut c = Cluster::new(3, factory::<Kelips>(), &params(12), 12);
    c.rounds(20);
    let mine = group_of(&Cluster::addr(1), 12);
    let covered: Vec<u32> = (0..3)
        .filter(|&i| i != 1)
        .map(|i| group_of(&Cluster::addr(i), 12))
        .collect();
    let key = (0..1000)
        .map(|k| format!("k{}", k))
        .find(|k| {
            let g = group_of(k, 12);
            g != mine && !covered.contains(&g)
        })
        .unwrap();
    let ask = |relay: bool| {
        kelips::wire::encode(&kelips::wire::Msg::Request {
            id: 7,
            origin: Cluster::addr(0),
            op: kelips::wire::Op::Get,
            key: key.clone(),
            value: None,
            hops: 1,
            relay,
        })
    };
    let node = &mut c.nodes[1];
    let m = node.module.as_mut().unwrap();
    m.receive(&Cluster::addr(0), &ask(true), &mut node.host);
    assert!(
        node.host.outbox.is_empty(),
        "a relay answered: {:?}",
        node.host.outbox
    );
    // Sent to it directly (the origin's fallback group), it answers.
    m.receive(&Cluster::addr(0), &ask(false), &mut node.host);
    let replies: Vec<_> = node.host.outbox.drain(..).collect();
    assert_eq!(replies.len(), 1);
    assert!(matches!(
        kelips::wire::decode(&replies[0].1),
        Some(kelips::wire::Msg::Reply {
            status: kelips::wire::Status::NotFound,
            ..
        })
    ));
}

#[test]
fn replicas_in_agreement_exchange_no_tuples_idle_traffic_does_not_grow_with_the_keys() {
    let mut c = cluster(30, 3, 13);
    let idle_bytes = |c: &mut Cluster| {
        let before = c.bytes;
        c.rounds(20);
        c.bytes - before
    };
    let empty = idle_bytes(&mut c);
    for k in 0..300 {
        put(&mut c, k % 30, &format!("k{}", k), &"v".repeat(100));
    }
    c.rounds(10);
    let full = idle_bytes(&mut c);
    // 300 tuples of ~120 B (about 12 KB per group) would show in any exchange of
    // them; a summary hash is 8 bytes whatever the tuples.
    assert!(
        full * 100 <= empty * 105,
        "{} B idle with 300 keys, {} B with none",
        full,
        empty
    );
}
