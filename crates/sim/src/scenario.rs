//! Scenario scripts: cluster stories written as a list of steps (deploy, crash,
//! restart, partition, heal, kill modules, wait, expect), run against the simulator,
//! measured as they go. The CLI's `hearsay sim` runs them from code or from a TOML
//! file, and the simulator tests are scripts too.
//!
//! A scenario file is a list of `[[step]]` tables, each with one key:
//!
//! ```toml
//! [[step]]
//! deploy = { node = 0, module = "membership", file = "../../modules/dist/membership.wasm" }
//! [[step]]
//! wait_rounds = 20
//! [[step]]
//! crash = 7
//! [[step]]
//! expect = { module = "membership", args = "count", field = "live", equals = 99 }
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use hearsay_core::{Millis, ModuleName};

use crate::library;
use crate::world::{Sim, SimConfig, Totals};

/// One step of a script.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Let `n` gossip rounds pass.
    WaitRounds(u64),
    /// Deploy version `n` of the stand-in at `node` and track its spread.
    DeployStandin {
        /// Where.
        node: usize,
        /// Which version (1 is what every node starts with).
        version: u64,
    },
    /// Deploy a module's code at `node` and track its spread.
    Deploy {
        /// Where.
        node: usize,
        /// The module name.
        module: String,
        /// The wasm file.
        file: String,
        /// Run the module library's native build of the same source instead of the
        /// wasm (membership, statecast and its variants).
        #[serde(default)]
        native: bool,
        /// Its params.
        #[serde(default)]
        params: String,
    },
    /// Roll `module` back at `node` and track that.
    Rollback {
        /// Where.
        node: usize,
        /// The module.
        module: String,
    },
    /// Every module instance dies (as a trap would); with `silent`, new ones stay
    /// silent too, so only the core's own gossip is left.
    KillModules {
        /// Keep new instances silent.
        #[serde(default)]
        silent: bool,
    },
    /// Cut these nodes off from the rest.
    Partition(Vec<usize>),
    /// Reconnect everyone.
    Heal(bool),
    /// Crash a node (it keeps its disk).
    Crash(usize),
    /// Restart a crashed node from its disk.
    Restart(usize),
    /// Run until every live node runs the tracked deployment, for at most this many
    /// rounds; records a [`Measure`], and fails the run if it doesn't converge.
    WaitConverged(u64),
    /// A module's query answer, at every live node, has `field` equal to `equals`.
    Expect {
        /// The module.
        module: String,
        /// The query's args.
        #[serde(default)]
        args: String,
        /// A top-level field of the JSON answer.
        field: String,
        /// What it must be.
        equals: serde_json::Value,
    },
}

/// A scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    step: Vec<Step>,
}

/// Reads a scenario file (TOML); the wasm files its steps name are relative to it.
pub fn from_file(path: &Path) -> Result<Vec<Step>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut file: ScenarioFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new(""));
    for step in &mut file.step {
        if let Step::Deploy { file, .. } = step {
            *file = dir.join(&*file).display().to_string();
        }
    }
    Ok(file.step)
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
    /// Expectations that did not hold, and steps that could not be carried out.
    pub failures: Vec<String>,
}

impl ScriptReport {
    /// True when every expectation held and nothing regressed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.regressions == 0
    }
}

/// Runs a script on a fresh simulated cluster.
pub fn run(cfg: SimConfig, steps: &[Step]) -> ScriptReport {
    let mut sim = Sim::new(cfg);
    run_on(&mut sim, steps)
}

fn module_name(name: &str, failures: &mut Vec<String>) -> Option<ModuleName> {
    ModuleName::new(name)
        .map_err(|e| failures.push(format!("module {name:?}: {e}")))
        .ok()
}

/// Runs a script on an existing simulation.
pub fn run_on(sim: &mut Sim, steps: &[Step]) -> ScriptReport {
    let mut measures = Vec::new();
    let mut failures = Vec::new();
    let mut start: (Millis, Totals, u64) = (sim.now, sim.totals(), sim.stats().code_bytes);
    for step in steps {
        let mark = |sim: &Sim| (sim.now, sim.totals(), sim.stats().code_bytes);
        match step {
            Step::WaitRounds(n) => sim.run_rounds(*n),
            Step::DeployStandin { node, version } => {
                start = mark(sim);
                sim.deploy_standin(*node, *version);
            }
            Step::Deploy {
                node,
                module,
                file,
                native,
                params,
            } => {
                let Some(name) = module_name(module, &mut failures) else {
                    continue;
                };
                let code = match std::fs::read(file) {
                    Ok(code) => code,
                    Err(e) => {
                        failures.push(format!("deploy: {file}: {e}"));
                        continue;
                    }
                };
                let factory = if *native {
                    match library::native(module) {
                        Some(f) => Some(f),
                        None => {
                            failures.push(format!(
                                "deploy: no native build of {module} in the module library"
                            ));
                            continue;
                        }
                    }
                } else {
                    None
                };
                start = mark(sim);
                if let Err(e) = sim.deploy(*node, &name, code, factory, params.clone()) {
                    failures.push(format!("deploy of {module} at node {node}: {e}"));
                }
            }
            Step::Rollback { node, module } => {
                let Some(name) = module_name(module, &mut failures) else {
                    continue;
                };
                start = mark(sim);
                if let Err(e) = sim.rollback(*node, &name) {
                    failures.push(format!("rollback of {module} at node {node}: {e}"));
                }
            }
            Step::KillModules { silent } => sim.kill_modules(*silent),
            Step::Partition(nodes) => sim.world.net.partition(nodes.iter().copied(), 1),
            Step::Heal(_) => {
                sim.world.net.heal();
                start = mark(sim);
            }
            Step::Crash(node) => sim.crash(*node),
            Step::Restart(node) => sim.restart(*node),
            Step::WaitConverged(max_rounds) => {
                let converged = sim.run_until_converged(*max_rounds);
                let end = if converged {
                    sim.last_reached().unwrap_or(sim.now)
                } else {
                    failures.push(format!("no convergence within {max_rounds} rounds"));
                    sim.now
                };
                let elapsed = end.saturating_sub(start.0);
                let interval = sim.cfg.gossip_interval_ms.max(1);
                let alive: Vec<usize> = (0..sim.nodes.len()).filter(|i| sim.alive(*i)).collect();
                let reached = alive
                    .iter()
                    .filter(|i| sim.nodes[**i].reached_at.is_some())
                    .count();
                measures.push(Measure {
                    converged,
                    reached,
                    alive: alive.len(),
                    rounds: elapsed.div_ceil(interval),
                    sim_seconds: elapsed as f64 / 1000.0,
                    traffic: sim.totals() - start.1,
                    code_bytes: sim.stats().code_bytes - start.2,
                });
            }
            Step::Expect {
                module,
                args,
                field,
                equals,
            } => {
                let Some(name) = module_name(module, &mut failures) else {
                    continue;
                };
                for i in 0..sim.nodes.len() {
                    if !sim.alive(i) {
                        continue;
                    }
                    let answer = sim.query(i, &name, args);
                    let value = answer
                        .as_deref()
                        .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
                        .map(|v| v[field.as_str()].clone());
                    if value.as_ref() != Some(equals) {
                        failures.push(format!(
                            "node {i}: {module} {field} is {}, expected {equals}",
                            value.map_or("(no answer)".to_string(), |v| v.to_string())
                        ));
                        break;
                    }
                }
            }
        }
    }
    ScriptReport {
        measures,
        regressions: sim.stats().regressions,
        events: sim.stats().events,
        failures,
    }
}

/// The `deploy` scenario: let the cluster warm up, optionally kill every module (new
/// ones silent: the core's own gossip alone), deploy version 2 of the stand-in at
/// node `origin`, wait for it everywhere.
pub fn deploy_script(modules_dead: bool, max_rounds: u64, origin: usize) -> Vec<Step> {
    let mut steps = vec![Step::WaitRounds(5)];
    if modules_dead {
        steps.push(Step::KillModules { silent: true });
    }
    steps.push(Step::DeployStandin {
        node: origin,
        version: 2,
    });
    steps.push(Step::WaitConverged(max_rounds));
    steps
}

/// The `partition` scenario: cut `cut` nodes off, deploy version 2 on the majority side,
/// wait, heal, and wait for everyone: the measure is the repair after healing.
pub fn partition_script(nodes: usize, cut: usize, rounds_apart: u64, max_rounds: u64) -> Vec<Step> {
    let cut = cut.min(nodes.saturating_sub(2));
    vec![
        Step::WaitRounds(5),
        Step::Partition((nodes - cut..nodes).collect()),
        Step::DeployStandin { node: 0, version: 2 },
        Step::WaitRounds(rounds_apart),
        Step::Heal(true),
        Step::WaitConverged(max_rounds),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_file_reads_as_steps() {
        let text = r#"
            [[step]]
            deploy = { node = 0, module = "membership", file = "m.wasm", native = true }
            [[step]]
            wait_rounds = 20
            [[step]]
            crash = 7
            [[step]]
            restart = 7
            [[step]]
            partition = [1, 2]
            [[step]]
            heal = true
            [[step]]
            kill_modules = {}
            [[step]]
            wait_converged = 30
            [[step]]
            expect = { module = "membership", args = "count", field = "live", equals = 99 }
        "#;
        let file: ScenarioFile = toml::from_str(text).unwrap();
        assert_eq!(file.step.len(), 9);
        assert_eq!(file.step[2], Step::Crash(7));
        assert!(matches!(&file.step[0], Step::Deploy { native: true, .. }));
        assert!(toml::from_str::<ScenarioFile>("[[step]]\nfly = 1\n").is_err());
    }
}
