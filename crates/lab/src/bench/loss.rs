//! Membership under 10% loss with real agents (`--gossip-loss 0.1`: each agent drops
//! a tenth of its outgoing gossip batches): false removals while every node is alive,
//! then crashes and the time until every survivor removes the dead node.

use std::time::Duration;

use anyhow::{Context, Result};

use super::agents::{clients_except, crashes, layout, quiet, Versions};
use super::poll::{all_running, until_views};
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
    let q = quiet(
        &clients,
        Duration::from_secs(plan.loss_watch_s),
        Duration::from_millis(500),
    )
    .await;
    let (false_removals, max_suspected) = (q.false_removals, q.max_suspected);
    let rounds = plan.loss_watch_s * 1000 / plan.interval_ms;
    esay!("  {false_removals} false removals in {rounds} rounds; at most {max_suspected} suspicions at once");
    if q.unanswered > 0 {
        esay!("  ({} view polls unanswered)", q.unanswered);
    }

    // Crashes under loss.
    let times = crashes(&mut cluster, plan.runs).await?;
    let suspects = times.iter().map(|t| t.0).collect();
    let removals = times.iter().map(|t| t.1).collect();
    let mut rows = q.rows(GROUP, format!("{n} agents × {rounds} rounds at 10% loss"));
    rows.extend([
        Row::new(GROUP, "a killed agent suspected by all, 10% loss", "s", suspects),
        Row::new(GROUP, "a killed agent removed by all, 10% loss", "s", removals)
            .at_most(2.0, "≤ 2 s; Serf 10.6 s, chitchat 2.9 s (no loss)"),
    ]);
    Ok(rows)
}
