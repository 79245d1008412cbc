//! Publish/subscribe at scale with the broadcast module's own code (natively linked,
//! the same source as modules/dist/broadcast.wasm): every node subscribes to one topic,
//! then messages are published by a few random nodes taking turns (each has its own
//! tree once it published twice: see modules/broadcast/src/plumtree.rs) in four
//! phases after a warm-up — no faults, 10%
//! message loss, right after half the nodes crash at once, and once the views are
//! repaired — and each phase reports the share of live subscribers the worst message
//! reached, the relative message redundancy (payload messages per delivery beyond the
//! first: flooding's is about fanout − 1, Plumtree's tree ≈ 0) and the last delivery
//! hop, as the HyParView and Plumtree papers measure them.

use serde::Serialize;

use hearsay_core::ModuleName;

use crate::library;
use crate::world::{ModuleSpec, Sim, SimConfig};

/// The broadcast module's committed wasm (the simulator runs its native build).
pub const BROADCAST: &[u8] = include_bytes!("../../../modules/dist/broadcast.wasm");

const TOPIC: &str = "t";

/// What to run.
#[derive(Debug, Clone)]
pub struct PubsubConfig {
    /// The simulated cluster (`modules` is set here).
    pub sim: SimConfig,
    /// Messages published per phase.
    pub messages: usize,
    /// Nodes that publish, taking turns (each publishes four times in the warm-up:
    /// its first message takes the shared tree, its second builds its own by a flood,
    /// the next ones shorten it).
    pub publishers: usize,
    /// The broadcast module's params (JSON; empty: its defaults).
    pub params: String,
}

impl Default for PubsubConfig {
    fn default() -> Self {
        PubsubConfig {
            sim: SimConfig::default(),
            messages: 20,
            publishers: 10,
            params: String::new(),
        }
    }
}

/// One phase's figures.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// What happened before and during it.
    pub what: String,
    /// Live subscribers then.
    pub live: usize,
    /// The smallest share of live subscribers any message of the phase reached.
    pub worst_reach: f64,
    /// The share reached on average.
    pub mean_reach: f64,
    /// Payload messages sent per delivery beyond the first.
    pub rmr: f64,
    /// The most hops any delivery took.
    pub last_hop: u32,
    /// The most hops a delivery of each message took, in publishing order.
    pub last_hops: Vec<u32>,
    /// The most hops a delivery needs at least: the farthest live subscriber from a
    /// message's publisher along the topic's active links (what a breadth-first tree
    /// from each publisher would give; Plumtree shares one tree among publishers).
    pub shortest_last_hop: u32,
    /// Grafts sent per message published (a node that missed the tree's push asks
    /// for it; over datagrams also a lost push).
    pub grafts_per_message: f64,
    /// Links swapped by the tree optimisation per message.
    pub swaps_per_message: f64,
    /// Active links made or dropped per message published (the views' churn).
    pub link_changes_per_message: f64,
    /// From a message's publishing to its last delivery, simulated ms: the median
    /// message's.
    pub median_spread_ms: u64,
    /// ... and the slowest message's.
    pub max_spread_ms: u64,
    /// Envelopes each live node sent per round during the phase, all traffic included
    /// (heartbeats, announcements, digests).
    pub messages_per_node_round: f64,
    /// Bytes each live node sent per round during the phase, headers included.
    pub bytes_per_node_round: f64,
}

impl std::fmt::Display for PhaseReport {
    /// One line: what, live nodes, worst and mean reach, RMR, last hop.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<26} live {:>6}  worst {:>7.2}%  mean {:>7.2}%  RMR {:.3}  last hop {} (shortest {})  spread {}/{} ms  grafts {:.1} swaps {:.1} link changes {:.1}/msg  {:.0} B/node/round",
            self.what,
            self.live,
            self.worst_reach * 100.0,
            self.mean_reach * 100.0,
            self.rmr,
            self.last_hop,
            self.shortest_last_hop,
            self.median_spread_ms,
            self.max_spread_ms,
            self.grafts_per_message,
            self.swaps_per_message,
            self.link_changes_per_message,
            self.bytes_per_node_round
        )
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct PubsubReport {
    /// Nodes simulated.
    pub nodes: usize,
    /// Seed.
    pub seed: u64,
    /// Rounds until every node's topic overlay had active peers.
    pub overlay_rounds: u64,
    /// The phases, in order.
    pub phases: Vec<PhaseReport>,
}

fn module() -> ModuleName {
    ModuleName::new("broadcast").expect("a valid name")
}

fn query(sim: &mut Sim, node: usize, args: &str) -> Option<serde_json::Value> {
    sim.query(node, &module(), args)
        .and_then(|text| serde_json::from_str(&text).ok())
}

/// Summed over live nodes: payload messages sent, grafts sent, links swapped by the
/// tree optimisation.
fn counters(sim: &mut Sim) -> [u64; 4] {
    let live: Vec<usize> = (0..sim.nodes.len()).filter(|&i| sim.alive(i)).collect();
    let mut sums = [0; 4];
    for i in live {
        if let Some(v) = query(sim, i, "") {
            sums[0] += v["payloads_sent"].as_u64().unwrap_or(0);
            sums[1] += v["topics"][TOPIC]["grafts"].as_u64().unwrap_or(0);
            sums[2] += v["topics"][TOPIC]["swaps"].as_u64().unwrap_or(0);
            sums[3] += v["topics"][TOPIC]["link_changes"].as_u64().unwrap_or(0);
        }
    }
    sums
}

/// Every live node's active peers in the topic's overlay, as node indices.
fn topic_links(sim: &mut Sim, live: &[usize]) -> Vec<Vec<usize>> {
    let mut links = vec![Vec::new(); sim.nodes.len()];
    for &i in live {
        if let Some(v) = query(sim, i, "") {
            links[i] = v["topics"][TOPIC]["active"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str()?.parse::<hearsay_core::PeerAddr>().ok())
                .filter_map(crate::addr::node_of)
                .filter(|&j| j < sim.nodes.len())
                .collect();
        }
    }
    links
}

/// The hops from `from` to the farthest node it reaches over `links`.
fn eccentricity(links: &[Vec<usize>], from: usize) -> u32 {
    let mut hops = vec![u32::MAX; links.len()];
    hops[from] = 0;
    let mut queue = std::collections::VecDeque::from([from]);
    let mut farthest = 0;
    while let Some(i) = queue.pop_front() {
        farthest = farthest.max(hops[i]);
        for &j in &links[i] {
            if hops[j] == u32::MAX {
                hops[j] = hops[i] + 1;
                queue.push_back(j);
            }
        }
    }
    farthest
}

/// Publishes `n` messages from random live nodes, one every `gap` rounds, lets
/// `settle` rounds pass, and measures.
/// Publishers take turns; from a phase where every one has crashed, random live nodes.
struct Publishers {
    nodes: Vec<usize>,
    turn: usize,
    pick: u64,
}

impl Publishers {
    fn next(&mut self, sim: &Sim, live: &[usize]) -> usize {
        let alive: Vec<usize> = self.nodes.iter().copied().filter(|&i| sim.alive(i)).collect();
        self.turn += 1;
        if let Some(&at) = alive.get(self.turn % alive.len().max(1)) {
            return at;
        }
        self.pick = self
            .pick
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        live[(self.pick >> 33) as usize % live.len()]
    }
}

fn phase(
    sim: &mut Sim,
    what: &str,
    n: usize,
    gap: u64,
    settle: u64,
    publishers: &mut Publishers,
) -> PhaseReport {
    let live: Vec<usize> = (0..sim.nodes.len()).filter(|&i| sim.alive(i)).collect();
    let before = counters(sim);
    let (totals_before, started) = (sim.totals(), sim.now);
    let links = topic_links(sim, &live);
    let mut shortest_last_hop = 0;
    let mut ids = Vec::new();
    for k in 0..n {
        let at = publishers.next(sim, &live);
        shortest_last_hop = shortest_last_hop.max(eccentricity(&links, at));
        let args = serde_json::json!({"op": "publish", "topic": TOPIC, "message": format!("{what} {k}")})
            .to_string();
        let answer = sim.command(at, &module(), &args).unwrap_or_default();
        if let Some(id) = serde_json::from_str::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v["id"].as_str().map(String::from))
        {
            ids.push(id);
        }
        sim.run_rounds(gap);
    }
    sim.run_rounds(settle);
    let after = counters(sim);
    let rounds = (sim.now - started) as f64 / sim.cfg.gossip_interval_ms.max(1) as f64;
    let spent = sim.totals() - totals_before;
    let per_node_round = |x: u64| x as f64 / live.len() as f64 / rounds.max(1.0);
    let mut worst = 1.0f64;
    let mut total = 0.0;
    let mut last_hops = Vec::new();
    let mut deliveries = 0u64;
    let mut spreads = Vec::new();
    for id in &ids {
        let mut last_hop = 0;
        let mut reached = 0;
        let (mut first, mut last) = (u64::MAX, 0);
        for &i in &live {
            if let Some(v) = query(sim, i, &format!("seen {id}")) {
                if v["seen"] == true {
                    reached += 1;
                    last_hop = last_hop.max(v["hops"].as_u64().unwrap_or(0) as u32);
                    let at = v["at_ms"].as_u64().unwrap_or(0);
                    first = first.min(at);
                    last = last.max(at);
                }
            }
        }
        if reached > 0 {
            spreads.push(last - first);
        }
        last_hops.push(last_hop);
        deliveries += reached as u64;
        let share = reached as f64 / live.len() as f64;
        worst = worst.min(share);
        total += share;
    }
    spreads.sort_unstable();
    let sent = after[0].saturating_sub(before[0]) as f64;
    let per_message = |k: usize| after[k].saturating_sub(before[k]) as f64 / ids.len().max(1) as f64;
    // Every delivery but the publisher's own needs one payload; the rest is redundant.
    let needed = deliveries.saturating_sub(ids.len() as u64).max(1) as f64;
    PhaseReport {
        what: what.to_string(),
        live: live.len(),
        worst_reach: if ids.is_empty() { 0.0 } else { worst },
        mean_reach: if ids.is_empty() {
            0.0
        } else {
            total / ids.len() as f64
        },
        rmr: sent / needed - 1.0,
        last_hop: last_hops.iter().copied().max().unwrap_or(0),
        last_hops,
        shortest_last_hop,
        grafts_per_message: per_message(1),
        swaps_per_message: per_message(2),
        link_changes_per_message: per_message(3),
        median_spread_ms: spreads.get(spreads.len() / 2).copied().unwrap_or(0),
        max_spread_ms: spreads.last().copied().unwrap_or(0),
        messages_per_node_round: per_node_round(spent.messages),
        bytes_per_node_round: per_node_round(spent.bytes),
    }
}

/// Plays the four phases.
pub fn play(cfg: PubsubConfig) -> PubsubReport {
    let mut sim_cfg = cfg.sim.clone();
    sim_cfg.modules = Some(vec![ModuleSpec {
        name: module(),
        code: BROADCAST.to_vec(),
        native: library::native("broadcast"),
        params: cfg.params.clone(),
        budget: Default::default(),
    }]);
    let n = sim_cfg.nodes;
    let seed = sim_cfg.seed;
    let mut sim = Sim::new(sim_cfg);
    sim.run_rounds(10);
    let subscribe = serde_json::json!({"op": "subscribe", "topic": TOPIC}).to_string();
    for i in 0..n {
        let _ = sim.command(i, &module(), &subscribe);
    }
    let start = sim.now;
    let round = sim.cfg.gossip_interval_ms.max(1);
    let everyone_linked = |sim: &mut Sim| {
        (0..sim.nodes.len()).all(|i| {
            query(sim, i, "").is_some_and(|v| {
                v["topics"][TOPIC]["active"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
            })
        })
    };
    let mut overlay_rounds = 0;
    for _ in 0..200 {
        sim.run_rounds(5);
        if everyone_linked(&mut sim) {
            overlay_rounds = (sim.now - start).div_ceil(round);
            break;
        }
    }
    // The overlays settle: announcements wait up to 4 s, new subscriptions look for
    // random peers for 30 s (the broadcast module's ANNOUNCE_JITTER_MS and FILL_MS).
    sim.run_until(start + 35_000);
    let mut pick = seed ^ 0x5eed;
    let mut nodes = Vec::new();
    while nodes.len() < cfg.publishers.clamp(1, n) {
        pick = pick
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let at = (pick >> 33) as usize % n;
        if !nodes.contains(&at) {
            nodes.push(at);
        }
    }
    let warm_up = cfg.messages.max(4 * nodes.len());
    let mut publishers = Publishers { nodes, turn: 0, pick };
    let mut phases = Vec::new();
    // Warm-up: the shared tree forms, then each publisher's own (a flood, then
    // shortened by the optimisation over two more messages).
    phase(&mut sim, "warm-up", warm_up, 2, 20, &mut publishers);
    phases.push(phase(&mut sim, "no faults", cfg.messages, 2, 30, &mut publishers));
    sim.world.net.model.loss = 0.1;
    phases.push(phase(
        &mut sim,
        "10% message loss",
        cfg.messages,
        2,
        40,
        &mut publishers,
    ));
    sim.world.net.model.loss = 0.0;
    sim.run_rounds(20);
    for i in (0..n).filter(|i| i % 2 == 1) {
        sim.crash(i);
    }
    phases.push(phase(
        &mut sim,
        "right after 50% crashed",
        cfg.messages,
        1,
        60,
        &mut publishers,
    ));
    sim.run_rounds(40);
    phases.push(phase(
        &mut sim,
        "views repaired",
        cfg.messages,
        2,
        30,
        &mut publishers,
    ));
    PubsubReport {
        nodes: n,
        seed,
        overlay_rounds,
        phases,
    }
}
