//! The `hearsay` command line. Each subcommand lives in its own module; errors are
//! printed as one line (with their causes) and a non-zero exit, never a panic.

mod sim;

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
    /// Run scenarios in the deterministic simulator.
    Sim(sim::SimArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(args) => sim::run(args),
    };
    if let Err(e) = result {
        eprintln!("hearsay: {e:#}");
        std::process::exit(1);
    }
}
