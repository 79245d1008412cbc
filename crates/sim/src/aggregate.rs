//! Aggregation over zones at scale with the aggregate module's own code (natively
//! linked, the same source as modules/dist/aggregate.wasm): nodes in a 3-level
//! hierarchy of zones (`/zA/zB`, about ∛N zones per level) start knowing only the
//! rendezvous nodes; timed in rounds until every node's root aggregate counts all N,
//! then until a changed attribute at one node is in every node's root aggregate
//! (without and with 10% message loss), then until a stopped node has left every
//! node's count.

use serde::Serialize;

use hearsay_core::ModuleName;

use crate::library;
use crate::world::{ModuleSpec, Sim, SimConfig};

/// The aggregate module's committed wasm (the simulator runs its native build).
pub const AGGREGATE: &[u8] = include_bytes!("../../../modules/dist/aggregate.wasm");

/// Rounds a phase may take before it counts as not converged.
const MAX_ROUNDS: u64 = 400;

/// The aggregates the scenario declares.
pub const PARAMS: &str =
    r#"{"aggregates":{"nodes":"count()","max_load":"max(load)","mean_load":"avg(load)"}}"#;

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct AggregateConfig {
    /// The simulated cluster (`modules` and `labels` are set here).
    pub sim: SimConfig,
    /// The module's params (JSON; empty: [`PARAMS`]).
    pub params: String,
    /// Told a line now and then while the run goes on.
    pub progress: Option<fn(&str)>,
}

/// One phase: rounds until every node's root aggregate shows it (None: not within
/// `MAX_ROUNDS`), and the traffic meanwhile.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// What changed, under which conditions.
    pub what: String,
    /// Rounds until every node's root aggregate showed it.
    pub rounds: Option<u64>,
    /// Bytes each node sent per round meanwhile (envelopes, on average).
    pub bytes_per_node_round: f64,
}

impl std::fmt::Display for PhaseReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rounds = self
            .rounds
            .map_or("not converged".to_string(), |r| format!("{r} rounds"));
        write!(
            f,
            "{:<44} {:>14}  {:.0} B/node/round",
            self.what, rounds, self.bytes_per_node_round
        )
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct AggregateReport {
    /// Nodes simulated.
    pub nodes: usize,
    /// Seed.
    pub seed: u64,
    /// Zones per level (the hierarchy has 3 levels: the root's children, theirs, nodes).
    pub branching: usize,
    /// The bound a change must meet, in rounds: 3·log(N)/log(2) — each node exchanges
    /// with one peer it picks and, on average, one that picked it.
    pub bound_rounds: f64,
    /// Bytes each node sends per round once all is known, idle.
    pub idle_bytes_per_node_round: f64,
    /// The phases, in order (joining first).
    pub phases: Vec<PhaseReport>,
}

fn module() -> ModuleName {
    ModuleName::new("aggregate").expect("a valid name")
}

/// Node `i`'s zone in a hierarchy of `b` zones per level.
pub fn zone(i: usize, b: usize) -> String {
    format!("/z{}/z{}", i % b, (i / b) % b)
}

fn root(sim: &mut Sim, node: usize) -> Option<serde_json::Value> {
    let text = sim.query(node, &module(), "")?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(v["root"].clone())
}

/// Runs rounds until `done` holds at every live node (checked after each round).
fn until(
    sim: &mut Sim,
    what: &str,
    progress: Option<fn(&str)>,
    done: impl Fn(&serde_json::Value) -> bool,
) -> PhaseReport {
    let n = sim.nodes.len();
    let before = sim.totals();
    let mut rounds = None;
    let mut ran = 0;
    for r in 1..=MAX_ROUNDS {
        sim.run_rounds(1);
        ran = r;
        let behind = (0..n)
            .filter(|&i| sim.alive(i) && !root(sim, i).is_some_and(|v| done(&v)))
            .count();
        if behind == 0 {
            rounds = Some(r);
            break;
        }
        if let Some(say) = progress.filter(|_| r % 10 == 0) {
            say(&format!("{what}: round {r}: {behind} of {n} nodes not there yet"));
        }
    }
    let bytes = (sim.totals() - before).bytes_per_node_round(n, ran.max(1));
    let report = PhaseReport {
        what: what.to_string(),
        rounds,
        bytes_per_node_round: bytes,
    };
    if let Some(say) = progress {
        say(&report.to_string());
    }
    report
}

/// Plays the run.
pub fn play(cfg: AggregateConfig) -> AggregateReport {
    let mut sim_cfg = cfg.sim.clone();
    let n = sim_cfg.nodes;
    let seed = sim_cfg.seed;
    let b = ((n as f64).cbrt().ceil() as usize).max(1);
    let params = if cfg.params.is_empty() {
        PARAMS.to_string()
    } else {
        cfg.params.clone()
    };
    sim_cfg.modules = Some(vec![ModuleSpec {
        name: module(),
        code: AGGREGATE.to_vec(),
        native: library::native("aggregate"),
        params,
        budget: Default::default(),
    }]);
    sim_cfg.labels = (0..n)
        .map(|i| format!("{{\"zone\":\"{}\"}}", zone(i, b)))
        .collect();
    let mut sim = Sim::new(sim_cfg);
    let progress = cfg.progress;
    let total = n as f64;
    let mut phases = vec![until(
        &mut sim,
        &format!("every node counts all {n}"),
        progress,
        |v| v["nodes"].as_f64() == Some(total),
    )];
    let before = sim.totals();
    sim.run_rounds(10);
    let idle = (sim.totals() - before).bytes_per_node_round(n, 10);

    let mut pick = seed ^ 0x6167;
    let mut next = || {
        pick = pick
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (pick >> 33) as usize % n
    };
    for (load, loss) in [(5.0, 0.0), (7.0, 0.1)] {
        sim.world.net.model.loss = loss;
        let at = next();
        let _ = sim.command(at, &module(), &format!("set load {load}"));
        let what = format!("a changed load at the root, {}% loss", (loss * 100.0) as u32);
        phases.push(until(&mut sim, &what, progress, |v| {
            v["max_load"].as_f64() == Some(load)
        }));
    }
    sim.world.net.model.loss = 0.0;
    let victim = next();
    sim.crash(victim);
    let left = total - 1.0;
    phases.push(until(
        &mut sim,
        "a stopped node out of every count",
        progress,
        |v| v["nodes"].as_f64() == Some(left),
    ));
    AggregateReport {
        nodes: n,
        seed,
        branching: b,
        bound_rounds: 3.0 * total.ln() / 2f64.ln(),
        idle_bytes_per_node_round: idle,
        phases,
    }
}
