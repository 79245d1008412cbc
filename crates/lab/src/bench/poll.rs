//! Watching a local cluster through its APIs: until every node runs a deployment,
//! until every membership view says something, and the sum of a metric.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use hearsay_client::{ApiClient, DeploymentInfo, StatusReport};
use hearsay_node::now_ms;

use crate::watch;

/// How often the bench polls; timings are read from the agents' own timestamps
/// where they have them, so this bounds only the membership rows' resolution.
pub const POLL: Duration = Duration::from_millis(100);

/// The pause between two polls of `n` agents: `POLL` up to 100 agents, then n²/100
/// ms (2.5 s at 500 agents, 10 s at 1,000), so the bench asks fewer questions a second
/// the larger the cluster (100 a second at 1,000). Each question is an HTTP request
/// and a module query: a thousand agents on two cores polled a thousand times a second
/// spent more CPU on the bench than on membership (load average 500–900 in
/// namespaces), and the same thousand, settled and asked nothing for 30 s, used
/// 0.13 % CPU each.
pub fn pause(n: usize) -> Duration {
    let n = n as u64;
    POLL.max(Duration::from_millis(n * n / 100))
}

/// When nodes started running a deployment: seconds from its number's time.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    /// The median node.
    pub median: f64,
    /// The last node.
    pub last: f64,
}

/// Waits until every node runs `d`; reads when each started running it.
pub async fn all_running(clients: &[ApiClient], d: &DeploymentInfo, timeout: Duration) -> Result<Spread> {
    let deadline = Instant::now() + timeout;
    // Each node's start as first seen: a node that runs it and then misses a poll (a
    // thousand agents on two cores answer slowly) still counts.
    let mut seen: Vec<Option<u64>> = vec![None; clients.len()];
    loop {
        let statuses = watch::poll(clients).await;
        for (i, status) in statuses.iter().enumerate() {
            let since = status
                .as_ref()
                .and_then(|s: &StatusReport| s.module(&d.module))
                .filter(|m| m.runs(&d.number))
                .and_then(|m| m.running_since_ms);
            seen[i] = seen[i].or(since);
        }
        let mut since: Vec<u64> = seen.iter().flatten().copied().collect();
        if since.len() == clients.len() {
            since.sort_unstable();
            let s = |t: u64| t.saturating_sub(d.time_ms) as f64 / 1000.0;
            return Ok(Spread {
                median: s(since[since.len() / 2]),
                last: s(since[since.len() - 1]),
            });
        }
        if Instant::now() > deadline {
            bail!(
                "only {} of {} nodes run deployment {} after {} s",
                since.len(),
                clients.len(),
                d.number,
                timeout.as_secs()
            );
        }
        tokio::time::sleep(pause(clients.len())).await;
    }
}

/// Waits until no node runs `module` (a stop spread).
pub async fn all_stopped(clients: &[ApiClient], module: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let statuses = watch::poll(clients).await;
        let stopped = statuses
            .iter()
            .flatten()
            .filter(|s| s.module(module).is_none_or(|m| m.state == "stopped"))
            .count();
        if stopped == clients.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{stopped} of {} nodes stopped {module}", clients.len());
        }
        tokio::time::sleep(pause(clients.len())).await;
    }
}

/// One node's membership view (`query membership count`).
#[derive(Debug, Clone, Copy, Default)]
pub struct View {
    pub live: u64,
    pub suspected: u64,
    pub removed: u64,
    /// Its local health penalty (Lifeguard's multiplier less one; 0 when well).
    pub penalty: u64,
}

/// Every node's view; None where the node or its module doesn't answer.
pub async fn views(clients: &[ApiClient]) -> Vec<Option<View>> {
    watch::each(clients, |c| async move {
        let v = c.query("membership", "count").await.ok()?;
        Some(View {
            live: v["live"].as_u64()?,
            suspected: v["suspected"].as_u64()?,
            removed: v["removed"].as_u64()?,
            penalty: v["health_penalty"].as_u64().unwrap_or(0),
        })
    })
    .await
}

/// Polls until every node's view satisfies `ok`; returns the seconds since
/// `since_ms` (wall clock) at the first poll where all did.
pub async fn until_views(
    clients: &[ApiClient],
    since_ms: u64,
    timeout: Duration,
    what: &str,
    ok: impl Fn(&View) -> bool,
) -> Result<f64> {
    let deadline = Instant::now() + timeout;
    loop {
        let polled_at = now_ms();
        let views = views(clients).await;
        let good = views.iter().flatten().filter(|v| ok(v)).count();
        if good == clients.len() {
            return Ok(polled_at.saturating_sub(since_ms) as f64 / 1000.0);
        }
        if Instant::now() > deadline {
            bail!(
                "{what}: only {good} of {} views after {} s",
                clients.len(),
                timeout.as_secs()
            );
        }
        tokio::time::sleep(pause(clients.len())).await;
    }
}

/// The sum over nodes of one Prometheus sample, e.g. `hearsay_bytes_out_total`.
pub async fn metric_sum(clients: &[ApiClient], series: &[&str]) -> Vec<f64> {
    let texts = watch::each(clients, |c| async move { c.metrics().await.ok() }).await;
    let mut sums = vec![0.0; series.len()];
    for text in texts.iter().flatten() {
        for (k, name) in series.iter().enumerate() {
            if let Some(v) = text
                .lines()
                .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
                .and_then(|v| v.trim().parse::<f64>().ok())
            {
                sums[k] += v;
            }
        }
    }
    sums
}

/// Membership removals counted by every agent's running instance, summed (an
/// instance counts from its start: a new version starts at 0).
pub async fn removals(clients: &[ApiClient]) -> f64 {
    views(clients)
        .await
        .iter()
        .flatten()
        .map(|v| v.removed as f64)
        .sum()
}

/// The median and the last of the agents' delays after `origin`, in seconds, from
/// when each agent saw something (ms, the host's one clock); printed as run `run`'s
/// line.
pub fn median_and_last(run: usize, times: &[u64], origin: u64) -> (f64, f64) {
    let mut spread: Vec<f64> = times
        .iter()
        .map(|t| t.saturating_sub(origin) as f64 / 1000.0)
        .collect();
    spread.sort_by(f64::total_cmp);
    let n = spread.len();
    let (median, last) = (spread[n / 2], spread[n - 1]);
    esay!("  run {}: median {median:.3} s, last {last:.3} s", run + 1);
    (median, last)
}

/// Polls every agent's `module` query (empty args) every 100 ms until `done` holds for
/// all, or fails after `timeout` saying how many got there.
pub async fn until_every(
    clients: &[ApiClient],
    module: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let answers = summaries(clients, module).await;
        let ok = answers.iter().flatten().filter(|v| done(v)).count();
        if ok == clients.len() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{what}: only {ok} of {} agents", clients.len());
        }
        tokio::time::sleep(pause(clients.len())).await;
    }
}

/// Every agent's summary of `module` (its query without arguments), at once; None
/// where one did not answer.
pub async fn summaries(clients: &[ApiClient], module: &str) -> Vec<Option<serde_json::Value>> {
    watch::each(clients, |c| {
        let module = module.to_string();
        async move { c.query(&module, "").await.ok() }
    })
    .await
}

/// Polls every agent's summary of `module` until all answered and `done` holds of the
/// answers together (what no one agent can tell: e.g. that the replicas agree).
pub async fn until_all(
    clients: &[ApiClient],
    module: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let answers: Vec<serde_json::Value> =
            summaries(clients, module).await.into_iter().flatten().collect();
        if answers.len() == clients.len() && done(&answers) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{what}: not after {} s", timeout.as_secs());
        }
        tokio::time::sleep(pause(clients.len())).await;
    }
}
