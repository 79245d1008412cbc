//! The `hearsay` command line: each subcommand (or group) lives in its own module of
//! the `hearsay_cli` library (shared with `hearsay-lab`); errors are printed as one
//! line (with their causes) and a non-zero exit, never a panic.

use clap::{CommandFactory, Parser, Subcommand};
use hearsay_cli::{
    agent, cluster, deploy, events, kelips, keygen, kv, manual, members, pubsub, query, sim, status, watch,
};
use hearsay_runtime::runtime::Tier;

/// mimalloc rather than glibc's malloc: an idle agent spent about a sixth of its CPU
/// in malloc and free (every HTTP request, envelope and module call allocates), and
/// mimalloc does the same for less. Built without transparent huge pages (`no_thp`):
/// with them each agent's heap sat in 2 MiB pages it hardly used (BENCHMARKS.md,
/// "Idle agents").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// hearsay: a middleware for gossip protocols whose own code spreads by gossip.
#[derive(Parser)]
#[command(name = "hearsay", version = hearsay_cli::VERSION, about)]
struct Cli {
    #[command(subcommand)]
    command: Subcommands,
}

#[derive(Subcommand)]
enum Subcommands {
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
    /// Send a module on a node a command that changes its state (module ABI v2).
    Command(query::QueryArgs),
    /// List the members a node sees (membership module, ABI v2): address, state,
    /// labels, last heard.
    Members(members::MembersArgs),
    /// Publish a message on a topic (broadcast module).
    Publish(pubsub::PublishArgs),
    /// Subscribe a node to a topic and print its messages as they arrive (broadcast
    /// module).
    Subscribe(pubsub::SubscribeArgs),
    /// Keyed state through the kv module: set, get, delete, list, watch.
    Kv(kv::KvArgs),
    /// Put, get or delete a key through the kelips module: a one-hop lookup over
    /// affinity groups.
    Kelips(kelips::KelipsArgs),
    /// Print a node's events as they happen (deployments, starts, failures, …).
    Events(events::EventsArgs),
    /// Wait until every listed node runs a deployment, printing progress.
    Watch(watch::WatchArgs),
    /// Start a local cluster of agents (separate processes) and deploy membership.
    Cluster(cluster::ClusterArgs),
    /// Run scenarios in the deterministic simulator.
    Sim(sim::SimArgs),
    /// Make a deployment key pair (ed25519), or with --cluster a cluster key.
    Keygen(keygen::KeygenArgs),
    /// Print shell completions: `hearsay completions bash > /etc/bash_completion.d/hearsay`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write man pages (hearsay.1 and one per command) into a directory.
    Man {
        /// The directory, e.g. /usr/local/share/man/man1.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Print the agent's config file reference: every key of `hearsay agent --config`.
    ConfigReference,
    /// Compile module code for an agent: wasm on stdin, compiled code on stdout (run by
    /// the agent itself, so the compiler's memory never becomes the agent's).
    #[command(hide = true)]
    CompileModule {
        /// With the baseline compiler (Winch), as a new version's first code.
        #[arg(long, conflicts_with = "optimized")]
        baseline: bool,
        /// With the optimising compiler (Cranelift); the default.
        #[arg(long)]
        optimized: bool,
        /// Run only when nothing else wants the CPU: the module runs its baseline code.
        #[arg(long)]
        background: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Subcommands::Agent(args) => agent::run(*args),
        Subcommands::Deploy(args) => deploy::deploy(args),
        Subcommands::Rollback(args) => deploy::rollback(args),
        Subcommands::Stop(args) => deploy::stop(args),
        Subcommands::Status(args) => status::run(args),
        Subcommands::Query(args) => query::run(args),
        Subcommands::Command(args) => query::command(args),
        Subcommands::Members(args) => members::run(args),
        Subcommands::Publish(args) => pubsub::publish(args),
        Subcommands::Subscribe(args) => pubsub::subscribe(args),
        Subcommands::Kv(args) => kv::run(args),
        Subcommands::Kelips(args) => kelips::run(args),
        Subcommands::Events(args) => events::run(args),
        Subcommands::Watch(args) => watch::run(args),
        Subcommands::Cluster(args) => cluster::run(args),
        Subcommands::Sim(args) => sim::run(args),
        Subcommands::Keygen(args) => keygen::run(args),
        Subcommands::Completions { shell } => {
            manual::completions(Cli::command(), shell);
            Ok(())
        }
        Subcommands::Man { out } => manual::man_pages(Cli::command(), &out).map(|pages| {
            for page in pages {
                println!("{page}");
            }
        }),
        Subcommands::ConfigReference => {
            print!("{}", manual::config_reference());
            Ok(())
        }
        Subcommands::CompileModule {
            baseline,
            optimized: _,
            background,
        } => {
            let tier = if baseline { Tier::Baseline } else { Tier::Optimized };
            std::process::exit(hearsay_runtime::compiler_process::serve(tier, background))
        }
    };
    if let Err(e) = result {
        eprintln!("hearsay: {e:#}");
        std::process::exit(1);
    }
}
