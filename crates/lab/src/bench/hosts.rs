//! Real agents on hosts of their own: every agent in a network namespace with its own
//! address, routed through the machine's namespace (`hearsay_cli::netns`), each sending with 20 ms
//! ± 5 ms of delay and 1% loss (the agents' `--gossip-delay-ms`, `--gossip-jitter-ms`,
//! `--gossip-loss`: this kernel has no netem). Measured there: membership deployed to
//! the whole cluster and every view full, a new version at all, false removals while
//! every agent lives, a killed agent removed by all. Needs root; skipped with a
//! message without it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::agents::{clients_except, crashes, layout, quiet, Versions};
use super::poll::{all_running, pause, until_views};
use super::report::Row;
use super::Plan;
use crate::procs::Cluster;
use hearsay_cli::netns::{self, Hosts};

const GROUP: &str = "hosts";
/// Namespaces' tag (addresses 10.200.x.y); tests use others.
const TAG: u8 = 0;
const DELAY_MS: u64 = 20;
const JITTER_MS: u64 = 5;
const LOSS: f64 = 0.01;

pub async fn rows(plan: &Plan) -> Result<Vec<Row>> {
    if let Some(why) = netns::unavailable() {
        esay!("hosts: skipped ({why})");
        return Ok(vec![]);
    }
    let n = plan.big();
    esay!(
        "hosts: {n} agents in {n} network namespaces, {DELAY_MS} ± {JITTER_MS} ms, {}% loss…",
        LOSS * 100.0
    );
    let made = Instant::now();
    Hosts::api_token_in_env()?;
    let hosts = Hosts::create(TAG, n)?;
    esay!("  namespaces made in {:.1} s", made.elapsed().as_secs_f64());
    let mut l = layout(
        plan,
        n,
        vec![
            "--gossip-loss".into(),
            LOSS.to_string(),
            "--gossip-delay-ms".into(),
            DELAY_MS.to_string(),
            "--gossip-jitter-ms".into(),
            JITTER_MS.to_string(),
        ],
    );
    l.hosts = Some(hosts.placement().clone());
    let started = Instant::now();
    let mut cluster = Cluster::start(&l, None)
        .await
        .with_context(|| format!("starting {n} agents in namespaces"))?;
    esay!(
        "  {n} agents answering in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let clients = clients_except(&cluster, &[])?;
    // Agents that have just started find each other through the rendezvous nodes: a
    // burst of backup gossip that keeps a thousand agents on two cores busy for about
    // a minute. The deployment is measured on a cluster that is up, not starting.
    let settle = Duration::from_secs(n as u64 / 10);
    esay!("  letting them settle for {} s", settle.as_secs());
    tokio::time::sleep(settle).await;
    let timeout = Duration::from_secs(180);
    let mut versions = Versions::new();
    // Membership's timeouts are in ms, its defaults for 200 ms rounds: slower rounds
    // (so a thousand agents fit on two cores) scale them.
    let params = (plan.interval_ms != 200).then(|| {
        serde_json::json!({
            "beat_timeout_ms": plan.interval_ms * 9 / 2,
            "remove_after_ms": plan.interval_ms * 15,
            "sync_interval_ms": plan.interval_ms * 5,
            // An update that takes minutes to reach a thousand loaded agents leaves
            // the swapped unable to hear the rest meanwhile (gossip passes within one
            // deployment): 50 rounds of grace, as the default's 10 s at 200 ms.
            "swap_grace_ms": plan.interval_ms * 50,
        })
    });

    // The first deployment: membership reaches every agent, then every view fills.
    let d = clients[0]
        .deploy("membership", &versions.next(), params.clone())
        .await?;
    let first = all_running(&clients, &d, timeout).await?;
    esay!("  membership at all {n} in {:.2} s", first.last);
    let full = until_views(&clients, d.time_ms, timeout, "full views", |v| v.live == n as u64).await?;
    esay!("  every view full {full:.2} s after the deploy");

    // New versions, each from another agent.
    let mut updates = vec![];
    for run in 0..plan.runs {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let d = clients[(run * 7 + 1) % n]
            .deploy("membership", &versions.next(), params.clone())
            .await?;
        let spread = all_running(&clients, &d, timeout).await?;
        esay!("  update {}: at all {n} in {:.2} s", run + 1, spread.last);
        updates.push(spread.last);
    }

    // Everyone alive: any removal is a false one.
    let watch = Duration::from_secs(plan.hosts_watch_s);
    let q = quiet(&clients, watch, pause(n).max(Duration::from_secs(1))).await;
    let (false_removals, max_suspected) = (q.false_removals, q.max_suspected);
    esay!(
        "  {false_removals} false removals in {} s; at most {max_suspected} suspicions at once",
        plan.hosts_watch_s
    );

    let removals = crashes(&mut cluster, plan.runs)
        .await?
        .iter()
        .map(|t| t.1)
        .collect();
    drop(cluster);
    drop(hosts);
    let on = format!(
        "{n} agents on {n} hosts (namespaces), {DELAY_MS} ± {JITTER_MS} ms, 1% loss, {} ms rounds",
        plan.interval_ms
    );
    let mut rows = vec![
        Row::new(
            GROUP,
            format!("membership deployed → running at all, {on}"),
            "s",
            vec![first.last],
        ),
        Row::new(
            GROUP,
            format!("membership deployed → every view full, {on}"),
            "s",
            vec![full],
        ),
        Row::new(GROUP, format!("update → all, {on}"), "s", updates),
    ];
    rows.extend(q.rows(GROUP, format!("{} s, {on}", plan.hosts_watch_s)));
    rows.push(
        Row::new(
            GROUP,
            format!("a killed agent removed by all, {on}"),
            "s",
            removals,
        )
        .at_most(
            2.0 * plan.interval_ms as f64 / 200.0,
            "≤ 2 s at 200 ms rounds, scaled",
        ),
    );
    Ok(rows)
}
