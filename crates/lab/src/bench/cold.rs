//! Rows on new code at hosts whose compile cache does not hold it: how soon a
//! deployment runs where its code must be compiled first — an agent fetching it from
//! the peer it was deployed at, with the baseline compiler first and without — and
//! how soon the optimised code takes over; an update across agents that each compile
//! into a cache of their own, as on separate hosts; and a lone agent's memory.

use std::time::Duration;

use anyhow::{bail, Result};
use hearsay_client::ApiClient;

use super::agents::{layout, Versions};
use super::poll::all_running;
use super::report::Row;
use super::Plan;
use crate::fixtures::MEMBERSHIP;
use crate::procfs;
use crate::procs::{Cluster, Layout};
use crate::watch;

/// When a lone agent has settled: it trims its code pages 30 s after it last loaded
/// code (here the optimised tier).
const SETTLED: Duration = Duration::from_secs(40);
const GROUP: &str = "cold";
const STEP_TIMEOUT: Duration = Duration::from_secs(120);
const SETTLE: Duration = Duration::from_secs(1);
/// One window of the lone agent's idle CPU.
const CPU_WINDOW: Duration = Duration::from_secs(20);

pub async fn rows(plan: &Plan) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for baseline in [true, false] {
        rows.extend(fetched(plan, baseline).await?);
    }
    rows.extend(lone(plan).await?);
    for baseline in [true, false] {
        rows.extend(spread(plan, baseline).await?);
    }
    Ok(rows)
}

/// Agents compiling into caches of their own, with or without the baseline compiler.
fn own_caches(plan: &Plan, n: usize, baseline: bool) -> Layout {
    let mut l = layout(plan, n, vec!["--baseline-compile".into(), baseline.to_string()]);
    l.own_compile_cache = true;
    l
}

fn compilers(baseline: bool) -> &'static str {
    if baseline {
        "baseline compiler first"
    } else {
        "optimising compiler only"
    }
}

/// Two agents: each run deploys a new version at the first; the second adopts it,
/// fetches the code, compiles it and runs it.
async fn fetched(plan: &Plan, baseline: bool) -> Result<Vec<Row>> {
    esay!(
        "cold: a version compiled where it arrives ({})…",
        compilers(baseline)
    );
    let cluster = Cluster::start(&own_caches(plan, 2, baseline), None).await?;
    let clients = watch::clients(&cluster.apis())?;
    let mut versions = Versions::new();
    let (mut to_running, mut to_optimized) = (vec![], vec![]);
    for run in 0..plan.runs {
        let d = clients[0].deploy("membership", &versions.next(), None).await?;
        all_running(&clients, &d, STEP_TIMEOUT).await?;
        let m = wait_for_tier(&clients[1], "membership", "optimized").await?;
        let (Some(adopted), Some(running)) = (m.adopted_at_ms, m.running_since_ms) else {
            bail!("the second agent reports no adoption or start time");
        };
        to_running.push(running.saturating_sub(adopted) as f64);
        if let Some(optimized) = m.optimized_at_ms {
            to_optimized.push(optimized.saturating_sub(adopted) as f64);
        }
        esay!(
            "  run {}: running {} ms after the deployment arrived, optimised code at {:?} ms",
            run + 1,
            running.saturating_sub(adopted),
            m.optimized_at_ms.map(|o| o.saturating_sub(adopted))
        );
        tokio::time::sleep(SETTLE).await;
    }
    let mut rows = vec![Row::new(
        GROUP,
        format!(
            "deployment arrived → running on a cold host: code fetched, compiled, started ({})",
            compilers(baseline)
        ),
        "ms",
        to_running,
    )];
    if baseline {
        rows[0] = rows[0]
            .clone()
            .at_most(50.0, "≤ 50 ms; optimising first: the next row");
        rows.push(Row::new(
            GROUP,
            "… → the optimised code running in its place (state handed over)",
            "ms",
            to_optimized,
        ));
    }
    Ok(rows)
}

/// Polls an agent until the module's running code is of `tier`.
async fn wait_for_tier(
    client: &ApiClient,
    module: &str,
    tier: &str,
) -> Result<hearsay_client::api_types::ModuleReport> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        if let Ok(status) = client.status().await {
            if let Some(m) = status.module(module) {
                if m.state == "running" && m.tier.as_deref() == Some(tier) {
                    return Ok(m.clone());
                }
            }
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{module} did not run {tier} code in time");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One agent alone on its host in the largest cluster: it runs a copy of the binary
/// (so it shares no code pages with the others) and compiles membership into a cache
/// of its own. Its memory once the optimised code runs, then once it has settled (an
/// agent hands back the code pages only startup and loading used 30 s after it last
/// loaded code), and its CPU over the next minute.
async fn lone(plan: &Plan) -> Result<Vec<Row>> {
    let n = plan.big();
    esay!("cold: one agent alone on its host among {n}…");
    let mut cluster = Cluster::start(&own_caches(plan, n, true), None).await?;
    let clients = watch::clients(&cluster.apis())?;
    let d = clients[0].deploy("membership", MEMBERSHIP, None).await?;
    all_running(&clients, &d, STEP_TIMEOUT).await?;
    let copy = cluster.dir.join("hearsay-alone");
    std::fs::copy(&plan.hearsay, &copy)?;
    let i = cluster.add_agent_running(&copy).await?;
    let alone = watch::clients(&[cluster.agents[i].api.to_string()])?;
    wait_for_tier(&alone[0], "membership", "optimized").await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pid = cluster.agents[i].child.id();
    let rss = || {
        procfs::rss_kib(pid)
            .map(|(kib, _)| vec![kib as f64 / 1024.0])
            .unwrap_or_default()
    };
    let early = rss();
    tokio::time::sleep(SETTLED).await;
    let settled = rss();
    let cpu = |ticks: Option<f64>| ticks.unwrap_or(0.0) / procfs::ticks_per_second();
    // Three windows of 20 s: one process's CPU is counted in 10 ms ticks, and a
    // single short window is at the mercy of the 100 others on the same 2 cores.
    let mut busy = Vec::new();
    for _ in 0..3 {
        let before = cpu(procfs::cpu_ticks(pid));
        tokio::time::sleep(CPU_WINDOW).await;
        busy.push((cpu(procfs::cpu_ticks(pid)) - before) / CPU_WINDOW.as_secs_f64() * 100.0);
    }
    let views = super::poll::views(&alone).await;
    esay!(
        "  its view: {:?} live; {:.1} MiB early, {:.1} MiB settled, {busy:.2?} % CPU",
        views.first().copied().flatten().map(|v| v.live),
        early.first().copied().unwrap_or(0.0),
        settled.first().copied().unwrap_or(0.0)
    );
    let among = format!("one agent alone on its host among {}", n + 1);
    Ok(vec![
        Row::new(
            GROUP,
            format!("resident memory, {among}, its first seconds (RSS; compiled membership itself)"),
            "MiB",
            early,
        ),
        Row::new(
            GROUP,
            format!(
                "resident memory, {among}, settled ({} s after its optimised code)",
                SETTLED.as_secs()
            ),
            "MiB",
            settled,
        )
        .at_most(12.0, "≤ 12 MiB; Serf 15.0, chitchat 11.7 (quoted)"),
        Row::new(
            GROUP,
            format!("idle CPU, {among} (on this shared machine)"),
            "%",
            busy,
        )
        .at_most(0.3, "≤ 0.3 %; Serf 0.4, chitchat 0.5 (quoted)"),
    ])
}

/// The largest cluster, every agent compiling into a cache of its own: updates.
async fn spread(plan: &Plan, baseline: bool) -> Result<Vec<Row>> {
    let n = plan.big();
    esay!(
        "cold: {n} agents, one compile cache each ({})…",
        compilers(baseline)
    );
    let cluster = Cluster::start(&own_caches(plan, n, baseline), None).await?;
    let clients = watch::clients(&cluster.apis())?;
    let mut versions = Versions::new();
    let d = clients[0].deploy("membership", &versions.next(), None).await?;
    all_running(&clients, &d, STEP_TIMEOUT).await?;
    let (mut last, mut median) = (vec![], vec![]);
    for run in 0..plan.runs {
        // Every agent's optimising compile of the last version is over first.
        tokio::time::sleep(Duration::from_secs(if baseline { 15 } else { 2 })).await;
        let d = clients[(run * 7 + 1) % n]
            .deploy("membership", &versions.next(), None)
            .await?;
        let spread = all_running(&clients, &d, STEP_TIMEOUT).await?;
        esay!("  run {}: all {n} running in {:.2} s", run + 1, spread.last);
        last.push(spread.last);
        median.push(spread.median);
    }
    Ok(vec![
        Row::new(
            GROUP,
            format!(
                "update → all {n} agents running it, one compile cache per agent ({})",
                compilers(baseline)
            ),
            "s",
            last,
        ),
        Row::new(
            GROUP,
            format!(
                "update → median agent of {n}, one compile cache per agent ({})",
                compilers(baseline)
            ),
            "s",
            median,
        ),
    ])
}
