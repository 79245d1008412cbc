//! The aggregate rows: the aggregate module on the largest agent cluster, its agents
//! in a 3-level hierarchy of zones (`/zA/zB`, 4 zones per level). Joining: from the
//! deployment until every agent's root aggregate counts them all. Each run sets a new
//! highest `load` at one agent and polls every agent's root aggregate (all at once,
//! every 50 ms) until each shows it: the median and the last agent. Then a new
//! version of the module is deployed and agent 0's root aggregate — what its map at
//! `/ui` shows — is polled until it counts every agent on the new version, beside
//! when the last agent ran it (its status). Then idle bytes per agent per second.

use std::time::Duration;

use anyhow::{bail, Result};

use super::agents::layout;
use super::poll::{all_running, metric_sum, until_every};
use super::report::Row;
use super::Plan;
use crate::fixtures::{variant, AGGREGATE};
use crate::procs::Cluster;
use crate::watch;

const GROUP: &str = "aggregate";
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);
const SENT: [&str; 1] = ["hearsay_module_sent_bytes_total{module=\"aggregate\"}"];
const PARAMS: &str = r#"{"aggregates":{"nodes":"count()","max_load":"max(load)","modules":"distinct(modules)","roster":"list(32, modules)"}}"#;

/// Agent `i`'s zone label.
fn zone(i: usize) -> Vec<String> {
    vec![
        "--label".to_string(),
        format!("zone=/z{}/z{}", i % 4, (i / 4) % 4),
    ]
}

fn roots(answers: &[Option<serde_json::Value>]) -> Vec<Option<serde_json::Value>> {
    answers
        .iter()
        .map(|a| a.as_ref().map(|v| v["root"].clone()))
        .collect()
}

pub async fn rows(plan: &Plan) -> Result<Vec<Row>> {
    let n = plan.big();
    esay!("aggregate: {n} agents in 3 levels of zones…");
    let mut l = layout(plan, n, Vec::new());
    l.agent_args = Some(zone);
    let cluster = Cluster::start(&l, None).await?;
    let clients = watch::clients(&cluster.apis())?;
    let params: serde_json::Value = serde_json::from_str(PARAMS)?;
    let started = tokio::time::Instant::now();
    let d = clients[0]
        .deploy("aggregate", AGGREGATE, Some(params.clone()))
        .await?;
    all_running(&clients, &d, STEP_TIMEOUT).await?;
    until_every(
        &clients,
        "aggregate",
        "every agent counts all",
        STEP_TIMEOUT,
        |v| v["root"]["nodes"] == n as u64,
    )
    .await?;
    let joined = started.elapsed().as_secs_f64();
    esay!("  every agent counts {n}: {joined:.2} s after the deployment");

    let (mut last, mut median) = (Vec::new(), Vec::new());
    for run in 0..plan.runs {
        let load = 100.0 + run as f64;
        let at = (run * 37 + 5) % n;
        let t0 = tokio::time::Instant::now();
        clients[at]
            .command("aggregate", &format!("set load {load}"))
            .await?;
        let mut seen: Vec<Option<f64>> = vec![None; n];
        while seen.iter().any(Option::is_none) {
            if t0.elapsed() > STEP_TIMEOUT {
                bail!("a changed load never reached every root aggregate");
            }
            let answers = super::poll::summaries(&clients, "aggregate").await;
            let at = t0.elapsed().as_secs_f64();
            for (i, root) in roots(&answers).into_iter().enumerate() {
                if seen[i].is_none() && root.is_some_and(|r| r["max_load"].as_f64() == Some(load)) {
                    seen[i] = Some(at);
                }
            }
            tokio::time::sleep(POLL).await;
        }
        let mut times: Vec<f64> = seen.into_iter().flatten().collect();
        times.sort_by(f64::total_cmp);
        esay!(
            "  run {}: median {:.3} s, last {:.3} s",
            run + 1,
            times[n / 2],
            times[n - 1]
        );
        median.push(times[n / 2]);
        last.push(times[n - 1]);
    }

    // A new version: when the last agent runs it, and when agent 0's map shows it.
    let (mut running, mut mapped) = (Vec::new(), Vec::new());
    for run in 0..plan.runs {
        let code = variant(AGGREGATE, &format!("hearsay-bench-aggregate-{run}"));
        let short = hearsay_core::CodeVersion::of(&code).to_hex()[..12].to_string();
        let t0 = tokio::time::Instant::now();
        let d = clients[(run * 13 + 3) % n]
            .deploy("aggregate", &code, Some(params.clone()))
            .await?;
        let spread = all_running(&clients, &d, STEP_TIMEOUT).await?;
        let want = format!("aggregate:{short}");
        let all = n as u64;
        loop {
            let root = clients[0]
                .query("aggregate", "")
                .await
                .ok()
                .map(|v| v["root"].clone());
            if root.is_some_and(|r| r["modules"][want.as_str()] == all) {
                break;
            }
            if t0.elapsed() > STEP_TIMEOUT {
                bail!("agent 0's map never showed every agent on the new version");
            }
            tokio::time::sleep(POLL).await;
        }
        let shown = t0.elapsed().as_secs_f64();
        let ran = spread.last;
        esay!(
            "  version {}: all running {ran:.2} s, on agent 0's map {shown:.2} s",
            run + 1
        );
        running.push(ran);
        mapped.push(shown);
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    let window = Duration::from_secs(5);
    let before = metric_sum(&clients, &SENT).await[0];
    tokio::time::sleep(window).await;
    let after = metric_sum(&clients, &SENT).await[0];
    let idle = (after - before) / window.as_secs_f64() / n as f64;
    esay!("  idle: {idle:.0} B/s per agent");
    drop(cluster);

    Ok(vec![
        Row::new(
            GROUP,
            format!("deploy → every root aggregate counts all {n}"),
            "s",
            vec![joined],
        ),
        Row::new(
            GROUP,
            format!("a changed attribute → root aggregate, median of {n}"),
            "s",
            median,
        )
        .at_most(2.0, "≤ 2 s (issue 16)"),
        Row::new(
            GROUP,
            format!("a changed attribute → root aggregate, all {n}"),
            "s",
            last,
        ),
        Row::new(GROUP, format!("a new version → all {n} running"), "s", running),
        Row::new(
            GROUP,
            format!("a new version → all {n} on one agent's map"),
            "s",
            mapped,
        ),
        Row::new(
            GROUP,
            format!("idle aggregate gossip per agent ({n} agents)"),
            "B/s",
            vec![idle],
        ),
    ])
}
