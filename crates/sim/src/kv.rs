//! Keyed state at scale with the kv module's own code (natively linked, the same
//! source as modules/dist/kv.wasm): nodes start knowing only the rendezvous nodes and
//! learn one another; then, without loss and with 10% message loss, one key written at
//! a random node and a burst of keys written at random nodes in one round, each timed
//! in rounds until every node reads it all. Every node holds every writer's state, so
//! the simulated cluster's memory grows as N × writers (0.3–0.6 KB a pair with the rest
//! of the simulator: 11.3 GB for 10,000 nodes × 2,000 writers).

use serde::Serialize;

use hearsay_core::ModuleName;

use crate::library;
use crate::world::{ModuleSpec, Sim, SimConfig};

/// The kv module's committed wasm (the simulator runs its native build).
pub const KV: &[u8] = include_bytes!("../../../modules/dist/kv.wasm");

/// Rounds a phase may take before it counts as not converged.
const MAX_ROUNDS: u64 = 400;

/// What to run.
#[derive(Debug, Clone)]
pub struct KvConfig {
    /// The simulated cluster (`modules` is set here).
    pub sim: SimConfig,
    /// Keys in a burst.
    pub burst: usize,
    /// The kv module's params (JSON; empty: its defaults).
    pub params: String,
    /// Told a line now and then while the run goes on (a 10,000-node run takes many
    /// minutes).
    pub progress: Option<fn(&str)>,
}

impl Default for KvConfig {
    fn default() -> Self {
        KvConfig {
            sim: SimConfig::default(),
            burst: 1000,
            params: String::new(),
            progress: None,
        }
    }
}

/// One phase: rounds until every node read what was written (None: not within
/// `MAX_ROUNDS`), and the traffic meanwhile.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// What was written, under which conditions.
    pub what: String,
    /// Rounds until every node read it all.
    pub rounds: Option<u64>,
    /// Bytes each node sent per round meanwhile (envelopes, on average).
    pub bytes_per_node_round: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct KvReport {
    /// Nodes simulated.
    pub nodes: usize,
    /// Seed.
    pub seed: u64,
    /// Rounds until every node's peer view was full (None: not within the limit).
    pub join_rounds: Option<u64>,
    /// Bytes each node sends per round once all know each other, idle.
    pub idle_bytes_per_node_round: f64,
    /// The phases, in order.
    pub phases: Vec<PhaseReport>,
}

impl std::fmt::Display for PhaseReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rounds = self
            .rounds
            .map_or("not converged".to_string(), |r| format!("{r} rounds"));
        write!(
            f,
            "{:<34} {:>14}  {:.0} B/node/round",
            self.what, rounds, self.bytes_per_node_round
        )
    }
}

fn module() -> ModuleName {
    ModuleName::new("kv").expect("a valid name")
}

fn summary(sim: &mut Sim, node: usize) -> Option<serde_json::Value> {
    sim.query(node, &module(), "")
        .and_then(|text| serde_json::from_str(&text).ok())
}

/// Runs rounds until `done` holds at every node (checked after each round); the
/// rounds it took, and the bytes per node per round meanwhile.
fn until(
    sim: &mut Sim,
    progress: Option<fn(&str)>,
    done: impl Fn(&serde_json::Value) -> bool,
) -> (Option<u64>, f64) {
    let n = sim.nodes.len();
    let before = sim.totals();
    let mut rounds = None;
    let mut ran = 0;
    for r in 1..=MAX_ROUNDS {
        sim.run_rounds(1);
        ran = r;
        let behind = (0..n)
            .filter(|&i| !summary(sim, i).is_some_and(|v| done(&v)))
            .count();
        if behind == 0 {
            rounds = Some(r);
            break;
        }
        if let Some(say) = progress.filter(|_| r % 10 == 0) {
            say(&format!("round {r}: {behind} of {n} nodes not there yet"));
        }
    }
    let bytes = (sim.totals() - before).bytes_per_node_round(n, ran.max(1));
    (rounds, bytes)
}

/// Writes `count` keys at random nodes in one round and times them everywhere.
fn phase(
    sim: &mut Sim,
    progress: Option<fn(&str)>,
    what: &str,
    count: usize,
    total: &mut u64,
    pick: &mut u64,
) -> PhaseReport {
    let n = sim.nodes.len();
    for k in 0..count {
        *pick = pick
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let at = (*pick >> 33) as usize % n;
        let args = serde_json::json!({"op": "set", "key": format!("{what}/{k}"), "value": "v"}).to_string();
        let _ = sim.command(at, &module(), &args);
    }
    *total += count as u64;
    let want = *total;
    let (rounds, bytes) = until(sim, progress, |v| v["keys"] == want);
    let report = PhaseReport {
        what: format!("{count} key{} written, {what}", if count == 1 { "" } else { "s" }),
        rounds,
        bytes_per_node_round: bytes,
    };
    if let Some(say) = progress {
        say(&report.to_string());
    }
    report
}

/// Plays the run: joining, then one key and a burst, without and with 10% loss.
pub fn play(cfg: KvConfig) -> KvReport {
    let mut sim_cfg = cfg.sim.clone();
    sim_cfg.modules = Some(vec![ModuleSpec {
        name: module(),
        code: KV.to_vec(),
        native: library::native("kv"),
        params: cfg.params.clone(),
        budget: Default::default(),
    }]);
    let n = sim_cfg.nodes;
    let seed = sim_cfg.seed;
    let mut sim = Sim::new(sim_cfg);
    let view = (n - 1).min(kv::peers::VIEW) as u64;
    let progress = cfg.progress;
    let (join_rounds, _) = until(&mut sim, progress, |v| v["peers"].as_u64() >= Some(view));
    if let Some(say) = progress {
        say(&format!("peer views full in {join_rounds:?} rounds"));
    }
    let before = sim.totals();
    sim.run_rounds(10);
    let idle = (sim.totals() - before).bytes_per_node_round(n, 10);
    let mut pick = seed ^ 0x6b76;
    let mut total = 0;
    let mut phases = vec![
        phase(&mut sim, progress, "no loss", 1, &mut total, &mut pick),
        phase(&mut sim, progress, "no loss", cfg.burst, &mut total, &mut pick),
    ];
    sim.world.net.model.loss = 0.1;
    phases.push(phase(&mut sim, progress, "10% loss", 1, &mut total, &mut pick));
    phases.push(phase(
        &mut sim, progress, "10% loss", cfg.burst, &mut total, &mut pick,
    ));
    KvReport {
        nodes: n,
        seed,
        join_rounds,
        idle_bytes_per_node_round: idle,
        phases,
    }
}
