//! A one-hop lookup at scale with the kelips module's own code (natively linked, the
//! same source as modules/dist/kelips.wasm): nodes start knowing only the rendezvous
//! nodes and fill their affinity groups and contacts; keys are put from random nodes;
//! then keys are read from random nodes with no faults, and again while nodes are
//! replaced (a node crashes and comes back empty, as a new instance, a while later)
//! at a steady rate — Kelips' own experiment. Each phase reports the share of
//! lookups that found the right value, the mean hops, and the state per node in
//! entries (members + contacts + tuples: O(√N)).

use serde::Serialize;

use hearsay_core::ModuleName;

use crate::addr::addr_of;
use crate::library;
use crate::world::{ModuleSpec, Sim, SimConfig};

/// The kelips module's committed wasm (the simulator runs its native build).
pub const KELIPS: &[u8] = include_bytes!("../../../modules/dist/kelips.wasm");

/// Rounds the views may take to fill before the run goes on regardless.
const MAX_JOIN_ROUNDS: u64 = 300;
/// Rounds a replaced node stays down before its new instance starts.
const DOWN_ROUNDS: u64 = 25;

/// What to run.
#[derive(Debug, Clone)]
pub struct KelipsConfig {
    /// The simulated cluster (`modules` is set here).
    pub sim: SimConfig,
    /// Affinity groups; 0: the nearest integer to √N.
    pub groups: u32,
    /// Keys put (from random nodes) before the lookups.
    pub keys: usize,
    /// Lookups per phase.
    pub lookups: usize,
    /// Nodes replaced per simulated minute during the churn phase, as a share of N.
    pub churn_per_minute: f64,
    /// Simulated minutes the churn phase lasts.
    pub churn_minutes: f64,
    /// Extra params (a JSON object's fields, merged after `groups`).
    pub params: String,
}

impl Default for KelipsConfig {
    fn default() -> Self {
        KelipsConfig {
            sim: SimConfig::default(),
            groups: 0,
            keys: 1000,
            lookups: 1000,
            churn_per_minute: 0.1,
            churn_minutes: 1.0,
            params: String::new(),
        }
    }
}

/// One phase of lookups.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// What happened meanwhile.
    pub what: String,
    /// Lookups that ended (those whose origin crashed first are not counted).
    pub lookups: usize,
    /// Share of them that found the right value.
    pub success: f64,
    /// Lookups answered "not found" (the key was put and stored before).
    pub not_found: usize,
    /// Lookups that failed: no node asked answered in time.
    pub failed: usize,
    /// Mean request legs per lookup (0: answered at the origin, its own group's key).
    pub mean_hops: f64,
    /// Mean legs of the lookups that left the origin's group.
    pub mean_remote_hops: f64,
    /// Bytes each node sent per round meanwhile (envelopes, on average).
    pub bytes_per_node_round: f64,
    /// Nodes replaced during the phase.
    pub replaced: usize,
}

/// State held per node at one moment.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StateReport {
    /// Mean members of the node's group known.
    pub members: f64,
    /// Mean contacts in other groups.
    pub contacts: f64,
    /// Mean tuples held.
    pub tuples: f64,
    /// Mean entries in all (members + contacts + tuples).
    pub entries: f64,
    /// The most entries at any node.
    pub max_entries: u64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct KelipsReport {
    /// Nodes simulated.
    pub nodes: usize,
    /// Affinity groups.
    pub groups: u32,
    /// Seed.
    pub seed: u64,
    /// Rounds until every node knew its whole group and a contact in every other
    /// (None: not within the limit).
    pub join_rounds: Option<u64>,
    /// Keys put, and how many were stored.
    pub keys: usize,
    /// Of them, stored.
    pub stored: usize,
    /// Per node, after the puts.
    pub state: StateReport,
    /// The lookup phases, in order.
    pub phases: Vec<PhaseReport>,
}

impl std::fmt::Display for PhaseReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<38} {:>5} lookups  {:>8.3}% found ({} not found, {} failed)  {:.2} hops ({:.2} remote)  {:.0} B/node/round",
            self.what,
            self.lookups,
            self.success * 100.0,
            self.not_found,
            self.failed,
            self.mean_hops,
            self.mean_remote_hops,
            self.bytes_per_node_round
        )
    }
}

fn module() -> ModuleName {
    ModuleName::new("kelips").expect("a valid name")
}

fn summary(sim: &mut Sim, node: usize) -> Option<serde_json::Value> {
    sim.query(node, &module(), "")
        .and_then(|text| serde_json::from_str(&text).ok())
}

/// A deterministic walk (LCG): the next index below `n`.
fn pick(state: &mut u64, n: usize) -> usize {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*state >> 33) as usize % n
}

fn live_nodes(sim: &Sim) -> Vec<usize> {
    (0..sim.nodes.len()).filter(|&i| sim.alive(i)).collect()
}

/// A request started at a node, waiting for its outcome.
struct Started {
    node: usize,
    id: u64,
    key: usize,
}

/// Starts a request; the outcome when it ended at once, else its id.
fn start(sim: &mut Sim, node: usize, args: serde_json::Value) -> Option<(u64, Option<serde_json::Value>)> {
    let answer: serde_json::Value =
        serde_json::from_str(&sim.command(node, &module(), &args.to_string())?).ok()?;
    let id = answer["id"].as_u64()?;
    let done = answer["done"] == true;
    Some((id, done.then_some(answer)))
}

/// The outcome of request `id` at `node`, once it ended.
fn outcome(sim: &mut Sim, node: usize, id: u64) -> Option<serde_json::Value> {
    let text = sim.query(node, &module(), &format!("result {id}"))?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    (v["done"] == true).then_some(v)
}

fn value_of(key: usize) -> String {
    format!("value-{key}")
}

/// Tallies of a phase's lookups.
#[derive(Default)]
struct Tally {
    ended: usize,
    found: usize,
    not_found: usize,
    failed: usize,
    hops: u64,
    remote: usize,
    remote_hops: u64,
}

impl Tally {
    fn add(&mut self, key: usize, o: &serde_json::Value) {
        self.ended += 1;
        if o["status"] == "found" && o["value"] == value_of(key).as_str() {
            self.found += 1;
        } else if o["status"] == "failed" {
            self.failed += 1;
        } else {
            self.not_found += 1;
        }
        let hops = o["hops"].as_u64().unwrap_or(0);
        self.hops += hops;
        if hops > 0 {
            self.remote += 1;
            self.remote_hops += hops;
        }
    }
}

/// Checks started requests; keeps those still pending at live nodes.
fn collect(sim: &mut Sim, waiting: &mut Vec<Started>, tally: &mut Tally) {
    waiting.retain(|s| {
        if !sim.alive(s.node) {
            return false;
        }
        match outcome(sim, s.node, s.id) {
            Some(o) => {
                tally.add(s.key, &o);
                false
            }
            None => true,
        }
    });
}

/// Replaces nodes at `per_round` a round (fractions carried over): each crashes, and
/// comes back as a new, empty instance `DOWN_ROUNDS` later.
struct Churn {
    per_round: f64,
    owed: f64,
    down: Vec<(u64, usize)>,
    replaced: usize,
}

impl Churn {
    fn round(&mut self, sim: &mut Sim, round: u64, walk: &mut u64) {
        while let Some(&(at, node)) = self.down.first() {
            if at > round {
                break;
            }
            self.down.remove(0);
            sim.restart(node);
        }
        self.owed += self.per_round;
        while self.owed >= 1.0 {
            self.owed -= 1.0;
            // Never the rendezvous nodes: new instances join through them.
            let n = sim.nodes.len();
            let candidate = sim.cfg.rendezvous + pick(walk, n - sim.cfg.rendezvous);
            if sim.alive(candidate) {
                sim.crash(candidate);
                self.down.push((round + DOWN_ROUNDS, candidate));
                self.replaced += 1;
            }
        }
    }
}

/// `cfg.lookups` lookups of random keys from random live nodes, `per_round` a round
/// (fractions carried over), with `churn` meanwhile; then rounds until every started
/// lookup ended.
fn lookups(
    sim: &mut Sim,
    what: &str,
    cfg: &KelipsConfig,
    per_round: f64,
    churn: &mut Churn,
    walk: &mut u64,
) -> PhaseReport {
    let before = sim.totals();
    let started_round = sim.now;
    let replaced_before = churn.replaced;
    let mut waiting = Vec::new();
    let mut tally = Tally::default();
    let mut issued = 0;
    let mut owed = 0.0;
    let mut round = 0u64;
    while issued < cfg.lookups || !waiting.is_empty() {
        owed += per_round;
        let now = (owed as usize).min(cfg.lookups - issued);
        owed -= now as f64;
        for _ in 0..now {
            let live = live_nodes(sim);
            let node = live[pick(walk, live.len())];
            let key = pick(walk, cfg.keys);
            issued += 1;
            match start(
                sim,
                node,
                serde_json::json!({"op": "get", "key": format!("key/{key}")}),
            ) {
                Some((_, Some(o))) => tally.add(key, &o),
                Some((id, None)) => waiting.push(Started { node, id, key }),
                None => {}
            }
        }
        round += 1;
        churn.round(sim, round, walk);
        sim.run_rounds(1);
        collect(sim, &mut waiting, &mut tally);
        if round > 10_000 {
            break;
        }
    }
    let rounds = ((sim.now - started_round) / sim.cfg.gossip_interval_ms.max(1)).max(1);
    let per = |x: u64, n: usize| if n == 0 { 0.0 } else { x as f64 / n as f64 };
    PhaseReport {
        what: what.to_string(),
        lookups: tally.ended,
        success: per(tally.found as u64, tally.ended),
        not_found: tally.not_found,
        failed: tally.failed,
        mean_hops: per(tally.hops, tally.ended),
        mean_remote_hops: per(tally.remote_hops, tally.remote),
        bytes_per_node_round: (sim.totals() - before).bytes_per_node_round(sim.nodes.len(), rounds),
        replaced: churn.replaced - replaced_before,
    }
}

fn state(sim: &mut Sim) -> StateReport {
    let live = live_nodes(sim);
    let mut s = StateReport::default();
    for &i in &live {
        if let Some(v) = summary(sim, i) {
            let get = |k: &str| v[k].as_u64().unwrap_or(0);
            s.members += get("members") as f64;
            s.contacts += get("contacts") as f64;
            s.tuples += get("tuples") as f64;
            s.entries += get("entries") as f64;
            s.max_entries = s.max_entries.max(get("entries"));
        }
    }
    let n = live.len().max(1) as f64;
    s.members /= n;
    s.contacts /= n;
    s.tuples /= n;
    s.entries /= n;
    s
}

/// The module's params: `groups` and the caller's extra fields.
fn params(groups: u32, extra: &str) -> String {
    let extra = extra.trim().trim_start_matches('{').trim_end_matches('}').trim();
    if extra.is_empty() {
        format!("{{\"groups\":{groups}}}")
    } else {
        format!("{{\"groups\":{groups},{extra}}}")
    }
}

/// Plays the run: joining, puts, lookups without faults, lookups under churn.
pub fn play(cfg: KelipsConfig) -> KelipsReport {
    let n = cfg.sim.nodes;
    let groups = if cfg.groups > 0 {
        cfg.groups
    } else {
        ((n as f64).sqrt().round() as u32).max(1)
    };
    let mut sim_cfg = cfg.sim.clone();
    sim_cfg.modules = Some(vec![ModuleSpec {
        name: module(),
        code: KELIPS.to_vec(),
        native: library::native("kelips"),
        params: params(groups, &cfg.params),
        budget: Default::default(),
    }]);
    let seed = sim_cfg.seed;
    let mut sim = Sim::new(sim_cfg);
    // Group sizes, to know when every view is whole.
    let mut sizes = vec![0u64; groups as usize];
    for i in 0..n {
        sizes[kelips::hash::group_of(&addr_of(i).to_string(), groups) as usize] += 1;
    }
    let occupied = sizes.iter().filter(|&&s| s > 0).count() as u64;
    let mut join_rounds = None;
    for r in 1..=MAX_JOIN_ROUNDS {
        sim.run_rounds(1);
        if r % 5 != 0 {
            continue;
        }
        let whole = (0..n).all(|i| {
            summary(&mut sim, i).is_some_and(|v| {
                let g = v["group"].as_u64().unwrap_or(0) as usize;
                v["members"].as_u64() == Some(sizes[g] - 1)
                    && v["groups_covered"].as_u64() == Some(occupied - 1)
            })
        });
        if whole {
            join_rounds = Some(r);
            break;
        }
    }
    // Puts from random nodes, a tenth of N a round, until all ended.
    let mut walk = seed ^ 0x6b65_6c69;
    let mut waiting = Vec::new();
    let mut stored = 0;
    let per_round = (n / 10).max(1);
    let mut next = 0;
    while next < cfg.keys || !waiting.is_empty() {
        for _ in 0..per_round.min(cfg.keys - next) {
            let node = pick(&mut walk, n);
            let args =
                serde_json::json!({"op": "put", "key": format!("key/{next}"), "value": value_of(next)});
            match start(&mut sim, node, args) {
                Some((_, Some(o))) => stored += usize::from(o["status"] == "stored"),
                Some((id, None)) => waiting.push(Started { node, id, key: next }),
                None => {}
            }
            next += 1;
        }
        sim.run_rounds(1);
        waiting.retain(|s| match outcome(&mut sim, s.node, s.id) {
            Some(o) => {
                stored += usize::from(o["status"] == "stored");
                false
            }
            None => true,
        });
    }
    // Let the pushes and anti-entropy settle.
    sim.run_rounds(10);
    let state = state(&mut sim);
    let round_ms = sim.cfg.gossip_interval_ms.max(1) as f64;
    let rounds_per_minute = 60_000.0 / round_ms;
    let mut still = Churn {
        per_round: 0.0,
        owed: 0.0,
        down: Vec::new(),
        replaced: 0,
    };
    let per_round = (n / 10).clamp(1, 100) as f64;
    let mut phases = vec![lookups(
        &mut sim,
        "no faults",
        &cfg,
        per_round,
        &mut still,
        &mut walk,
    )];
    let churn_rounds = (cfg.churn_minutes * rounds_per_minute).max(1.0);
    let mut churn = Churn {
        per_round: cfg.churn_per_minute * n as f64 / rounds_per_minute,
        owed: 0.0,
        down: Vec::new(),
        replaced: 0,
    };
    // The lookups spread over the whole churn phase.
    let spread = cfg.lookups as f64 / churn_rounds;
    phases.push(lookups(
        &mut sim,
        &format!(
            "{:.0}% of nodes replaced per minute",
            cfg.churn_per_minute * 100.0
        ),
        &cfg,
        spread,
        &mut churn,
        &mut walk,
    ));
    KelipsReport {
        nodes: n,
        groups,
        seed,
        join_rounds,
        keys: cfg.keys,
        stored,
        state,
        phases,
    }
}
