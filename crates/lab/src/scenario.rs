//! `hearsay-lab scenario`: stories played on a local cluster of real agents, each printed
//! as a timeline and checked step by step — a failed step ends the run with one line
//! and a non-zero exit, so a scenario doubles as an end-to-end check. Ctrl-C or
//! SIGTERM stops every agent.
//!
//! - `s3`: the 2008 Amazon S3 outage replayed — a bad deployment poisons the gossiped
//!   state of every node, and a fix deployed at one node repairs them all by gossip
//!   (with `--modules-dead`, after every module died: by backup gossip).

mod probe;
mod s3;
mod timeline;

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Subcommand, ValueEnum};

/// Arguments of `hearsay-lab scenario`.
#[derive(Args)]
pub struct ScenarioArgs {
    #[command(subcommand)]
    what: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// The S3 outage: poisoned gossip state everywhere, repaired by a fix deployed at
    /// one node.
    S3(S3Args),
}

/// Arguments of `hearsay-lab scenario s3`.
#[derive(Args, Clone)]
pub struct S3Args {
    /// Number of agents.
    #[arg(long, default_value_t = 20)]
    pub nodes: usize,
    /// How many of the first agents are rendezvous nodes.
    #[arg(long, default_value_t = 3)]
    pub rendezvous: usize,
    /// Before the fix, deploy a module that loops forever, so every node's module is
    /// dead and no module's gossip can carry the fix: the core's backup gossip must.
    #[arg(long)]
    pub modules_dead: bool,
    /// How the fix is made: new code (every node downloads it) or a rollback to the
    /// healthy code every node still stores.
    #[arg(long, value_enum, default_value_t = FixBy::NewCode)]
    pub fix_by: FixBy,
    /// Agent i gossips on port P+2i and serves its API on P+2i+1.
    #[arg(long, default_value_t = 21000)]
    pub port_base: u16,
    /// Module gossip interval in ms (one round).
    #[arg(long, default_value_t = 200)]
    pub interval_ms: u64,
    /// Backup gossip interval in ms (one backup round).
    #[arg(long, default_value_t = 1000)]
    pub backup_interval_ms: u64,
    /// Give up on a step after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_s: u64,
    /// Keep data and logs here (default: a temporary directory, removed unless a step
    /// fails).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print the timeline as JSON at the end (progress goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// How the fix is deployed.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixBy {
    /// A new code version of the healthy module (same behaviour, other bytes).
    NewCode,
    /// A rollback to the healthy code, under a new deployment number.
    Rollback,
}

pub fn run(args: ScenarioArgs) -> Result<()> {
    let Scenario::S3(args) = args.what;
    if args.nodes < 2 || args.nodes > 1000 {
        bail!("--nodes must be between 2 and 1000");
    }
    if args.interval_ms == 0 || args.backup_interval_ms == 0 {
        bail!("--interval-ms and --backup-interval-ms must be positive");
    }
    crate::block_on(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = s3::run(args) => result,
            _ = tokio::signal::ctrl_c() => bail!("interrupted; every agent stopped"),
            _ = term.recv() => bail!("terminated; every agent stopped"),
        }
    })
}
