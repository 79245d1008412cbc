//! `hearsay bench cluster`: N local agents (real processes), then three deployments
//! of the membership module — a cold first deploy (no module runs yet, so only the
//! core's backup gossip carries it), an update v1→v2 and a rollback (both carried by
//! the running module's own gossip) — timed from the deployment number's time to the
//! moment each node adopted it and ran it; plus the time until every membership view
//! holds all N nodes, and resident memory per agent.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde::Serialize;

use hearsay_node::{now_ms, ApiClient, DeploymentInfo, StatusReport};

use crate::modules::{variant, MEMBERSHIP};
use crate::procs::{rss_kib, Cluster, Layout};
use crate::watch::{self, Target, WatchOpts};

/// Arguments of `hearsay bench`.
#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(Subcommand)]
enum BenchWhat {
    /// Time deployments spreading through N local agents; measure their memory.
    Cluster(ClusterBench),
}

#[derive(Args)]
struct ClusterBench {
    /// Number of agents.
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// Module gossip interval in ms (one round).
    #[arg(long, default_value_t = 200)]
    interval_ms: u64,
    /// Backup gossip interval in ms.
    #[arg(long, default_value_t = 1000)]
    backup_interval_ms: u64,
    /// Rendezvous nodes.
    #[arg(long, default_value_t = 3)]
    rendezvous: usize,
    /// Agent i uses ports P+2i and P+2i+1.
    #[arg(long, default_value_t = 20000)]
    port_base: u16,
    /// Give up on a step after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_s: u64,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Step {
    step: String,
    adopted_median_s: f64,
    adopted_max_s: f64,
    running_median_s: f64,
    running_max_s: f64,
    running_max_rounds: f64,
}

#[derive(Serialize)]
struct Report {
    nodes: usize,
    interval_ms: u64,
    startup_s: f64,
    steps: Vec<Step>,
    membership_full_view_s: f64,
    rss_mib: [f64; 3],
    private_rss_mib: [f64; 3],
}

pub fn run(args: BenchArgs) -> Result<()> {
    let BenchWhat::Cluster(args) = args.what;
    if args.nodes < 2 || args.nodes > 1000 {
        bail!("--nodes must be between 2 and 1000");
    }
    crate::block_on(bench(args))
}

async fn bench(args: ClusterBench) -> Result<()> {
    let layout = Layout {
        nodes: args.nodes,
        rendezvous: args.rendezvous,
        port_base: args.port_base,
        interval_ms: args.interval_ms,
        backup_interval_ms: args.backup_interval_ms,
        tls: false,
    };
    let started = Instant::now();
    esay!("starting {} agents…", args.nodes);
    let cluster = Cluster::start(&layout, None).await?;
    let startup_s = started.elapsed().as_secs_f64();
    let clients = watch::clients(&cluster.apis())?;
    let opts = WatchOpts {
        label: None,
        timeout_s: args.timeout_s,
        poll_ms: 250,
    };
    let n = args.nodes;
    let mut steps = Vec::new();

    let d1 = clients[0].deploy("membership", MEMBERSHIP, None).await?;
    steps.push(
        measure(
            "deploy v1 (cold: backup gossip)",
            &clients,
            &d1,
            "v1",
            &opts,
            args.interval_ms,
        )
        .await?,
    );
    let full_view_s = full_view(&clients, n, args.timeout_s).await?;
    let v2 = variant(MEMBERSHIP, "hearsay-bench-v2");
    let d2 = clients[n / 2].deploy("membership", &v2, None).await?;
    steps.push(measure("update v1 -> v2", &clients, &d2, "v2", &opts, args.interval_ms).await?);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let d3 = clients[n - 1].rollback("membership", None).await?;
    steps.push(measure("rollback v2 -> v1", &clients, &d3, "v1", &opts, args.interval_ms).await?);

    let mut rss = Vec::new();
    let mut private = Vec::new();
    for a in &cluster.agents {
        if let Some((total, anon)) = rss_kib(a.child.id()) {
            rss.push(total as f64 / 1024.0);
            private.push(anon as f64 / 1024.0);
        }
    }
    let report = Report {
        nodes: n,
        interval_ms: args.interval_ms,
        startup_s,
        steps,
        membership_full_view_s: full_view_s,
        rss_mib: spread(&mut rss),
        private_rss_mib: spread(&mut private),
    };
    drop(cluster);
    if args.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// Waits until every node runs `d`, then reads when each adopted and started it.
async fn measure(
    name: &str,
    clients: &[ApiClient],
    d: &DeploymentInfo,
    label: &str,
    opts: &WatchOpts,
    interval_ms: u64,
) -> Result<Step> {
    esay!("{name}: deployment {}", d.number);
    let statuses = watch::converge(clients, &Target::of(d, Some(label.to_string())), opts).await?;
    let since = |f: fn(&hearsay_node::ModuleReport) -> Option<u64>| -> Vec<f64> {
        statuses
            .iter()
            .flatten()
            .filter_map(|s: &StatusReport| s.module(&d.module).and_then(f))
            .map(|t| t.saturating_sub(d.time_ms) as f64 / 1000.0)
            .collect()
    };
    let mut adopted = since(|m| m.adopted_at_ms);
    let mut running = since(|m| m.running_since_ms);
    let [_, adopted_median_s, adopted_max_s] = spread(&mut adopted);
    let [_, running_median_s, running_max_s] = spread(&mut running);
    Ok(Step {
        step: name.to_string(),
        adopted_median_s,
        adopted_max_s,
        running_median_s,
        running_max_s,
        running_max_rounds: running_max_s * 1000.0 / interval_ms as f64,
    })
}

/// Seconds until every node's membership view holds all `n` nodes.
async fn full_view(clients: &[ApiClient], n: usize, timeout_s: u64) -> Result<f64> {
    let start = now_ms();
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    loop {
        let mut full = 0;
        for c in clients {
            let live = c
                .query("membership", "count")
                .await
                .ok()
                .and_then(|v| v["live"].as_u64());
            if live == Some(n as u64) {
                full += 1;
            }
        }
        if full == n {
            return Ok(now_ms().saturating_sub(start) as f64 / 1000.0);
        }
        if Instant::now() > deadline {
            bail!("only {full} of {n} membership views are full after {timeout_s} s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `[min, median, max]`.
fn spread(values: &mut [f64]) -> [f64; 3] {
    if values.is_empty() {
        return [f64::NAN; 3];
    }
    values.sort_by(f64::total_cmp);
    [values[0], values[values.len() / 2], values[values.len() - 1]]
}

fn print_table(r: &Report) {
    say!(
        "\nhearsay bench cluster: {} agents on 127.0.0.1, gossip interval {} ms, {} cores; started in {:.1} s",
        r.nodes,
        r.interval_ms,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        r.startup_s
    );
    say!(
        "\n| {:<34} | {:>22} | {:>22} | {:>14} |",
        "step",
        "adopted: median / all",
        "running: median / all",
        "rounds to all"
    );
    say!("|{:-<36}|{:-<24}|{:-<24}|{:-<16}|", "", "", "", "");
    for s in &r.steps {
        let adopted = format!("{:.2} s / {:.2} s", s.adopted_median_s, s.adopted_max_s);
        let running = format!("{:.2} s / {:.2} s", s.running_median_s, s.running_max_s);
        say!(
            "| {:<34} | {:>22} | {:>22} | {:>14.1} |",
            s.step,
            adopted,
            running,
            s.running_max_rounds
        );
    }
    say!(
        "\nmembership views full (all {} members everywhere) {:.1} s after v1 ran everywhere",
        r.nodes,
        r.membership_full_view_s
    );
    say!(
        "resident memory per agent (VmRSS) min/median/max: {:.1} / {:.1} / {:.1} MiB; private (RssAnon): {:.1} / {:.1} / {:.1} MiB",
        r.rss_mib[0], r.rss_mib[1], r.rss_mib[2], r.private_rss_mib[0], r.private_rss_mib[1], r.private_rss_mib[2]
    );
}
