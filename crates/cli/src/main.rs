//! The `hearsay` command line. Each subcommand (or group) lives in its own module;
//! errors are printed as one line (with their causes) and a non-zero exit, never a
//! panic.

/// `println!` that never panics: output to a closed pipe (`hearsay cluster | head`)
/// is dropped instead of aborting the command half-way (with agents still running).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that never panics.
macro_rules! esay {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod agent;
mod bench;
mod cluster;
mod deploy;
mod keygen;
mod keygen_tls;
mod modules;
mod procs;
mod query;
mod scenario;
mod sim;
mod sim_run;
mod sim_s3;
mod status;
mod watch;

use clap::{Parser, Subcommand};

/// hearsay: a middleware for gossip protocols whose own code spreads by gossip.
#[derive(Parser)]
#[command(name = "hearsay", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node: gossip listener, management API, modules.
    Agent(Box<agent::AgentArgs>),
    /// Deploy a module's code from a file through one node; gossip spreads it.
    Deploy(deploy::DeployArgs),
    /// Roll a module back: a new deployment of older code (default: the previous one).
    Rollback(deploy::RollbackArgs),
    /// Stop a module everywhere: a deployment with no code.
    Stop(deploy::StopArgs),
    /// Show a node's modules (version, deployment number, state) and peers.
    Status(status::StatusArgs),
    /// Ask a module on a node its own query (membership: the member list).
    Query(query::QueryArgs),
    /// Wait until every listed node runs a deployment, printing progress.
    Watch(watch::WatchArgs),
    /// Start a local cluster of agents (separate processes) and deploy membership.
    Cluster(cluster::ClusterArgs),
    /// The evaluation: propagation, overhead, membership, repair, runtime — one table.
    Bench(bench::BenchArgs),
    /// Run scenarios in the deterministic simulator.
    Sim(sim::SimArgs),
    /// Play a story on a local cluster of real agents, checking every step (s3: a
    /// poisoned cluster repaired by gossip).
    Scenario(scenario::ScenarioArgs),
    /// Make a deployment key pair (ed25519), or with --cluster a cluster key.
    Keygen(keygen::KeygenArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Agent(args) => agent::run(*args),
        Command::Deploy(args) => deploy::deploy(args),
        Command::Rollback(args) => deploy::rollback(args),
        Command::Stop(args) => deploy::stop(args),
        Command::Status(args) => status::run(args),
        Command::Query(args) => query::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Cluster(args) => cluster::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Scenario(args) => scenario::run(args),
        Command::Keygen(args) => keygen::run(args),
    };
    if let Err(e) = result {
        eprintln!("hearsay: {e:#}");
        std::process::exit(1);
    }
}

/// Runs a future on a single-threaded tokio runtime (the CLI's commands are small;
/// the agent is single-threaded too, so 100 agents share 2 cores well).
pub(crate) fn block_on<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    rt.block_on(f)
}
