//! The publish/subscribe rows: the broadcast module on the largest agent cluster, every
//! agent a subscriber of one topic. Each run publishes one message at another agent
//! and reads, from each agent's `seen ID` query, when it was delivered there (the
//! agents share this host's clock, so no polling delay enters the figure): the
//! median and the last subscriber, against the publisher's own delivery. The bytes
//! the cluster sends per message are read from the agents' counters over a burst of
//! messages, less the same window idle; the payload copies from the module's own
//! count. Then the simulator runs the module's own code at 1,000 nodes (500 with
//! `--quick`) through the four phases of
//! `hearsay sim pubsub`, one seed: the papers' reach, redundancy and last-hop figures.

use std::time::Duration;

use anyhow::{bail, Result};
use hearsay_client::ApiClient;

use super::agents::start_running;
use super::poll::{median_and_last, until_every};
use super::report::Row;
use super::Plan;
use crate::fixtures::BROADCAST;
use crate::watch;

const GROUP: &str = "pubsub";
const TOPIC: &str = "bench";
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// Messages of the burst the bytes per message are measured over.
const BURST: usize = 20;
/// The broadcast module's bytes and messages sent, summed over agents.
const SENT: [&str; 2] = [
    "hearsay_module_sent_bytes_total{module=\"broadcast\"}",
    "hearsay_module_messages_total{module=\"broadcast\"}",
];

pub async fn rows(plan: &Plan) -> Result<Vec<Row>> {
    let mut rows = agents(plan).await?;
    rows.extend(simulated(plan));
    Ok(rows)
}

/// The simulated rows: one run of the four phases.
fn simulated(plan: &Plan) -> Vec<Row> {
    use hearsay_sim::pubsub::{play, PubsubConfig};
    // 10,000 nodes: --pubsub-sim-nodes 10000, or `hearsay sim pubsub --nodes 10000
    // --messages 10` for the phases' other figures (BENCHMARKS.md has both).
    let n = plan.pubsub_sim_nodes;
    esay!("pubsub: {n} simulated nodes, four phases…");
    let report = play(PubsubConfig {
        sim: hearsay_sim::SimConfig {
            nodes: n,
            seed: 1,
            gossip_interval_ms: plan.interval_ms,
            ..hearsay_sim::SimConfig::default()
        },
        messages: 10,
        ..PubsubConfig::default()
    });
    let mut rows = Vec::new();
    let bound = (n as f64).log2() + 2.0;
    for p in &report.phases {
        esay!("  {p}");
        let floor = if p.what.starts_with("right after") {
            0.99
        } else {
            1.0
        };
        rows.push(
            Row::new(
                GROUP,
                format!("simulated {n}: worst reach of a broadcast, {}", p.what),
                "%",
                vec![p.worst_reach * 100.0],
            )
            .at_least(floor * 100.0, format!("≥ {}%", floor * 100.0)),
        );
        let rmr = Row::new(
            GROUP,
            format!("simulated {n}: relative message redundancy, {}", p.what),
            "ratio",
            vec![p.rmr],
        );
        rows.push(if p.what == "no faults" {
            rmr.at_most(0.1, "≤ 0.1 once the tree is built; flooding ≈ fanout − 1")
        } else {
            rmr
        });
        let hop = Row::new(
            GROUP,
            format!(
                "simulated {n}: last delivery hop, {} (shortest possible {})",
                p.what, p.shortest_last_hop
            ),
            "hops",
            vec![p.last_hop as f64],
        );
        rows.push(if p.what == "no faults" {
            hop.at_most(bound, format!("≤ log2(N) + 2 = {bound:.1}"))
        } else {
            hop
        });
        rows.push(Row::new(
            GROUP,
            format!("simulated {n}: bytes each node sends per round, {}", p.what),
            "B",
            vec![p.bytes_per_node_round],
        ));
    }
    rows
}

/// The real-agent rows.
async fn agents(plan: &Plan) -> Result<Vec<Row>> {
    let n = plan.big();
    esay!("pubsub: {n} agents, the broadcast module, every agent subscribed…");
    let (_cluster, clients) = start_running(plan, n, "broadcast", BROADCAST, None).await?;
    let subscribe = format!("{{\"op\":\"subscribe\",\"topic\":\"{TOPIC}\"}}");
    for c in &clients {
        c.command("broadcast", &subscribe).await?;
    }
    until_every(
        &clients,
        "broadcast",
        &format!("linked in topic {TOPIC}"),
        STEP_TIMEOUT,
        |v| {
            v["topics"][TOPIC]["active"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        },
    )
    .await?;
    // As the simulator's experiment: the overlays settle (announcements wait up to 4 s,
    // new subscriptions look for random peers for 30 s) before steady state is timed.
    tokio::time::sleep(Duration::from_secs(if plan.quick { 5 } else { 35 })).await;
    // The tree forms over the first messages (every link starts eager).
    for k in 0..3 {
        let id = publish(&clients[k * 17 % n], &format!("warm-up {k}")).await?;
        deliveries(&clients, &id).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (mut last, mut median) = (Vec::new(), Vec::new());
    for run in 0..plan.runs {
        let at = &clients[(run * 37 + 5) % n];
        let (m, l) = timed(&clients, at, run, &format!("run {run}")).await?;
        median.push(m);
        last.push(l);
    }
    // One agent publishing again and again: its messages take a tree of its own
    // (its second builds it, by a flood; the next shorten it).
    esay!("pubsub: one repeat publisher…");
    let repeat = &clients[7 % n];
    for k in 0..3 {
        let id = publish(repeat, &format!("repeat warm-up {k}")).await?;
        deliveries(&clients, &id).await?;
    }
    let mut own_last = Vec::new();
    for run in 0..plan.runs {
        own_last.push(timed(&clients, repeat, run, &format!("repeat {run}")).await?.1);
    }
    // Bytes: a burst of messages against the same window idle (heartbeats, shuffles
    // and digests make the idle traffic; one message is lost in its noise).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let window_s = 4.0;
    let idle = sent_over(&clients, window_s, || async { Ok(()) }).await?;
    let copies_before = payloads_sent(&clients).await;
    let busy = sent_over(&clients, window_s, || async {
        for k in 0..BURST {
            publish(&clients[(k * 13 + 3) % n], &format!("burst {k:04}")).await?;
        }
        Ok(())
    })
    .await?;
    let copies = (payloads_sent(&clients).await - copies_before) / BURST as f64;
    let per_message = (busy[0] - idle[0]).max(0.0) / BURST as f64;
    esay!("  {BURST} messages: {per_message:.0} B and {copies:.1} payload copies each");
    Ok(vec![
        Row::new(GROUP, format!("publish → all {n} subscribers"), "s", last).at_most(
            0.15,
            "≤ 0.15 s; chitchat 0.31 s (a key), Serf 0.66 s (a user event)",
        ),
        Row::new(GROUP, format!("publish → median of {n} subscribers"), "s", median),
        Row::new(
            GROUP,
            format!("publish → all {n} subscribers, a repeat publisher (its own tree)"),
            "s",
            own_last,
        )
        .at_most(0.15, "≤ 0.15 s"),
        Row::new(
            GROUP,
            format!("bytes the {n} agents send per message published (a burst of {BURST}, above idle; 10-byte messages)"),
            "B",
            vec![per_message],
        ),
        Row::new(
            GROUP,
            format!("payload copies sent per message ({} needed)", n - 1),
            "count",
            vec![copies],
        ),
        Row::new(
            GROUP,
            format!("idle broadcast gossip per agent ({n} subscribers, one topic)"),
            "B/s",
            vec![idle[0] / window_s / n as f64],
        ),
    ])
}

/// Publishes `text` at `at` and waits for every delivery; the median and last
/// delivery time after the first (the publisher's own).
async fn timed(clients: &[ApiClient], at: &ApiClient, run: usize, text: &str) -> Result<(f64, f64)> {
    let id = publish(at, text).await?;
    let times = deliveries(clients, &id).await?;
    let origin = *times.iter().min().expect("n ≥ 3");
    Ok(median_and_last(run, &times, origin))
}

/// Publishes `text` on the topic at `c`; the message's id.
async fn publish(c: &ApiClient, text: &str) -> Result<String> {
    let args = serde_json::json!({"op": "publish", "topic": TOPIC, "message": text}).to_string();
    let answer = c.command("broadcast", &args).await?;
    match answer["id"].as_str() {
        Some(id) => Ok(id.to_string()),
        None => bail!("publish answered {answer}"),
    }
}

/// Payload messages the broadcast module sent, summed over agents.
async fn payloads_sent(clients: &[ApiClient]) -> f64 {
    let answers = watch::each(clients, |c| async move { c.query("broadcast", "").await.ok() }).await;
    answers
        .iter()
        .flatten()
        .filter_map(|v| v["payloads_sent"].as_f64())
        .sum()
}

/// When each agent delivered message `id` (its clock, ms), once all have.
async fn deliveries(clients: &[ApiClient], id: &str) -> Result<Vec<u64>> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    let args = format!("seen {id}");
    loop {
        let answers = watch::each(clients, |c| {
            let args = args.clone();
            async move { c.query("broadcast", &args).await.ok() }
        })
        .await;
        let times: Vec<u64> = answers
            .iter()
            .flatten()
            .filter_map(|v| v["at_ms"].as_u64())
            .collect();
        if times.len() == clients.len() {
            return Ok(times);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("message {id} reached {} of {} agents", times.len(), clients.len());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The module's bytes and messages sent by all agents over `window_s` seconds,
/// starting with `during`.
async fn sent_over<F, Fut>(clients: &[ApiClient], window_s: f64, during: F) -> Result<Vec<f64>>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let before = super::poll::metric_sum(clients, &SENT).await;
    let started = tokio::time::Instant::now();
    during().await?;
    tokio::time::sleep_until(started + Duration::from_secs_f64(window_s)).await;
    let after = super::poll::metric_sum(clients, &SENT).await;
    if after[1] <= before[1] && after[0] == 0.0 {
        bail!("no broadcast module counters in /metrics ({})", SENT[0]);
    }
    Ok(after.iter().zip(&before).map(|(a, b)| a - b).collect())
}
