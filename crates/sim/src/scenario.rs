//! Scenario scripts: cluster stories written as a list of steps (deploy, partition,
//! heal, kill modules, wait), run against the simulator, measured as they go. The CLI's
//! `hearsay sim` and the simulator tests are both scripts.

use serde::Serialize;

use hearsay_core::Millis;

use crate::world::{Sim, SimConfig, Totals};

/// One step of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Let `n` gossip rounds pass.
    WaitRounds(u64),
    /// Deploy version `version` of the module at `node` and track its spread.
    Deploy {
        /// Where.
        node: usize,
        /// Which version of the stand-in code (1 is what every node starts with).
        version: u64,
    },
    /// Roll back at `node` to the previous version and track that.
    Rollback {
        /// Where.
        node: usize,
    },
    /// Every module instance dies (and new ones stay silent): only backup gossip is left.
    KillModules,
    /// Cut these nodes off from the rest.
    Partition(Vec<usize>),
    /// Reconnect everyone.
    Heal,
    /// Crash a node for good.
    Crash(usize),
    /// Run until every live node runs the tracked deployment, for at most this many
    /// rounds; records a [`Measure`].
    WaitConverged {
        /// Give up after this many rounds.
        max_rounds: u64,
    },
}

/// What one `WaitConverged` step saw, counted from the tracked deployment (or the last
/// `Heal`, whichever came later).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measure {
    /// Every live node reached the deployment.
    pub converged: bool,
    /// Live nodes running the tracked deployment.
    pub reached: usize,
    /// Live nodes.
    pub alive: usize,
    /// Whole gossip rounds from the start of the measure to the last node.
    pub rounds: u64,
    /// The same in simulated seconds.
    pub sim_seconds: f64,
    /// Counters over the measure.
    pub traffic: Totals,
    /// Code bytes downloaded over the measure.
    pub code_bytes: u64,
}

/// The outcome of a script.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScriptReport {
    /// One entry per `WaitConverged` step.
    pub measures: Vec<Measure>,
    /// Times a node loaded a lower deployment than one it had loaded. Must be 0.
    pub regressions: u64,
    /// Events the simulator processed.
    pub events: u64,
}

/// Runs a script on a fresh simulated cluster.
pub fn run(cfg: SimConfig, steps: &[Step]) -> ScriptReport {
    let mut sim = Sim::new(cfg);
    run_on(&mut sim, steps)
}

/// Runs a script on an existing simulation.
pub fn run_on(sim: &mut Sim, steps: &[Step]) -> ScriptReport {
    let mut measures = Vec::new();
    let mut start: (Millis, Totals, u64) = (sim.now, sim.totals(), sim.stats.code_bytes);
    for step in steps {
        match step {
            Step::WaitRounds(n) => sim.run_rounds(*n),
            Step::Deploy { node, version } => {
                start = (sim.now, sim.totals(), sim.stats.code_bytes);
                sim.deploy(*node, *version);
            }
            Step::Rollback { node } => {
                start = (sim.now, sim.totals(), sim.stats.code_bytes);
                sim.rollback(*node);
            }
            Step::KillModules => sim.kill_modules(),
            Step::Partition(nodes) => sim.net.partition(nodes.iter().copied(), 1),
            Step::Heal => {
                sim.net.heal();
                start = (sim.now, sim.totals(), sim.stats.code_bytes);
            }
            Step::Crash(node) => sim.crash(*node),
            Step::WaitConverged { max_rounds } => {
                let converged = sim.run_until_converged(*max_rounds);
                let end = if converged {
                    sim.last_reached().unwrap_or(sim.now)
                } else {
                    sim.now
                };
                let elapsed = end.saturating_sub(start.0);
                let interval = sim.cfg.gossip_interval_ms.max(1);
                let alive = sim.nodes.iter().filter(|n| n.alive).count();
                let reached = sim
                    .nodes
                    .iter()
                    .filter(|n| n.alive && n.reached_at.is_some())
                    .count();
                measures.push(Measure {
                    converged,
                    reached,
                    alive,
                    rounds: elapsed.div_ceil(interval),
                    sim_seconds: elapsed as f64 / 1000.0,
                    traffic: sim.totals() - start.1,
                    code_bytes: sim.stats.code_bytes - start.2,
                });
            }
        }
    }
    ScriptReport {
        measures,
        regressions: sim.stats.regressions,
        events: sim.stats.events,
    }
}

/// The `deploy` scenario: let the cluster warm up, optionally kill every module, deploy
/// version 2 at node `nodes - 1` (not a rendezvous node), wait for it everywhere.
pub fn deploy_script(modules_dead: bool, max_rounds: u64, origin: usize) -> Vec<Step> {
    let mut steps = vec![Step::WaitRounds(5)];
    if modules_dead {
        steps.push(Step::KillModules);
    }
    steps.push(Step::Deploy {
        node: origin,
        version: 2,
    });
    steps.push(Step::WaitConverged { max_rounds });
    steps
}

/// The `partition` scenario: cut `cut` nodes off, deploy version 2 on the majority side,
/// wait for the majority, heal, and wait for everyone. The first measure is the
/// majority's spread (it cannot converge while the cut-off nodes are away, so its
/// `reached` counts the majority); the second is the repair after healing.
pub fn partition_script(nodes: usize, cut: usize, rounds_apart: u64, max_rounds: u64) -> Vec<Step> {
    let cut = cut.min(nodes.saturating_sub(2));
    vec![
        Step::WaitRounds(5),
        Step::Partition((nodes - cut..nodes).collect()),
        Step::Deploy { node: 0, version: 2 },
        Step::WaitRounds(rounds_apart),
        Step::Heal,
        Step::WaitConverged { max_rounds },
    ]
}
