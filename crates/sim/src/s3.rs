//! The S3 story in the simulator, with the real statecast code (the healthy module,
//! its poisoned twin, the fix): a healthy cluster holds a value; a bad deployment
//! corrupts one node's record and gossip spreads it everywhere; a fix deployed at one
//! node runs everywhere and the poison is gone — and never comes back. With every
//! module dead before the fix, only the core's own gossip can carry it. The same story
//! `hearsay scenario s3` plays on real agents, at 10,000 nodes in seconds.

use serde::Serialize;

use hearsay_core::{Millis, ModuleName};

use crate::addr::addr_of;
use crate::library;
use crate::world::{ModuleSpec, Sim, SimConfig};

/// The healthy statecast module, as committed.
pub const STATECAST: &[u8] = include_bytes!("../../../modules/dist/statecast.wasm");
/// Its poisoned twin, as committed.
pub const STATECAST_POISON: &[u8] = include_bytes!("../../../modules/dist/statecast-poison.wasm");
/// The module's name.
pub const MODULE: &str = "statecast";
/// The value the healthy cluster holds.
pub const VALUE: u64 = 42;

/// How to play it.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// The cluster (its modules are set by the story).
    pub sim: SimConfig,
    /// Kill every module before the fix.
    pub modules_dead: bool,
    /// Rounds each phase may take.
    pub max_rounds: u64,
    /// Rounds the repaired cluster is watched for a relapse.
    pub watch_rounds: u64,
}

/// One phase: how many gossip rounds it took, or that it didn't finish.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phase {
    /// What it waits for.
    pub what: &'static str,
    /// Whether it happened in time.
    pub done: bool,
    /// Gossip rounds from its start to the last node.
    pub rounds: u64,
}

/// What the story measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct S3Report {
    /// Nodes.
    pub nodes: usize,
    /// Seed.
    pub seed: u64,
    /// Every module died before the fix.
    pub modules_dead: bool,
    /// The phases, in order.
    pub phases: Vec<Phase>,
    /// Polls after the repair that found a node running the fix with poisoned state
    /// (must be 0).
    pub recontaminated: u64,
    /// Times a node loaded a lower deployment than one it had (must be 0).
    pub regressions: u64,
    /// Envelopes and bytes all nodes sent during the repair.
    pub repair_messages: u64,
    /// Bytes of those.
    pub repair_bytes: u64,
}

impl S3Report {
    /// Every phase happened and nothing relapsed.
    pub fn passed(&self) -> bool {
        self.phases.iter().all(|p| p.done) && self.recontaminated == 0 && self.regressions == 0
    }
}

/// The statecast query answer of a node (None: not running there).
fn state(sim: &mut Sim, node: usize) -> Option<serde_json::Value> {
    let module = ModuleName::new(MODULE).expect("valid name");
    sim.query(node, &module, "")
        .and_then(|a| serde_json::from_str(&a).ok())
}

/// Runs rounds until `done` holds at every live node; the rounds it took.
fn phase(
    sim: &mut Sim,
    what: &'static str,
    max_rounds: u64,
    done: impl Fn(&mut Sim, usize) -> bool,
) -> Phase {
    let start = sim.now;
    let round = sim.cfg.gossip_interval_ms;
    for _ in 0..=max_rounds {
        let all = (0..sim.nodes.len()).all(|i| !sim.alive(i) || done(sim, i));
        if all {
            return Phase {
                what,
                done: true,
                rounds: (sim.now - start).div_ceil(round),
            };
        }
        sim.run_rounds(1);
    }
    Phase {
        what,
        done: false,
        rounds: max_rounds,
    }
}

/// A different code version of the same source: an empty custom section appended.
fn variant(wasm: &[u8], name: &str) -> Vec<u8> {
    let mut out = wasm.to_vec();
    out.extend([0, name.len() as u8 + 1, name.len() as u8]);
    out.extend(name.as_bytes());
    out
}

/// Plays the story.
pub fn play(cfg: S3Config) -> S3Report {
    let module = ModuleName::new(MODULE).expect("valid name");
    let mut sim_cfg = cfg.sim.clone();
    sim_cfg.modules = Some(vec![ModuleSpec {
        name: module.clone(),
        code: STATECAST.to_vec(),
        native: library::native("statecast"),
        params: String::new(),
        budget: Default::default(),
    }]);
    let n = sim_cfg.nodes;
    let mut sim = Sim::new(sim_cfg);
    let max = cfg.max_rounds;
    let mut phases = Vec::new();

    phases.push(phase(&mut sim, "statecast runs everywhere", max, |sim, i| {
        state(sim, i).is_some()
    }));
    let set = format!("{{\"set\":{VALUE}}}");
    let _ = sim.command(0, &module, &set);
    phases.push(phase(&mut sim, "the value reaches every node", max, |sim, i| {
        state(sim, i).is_some_and(|v| v["value"] == VALUE && v["poisoned"] == false)
    }));

    let poison_at = addr_of(n - 1).to_string();
    let bad = sim.deploy(
        1 % n,
        &module,
        STATECAST_POISON.to_vec(),
        library::native("statecast-poison"),
        format!("{{\"poison_at\":\"{poison_at}\"}}"),
    );
    let bad = bad.map(|d| d.number).ok();
    phases.push(phase(
        &mut sim,
        "the poison runs and spreads everywhere",
        max,
        |sim, i| sim.core(i).running(&module) == bad && state(sim, i).is_some_and(|v| v["poisoned"] == true),
    ));

    if cfg.modules_dead {
        sim.kill_modules(false);
    }
    let before = sim.totals();
    let fix = sim
        .deploy(
            n / 2,
            &module,
            variant(STATECAST, "hearsay-sim-s3-fix"),
            library::native("statecast"),
            String::new(),
        )
        .map(|d| d.number)
        .ok();
    let repaired = |sim: &mut Sim, i: usize| {
        sim.core(i).running(&module) == fix && state(sim, i).is_some_and(|v| v["poisoned"] == false)
    };
    let repair = phase(
        &mut sim,
        "the fix runs everywhere, the poison is gone",
        max,
        repaired,
    );
    let traffic = sim.totals() - before;
    let repair_done = repair.done;
    phases.push(repair);

    let mut recontaminated = 0;
    if repair_done {
        for _ in 0..cfg.watch_rounds {
            sim.run_rounds(1);
            recontaminated += (0..n)
                .filter(|i| sim.alive(*i) && !repaired(&mut sim, *i))
                .count() as u64;
        }
    }
    S3Report {
        nodes: n,
        seed: cfg.sim.seed,
        modules_dead: cfg.modules_dead,
        phases,
        recontaminated,
        regressions: sim.stats().regressions,
        repair_messages: traffic.messages,
        repair_bytes: traffic.bytes,
    }
}

/// Seconds of virtual time a number of rounds is.
pub fn seconds(rounds: u64, round_ms: Millis) -> f64 {
    (rounds * round_ms) as f64 / 1000.0
}
