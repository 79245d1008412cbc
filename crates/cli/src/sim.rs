//! `hearsay sim`: runs the simulator's scenarios and prints what they measured —
//! the built-in `deploy` and `partition` stories on the stand-in module, a module
//! author's own wasm (`run`), the S3 story with the real statecast code (`s3`),
//! publish/subscribe with the broadcast module (`pubsub`), keyed state (`kv`), the
//! one-hop lookup (`kelips`), aggregation over zones (`aggregate`), and scenario
//! files (`scenario`).

use std::time::Instant;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde::Serialize;

use hearsay_sim::scenario::{self, deploy_script, partition_script, Measure};
use hearsay_sim::{NetworkModel, SimConfig};

/// Arguments of `hearsay sim`.
#[derive(Args)]
pub struct SimArgs {
    #[command(subcommand)]
    command: SimCommand,
}

#[derive(Subcommand)]
enum SimCommand {
    /// Run modules from their wasm (or, with --native, the module library's native
    /// build of the same source) on every node for a number of rounds, and report
    /// traffic and what the modules answer.
    Run(crate::sim_run::RunArgs),
    /// The S3 story with the real statecast code: poisoned state spread everywhere,
    /// repaired by a fix deployed at one node; non-zero exit on a relapse.
    S3(crate::sim_s3::S3Args),
    /// Publish/subscribe with the broadcast module's own code: reach, redundancy and
    /// last delivery hop without faults, under 10% loss, after half the nodes crash.
    Pubsub(crate::sim_pubsub::PubsubArgs),
    /// Keyed state with the kv module's own code: nodes learning one another, then one
    /// key and a burst of keys, without and with 10% loss, in rounds until every node
    /// reads them
    Kv(crate::sim_kv::KvArgs),
    /// A one-hop lookup with the kelips module's own code: affinity groups and
    /// contacts filling, keys put, lookups without faults and while nodes are replaced
    /// (share found, mean hops, state per node)
    Kelips(crate::sim_kelips::KelipsArgs),
    /// Aggregation over zones with the aggregate module's own code, 3 levels: every
    /// node's root count, then a changed attribute at the root (without and with 10%
    /// loss) and a stopped node out of the count, in rounds
    Aggregate(crate::sim_aggregate::AggregateArgs),
    /// A scenario file: steps (deploy, crash, restart, partition, heal, expect, …).
    Scenario(crate::sim_run::ScenarioArgs),
    /// Deploy a new version at one node and measure until every node runs it.
    Deploy {
        #[command(flatten)]
        common: Common,
        /// Kill every module first: only the core's backup gossip can spread it.
        #[arg(long)]
        modules_dead: bool,
    },
    /// Cut nodes off, deploy on the majority side, heal, and measure the repair.
    Partition {
        #[command(flatten)]
        common: Common,
        /// How many nodes are cut off.
        #[arg(long, default_value_t = 10)]
        cut: usize,
        /// Rounds the partition lasts after the deployment.
        #[arg(long, default_value_t = 30)]
        rounds_apart: u64,
    },
}

#[derive(Args, Clone)]
pub(crate) struct Common {
    /// Number of simulated nodes.
    #[arg(long, default_value_t = 1000)]
    pub nodes: usize,
    /// Seed: the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Probability that a message is lost.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Probability that a message is duplicated.
    #[arg(long, default_value_t = 0.0)]
    duplicate: f64,
    /// Peers each module gossips to per round.
    #[arg(long, default_value_t = 3)]
    fanout: usize,
    /// Gossip round length in milliseconds.
    #[arg(long, default_value_t = 200)]
    interval_ms: u64,
    /// Backup gossip interval in milliseconds.
    #[arg(long, default_value_t = 1000)]
    backup_interval_ms: u64,
    /// Rendezvous nodes.
    #[arg(long, default_value_t = 3)]
    rendezvous: usize,
    /// Give up after this many rounds.
    #[arg(long, default_value_t = 1000)]
    pub max_rounds: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl Common {
    pub(crate) fn check(&self) -> Result<()> {
        if self.nodes < 2 || self.nodes > 1_000_000 {
            bail!("--nodes must be between 2 and 1000000");
        }
        for (name, p) in [("--loss", self.loss), ("--duplicate", self.duplicate)] {
            if !(0.0..1.0).contains(&p) {
                bail!("{name} must be a probability in [0, 1)");
            }
        }
        if self.fanout == 0 || self.interval_ms == 0 || self.backup_interval_ms == 0 {
            bail!("--fanout, --interval-ms and --backup-interval-ms must be positive");
        }
        Ok(())
    }

    pub(crate) fn config(&self) -> SimConfig {
        let mut cfg = SimConfig {
            nodes: self.nodes,
            seed: self.seed,
            fanout: self.fanout,
            gossip_interval_ms: self.interval_ms,
            rendezvous: self.rendezvous,
            network: NetworkModel {
                loss: self.loss,
                duplicate: self.duplicate,
                ..NetworkModel::default()
            },
            ..SimConfig::default()
        };
        cfg.core.backup_interval_ms = self.backup_interval_ms;
        cfg
    }
}

/// What `hearsay sim` prints.
#[derive(Serialize)]
struct Report {
    scenario: &'static str,
    nodes: usize,
    seed: u64,
    fanout: usize,
    loss: f64,
    modules_dead: bool,
    interval_ms: u64,
    backup_interval_ms: u64,
    #[serde(flatten)]
    measure: Measure,
    /// Rounds of backup gossip the measure spans.
    backup_rounds: f64,
    /// Nodes that ever loaded an older deployment than one they had: always 0.
    regressions: u64,
    /// Wall-clock seconds the simulation took.
    wall_seconds: f64,
}

/// Runs `hearsay sim`.
pub fn run(args: SimArgs) -> Result<()> {
    let started = Instant::now();
    let (name, common, modules_dead, steps) = match args.command {
        SimCommand::Run(args) => return crate::sim_run::run(args),
        SimCommand::S3(args) => return crate::sim_s3::run(args),
        SimCommand::Pubsub(args) => return crate::sim_pubsub::run(args),
        SimCommand::Kv(args) => return crate::sim_kv::run(args),
        SimCommand::Aggregate(args) => return crate::sim_aggregate::run(args),
        SimCommand::Kelips(args) => return crate::sim_kelips::run(args),
        SimCommand::Scenario(args) => return crate::sim_run::scenario(args),
        SimCommand::Deploy { common, modules_dead } => {
            common.check()?;
            let steps = deploy_script(modules_dead, common.max_rounds, common.nodes - 1);
            ("deploy", common, modules_dead, steps)
        }
        SimCommand::Partition {
            common,
            cut,
            rounds_apart,
        } => {
            common.check()?;
            if cut == 0 || cut + 2 > common.nodes {
                bail!("--cut must leave at least two nodes on the majority side");
            }
            let steps = partition_script(common.nodes, cut, rounds_apart, common.max_rounds);
            ("partition", common, false, steps)
        }
    };
    let outcome = scenario::run(common.config(), &steps);
    let measure = outcome
        .measures
        .into_iter()
        .last()
        .expect("every scenario measures");
    let report = Report {
        scenario: name,
        nodes: common.nodes,
        seed: common.seed,
        fanout: common.fanout,
        loss: common.loss,
        modules_dead,
        interval_ms: common.interval_ms,
        backup_interval_ms: common.backup_interval_ms,
        backup_rounds: measure.sim_seconds * 1000.0 / common.backup_interval_ms as f64,
        measure,
        regressions: outcome.regressions,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    if common.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    if !report.measure.converged {
        bail!(
            "did not converge: {} of {} live nodes run the new deployment after {} rounds",
            report.measure.reached,
            report.measure.alive,
            common.max_rounds
        );
    }
    if report.regressions > 0 {
        bail!("{} nodes moved back to an older deployment", report.regressions);
    }
    Ok(())
}

fn print_table(r: &Report) {
    let m = &r.measure;
    let t = &m.traffic;
    let rows = [
        ("scenario", r.scenario.to_string()),
        ("nodes", r.nodes.to_string()),
        (
            "seed / fanout / loss",
            format!("{} / {} / {}", r.seed, r.fanout, r.loss),
        ),
        ("modules dead", r.modules_dead.to_string()),
        (
            "converged",
            format!("{} ({} of {} live nodes)", m.converged, m.reached, m.alive),
        ),
        (
            "gossip rounds",
            format!("{} ({} ms each)", m.rounds, r.interval_ms),
        ),
        (
            "backup rounds",
            format!("{:.1} ({} ms each)", r.backup_rounds, r.backup_interval_ms),
        ),
        ("simulated seconds", format!("{:.3}", m.sim_seconds)),
        ("messages", t.messages.to_string()),
        ("bytes", t.bytes.to_string()),
        ("core (piggyback) bytes", t.core_bytes.to_string()),
        ("backup exchanges", t.backup_exchanges.to_string()),
        (
            "code downloads",
            format!("{} ({} bytes)", t.fetches, m.code_bytes),
        ),
        ("regressions", r.regressions.to_string()),
        ("wall seconds", format!("{:.2}", r.wall_seconds)),
    ];
    for (k, v) in rows {
        println!("{k:<24} {v}");
    }
}
