//! `hearsay watch`: polls every listed node until all run one deployment of a
//! module, printing a progress line whenever the count changes. `deploy` and
//! `rollback` use it with `--watch`, the demo and the benchmark too.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use tokio::task::JoinSet;

use hearsay_client::{ApiClient, DeploymentInfo, StatusReport};
use hearsay_node::now_ms;

/// Arguments of `hearsay watch`.
#[derive(Args)]
pub struct WatchArgs {
    /// The nodes' API addresses, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    api: Vec<String>,
    /// The module.
    module: String,
    /// The deployment number to wait for (TIME_MS@ORIGIN, as deploy prints it).
    #[arg(long)]
    deployment: String,
    #[command(flatten)]
    opts: WatchOpts,
}

/// How to watch a deployment spread (shared by deploy and rollback).
#[derive(Args, Clone)]
pub struct WatchOpts {
    /// What to call the code in progress lines (e.g. v1) [default: its short hash].
    #[arg(long)]
    pub label: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_s: u64,
    /// Poll every this many ms.
    #[arg(long, default_value_t = 100)]
    pub poll_ms: u64,
}

/// A deployment to wait for.
pub struct Target {
    /// The module.
    pub module: String,
    /// Its deployment number.
    pub number: String,
    /// Its label in progress lines.
    pub label: String,
    /// When it was made (the number's time), for `t=`.
    pub time_ms: u64,
}

impl Target {
    pub fn of(d: &DeploymentInfo, label: Option<String>) -> Target {
        let short = d.version.as_deref().map_or("stopped".to_string(), short_version);
        Target {
            module: d.module.clone(),
            number: d.number.clone(),
            label: label.unwrap_or(short),
            time_ms: d.time_ms,
        }
    }
}

pub fn run(args: WatchArgs) -> Result<()> {
    let clients = clients(&args.api)?;
    let time_ms = args
        .deployment
        .split_once('@')
        .and_then(|(t, _)| t.parse().ok())
        .unwrap_or_else(now_ms);
    let target = Target {
        module: args.module,
        label: args
            .opts
            .label
            .clone()
            .unwrap_or_else(|| format!("d{}", args.deployment)),
        number: args.deployment,
        time_ms,
    };
    crate::block_on(async move {
        converge(&clients, &target, &args.opts).await?;
        Ok(())
    })
}

pub fn clients(apis: &[String]) -> Result<Vec<ApiClient>> {
    Ok(apis.iter().map(|a| ApiClient::new(a)).collect::<Result<_, _>>()?)
}

/// Asks every node at once: `ask(client)` for each, the answers in the order of
/// `clients` (None where a node gave none).
pub async fn each<T, F>(clients: &[ApiClient], ask: impl Fn(ApiClient) -> F) -> Vec<Option<T>>
where
    F: Future<Output = Option<T>> + Send + 'static,
    T: Send + 'static,
{
    let mut set = JoinSet::new();
    for (i, c) in clients.iter().enumerate() {
        let answer = ask(c.clone());
        set.spawn(async move { (i, answer.await) });
    }
    let mut out: Vec<Option<T>> = (0..clients.len()).map(|_| None).collect();
    while let Some(Ok((i, answer))) = set.join_next().await {
        out[i] = answer;
    }
    out
}

/// Every node's status (None: unreachable), in the order of `clients`.
pub async fn poll(clients: &[ApiClient]) -> Vec<Option<StatusReport>> {
    each(clients, |c| async move { c.status().await.ok() }).await
}

/// Waits until every node runs the target; returns the last statuses.
pub async fn converge(
    clients: &[ApiClient],
    target: &Target,
    opts: &WatchOpts,
) -> Result<Vec<Option<StatusReport>>> {
    let deadline = Instant::now() + Duration::from_secs(opts.timeout_s);
    let short = short_number(&target.number);
    let mut last = None;
    loop {
        let statuses = poll(clients).await;
        let running = statuses
            .iter()
            .flatten()
            .filter(|s| s.module(&target.module).is_some_and(|m| m.runs(&target.number)))
            .count();
        let unreachable = statuses.iter().filter(|s| s.is_none()).count();
        if last != Some((running, unreachable)) {
            last = Some((running, unreachable));
            let t = now_ms().saturating_sub(target.time_ms) as f64 / 1000.0;
            let away = if unreachable > 0 {
                format!(", {unreachable} unreachable")
            } else {
                String::new()
            };
            say!(
                "[t={t:.1}s] {running}/{} nodes run {} ({short}){away}",
                clients.len(),
                target.label
            );
        }
        if running == clients.len() {
            return Ok(statuses);
        }
        if Instant::now() >= deadline {
            bail!(
                "only {running} of {} nodes run {} after {} s",
                clients.len(),
                target.label,
                opts.timeout_s
            );
        }
        tokio::time::sleep(Duration::from_millis(opts.poll_ms)).await;
    }
}

/// `v1a2b3c4d5e6f`: a code version's first 12 hex digits.
pub fn short_version(version: &str) -> String {
    format!("v{}", version.get(..12).unwrap_or(version))
}

/// `d1732623400123@9f3e2a…` for progress lines.
pub fn short_number(number: &str) -> String {
    match number.split_once('@') {
        Some((t, origin)) => format!("d{t}@{}…", origin.get(..6).unwrap_or(origin)),
        None => format!("d{number}"),
    }
}
