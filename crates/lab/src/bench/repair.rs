//! The containment scenario's repair times: `hearsay-lab scenario s3 --json` run as a
//! child process (it starts and stops its own agents), modules alive and all dead.

use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::report::Row;
use super::Plan;

const GROUP: &str = "repair";

fn s3(plan: &Plan, modules_dead: bool) -> Result<f64> {
    let exe = std::env::current_exe().context("cannot find the hearsay-lab binary")?;
    let mut cmd = Command::new(exe);
    cmd.args(["scenario", "s3", "--json"])
        .args(["--nodes", &plan.repair_nodes.to_string()])
        .args(["--rendezvous", &(plan.repair_nodes / 10).max(1).to_string()])
        .args(["--interval-ms", &plan.interval_ms.to_string()])
        .args(["--backup-interval-ms", &plan.backup_interval_ms.to_string()])
        .args(["--port-base", &plan.port_base.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    if modules_dead {
        cmd.arg("--modules-dead");
    }
    let out = cmd.output().context("cannot run hearsay-lab scenario s3")?;
    if !out.status.success() {
        bail!("hearsay-lab scenario s3 failed ({})", out.status);
    }
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("hearsay-lab scenario s3 printed no JSON report")?;
    report["repair_s"]
        .as_f64()
        .context("the s3 report has no repair_s")
}

pub fn rows(plan: &Plan) -> Result<Vec<Row>> {
    let n = plan.repair_nodes;
    let mut rows = Vec::new();
    for (dead, what) in [
        (false, "modules alive"),
        (true, "every module dead (backup gossip)"),
    ] {
        let mut times = Vec::new();
        for run in 0..plan.runs {
            let t = s3(plan, dead)?;
            esay!("repair ({what}): run {} repaired all {n} in {t:.2} s", run + 1);
            times.push(t);
        }
        let round_ms = if dead {
            plan.backup_interval_ms
        } else {
            plan.interval_ms
        };
        let rounds: Vec<f64> = times.iter().map(|t| t * 1000.0 / round_ms as f64).collect();
        rows.push(Row::new(
            GROUP,
            format!("S3 fix → all {n} agents repaired, {what}"),
            "s",
            times,
        ));
        rows.push(Row::new(
            GROUP,
            format!("… in {} rounds", if dead { "backup" } else { "gossip" }),
            "rounds",
            rounds,
        ));
    }
    Ok(rows)
}
