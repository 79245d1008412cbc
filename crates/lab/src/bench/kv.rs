//! The kv rows: the kv module on the largest agent cluster. Each run writes one new
//! key at an agent and reads, from every agent's event stream (opened before the
//! write), when its `key.set` event happened there — the agents share this host's
//! clock, so no polling delay enters the figure: the last agent and the median,
//! against the writer's own event. Then 100 keys are written at every agent and the
//! time from the last write until every agent holds all of them is polled; then the
//! cluster idles and the module's bytes sent per agent per second are read from the
//! agents' counters.

use std::time::Duration;

use anyhow::{bail, Result};
use hearsay_client::event_client::EventQuery;
use hearsay_client::ApiClient;

use super::agents::start_running;
use super::poll::{median_and_last, metric_sum, until_every};
use super::report::Row;
use super::Plan;
use crate::fixtures::KV;
use crate::watch;

const GROUP: &str = "kv";
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// Keys each agent writes for the convergence row.
const KEYS_PER_AGENT: usize = 100;
const SENT: [&str; 1] = ["hearsay_module_sent_bytes_total{module=\"kv\"}"];

pub async fn rows(plan: &Plan) -> Result<Vec<Row>> {
    let n = plan.big();
    esay!("kv: {n} agents, the kv module…");
    let (_cluster, clients) = start_running(plan, n, "kv", KV, None).await?;
    let view = (n - 1).min(kv::peers::VIEW) as u64;
    until_every(
        &clients,
        "kv",
        "every agent's peer view is full",
        STEP_TIMEOUT,
        |v| v["peers"].as_u64() >= Some(view),
    )
    .await?;

    let (mut last, mut median) = (Vec::new(), Vec::new());
    for run in 0..plan.runs {
        let key = format!("bench/run{run}");
        let writer = (run * 37 + 5) % n;
        let times = key_set_times(&clients, &key, writer).await?;
        let (m, l) = median_and_last(run, &times, times[writer]);
        median.push(m);
        last.push(l);
    }

    // 100 keys at every agent, written all at once.
    let total = n * KEYS_PER_AGENT + plan.runs;
    let started = tokio::time::Instant::now();
    let wrote = watch::each(&clients, |c| async move {
        for k in 0..KEYS_PER_AGENT {
            let args =
                serde_json::json!({"op": "set", "key": format!("bulk/{k:03}"), "value": "x".repeat(40)});
            c.command("kv", &args.to_string()).await.ok()?;
        }
        Some(())
    })
    .await;
    if wrote.iter().any(Option::is_none) {
        bail!("an agent refused a write");
    }
    let written = started.elapsed();
    until_every(&clients, "kv", "every agent holds every key", STEP_TIMEOUT, |v| {
        v["keys"] == total as u64
    })
    .await?;
    let converged = started.elapsed() - written;
    esay!(
        "  {} keys written in {:.1} s, everywhere {:.2} s after the last",
        n * KEYS_PER_AGENT,
        written.as_secs_f64(),
        converged.as_secs_f64()
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    let window = Duration::from_secs(5);
    let before = metric_sum(&clients, &SENT).await[0];
    tokio::time::sleep(window).await;
    let after = metric_sum(&clients, &SENT).await[0];
    let idle = (after - before) / window.as_secs_f64() / n as f64;
    esay!("  idle: {idle:.0} B/s per agent");

    Ok(vec![
        Row::new(GROUP, format!("a new key → all {n} agents"), "s", last)
            .at_most(0.35, "≤ 0.35 s; chitchat 0.31 s, Serf 0.63 s (a datum)"),
        Row::new(GROUP, format!("a new key → median of {n} agents"), "s", median),
        Row::new(
            GROUP,
            format!(
                "{} keys ({KEYS_PER_AGENT} per agent) → every agent holds all, from the last write",
                n * KEYS_PER_AGENT
            ),
            "s",
            vec![converged.as_secs_f64()],
        ),
        Row::new(
            GROUP,
            format!("idle kv gossip per agent ({n} agents, {total} keys)"),
            "B/s",
            vec![idle],
        ),
    ])
}

/// Writes `key` at agent `writer` and returns when each agent's `key.set` event for
/// it happened (its clock, ms), in the order of `clients`.
async fn key_set_times(clients: &[ApiClient], key: &str, writer: usize) -> Result<Vec<u64>> {
    let query = EventQuery {
        module: Some("kv".into()),
        kinds: vec!["key.set".into()],
        after: None,
    };
    let mut subs = Vec::new();
    for c in clients {
        subs.push(c.events(&query).await?);
    }
    let args = serde_json::json!({"op": "set", "key": key, "value": "here"}).to_string();
    clients[writer].command("kv", &args).await?;
    let mut set = tokio::task::JoinSet::new();
    for (i, mut sub) in subs.into_iter().enumerate() {
        let key = key.to_string();
        set.spawn(async move {
            let wait = async {
                while let Some(Ok(record)) = sub.next().await {
                    if record["data"]["key"] == key.as_str() {
                        return record["time_ms"].as_u64();
                    }
                }
                None
            };
            (i, tokio::time::timeout(STEP_TIMEOUT, wait).await.ok().flatten())
        });
    }
    let mut times = vec![None; clients.len()];
    while let Some(Ok((i, t))) = set.join_next().await {
        times[i] = t;
    }
    let missing = times.iter().filter(|t| t.is_none()).count();
    if missing > 0 {
        bail!("{key} never reached {missing} of {} agents", clients.len());
    }
    Ok(times.into_iter().flatten().collect())
}
