//! `hearsay-lab scenario s3`: the 2008 S3 outage on a local cluster of real agents.
//!
//! healthy (statecast everywhere, a value set) → a bad deployment (statecast-poison)
//! spreads → poisoned state everywhere → [`--modules-dead`: bad-loop kills every
//! module] → the fix (statecast under a new deployment number) is deployed at one
//! node → it runs everywhere → the poisoned state is gone everywhere, and stays gone.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};

use hearsay_client::{ApiClient, DeploymentInfo, StatusReport};

use super::probe::Probe;
use super::timeline::{Step, Timeline};
use super::{FixBy, S3Args};
use crate::fixtures::variant;
use crate::fixtures::{BAD_LOOP, STATECAST, STATECAST_POISON};
use crate::procs::{Cluster, Layout};
use crate::watch::{self, short_number, short_version};

/// The module's name on the cluster.
const MODULE: &str = "statecast";
/// The value set while the cluster is healthy.
const VALUE: u64 = 42;

/// What `--json` prints.
#[derive(Serialize)]
struct Report {
    scenario: &'static str,
    nodes: usize,
    rendezvous: usize,
    modules_dead: bool,
    fix_by: String,
    interval_ms: u64,
    backup_interval_ms: u64,
    /// From the fix's deployment number (its time at the origin) to the last node
    /// running it.
    repair_s: f64,
    repair_rounds: f64,
    repair_backup_rounds: f64,
    /// From the fix's deployment number to the last node adopting it.
    adopted_s: f64,
    steps: Vec<Step>,
}

pub async fn run(args: S3Args) -> Result<()> {
    let layout = Layout {
        exe: crate::hearsay_binary()?,
        nodes: args.nodes,
        rendezvous: args.rendezvous,
        port_base: args.port_base,
        interval_ms: args.interval_ms,
        backup_interval_ms: args.backup_interval_ms,
        tls: false,
        extra_args: Vec::new(),
        agent_args: None,
        own_compile_cache: false,
        hosts: None,
    };
    if let Some(dir) = &args.data_dir {
        if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
            bail!(
                "--data-dir {} is not empty: the scenario starts fresh agents",
                dir.display()
            );
        }
    }
    let mut tl = Timeline::new(args.interval_ms, args.backup_interval_ms, args.json);
    tl.print(&format!(
        "hearsay-lab scenario s3: {} agents ({} rendezvous) on 127.0.0.1:{}+, gossip every {} ms, backup gossip every {} ms{}",
        args.nodes,
        args.rendezvous.min(args.nodes),
        args.port_base,
        args.interval_ms,
        args.backup_interval_ms,
        if args.modules_dead { ", modules dead before the fix" } else { "" }
    ));
    tl.heads();
    let mut cluster = Cluster::start(&layout, args.data_dir.clone())
        .await
        .context("starting the agents")?;
    tl.step(
        "start",
        format!("{} agents answer, data in {}", args.nodes, cluster.dir.display()),
    );
    let result = story(&args, &cluster, &mut tl).await;
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            let dead: Vec<String> = (0..cluster.agents.len())
                .filter_map(|i| cluster.check_alive(i).err().map(|e| format!("{e:#}")))
                .take(2)
                .collect();
            cluster.keep_dir();
            let dead = if dead.is_empty() {
                String::new()
            } else {
                format!("; {}", dead.join("; "))
            };
            bail!(
                "scenario s3 failed: {e:#}{dead} (data and logs kept in {})",
                cluster.dir.display()
            );
        }
    };
    drop(cluster);
    let summary = format!(
        "s3: {} nodes repaired {:.2} s after the fix was deployed = {:.1} gossip rounds, {:.1} backup rounds{}",
        report.nodes,
        report.repair_s,
        report.repair_rounds,
        report.repair_backup_rounds,
        if report.modules_dead { " (every module was dead)" } else { "" },
    );
    tl.print(&summary);
    if args.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

async fn story(args: &S3Args, cluster: &Cluster, tl: &mut Timeline) -> Result<Report> {
    let n = args.nodes;
    let clients = watch::clients(&cluster.apis())?;
    let probe = Probe {
        clients: clients.clone(),
        module: MODULE.to_string(),
        poll: Duration::from_millis((2 * n as u64).clamp(100, 500)),
        timeout: Duration::from_secs(args.timeout_s),
    };

    // Healthy: statecast everywhere, then a value set at node 0 reaches everyone.
    let healthy = deploy(&clients[0], STATECAST, None, "statecast").await?;
    probe
        .until_status("run statecast", |m| m.runs(&healthy.number))
        .await
        .context("step healthy")?;
    tl.step(
        "healthy",
        format!(
            "statecast {} ({}) deployed at node 0 runs on all {n} nodes",
            version_of(&healthy),
            short_number(&healthy.number)
        ),
    );
    clients[0]
        .command(MODULE, &json!({ "set": VALUE }).to_string())
        .await
        .context("setting the value at node 0")?;
    probe
        .until_query(&format!("hold value {VALUE}"), |v| {
            v["version"] == 1 && v["value"] == VALUE && v["poisoned"] == false
        })
        .await
        .context("step value set")?;
    tl.step(
        "value set",
        format!("value {VALUE} (version 1) set at node 0 is held by all {n} nodes"),
    );

    // The bad deployment: one node corrupts its record, gossip carries it everywhere.
    let poison_at = cluster.agents[n - 1].gossip.to_string();
    let bad = deploy(
        &clients[1],
        STATECAST_POISON,
        Some(json!({ "poison_at": poison_at })),
        "statecast-poison",
    )
    .await?;
    probe
        .until_status("run statecast-poison", |m| m.runs(&bad.number))
        .await
        .context("step bad deployment")?;
    tl.step(
        "bad deployment",
        format!(
            "statecast-poison {} ({}) deployed at node 1 runs on all {n} nodes; node {} corrupts its record",
            version_of(&bad),
            short_number(&bad.number),
            n - 1
        ),
    );
    let answers = probe
        .until_query("hold the poisoned record", |v| v["poisoned"] == true)
        .await
        .context("step poisoned everywhere")?;
    tl.step(
        "poisoned everywhere",
        format!("all {n} nodes hold {} with a bad check", records(&answers)),
    );

    if args.modules_dead {
        let dead = deploy(&clients[2], BAD_LOOP, None, "bad-loop").await?;
        let statuses = probe
            .until_status("report bad-loop failed", |m| {
                m.deployment.number == dead.number && m.state == "failed"
            })
            .await
            .context("step modules dead")?;
        let reason = statuses[0]
            .module(MODULE)
            .and_then(|m| m.reason.clone())
            .unwrap_or_default();
        tl.step(
            "modules dead",
            format!(
                "bad-loop ({}) deployed at node 2 failed on all {n} nodes: {reason}",
                short_number(&dead.number)
            ),
        );
    }

    // The fix, at one node.
    let at = n / 2;
    tl.restart_step();
    let fix = match args.fix_by {
        FixBy::NewCode => {
            deploy(
                &clients[at],
                &variant(STATECAST, "hearsay-s3-fix"),
                None,
                "the fix",
            )
            .await?
        }
        FixBy::Rollback => clients[at]
            .rollback(MODULE, healthy.version.clone())
            .await
            .context("rolling back to statecast")?,
    };
    tl.note(&format!(
        "fix: {} {} as deployment {} at node {at}",
        match args.fix_by {
            FixBy::NewCode => "new code of statecast",
            FixBy::Rollback => "rollback to statecast",
        },
        version_of(&fix),
        short_number(&fix.number)
    ));
    let statuses = probe
        .until_status("run the fix", |m| m.runs(&fix.number))
        .await
        .context("step fix everywhere")?;
    let (adopted_s, repair_s) = spread_times(&statuses, &fix);
    tl.step_took(
        "fix everywhere",
        format!(
            "the fix runs on all {n} nodes: the last adopted it {adopted_s:.2} s and ran it {repair_s:.2} s after it was deployed"
        ),
        repair_s,
    );
    let answers = probe
        .until_query("hold an unpoisoned record", |v| v["poisoned"] == false)
        .await
        .context("step poison gone")?;
    tl.step(
        "poison gone",
        format!(
            "no node holds the poisoned record; they hold {}",
            records(&answers)
        ),
    );

    // It stays gone: every node, polled again and again for a while.
    let settle = Duration::from_millis((10 * args.interval_ms).max(2 * args.backup_interval_ms));
    let polls = stays_repaired(&probe, &fix, settle)
        .await
        .context("step still repaired")?;
    tl.step(
        "still repaired",
        format!(
            "{polls} polls of every node over {:.1} s: all run the fix, none holds the poisoned record",
            settle.as_secs_f64()
        ),
    );

    let repair = tl
        .steps
        .iter()
        .find(|s| s.step == "fix everywhere")
        .cloned()
        .context("no repair step")?;
    Ok(Report {
        scenario: "s3",
        nodes: n,
        rendezvous: args.rendezvous.min(n),
        modules_dead: args.modules_dead,
        fix_by: format!("{:?}", args.fix_by),
        interval_ms: args.interval_ms,
        backup_interval_ms: args.backup_interval_ms,
        repair_s: repair.took_s,
        repair_rounds: repair.rounds,
        repair_backup_rounds: repair.backup_rounds,
        adopted_s: (adopted_s * 100.0).round() / 100.0,
        steps: tl.steps.clone(),
    })
}

async fn deploy(
    client: &ApiClient,
    wasm: &[u8],
    params: Option<Value>,
    what: &str,
) -> Result<DeploymentInfo> {
    client
        .deploy(MODULE, wasm, params)
        .await
        .with_context(|| format!("deploying {what} at {}", client.addr()))
}

/// Seconds from the deployment's time to the last node adopting it and to the last
/// node running it.
fn spread_times(statuses: &[StatusReport], d: &DeploymentInfo) -> (f64, f64) {
    let latest = |f: fn(&hearsay_client::ModuleReport) -> Option<u64>| {
        statuses
            .iter()
            .filter_map(|s| s.module(MODULE).and_then(f))
            .max()
            .unwrap_or(d.time_ms)
            .saturating_sub(d.time_ms) as f64
            / 1000.0
    };
    (latest(|m| m.adopted_at_ms), latest(|m| m.running_since_ms))
}

/// Polls every node for `settle`: each must run the fix and hold no poisoned record.
async fn stays_repaired(probe: &Probe, fix: &DeploymentInfo, settle: Duration) -> Result<usize> {
    let end = Instant::now() + settle;
    let mut polls = 0;
    while Instant::now() < end || polls == 0 {
        let statuses = probe.statuses().await;
        for (i, s) in statuses.iter().enumerate() {
            let m = s.as_ref().and_then(|s| s.module(MODULE));
            if !m.is_some_and(|m| m.runs(&fix.number)) {
                let state = m.map_or("no answer".to_string(), |m| {
                    format!("{} d{}", m.state, m.deployment.number)
                });
                bail!("node {i} no longer runs the fix: {state}");
            }
        }
        for (i, a) in probe.queries().await.iter().enumerate() {
            match a {
                Some(v) if v["poisoned"] == false => {}
                Some(v) => bail!("node {i} holds the poisoned record again: {v}"),
                None => bail!("node {i} no longer answers its query"),
            }
        }
        polls += 1;
        tokio::time::sleep(probe.poll).await;
    }
    Ok(polls)
}

/// `version 1 value 42` (or several, comma-separated), from query answers.
fn records(answers: &[Value]) -> String {
    let seen: BTreeSet<(u64, u64)> = answers
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap_or(0),
                v["value"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let mut out: Vec<String> = seen
        .iter()
        .take(3)
        .map(|(version, value)| format!("version {version} value {value}"))
        .collect();
    if seen.len() > 3 {
        out.push(format!("{} more", seen.len() - 3));
    }
    out.join(", ")
}

fn version_of(d: &DeploymentInfo) -> String {
    d.version.as_deref().map_or("-".to_string(), short_version)
}
