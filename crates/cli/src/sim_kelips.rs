//! `hearsay sim kelips`: the kelips module's own code at any size — nodes filling
//! their affinity groups and contacts, keys put from random nodes, then lookups from
//! random nodes without faults and while nodes are replaced at a steady rate, with the
//! share found, the mean hops and the state per node.

use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;

use hearsay_sim::kelips::{self, KelipsConfig, KelipsReport};

use crate::sim::Common;

/// Arguments of `hearsay sim kelips`.
#[derive(Args)]
pub struct KelipsArgs {
    /// Affinity groups (0: the nearest integer to √N).
    #[arg(long, default_value_t = 0)]
    groups: u32,
    /// Keys put before the lookups.
    #[arg(long, default_value_t = 1000)]
    keys: usize,
    /// Lookups per phase.
    #[arg(long, default_value_t = 1000)]
    lookups: usize,
    /// Share of the nodes replaced per simulated minute in the churn phase.
    #[arg(long, default_value_t = 0.1)]
    churn: f64,
    /// Simulated minutes the churn phase lasts.
    #[arg(long, default_value_t = 1.0)]
    churn_minutes: f64,
    /// More of the kelips module's params, JSON (see modules/kelips/src/params.rs).
    #[arg(long, default_value = "")]
    params: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    kelips: KelipsReport,
    wall_seconds: f64,
}

/// Runs `hearsay sim kelips`.
pub fn run(args: KelipsArgs) -> Result<()> {
    args.common.check()?;
    if !(0.0..=1.0).contains(&args.churn) || !(0.0..=60.0).contains(&args.churn_minutes) {
        bail!("--churn must be a share in [0, 1] and --churn-minutes at most 60");
    }
    if args.keys == 0 || args.lookups == 0 {
        bail!("--keys and --lookups must be at least 1");
    }
    let started = Instant::now();
    let report = Report {
        kelips: kelips::play(KelipsConfig {
            sim: args.common.config(),
            groups: args.groups,
            keys: args.keys,
            lookups: args.lookups,
            churn_per_minute: args.churn,
            churn_minutes: args.churn_minutes,
            params: args.params,
        }),
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    if args.common.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let r = &report.kelips;
    let join = r
        .join_rounds
        .map_or("not within the limit".to_string(), |n| format!("in {n} rounds"));
    say!(
        "kelips: {} nodes in {} groups, seed {}; every view whole {join}; {} of {} keys stored",
        r.nodes,
        r.groups,
        r.seed,
        r.stored,
        r.keys
    );
    let s = &r.state;
    say!(
        "  state per node: {:.1} members + {:.1} contacts + {:.1} tuples = {:.1} entries (most {})",
        s.members,
        s.contacts,
        s.tuples,
        s.entries,
        s.max_entries
    );
    for p in &r.phases {
        say!("  {p}");
    }
    say!("  {:.1} s", report.wall_seconds);
    Ok(())
}
