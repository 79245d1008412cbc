//! `hearsay sim kv`: the kv module's own code at any size — nodes learning one
//! another, then one key and a burst of keys written at random nodes, without and with
//! 10% message loss, each timed in rounds until every node reads it all.

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use hearsay_sim::kv::{self, KvConfig, KvReport};

use crate::sim::Common;

/// Arguments of `hearsay sim kv`.
#[derive(Args)]
pub struct KvArgs {
    /// Keys in a burst (written at random nodes within one round).
    #[arg(long, default_value_t = 1000)]
    burst: usize,
    /// The kv module's params, JSON (see modules/kv/src/params.rs).
    #[arg(long, default_value = "")]
    params: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    kv: KvReport,
    wall_seconds: f64,
}

/// Runs `hearsay sim kv`.
pub fn run(args: KvArgs) -> Result<()> {
    args.common.check()?;
    let started = Instant::now();
    let report = Report {
        kv: kv::play(KvConfig {
            sim: args.common.config(),
            burst: args.burst,
            params: args.params,
            progress: Some(|line| eprintln!("sim kv: {line}")),
        }),
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    if args.common.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let r = &report.kv;
    let join = r
        .join_rounds
        .map_or("not within the limit".to_string(), |n| format!("in {n} rounds"));
    say!(
        "kv: {} nodes, seed {}, every peer view full {join}; idle {:.0} B/node/round",
        r.nodes,
        r.seed,
        r.idle_bytes_per_node_round
    );
    for p in &r.phases {
        say!("  {p}");
    }
    say!("  {:.1} s", report.wall_seconds);
    Ok(())
}
