//! Membership under 10% loss with real agents (`--gossip-loss 0.1`: each agent drops
//! a tenth of its outgoing gossip batches): false removals while every node is alive,
//! then crashes and the time until every survivor removes the dead node.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hearsay_node::now_ms;

use super::agents::{clients_except, crash_times, layout, Versions};
use super::poll::{all_running, until_views, views};
use super::report::Row;
use super::Plan;
use crate::procs::Cluster;

const GROUP: &str = "loss";
const LOSS: f64 = 0.1;

pub async fn rows(plan: &Plan) -> Result<Vec<Row>> {
    let n = plan.big();
    esay!("loss: {n} agents dropping {:.0}% of their gossip…", LOSS * 100.0);
    let args = vec!["--gossip-loss".to_string(), LOSS.to_string()];
    let mut cluster = Cluster::start(&layout(plan, n, args), None)
        .await
        .with_context(|| format!("starting {n} lossy agents"))?;
    let clients = clients_except(&cluster, &[])?;
    let timeout = Duration::from_secs(120);
    let d = clients[0]
        .deploy("membership", &Versions::new().next(), None)
        .await?;
    all_running(&clients, &d, timeout).await?;
    until_views(&clients, d.time_ms, timeout, "full views under loss", |v| {
        v.live == n as u64
    })
    .await?;

    // Everyone alive: any removal is a false one.
    let removed = |vs: &[Option<super::poll::View>]| vs.iter().flatten().map(|v| v.removed).sum::<u64>();
    let start_removed = removed(&views(&clients).await);
    let (mut max_suspected, mut unanswered) = (0u64, 0usize);
    let watch = Duration::from_secs(plan.loss_watch_s);
    let started = Instant::now();
    while started.elapsed() < watch {
        let vs = views(&clients).await;
        unanswered += vs.iter().filter(|v| v.is_none()).count();
        max_suspected = max_suspected.max(vs.iter().flatten().map(|v| v.suspected).sum());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let false_removals = removed(&views(&clients).await) - start_removed;
    let rounds = plan.loss_watch_s * 1000 / plan.interval_ms;
    esay!("  {false_removals} false removals in {rounds} rounds; at most {max_suspected} suspicions at once");
    if unanswered > 0 {
        esay!("  ({unanswered} view polls unanswered)");
    }

    // Crashes under loss: kill non-rendezvous agents one at a time.
    let mut dead = Vec::new();
    let (mut suspects, mut removals) = (vec![], vec![]);
    for run in 0..plan.runs.min(n / 2) {
        let victim = n - 1 - run;
        let alive_before = n - dead.len();
        let t0 = now_ms();
        cluster.kill9(victim);
        dead.push(victim);
        let survivors = clients_except(&cluster, &dead)?;
        let (suspect, removal) = crash_times(&survivors, alive_before - 1, t0).await?;
        esay!(
            "  run {}: crash suspected {suspect:.2} s, removed {removal:.2} s",
            run + 1
        );
        suspects.push(suspect);
        removals.push(removal);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(vec![
        Row::new(
            GROUP,
            format!("false removals, {n} agents × {rounds} rounds at 10% loss"),
            "count",
            vec![false_removals as f64],
        )
        .at_most(0.0, "none"),
        Row::new(
            GROUP,
            "most suspicions at once during that time (all nodes)",
            "count",
            vec![max_suspected as f64],
        ),
        Row::new(GROUP, "a killed agent suspected by all, 10% loss", "s", suspects),
        Row::new(GROUP, "a killed agent removed by all, 10% loss", "s", removals)
            .at_most(2.0, "≤ 2 s; Serf 10.6 s, chitchat 2.9 s (no loss)"),
    ])
}
