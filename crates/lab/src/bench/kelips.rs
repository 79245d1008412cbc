//! The kelips rows: the kelips module on the largest agent cluster, in about √N
//! affinity groups. Once every view is whole, 1,000 keys are put and, once every
//! replica holds them, 1,000 read from random agents; each request's time runs from the command until its `result` event
//! at the agent that asked (event streams opened before; the agents share this host's
//! clock), with the hops it took. Then the cluster idles and the module's bytes sent
//! per agent per second are read from the agents' counters. Then the simulator runs
//! the module's own code at 2,000 nodes (400 with `--quick`) through the phases of
//! `hearsay sim kelips`: lookups without faults and while 10% of the nodes are
//! replaced per minute.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Result};
use hearsay_client::event_client::EventQuery;
use hearsay_client::ApiClient;
use hearsay_node::now_ms;

use super::agents::start_running;
use super::poll::{metric_sum, summaries, until_all};
use super::report::Row;
use super::Plan;
use crate::fixtures::KELIPS;

const GROUP: &str = "kelips";
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// Keys put, and lookups made, on the real agents.
const KEYS: usize = 1000;
const SENT: [&str; 1] = ["hearsay_module_sent_bytes_total{module=\"kelips\"}"];

pub async fn rows(plan: &Plan) -> Result<Vec<Row>> {
    let n = plan.big();
    let groups = ((n as f64).sqrt().round() as u64).max(1);
    esay!("kelips: {n} agents in {groups} groups, the kelips module…");
    let params = serde_json::json!({ "groups": groups });
    let (_cluster, clients) = start_running(plan, n, "kelips", KELIPS, Some(params)).await?;
    views_whole(&clients).await?;

    let mut walk = 0x6b65_6c69_u64;
    let puts = requests(
        &clients,
        &mut walk,
        |k| serde_json::json!({"op": "put", "key": format!("file/{k}"), "value": format!("at {k}")}),
    )
    .await?;
    let stored = puts.iter().filter(|o| o.status == "stored").count();
    // Reads are eventually consistent: the gets start once every replica of every
    // group holds what was stored.
    replicated(&clients, stored).await?;
    let entries = mean_entries(&clients).await;
    let gets = requests(
        &clients,
        &mut walk,
        |k| serde_json::json!({"op": "get", "key": format!("file/{k}")}),
    )
    .await?;
    let found = gets.iter().filter(|o| o.status == "found").count();
    let hops = gets.iter().map(|o| o.hops as f64).sum::<f64>() / gets.len() as f64;
    let remote: Vec<f64> = gets.iter().filter(|o| o.hops > 0).map(|o| o.ms).collect();
    let (p50, p99) = percentiles(remote);
    esay!(
        "  {stored} of {KEYS} stored, {found} of {KEYS} found, {hops:.2} hops; a remote get {p50:.1} ms median, {p99:.1} ms p99"
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    let window = Duration::from_secs(5);
    let before = metric_sum(&clients, &SENT).await[0];
    tokio::time::sleep(window).await;
    let after = metric_sum(&clients, &SENT).await[0];
    let idle = (after - before) / window.as_secs_f64() / n as f64;
    esay!("  idle: {idle:.0} B/s per agent");

    let mut rows = vec![
        Row::new(
            GROUP,
            format!("{KEYS} puts from random agents ({n} agents): stored"),
            "share",
            vec![stored as f64 / KEYS as f64],
        ),
        Row::new(
            GROUP,
            format!("{KEYS} gets from random agents: found"),
            "share",
            vec![found as f64 / KEYS as f64],
        ),
        Row::new(
            GROUP,
            "a get: mean hops (0: the asker's own group)",
            "hops",
            vec![hops],
        )
        .at_most(1.5, "≤ 1.5"),
        Row::new(GROUP, "a get in another group → outcome, median", "ms", vec![p50]),
        Row::new(GROUP, "a get in another group → outcome, p99", "ms", vec![p99]),
        Row::new(
            GROUP,
            format!("state per agent: members + contacts + tuples ({n} agents)"),
            "entries",
            vec![entries],
        ),
        Row::new(
            GROUP,
            format!("idle kelips gossip per agent ({n} agents)"),
            "B/s",
            vec![idle],
        ),
    ];
    rows.extend(simulated(plan));
    Ok(rows)
}

/// Waits until every agent knows its whole group and a contact in every other
/// occupied group, and has synced its tuples.
async fn views_whole(clients: &[ApiClient]) -> Result<()> {
    until_all(clients, "kelips", "kelips views whole", STEP_TIMEOUT, |views| {
        let mut sizes: BTreeMap<u64, u64> = BTreeMap::new();
        for v in views {
            *sizes.entry(v["group"].as_u64().unwrap_or(0)).or_default() += 1;
        }
        views.iter().all(|v| {
            let size = sizes[&v["group"].as_u64().unwrap_or(0)];
            v["members"].as_u64() == Some(size - 1)
                && v["groups_covered"].as_u64() == Some(sizes.len() as u64 - 1)
                && v["synced"] == true
        })
    })
    .await
}

/// Waits until the members of each group hold the same number of live tuples and
/// the groups hold `keys` in all.
async fn replicated(clients: &[ApiClient], keys: usize) -> Result<()> {
    until_all(
        clients,
        "kelips",
        "kelips replicas agreeing",
        STEP_TIMEOUT,
        |views| {
            let mut groups: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            for v in views {
                let held = v["live_tuples"].as_u64().unwrap_or(0);
                groups
                    .entry(v["group"].as_u64().unwrap_or(0))
                    .or_default()
                    .push(held);
            }
            let agree = groups.values().all(|h| h.iter().all(|x| *x == h[0]));
            let total: u64 = groups.values().map(|h| h[0]).sum();
            agree && total == keys as u64
        },
    )
    .await
}

/// Entries (members + contacts + tuples) per agent, on average.
async fn mean_entries(clients: &[ApiClient]) -> f64 {
    let entries: Vec<u64> = summaries(clients, "kelips")
        .await
        .iter()
        .flatten()
        .map(|v| v["entries"].as_u64().unwrap_or(0))
        .collect();
    entries.iter().sum::<u64>() as f64 / entries.len().max(1) as f64
}

/// A request's outcome as the lab sees it.
struct Outcome {
    status: String,
    hops: u64,
    /// From the command until the outcome (its event, or the command's answer).
    ms: f64,
}

/// Sends `KEYS` requests (`args` of each key) from random agents, and waits for their
/// outcomes.
async fn requests(
    clients: &[ApiClient],
    walk: &mut u64,
    args: impl Fn(usize) -> serde_json::Value,
) -> Result<Vec<Outcome>> {
    let query = EventQuery {
        module: Some("kelips".into()),
        kinds: vec!["result".into()],
        after: None,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut readers = tokio::task::JoinSet::new();
    for (i, c) in clients.iter().enumerate() {
        let mut sub = c.events(&query).await?;
        let tx = tx.clone();
        readers.spawn(async move {
            while let Some(Ok(record)) = sub.next().await {
                if tx.send((i, record)).is_err() {
                    return;
                }
            }
        });
    }
    let mut outcomes = Vec::new();
    let mut pending: BTreeMap<(usize, u64), u64> = BTreeMap::new();
    for k in 0..KEYS {
        *walk = walk
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let at = (*walk >> 33) as usize % clients.len();
        let sent = now_ms();
        let answer = clients[at].command("kelips", &args(k).to_string()).await?;
        let id = answer["id"].as_u64().unwrap_or(0);
        if answer["done"] == true {
            outcomes.push(outcome(&answer, (now_ms() - sent) as f64));
        } else {
            pending.insert((at, id), sent);
        }
    }
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    while !pending.is_empty() {
        let next = tokio::time::timeout_at(deadline, rx.recv()).await;
        let (i, record) = match next {
            Ok(Some(r)) => r,
            _ => bail!("{} requests without an outcome", pending.len()),
        };
        let data = &record["data"];
        if let Some(sent) = pending.remove(&(i, data["id"].as_u64().unwrap_or(0))) {
            let at = record["time_ms"].as_u64().unwrap_or(sent);
            outcomes.push(outcome(data, at.saturating_sub(sent) as f64));
        }
    }
    readers.abort_all();
    Ok(outcomes)
}

fn outcome(v: &serde_json::Value, ms: f64) -> Outcome {
    Outcome {
        status: v["status"].as_str().unwrap_or("").to_string(),
        hops: v["hops"].as_u64().unwrap_or(0),
        ms,
    }
}

/// The median and the 99th percentile.
fn percentiles(mut xs: Vec<f64>) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    xs.sort_by(f64::total_cmp);
    let at = |q: f64| xs[((xs.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// The simulated rows: one run of `hearsay sim kelips`' phases.
fn simulated(plan: &Plan) -> Vec<Row> {
    use hearsay_sim::kelips::{play, KelipsConfig};
    // 10,000 nodes: `hearsay sim kelips --nodes 10000` (BENCHMARKS.md has its figures).
    let n = if plan.quick { 400 } else { 2_000 };
    esay!("kelips: {n} simulated nodes…");
    let report = play(KelipsConfig {
        sim: hearsay_sim::SimConfig {
            nodes: n,
            seed: 1,
            ..hearsay_sim::SimConfig::default()
        },
        ..KelipsConfig::default()
    });
    let mut rows = vec![Row::new(
        GROUP,
        format!("simulated {n} ({} groups): entries per node", report.groups),
        "entries",
        vec![report.state.entries],
    )];
    for p in &report.phases {
        rows.push(
            Row::new(
                GROUP,
                format!("simulated {n}: lookups found, {}", p.what),
                "share",
                vec![p.success],
            )
            .at_least(0.999, "≥ 99.9%"),
        );
        rows.push(
            Row::new(
                GROUP,
                format!("simulated {n}: mean hops, {}", p.what),
                "hops",
                vec![p.mean_hops],
            )
            .at_most(1.5, "≤ 1.5"),
        );
    }
    rows
}
