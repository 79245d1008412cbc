//! `hearsay sim s3`: the S3 story in the simulator with the real statecast code, at
//! any size; non-zero exit if any node relapses or a phase doesn't finish.

use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;

use hearsay_sim::s3::{self, S3Config, S3Report};

use crate::sim::Common;

/// Arguments of `hearsay sim s3`.
#[derive(Args)]
pub struct S3Args {
    /// Kill every module before the fix: only the core's own gossip can carry it.
    #[arg(long)]
    modules_dead: bool,
    /// Rounds the repaired cluster is watched for a relapse.
    #[arg(long, default_value_t = 10)]
    watch_rounds: u64,
    #[command(flatten)]
    common: Common,
}

#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    s3: S3Report,
    interval_ms: u64,
    wall_seconds: f64,
}

/// Runs `hearsay sim s3`.
pub fn run(args: S3Args) -> Result<()> {
    args.common.check()?;
    let started = Instant::now();
    let sim = args.common.config();
    let interval_ms = sim.gossip_interval_ms;
    let report = Report {
        s3: s3::play(S3Config {
            sim,
            modules_dead: args.modules_dead,
            max_rounds: args.common.max_rounds,
            watch_rounds: args.watch_rounds,
        }),
        interval_ms,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    if args.common.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let r = &report.s3;
        say!(
            "s3: {} nodes, seed {}, {}",
            r.nodes,
            r.seed,
            if r.modules_dead {
                "every module dead before the fix"
            } else {
                "modules alive"
            }
        );
        for p in &r.phases {
            say!(
                "  {:<46} {} rounds ({:.1} s){}",
                p.what,
                p.rounds,
                s3::seconds(p.rounds, interval_ms),
                if p.done { "" } else { "  NOT DONE" }
            );
        }
        say!(
            "  repair traffic: {} messages, {} bytes; {} relapses over {} rounds; {:.1} s",
            r.repair_messages,
            r.repair_bytes,
            r.recontaminated,
            args.watch_rounds,
            report.wall_seconds
        );
    }
    if !report.s3.passed() {
        bail!(
            "the S3 story failed: {} relapses, {} regressions, phases {:?}",
            report.s3.recontaminated,
            report.s3.regressions,
            report.s3.phases.iter().map(|p| p.done).collect::<Vec<_>>()
        );
    }
    Ok(())
}
