//! `hearsay sim pubsub`: the broadcast module's own code at any size, every node a
//! subscriber, messages published from random nodes through four phases — no faults,
//! 10% message loss, right after half the nodes crash, views repaired — with each
//! phase's reach, redundancy and last delivery hop (the HyParView and Plumtree papers'
//! figures).

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use hearsay_sim::pubsub::{self, PubsubConfig, PubsubReport};

use crate::sim::Common;

/// Arguments of `hearsay sim pubsub`.
#[derive(Args)]
pub struct PubsubArgs {
    /// Messages published per phase.
    #[arg(long, default_value_t = 20)]
    messages: usize,
    #[command(flatten)]
    common: Common,
}

#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    pubsub: PubsubReport,
    wall_seconds: f64,
}

/// Runs `hearsay sim pubsub`.
pub fn run(args: PubsubArgs) -> Result<()> {
    args.common.check()?;
    let started = Instant::now();
    let report = Report {
        pubsub: pubsub::play(PubsubConfig {
            sim: args.common.config(),
            messages: args.messages,
        }),
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    if args.common.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let r = &report.pubsub;
    say!(
        "pubsub: {} nodes, seed {}, every topic overlay linked in {} rounds",
        r.nodes,
        r.seed,
        r.overlay_rounds
    );
    for p in &r.phases {
        say!("  {p}");
    }
    say!("  {:.1} s", report.wall_seconds);
    Ok(())
}
