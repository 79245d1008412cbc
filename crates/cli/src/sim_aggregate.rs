//! `hearsay sim aggregate`: the aggregate module's own code at any size, in a 3-level
//! hierarchy of zones — every node's root aggregate counting all N, then a changed
//! attribute at one node reaching every node's root aggregate (without and with 10%
//! message loss), then a stopped node leaving every count, each timed in rounds.

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use hearsay_sim::aggregate::{self, AggregateConfig, AggregateReport};

use crate::sim::Common;

/// Arguments of `hearsay sim aggregate`.
#[derive(Args)]
pub struct AggregateArgs {
    /// The aggregate module's params, JSON (default: nodes, max_load, mean_load; see
    /// modules/aggregate/src/params.rs).
    #[arg(long, default_value = "")]
    params: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    aggregate: AggregateReport,
    wall_seconds: f64,
}

/// Runs `hearsay sim aggregate`.
pub fn run(args: AggregateArgs) -> Result<()> {
    args.common.check()?;
    let started = Instant::now();
    let report = Report {
        aggregate: aggregate::play(AggregateConfig {
            sim: args.common.config(),
            params: args.params,
            progress: Some(|line| eprintln!("sim aggregate: {line}")),
        }),
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    if args.common.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let r = &report.aggregate;
    say!(
        "aggregate: {} nodes in 3 levels of {} zones, seed {}; bound 3·log2(N) = {:.1} rounds; idle {:.0} B/node/round",
        r.nodes,
        r.branching,
        r.seed,
        r.bound_rounds,
        r.idle_bytes_per_node_round
    );
    for p in &r.phases {
        say!("  {p}");
    }
    say!("  {:.1} s", report.wall_seconds);
    Ok(())
}
