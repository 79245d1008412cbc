//! Cluster tests: a tiny deterministic driver — nodes in a Vec, messages in a queue,
//! virtual time in 100 ms ticks, seeded randomness (`hearsay_guest::testing`) — runs
//! the module natively through `hearsay_guest::factory`, exactly as the simulator will.

use hearsay_guest::json::{self, Value};
use hearsay_guest::testing::{splitmix, TestHost as NodeHost};
use hearsay_guest::{factory, DynModule};
use heartbeat::table::Heartbeat;
use heartbeat::wire::{decode_gossip, encode_gossip, EntryRef};
use heartbeat::Membership;
use std::collections::{BTreeSet, VecDeque};

const TICK_MS: u64 = 100;

struct Node {
    host: NodeHost,
    module: Option<Box<dyn DynModule>>,
    /// The deployment it runs: messages pass only between nodes running the same
    /// one, as the core delivers them.
    deployment: u32,
}

struct Cluster {
    nodes: Vec<Node>,
    now: u64,
    params: String,
    rng: u64,
    drop_one_in: u64,
    max_message: usize,
    messages: usize,
}

fn addr(i: usize) -> String {
    format!("10.0.{}.{}:7000", i / 250, i % 250 + 1)
}

impl Cluster {
    /// `n` nodes that all bootstrap through nodes 0 and 1.
    fn new(n: usize, params: &str, seed: u64) -> Cluster {
        let mut c = Cluster {
            nodes: Vec::new(),
            now: 0,
            params: params.to_string(),
            rng: seed,
            drop_one_in: 0,
            max_message: 0,
            messages: 0,
        };
        for i in 0..n {
            let host = NodeHost::new(
                addr(i),
                vec![addr(0), addr(1)],
                seed ^ (i as u64 + 1).wrapping_mul(0x1234_5678_9abc_def1),
            );
            c.nodes.push(Node {
                host,
                module: None,
                deployment: 0,
            });
            c.start(i);
        }
        c
    }

    /// `n` nodes as [`Cluster::new`], node `i` labelled `{"rack":"r{i % 5}","n":"{i}"}`.
    fn labelled(n: usize, params: &str, seed: u64) -> Cluster {
        let mut c = Cluster::new(0, params, seed);
        for i in 0..n {
            let mut host = NodeHost::new(
                addr(i),
                vec![addr(0), addr(1)],
                seed ^ (i as u64 + 1).wrapping_mul(0x1234_5678_9abc_def1),
            );
            host.labels = labels_of(i);
            c.nodes.push(Node {
                host,
                module: None,
                deployment: 0,
            });
            c.start(i);
        }
        c
    }

    /// Node `i` leaves gracefully: its farewells go out with the next round.
    fn leave(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        if let Some(mut m) = node.module.take() {
            m.leave(&mut node.host);
        }
    }

    /// The events node `i` emitted since last asked, as (kind, addr).
    fn events(&mut self, i: usize) -> Vec<(String, String)> {
        self.nodes[i]
            .host
            .events
            .drain(..)
            .map(|(kind, data)| {
                let doc = json::parse(std::str::from_utf8(&data).unwrap()).expect("event data is JSON");
                (kind, doc.get("addr").and_then(Value::as_str).unwrap().to_string())
            })
            .collect()
    }

    fn start(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.host.now = self.now;
        node.module = Some(factory::<Membership>()(&self.params, &mut node.host).expect("init"));
    }

    fn crash(&mut self, i: usize) {
        self.nodes[i].module = None;
        self.nodes[i].host.outbox.clear();
    }

    fn index(&self, a: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.host.addr == a)
    }

    /// One tick everywhere, then deliver until the network is quiet (replies
    /// included) — every message is encoded bytes, size-checked and maybe dropped.
    fn round(&mut self) {
        self.now += TICK_MS;
        let now = self.now;
        let mut queue = VecDeque::new();
        for node in &mut self.nodes {
            node.host.now = now;
            if let Some(m) = node.module.as_mut() {
                m.tick(now, &mut node.host);
            }
            for (to, bytes) in node.host.outbox.drain(..) {
                queue.push_back((node.host.addr.clone(), to, bytes));
            }
        }
        while let Some((from, to, bytes)) = queue.pop_front() {
            self.messages += 1;
            self.max_message = self.max_message.max(bytes.len());
            if self.drop_one_in > 0 && splitmix(&mut self.rng) % self.drop_one_in == 0 {
                continue;
            }
            let i = match self.index(&to) {
                Some(i) => i,
                None => continue,
            };
            if Some(self.nodes[i].deployment) != self.index(&from).map(|f| self.nodes[f].deployment) {
                continue;
            }
            let node = &mut self.nodes[i];
            if let Some(m) = node.module.as_mut() {
                m.receive(&from, &bytes, &mut node.host);
            }
            for (to, bytes) in node.host.outbox.drain(..) {
                queue.push_back((node.host.addr.clone(), to, bytes));
            }
        }
    }

    fn query(&mut self, i: usize, args: &str) -> String {
        let node = &mut self.nodes[i];
        node.module.as_mut().expect("running").query(args, &mut node.host)
    }

    /// (live, suspected) as node `i` sees them.
    fn view(&mut self, i: usize) -> (BTreeSet<String>, BTreeSet<String>) {
        let doc = json::parse(&self.query(i, "")).expect("query answers JSON");
        let list = |key: &str| -> BTreeSet<String> {
            match doc.get(key) {
                Some(Value::Array(items)) => items.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
                _ => panic!("no {} list", key),
            }
        };
        (list("live"), list("suspected"))
    }

    fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].module.is_some())
            .collect()
    }

    /// Rounds until every running node sees every running node live.
    fn converge(&mut self, max_rounds: usize) -> usize {
        let everyone: BTreeSet<String> = self.running().into_iter().map(addr).collect();
        for round in 1..=max_rounds {
            self.round();
            if self.running().into_iter().all(|i| self.view(i).0 == everyone) {
                return round;
            }
        }
        panic!("no convergence in {} rounds", max_rounds);
    }
}

#[test]
fn everybody_learns_everybody_and_nobody_is_falsely_suspected() {
    let mut c = Cluster::new(50, "", 1);
    let rounds = c.converge(40);
    assert!(rounds <= 20, "took {} rounds", rounds);
    for _ in 0..100 {
        c.round();
        for i in 0..50 {
            let (live, suspected) = c.view(i);
            assert_eq!(live.len(), 50, "node {} lost someone", i);
            assert!(suspected.is_empty(), "node {} suspects {:?}", i, suspected);
        }
    }
    assert!(c.max_message <= 1200, "a {} byte message", c.max_message);
}

#[test]
fn a_crashed_node_is_suspected_then_removed_everywhere_and_can_come_back() {
    let mut c = Cluster::new(50, "", 2);
    c.converge(40);
    let victim = addr(7);
    c.crash(7);
    let crashed_at = c.now;
    let observers: Vec<usize> = c.running();
    let mut seen_suspected = BTreeSet::new();
    let mut removed_at = vec![None; 50];
    while c.now < crashed_at + 4000 {
        c.round();
        for &i in &observers {
            let (live, suspected) = c.view(i);
            if suspected.contains(&victim) {
                assert!(c.now >= crashed_at + 600, "suspected too early");
                seen_suspected.insert(i);
            }
            if !live.contains(&victim) && !suspected.contains(&victim) && removed_at[i].is_none() {
                removed_at[i] = Some(c.now);
            }
            if removed_at[i].is_some() {
                assert!(
                    !live.contains(&victim) && !suspected.contains(&victim),
                    "node {} resurrected {}",
                    i,
                    victim
                );
            }
        }
    }
    assert_eq!(
        seen_suspected.len(),
        observers.len(),
        "not everyone suspected before removing"
    );
    for &i in &observers {
        let t = removed_at[i].unwrap_or_else(|| panic!("node {} never removed {}", i, victim));
        assert!(
            t >= crashed_at + 1200 && t <= crashed_at + 1800,
            "node {} removed at +{}",
            i,
            t - crashed_at
        );
    }

    // The node restarts with a fresh table; its new generation beats the tombstones.
    c.start(7);
    let rounds = c.converge(40);
    assert!(rounds <= 20, "rejoin took {} rounds", rounds);
}

fn labels_of(i: usize) -> String {
    format!(r#"{{"rack":"r{}","n":"{}"}}"#, i % 5, i)
}

/// Node `i`'s `members` query: addr → (state, labels JSON).
fn members(c: &mut Cluster, i: usize) -> std::collections::BTreeMap<String, (String, String)> {
    let doc = json::parse(&c.query(i, "members")).expect("members answers JSON");
    let list = match doc.get("members") {
        Some(Value::Array(items)) => items.clone(),
        _ => panic!("no members list"),
    };
    list.iter()
        .map(|m| {
            let labels = match m.get("labels") {
                Some(Value::Object(pairs)) => {
                    let mut out = String::from("{");
                    for (k, v) in pairs {
                        if out.len() > 1 {
                            out.push(',');
                        }
                        out.push_str(&format!(r#""{}":"{}""#, k, v.as_str().unwrap()));
                    }
                    out + "}"
                }
                _ => panic!("no labels"),
            };
            (
                m.get("addr").and_then(Value::as_str).unwrap().to_string(),
                (
                    m.get("state").and_then(Value::as_str).unwrap().to_string(),
                    labels,
                ),
            )
        })
        .collect()
}

#[test]
fn labels_reach_every_view_and_changes_are_events() {
    let mut c = Cluster::labelled(30, "", 21);
    c.converge(40);
    for i in 0..30 {
        let view = members(&mut c, i);
        assert_eq!(view.len(), 30, "node {} lists {}", i, view.len());
        for (member, (state, labels)) in &view {
            assert_eq!(state, "alive");
            let n = c.index(member).unwrap();
            // Keys come back sorted: n before rack.
            assert_eq!(
                labels,
                &format!(r#"{{"n":"{}","rack":"r{}"}}"#, n, n % 5),
                "node {} on {}",
                i,
                member
            );
        }
        let joined: BTreeSet<String> = c
            .events(i)
            .into_iter()
            .filter(|(kind, _)| kind == "member.joined")
            .map(|(_, a)| a)
            .collect();
        assert_eq!(joined.len(), 29, "node {}: one join per other member", i);
    }
    // Labels reach a node that joins late too, through replies to what it lacks.
    let mut late = Cluster::labelled(30, "", 22);
    late.converge(40);
    for _ in 0..60 {
        late.round(); // the labels are no longer news anywhere
    }
    let mut host = NodeHost::new(addr(30), vec![addr(0)], 99);
    host.labels = labels_of(30);
    late.nodes.push(Node {
        host,
        module: None,
        deployment: 0,
    });
    late.start(30);
    late.converge(40);
    for _ in 0..10 {
        late.round();
    }
    let view = members(&mut late, 30);
    assert_eq!(view.len(), 31);
    assert!(
        view.values().all(|(_, labels)| labels.contains("rack")),
        "{:?}",
        view
    );
}

#[test]
fn a_leave_removes_the_node_everywhere_in_one_round_and_it_can_come_back() {
    let mut c = Cluster::labelled(40, "", 23);
    c.converge(40);
    for i in 0..40 {
        c.events(i);
    }
    c.leave(9);
    c.round();
    for i in c.running() {
        let (live, suspected) = c.view(i);
        assert!(
            !live.contains(&addr(9)) && !suspected.contains(&addr(9)),
            "node {} still lists it",
            i
        );
        assert_eq!(members(&mut c, i)[&addr(9)].0, "left");
        assert_eq!(
            c.events(i),
            vec![("member.left".to_string(), addr(9))],
            "node {}",
            i
        );
    }
    for _ in 0..30 {
        c.round();
        for i in c.running() {
            assert!(!c.view(i).0.contains(&addr(9)), "stale gossip brought it back");
        }
    }
    c.start(9);
    c.converge(40);
}

#[test]
fn a_leave_spreads_by_gossip_when_its_messages_are_lost() {
    let mut c = Cluster::labelled(40, "", 24);
    c.converge(40);
    c.drop_one_in = 2; // half of everything, the farewells included
    c.leave(9);
    let mut rounds = 0;
    while c.running().into_iter().any(|i| {
        let (live, suspected) = c.view(i);
        live.contains(&addr(9)) || suspected.contains(&addr(9))
    }) {
        c.round();
        rounds += 1;
        assert!(
            rounds < 6,
            "the leave had not reached everyone after {} rounds",
            rounds
        );
    }
    let failed: usize = c
        .running()
        .into_iter()
        .map(|i| members(&mut c, i)[&addr(9)].0.clone())
        .filter(|state| state != "left")
        .count();
    assert_eq!(failed, 0, "every node saw a leave, not a failure");
}

#[test]
fn messages_respect_the_size_cap_and_sampling_still_converges() {
    let params = r#"{"max_message_bytes":200,"suspect_after_ms":5000,"remove_after_ms":10000}"#;
    let mut c = Cluster::new(50, params, 3);
    c.converge(100);
    for _ in 0..50 {
        c.round();
    }
    assert!(c.max_message <= 200, "a {} byte message", c.max_message);
    assert!(
        c.max_message > 150,
        "the cap should be nearly filled, max was {}",
        c.max_message
    );
    for i in 0..50 {
        let (live, suspected) = c.view(i);
        assert_eq!((live.len(), suspected.len()), (50, 0), "node {}", i);
    }
}

#[test]
fn converges_despite_message_loss() {
    let mut c = Cluster::new(50, "", 4);
    c.drop_one_in = 10;
    c.converge(60);
    for _ in 0..50 {
        c.round();
        for i in 0..50 {
            assert!(c.view(i).1.is_empty(), "node {} suspects someone at 10% loss", i);
        }
    }
}

#[test]
fn state_export_then_import_keeps_the_view_across_a_hot_swap() {
    let mut c = Cluster::new(20, "", 5);
    c.converge(40);
    let before = c.query(3, "");
    let state = c.nodes[3]
        .module
        .as_ref()
        .unwrap()
        .export_state()
        .expect("exports state");

    let node = &mut c.nodes[3];
    let mut next = factory::<Membership>()("", &mut node.host).unwrap();
    assert!(next.import_state(&state, &mut node.host));
    node.module = Some(next);
    assert_eq!(c.query(3, ""), before);

    // Its heartbeat carries on, so nobody notices the swap.
    for _ in 0..30 {
        c.round();
        for i in 0..20 {
            assert_eq!(c.view(i).0.len(), 20);
        }
    }
}

/// Node `i` swaps to a new instance (a new deployment) that takes the old one's state.
fn hot_swap(c: &mut Cluster, i: usize, deployment: u32) {
    let node = &mut c.nodes[i];
    let state = node
        .module
        .as_ref()
        .unwrap()
        .export_state()
        .expect("exports state");
    let mut next = factory::<Membership>()("", &mut node.host).unwrap();
    assert!(next.import_state(&state, &mut node.host));
    node.module = Some(next);
    node.deployment = deployment;
}

#[test]
fn an_update_slower_than_the_removal_timeout_removes_nobody() {
    // While a cluster changes versions, gossip passes only between nodes on the same
    // deployment. Here the update takes 2 s (twice the removal timeout): one node
    // swaps every 100 ms round, so the first hears nothing from the last for 2 s.
    let n = 20;
    let mut c = Cluster::new(n, "", 8);
    c.converge(40);
    for i in 0..n {
        hot_swap(&mut c, i, 1);
        c.round();
    }
    for _ in 0..30 {
        c.round();
    }
    for i in 0..n {
        let count = c.query(i, "count");
        assert!(count.contains("\"removed\":0"), "node {}: {}", i, count);
        assert_eq!(c.view(i).0.len(), n, "node {}", i);
    }
    // A node that stays behind is still removed, only later.
    let mut c = Cluster::new(n, "", 9);
    c.converge(40);
    for i in 0..n - 1 {
        hot_swap(&mut c, i, 1);
    }
    for _ in 0..25 {
        c.round();
    }
    assert_eq!(
        c.view(0).0.len(),
        n - 1,
        "the node left on the old version is removed"
    );
}

#[test]
fn query_formats() {
    let mut c = Cluster::new(3, "", 6);
    c.converge(20);
    assert_eq!(
        c.query(0, ""),
        r#"{"self":"10.0.0.1:7000","live":["10.0.0.1:7000","10.0.0.2:7000","10.0.0.3:7000"],"suspected":[]}"#
    );
    assert_eq!(
        c.query(0, "count"),
        r#"{"self":"10.0.0.1:7000","live":3,"suspected":0,"removed":0}"#
    );
    assert_eq!(c.query(0, "\"count\""), c.query(0, "count"));
    let table = json::parse(&c.query(0, "table")).unwrap();
    match table.get("members") {
        Some(Value::Array(m)) => assert_eq!(m.len(), 2),
        other => panic!("members: {:?}", other),
    }
}

#[test]
fn init_rejects_bad_params() {
    let mut host = NodeHost::new(addr(0), vec![], 0);
    assert!(factory::<Membership>()("{not json", &mut host).is_err());
    assert!(factory::<Membership>()(r#"{"fanout":0}"#, &mut host).is_err());
    assert!(factory::<Membership>()(r#"{"fanout":2,"whatever":[1,2]}"#, &mut host).is_ok());
}

#[test]
fn garbage_and_truncated_input_is_ignored_without_panicking() {
    let mut c = Cluster::new(5, "", 7);
    c.converge(20);
    // Capture a real message to mutate.
    let node = &mut c.nodes[0];
    node.module.as_mut().unwrap().tick(c.now + 1, &mut node.host);
    let real = node.host.outbox.drain(..).next().expect("node 0 gossips").1;
    let state = node.module.as_ref().unwrap().export_state().unwrap();

    let view = c.query(1, "");
    let mut rng = 99u64;
    let node = &mut c.nodes[1];
    let m = node.module.as_mut().unwrap();
    for cut in 0..real.len() {
        m.receive("10.0.0.1:7000", &real[..cut], &mut node.host);
    }
    node.host.outbox.clear();
    assert_eq!(
        m.query("", &mut node.host),
        view,
        "a truncated message changed the view"
    );

    for len in 0..300 {
        let noise: Vec<u8> = (0..len).map(|_| splitmix(&mut rng) as u8).collect();
        m.receive("10.0.0.1:7000", &noise, &mut node.host);
        let mut flipped = real.clone();
        let bit = splitmix(&mut rng) as usize % (real.len() * 8);
        flipped[bit / 8] ^= 1 << (bit % 8);
        m.receive("10.0.0.1:7000", &flipped, &mut node.host);
        let mut s = state.clone();
        s[bit % state.len()] ^= 0xff;
        let _ = m.import_state(&s[..(bit % state.len())], &mut node.host);
        let _ = m.import_state(&noise, &mut node.host);
    }
    // Version byte 1 with a huge count and nothing behind it.
    m.receive(
        "x",
        &[1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        &mut node.host,
    );
    let _ = m.query("table", &mut node.host);
}

fn lone_node(params: &str) -> (Box<dyn DynModule>, NodeHost) {
    let mut host = NodeHost::new(addr(0), vec![], 11);
    let m = factory::<Membership>()(params, &mut host).expect("init");
    (m, host)
}

fn hb(counter: u64) -> Heartbeat {
    Heartbeat {
        generation: 1,
        counter,
    }
}

/// Node 0 hears `members` (by index) at heartbeat `counter`, at `now`.
fn hear(
    m: &mut Box<dyn DynModule>,
    host: &mut NodeHost,
    members: impl Iterator<Item = usize>,
    counter: u64,
    now: u64,
) {
    host.now = now;
    let names: Vec<String> = members.map(addr).collect();
    let entries: Vec<EntryRef> = names.iter().map(|a| EntryRef::plain(a, hb(counter))).collect();
    m.receive(&names[0], &encode_gossip(false, &entries), host);
    assert!(host.outbox.is_empty(), "a push-only message got a reply");
}

fn sent(host: &mut NodeHost) -> Vec<Vec<(String, Heartbeat)>> {
    host.outbox
        .drain(..)
        .map(|(_, bytes)| {
            decode_gossip(&bytes)
                .expect("well-formed")
                .entries
                .into_iter()
                .map(|e| (e.addr, e.heartbeat))
                .collect()
        })
        .collect()
}

fn indices(entries: &[(String, Heartbeat)]) -> BTreeSet<usize> {
    entries
        .iter()
        .map(|(a, _)| (0..1000).find(|i| addr(*i) == *a).expect("a test address"))
        .collect()
}

#[test]
fn a_reply_leads_with_what_the_push_lacks_and_leaves_out_what_it_has() {
    for cap in ["200", "8192"] {
        let (mut m, mut host) = lone_node(&format!(r#"{{"max_message_bytes":{}}}"#, cap));
        hear(&mut m, &mut host, 1..=40, 5, 0);
        // The push: 1-5 older than node 0's, 6-10 the same, 11-12 newer.
        let names: Vec<String> = (1..=12).chain([41]).map(addr).collect();
        let push: Vec<EntryRef> = names
            .iter()
            .enumerate()
            .map(|(i, a)| EntryRef::plain(a, hb([3, 5, 9, 1][[0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 3][i]])))
            .collect();
        host.now = 100;
        m.receive(&addr(41), &encode_gossip(true, &push), &mut host);
        let replies = sent(&mut host);
        assert_eq!(replies.len(), 1);
        let reply = &replies[0];
        assert_eq!(reply[0].0, addr(0), "own entry first");
        assert_eq!(
            indices(&reply[1..6]),
            (1..=5).collect(),
            "cap {}: news first",
            cap
        );
        assert!(reply[1..6].iter().all(|(_, h)| *h == hb(5)));
        let rest = indices(&reply[6..]);
        assert!(
            rest.iter().all(|i| (13..=40).contains(i)),
            "cap {}: {:?}",
            cap,
            rest
        );
        if cap == "200" {
            assert_eq!(reply.len(), 11, "the cap is filled");
        } else {
            assert_eq!(rest.len(), 28, "everything the pusher lacks");
        }
    }
}

#[test]
fn a_sampled_push_asks_for_the_members_heard_from_least_recently() {
    let (mut m, mut host) = lone_node(r#"{"max_message_bytes":220,"request_percent":100}"#);
    hear(&mut m, &mut host, 1..=10, 5, 0);
    hear(&mut m, &mut host, 11..=40, 5, 800);
    // At 1,100 ms, 1-10 are suspected; they are asked for all the same.
    host.now = 1100;
    m.tick(1100, &mut host);
    let pushes = sent(&mut host);
    assert_eq!(pushes.len(), 3);
    for push in &pushes {
        assert!(push.len() >= 11, "the cap is filled");
        assert_eq!(indices(&push[1..11]), (1..=10).collect());
    }

    // Without requests, a push carries a random sample of the live members only.
    let (mut m, mut host) = lone_node(r#"{"max_message_bytes":220,"request_percent":0}"#);
    hear(&mut m, &mut host, 1..=10, 5, 0);
    hear(&mut m, &mut host, 11..=40, 5, 800);
    host.now = 1100;
    m.tick(1100, &mut host);
    for push in sent(&mut host) {
        assert!(push.len() >= 11, "the cap is filled");
        assert!(indices(&push[1..]).iter().all(|i| *i > 10));
    }
}

/// Suspicions seen over `rounds` at 10% loss among 60 nodes whose messages hold 11
/// entries.
fn suspicions_when_sampled(request_percent: u64, rounds: usize) -> usize {
    let params = format!(
        // The timeouts this comparison was made with (the defaults until they shrank
        // for 100-node clusters, whose whole table fits in a message).
        r#"{{"max_message_bytes":200,"request_percent":{},"suspect_after_ms":1000,"remove_after_ms":2000}}"#,
        request_percent
    );
    let mut c = Cluster::new(60, &params, 8);
    c.drop_one_in = 10;
    c.converge(100);
    let mut suspicions = 0;
    for _ in 0..rounds {
        c.round();
        for i in 0..60 {
            suspicions += c.view(i).1.len();
        }
    }
    suspicions
}

#[test]
fn requests_keep_sampled_heartbeats_fresh() {
    let random = suspicions_when_sampled(0, 300);
    let steered = suspicions_when_sampled(25, 300);
    eprintln!("suspicions: random samples {}, with requests {}", random, steered);
    assert!(random > 0, "random samples should fall behind now and then");
    assert_eq!(steered, 0);
}
