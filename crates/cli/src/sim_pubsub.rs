//! `hearsay sim pubsub`: the broadcast module's own code at any size, every node a
//! subscriber, messages published by a few random nodes taking turns through four phases — no faults,
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
    /// Nodes that publish, taking turns (random; each publishes four times in the
    /// warm-up, so its own tree is built before the phases).
    #[arg(long, default_value_t = 10)]
    publishers: usize,
    /// The broadcast module's params, JSON (e.g. '{"optimize_hops":1}'; see
    /// modules/broadcast/src/params.rs).
    #[arg(long, default_value = "")]
    params: String,
    /// One-way latency of a simulated message, drawn uniformly from MIN-MAX ms.
    #[arg(long, value_name = "MIN-MAX", value_parser = parse_latency)]
    latency_ms: Option<(u64, u64)>,
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
    let mut sim = args.common.config();
    if let Some((min, max)) = args.latency_ms {
        sim.network.latency_min_ms = min;
        sim.network.latency_max_ms = max;
    }
    let report = Report {
        pubsub: pubsub::play(PubsubConfig {
            sim,
            messages: args.messages,
            publishers: args.publishers,
            params: args.params,
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

/// Parses `MIN-MAX` (or one number for a fixed latency) in milliseconds.
fn parse_latency(text: &str) -> Result<(u64, u64), String> {
    let (min, max) = text.split_once('-').unwrap_or((text, text));
    let number = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("latency: '{t}' is not a number of milliseconds"))
    };
    let (min, max) = (number(min)?, number(max)?);
    if min > max {
        return Err(format!("latency: {min} is above {max}"));
    }
    Ok((min, max))
}
