//! `hearsay-lab`: the harness around the product — the evaluation (`bench`: one
//! table), stories played on local clusters of real agents (`scenario`), the test
//! fixtures they deploy, and what they read from /proc. It starts the `hearsay`
//! binary as agents, so what it measures is what users run.

#[macro_use]
extern crate hearsay_cli;

mod bench;
mod fixtures;
mod procfs;
mod scenario;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

pub(crate) use hearsay_cli::{block_on, procs, watch};

/// hearsay-lab: hearsay's benchmarks and scenarios on real local agents.
#[derive(Parser)]
#[command(name = "hearsay-lab", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The evaluation: propagation, overhead, membership, repair, storm, runtime —
    /// one table.
    Bench(bench::BenchArgs),
    /// Play a story on a local cluster of real agents, checking every step (s3: a
    /// poisoned cluster repaired by gossip).
    Scenario(scenario::ScenarioArgs),
}

fn main() {
    let cli = Cli::parse();
    on_signal_clean_up();
    let result = match cli.command {
        Command::Bench(args) => bench::run(args),
        Command::Scenario(args) => scenario::run(args),
    };
    if let Err(e) = result {
        eprintln!("hearsay-lab: {e:#}");
        std::process::exit(1);
    }
}

/// On SIGINT or SIGTERM, removes the network namespaces the bench made and puts the
/// kernel settings it raised back (`ip_forward`, the ARP table's limits), then exits:
/// a signal ends the process without running `Drop`. The agents stop by themselves
/// (they get SIGTERM when this process dies).
fn on_signal_clean_up() {
    use tokio::signal::unix::{signal, SignalKind};
    std::thread::spawn(|| {
        let waited = block_on(async {
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            Ok(())
        });
        if waited.is_ok() {
            eprintln!("hearsay-lab: stopped; removing network namespaces");
            hearsay_cli::netns::remove_all();
            std::process::exit(130);
        }
    });
}

/// The `hearsay` binary the agents run: `$HEARSAY_BIN`, else the one next to this
/// binary (cargo builds both into the same directory).
pub(crate) fn hearsay_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("HEARSAY_BIN") {
        return Ok(PathBuf::from(path));
    }
    let me = std::env::current_exe().context("cannot find hearsay-lab's own path")?;
    let sibling = me.with_file_name(format!("hearsay{}", std::env::consts::EXE_SUFFIX));
    if !sibling.is_file() {
        bail!(
            "no hearsay binary at {}: build it (cargo build --release --bin hearsay) or set HEARSAY_BIN",
            sibling.display()
        );
    }
    Ok(sibling)
}
