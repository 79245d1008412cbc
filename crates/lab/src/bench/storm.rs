//! The storm rows: does a fix get through a module that does its worst inside every
//! per-call limit? On 20 local agents running membership and statecast, each run
//! deploys a third module — calm (`bad-silent`, which never sends) or the amplifying
//! storm (`hostile-storm`: 1,024 sends per tick and per message received) — lets it
//! run, then measures, side by side: how fast a new version of that module reaches
//! every agent, how fast `GET /status` answers, how fast a statecast value spreads,
//! and whether membership removed anyone.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hearsay_client::api_types::DeployRequest;
use hearsay_client::ApiClient;

use super::agents::layout;
use super::poll::{self, all_running};
use super::report::Row;
use super::Plan;
use crate::fixtures::{variant, MEMBERSHIP, SILENT, STATECAST, STORM};
use crate::procs::Cluster;
use crate::watch;

const GROUP: &str = "storm";
const STEP_TIMEOUT: Duration = Duration::from_secs(90);
/// The module the storm (or the calm twin) runs as.
const MODULE: &str = "storm";

/// What one condition measured, one value per run.
#[derive(Default)]
struct Measured {
    fix_s: Vec<f64>,
    status_p99_ms: Vec<f64>,
    value_s: Vec<f64>,
    removed: f64,
}

pub async fn rows(plan: &Plan) -> Result<Vec<Row>> {
    let n = if plan.quick { 5 } else { 20 };
    esay!("storm: {n} agents with membership and statecast…");
    let cluster = Cluster::start(&layout(plan, n, Vec::new()), None)
        .await
        .with_context(|| format!("starting {n} agents"))?;
    let clients = watch::clients(&cluster.apis())?;
    for (module, wasm) in [("membership", MEMBERSHIP), ("statecast", STATECAST)] {
        let d = clients[0].deploy(module, wasm, None).await?;
        all_running(&clients, &d, STEP_TIMEOUT).await?;
    }
    poll::until_views(
        &clients,
        hearsay_node::now_ms(),
        STEP_TIMEOUT,
        "full views",
        |v| v.live == n as u64,
    )
    .await?;
    let calm = condition(plan, &clients, false).await?;
    let storm = condition(plan, &clients, true).await?;
    let mut rows = Vec::new();
    for (what, m) in [("calm", calm), ("amplifying storm", storm)] {
        let fix = Row::new(
            GROUP,
            format!("new version of the module → all {n}, {what}"),
            "s",
            m.fix_s,
        );
        let status = Row::new(GROUP, format!("GET /status p99, {what}"), "ms", m.status_p99_ms);
        let (fix, status) = if what == "calm" {
            (fix, status)
        } else {
            (
                fix.at_most(2.0, "≤ 2 s with the storm on every agent"),
                status.at_most(100.0, "≤ 100 ms with the storm on every agent"),
            )
        };
        rows.push(fix);
        rows.push(status);
        rows.push(Row::new(
            GROUP,
            format!("a statecast value → all {n}, {what}"),
            "s",
            m.value_s,
        ));
        rows.push(
            Row::new(
                GROUP,
                format!("membership: live members removed, {what}"),
                "count",
                vec![m.removed],
            )
            .at_most(0.0, "none"),
        );
    }
    Ok(rows)
}

/// Runs of one condition: the module (calm or storming) everywhere, then measures.
async fn condition(plan: &Plan, clients: &[ApiClient], storm: bool) -> Result<Measured> {
    let n = clients.len();
    let what = if storm { "storm" } else { "calm" };
    let removed_before = poll::removals(clients).await;
    let mut m = Measured::default();
    for run in 0..plan.runs {
        // The module, fresh on every agent; a storm is never failed for its budget
        // here (these rows are about priority, not about budgets giving up on it).
        let wasm = variant(if storm { STORM } else { SILENT }, &format!("{what}-{run}"));
        let mut req = DeployRequest::new(MODULE, &wasm, None);
        req.budget = Some([("fail_after_s".to_string(), 1_000_000)].into());
        let d = clients[run % n].deploy_request(&req).await?;
        all_running(clients, &d, STEP_TIMEOUT).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;

        m.status_p99_ms
            .push(status_p99(clients, Duration::from_secs(3)).await);

        let value = 1000 + run as u64 * 2 + u64::from(storm);
        let started = Instant::now();
        let set = clients[(run * 3 + 1) % n]
            .command("statecast", &format!("{{\"set\":{value}}}"))
            .await?;
        if set["value"] != value {
            bail!("statecast did not take the value: {set}");
        }
        until_value(clients, value, STEP_TIMEOUT).await?;
        m.value_s.push(started.elapsed().as_secs_f64());

        let fix = variant(SILENT, &format!("fix-{what}-{run}"));
        let d = clients[(run * 7 + n / 2) % n].deploy(MODULE, &fix, None).await?;
        let spread = all_running(clients, &d, STEP_TIMEOUT).await?;
        m.fix_s.push(spread.last);
        esay!(
            "  {what} run {}: fix {:.2} s, status p99 {:.0} ms, value {:.2} s",
            run + 1,
            spread.last,
            m.status_p99_ms[run],
            m.value_s[run]
        );
    }
    m.removed = poll::removals(clients).await - removed_before;
    Ok(m)
}

/// `GET /status` on every agent in turn for `window`: the 99th percentile, in ms.
async fn status_p99(clients: &[ApiClient], window: Duration) -> f64 {
    let mut times = Vec::new();
    let started = Instant::now();
    while started.elapsed() < window {
        for c in clients {
            let t = Instant::now();
            let ok = c.status().await.is_ok();
            // An error counts as the whole client timeout: it did not answer.
            times.push(if ok {
                t.elapsed().as_secs_f64() * 1000.0
            } else {
                10_000.0
            });
        }
    }
    times.sort_by(f64::total_cmp);
    times[(times.len() * 99 / 100).min(times.len() - 1)]
}

/// Polls until every agent's statecast holds `value`.
async fn until_value(clients: &[ApiClient], value: u64, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let answers = watch::each(clients, |c| async move { c.query("statecast", "").await.ok() }).await;
        if answers
            .iter()
            .all(|a| a.as_ref().is_some_and(|v| v["value"] == value))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the statecast value {value} did not reach every agent in {} s",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
