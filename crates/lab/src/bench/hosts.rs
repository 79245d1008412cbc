//! Real agents on hosts of their own: every agent in a network namespace with its own
//! address, routed through the machine's namespace (`hearsay_cli::netns`), each sending with 20 ms
//! ± 5 ms of delay and 1% loss (the agents' `--gossip-delay-ms`, `--gossip-jitter-ms`,
//! `--gossip-loss`: this kernel has no netem). Measured there: membership deployed to
//! the whole cluster and every view full, a new version at all, false removals while
//! every agent lives (polled), what the agents cost when nobody asks them anything
//! (`idle_window`), a killed agent suspected and removed by all (timed from the
//! survivors' own events: `heard`). Needs root; skipped with a message without it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::agents::{clients_except, layout, quiet, Versions};
use super::heard::Heard;
use super::idle_window::{idle, IDLE};
use super::poll::{all_running, pause, until_views, views};
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
/// Longest wait for a crash to be suspected, then removed, by all.
const CRASH_TIMEOUT: Duration = Duration::from_secs(180);

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
    // A thousand agents starting membership at once on two cores answer polls late:
    // 180 s, or 0.6 s per agent.
    let timeout = Duration::from_secs((n as u64 * 3 / 5).max(180));
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
    let first = all_running(&clients, &d, timeout).await?.last;
    esay!("  membership at all {n} in {first:.2} s");
    let full = until_views(&clients, d.time_ms, timeout, "full views", |v| v.live == n as u64).await?;
    esay!("  every view full {full:.2} s after the deploy");

    // New versions, each from another agent.
    let mut updates = vec![];
    for run in 0..plan.runs {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let d = clients[(run * 7 + 1) % n]
            .deploy("membership", &versions.next(), params.clone())
            .await?;
        let last = all_running(&clients, &d, timeout).await?.last;
        esay!("  update {}: at all {n} in {last:.2} s", run + 1);
        updates.push(last);
    }

    // Everyone alive: any removal is a false one.
    let watch = Duration::from_secs(plan.hosts_watch_s);
    let q = quiet(&clients, watch, pause(n).max(Duration::from_secs(1))).await;
    let views = views(&clients).await;
    esay!(
        "  {} false removals in {} s; at most {} suspicions at once; local health penalty \
         then at most {}, above 0 at {} of the {} agents answering",
        q.false_removals,
        plan.hosts_watch_s,
        q.max_suspected,
        views.iter().flatten().map(|v| v.penalty).max().unwrap_or(0),
        views.iter().flatten().filter(|v| v.penalty > 0).count(),
        views.iter().flatten().count()
    );
    let idle = idle(&cluster, &clients).await;
    esay!(
        "  idle, not polled: {:.2} % CPU and {:.2} envelopes/s per agent; load average {}; \
         membership messages sent per agent per second by kind: {} ({} agents answered)",
        idle.cpu_percent,
        idle.envelopes_per_s,
        idle.load,
        idle.kinds,
        idle.answered
    );

    // Crashes are heard, not polled: what each survivor said and when (see `heard`).
    let mut heard = Heard::listen(&clients, &["member.suspected", "member.failed"]).await;
    let removals = crashes(&mut cluster, &mut heard, plan.runs).await?;
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
            vec![first],
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
            format!("idle CPU per agent, not polled for {} s, {on}", IDLE.as_secs()),
            "%",
            vec![idle.cpu_percent],
        )
        .at_most(0.3, "≤ 0.3 % (the agents group's target, on loopback)"),
    );
    rows.push(Row::new(
        GROUP,
        "envelopes sent per agent per second then (module and core)",
        "/s",
        vec![idle.envelopes_per_s],
    ));
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

/// Seconds from `from_ms` to `to_ms` (both this host's clock).
fn seconds(from_ms: u64, to_ms: u64) -> f64 {
    to_ms.saturating_sub(from_ms) as f64 / 1000.0
}

/// Kills agents one at a time from the last (never a rendezvous node), each once the
/// previous is removed by all: seconds until every survivor said it suspected (or
/// removed) it and until every survivor said it removed it, from their events.
async fn crashes(cluster: &mut Cluster, heard: &mut Heard, runs: usize) -> Result<Vec<f64>> {
    let n = cluster.agents.len();
    let mut dead = vec![];
    let mut removals = vec![];
    for run in 0..runs.min(n / 2) {
        let victim = n - 1 - run;
        let addr = cluster.agents[victim].gossip.to_string();
        let t0 = hearsay_node::now_ms();
        cluster.kill9(victim);
        heard.forget(victim);
        dead.push(victim);
        let survivors: Vec<usize> = (0..n).filter(|i| !dead.contains(i)).collect();
        let (suspected, failed) = (
            format!("member.suspected {addr}"),
            format!("member.failed {addr}"),
        );
        let suspect = heard
            .until_all(&survivors, &[suspected, failed.clone()], CRASH_TIMEOUT)
            .await?;
        let removal = heard.until_all(&survivors, &[failed], CRASH_TIMEOUT).await?;
        let last = |t: &[u64]| t.iter().max().map_or(0.0, |t| seconds(t0, *t));
        esay!(
            "  crash {}: suspected by all {:.2} s, removed by all {:.2} s",
            run + 1,
            last(&suspect),
            last(&removal)
        );
        removals.push(last(&removal));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(removals)
}
