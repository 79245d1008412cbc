//! Rows measured on local agents (real processes, real sockets, the real
//! membership.wasm): for each cluster size, update propagation (modules alive) and
//! cold deploys (backup gossip only) with full membership views after each; on the
//! largest, the core's overhead from the agents' counters, resident memory, and
//! nodes joining and crashing.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hearsay_client::ApiClient;
use hearsay_node::now_ms;

use super::poll::{self, all_running, all_stopped, until_views};
use super::report::Row;
use super::Plan;
use crate::fixtures::{variant, MEMBERSHIP};
use crate::procfs;
use crate::procs::{Cluster, Layout};
use crate::watch;

const GROUP: &str = "agents";
const STEP_TIMEOUT: Duration = Duration::from_secs(90);
/// Pause between runs, so one deployment's traffic is over before the next.
const SETTLE: Duration = Duration::from_secs(1);
/// After an update runs everywhere: twice the removal timeout at 100 members, and more.
const UPDATE_QUIET: Duration = Duration::from_secs(3);

/// The paper's layout: one rendezvous node in ten.
pub fn layout(plan: &Plan, nodes: usize, extra_args: Vec<String>) -> Layout {
    Layout {
        exe: plan.hearsay.clone(),
        nodes,
        rendezvous: (nodes / 10).max(1),
        port_base: plan.port_base,
        interval_ms: plan.interval_ms,
        backup_interval_ms: plan.backup_interval_ms,
        tls: false,
        extra_args,
        agent_args: None,
        own_compile_cache: false,
        hosts: None,
    }
}

/// `n` agents in the paper's layout, running `module` (deployed at the first): the
/// cluster, and a client of each agent.
pub async fn start_running(
    plan: &Plan,
    n: usize,
    module: &str,
    wasm: &[u8],
    params: Option<serde_json::Value>,
) -> Result<(Cluster, Vec<ApiClient>)> {
    let cluster = Cluster::start(&layout(plan, n, Vec::new()), None)
        .await
        .with_context(|| format!("starting {n} agents"))?;
    let clients = watch::clients(&cluster.apis())?;
    let d = clients[0].deploy(module, wasm, params).await?;
    all_running(&clients, &d, STEP_TIMEOUT).await?;
    Ok((cluster, clients))
}

/// Another code version of membership for each deployment of a run.
pub struct Versions(usize);

impl Versions {
    pub fn new() -> Versions {
        Versions(0)
    }

    pub fn next(&mut self) -> Vec<u8> {
        self.0 += 1;
        variant(MEMBERSHIP, &format!("hearsay-bench-{}", self.0))
    }
}

pub async fn rows(plan: &Plan) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &n in &plan.agent_sizes {
        esay!("agents: {n} agents…");
        let mut cluster = Cluster::start(&layout(plan, n, Vec::new()), None)
            .await
            .with_context(|| format!("starting {n} agents"))?;
        rows.extend(propagation(plan, &cluster, n).await?);
        if n == plan.big() {
            rows.extend(overhead(plan, &cluster, n).await?);
            rows.extend(memory(&cluster, n));
            rows.extend(join_and_crash(plan, &mut cluster, n).await?);
        }
    }
    Ok(rows)
}

/// `log3(N) + ln ln N` (push-pull) and `log2(N) + ln N` (push), in rounds.
pub fn bounds(n: usize) -> (f64, f64) {
    let n = n as f64;
    (n.log(3.0) + n.ln().ln(), n.log2() + n.ln())
}

async fn propagation(plan: &Plan, cluster: &Cluster, n: usize) -> Result<Vec<Row>> {
    let clients = watch::clients(&cluster.apis())?;
    let mut versions = Versions::new();
    let (mut cold, mut update, mut update_median, mut views) = (vec![], vec![], vec![], vec![]);
    let mut update_removals = vec![];
    for run in 0..plan.runs {
        // Cold: no module runs anywhere (the first run: nothing deployed yet; later
        // ones: stopped), so only the core's backup gossip carries the deployment,
        // and every membership instance starts with an empty view.
        if run > 0 {
            clients[0].stop("membership").await?;
            all_stopped(&clients, "membership", STEP_TIMEOUT).await?;
            tokio::time::sleep(SETTLE).await;
        }
        let d = clients[run % n]
            .deploy("membership", &versions.next(), None)
            .await?;
        let spread = all_running(&clients, &d, STEP_TIMEOUT).await?;
        cold.push(spread.last);
        let full = until_views(&clients, d.time_ms, STEP_TIMEOUT, "full views", |v| {
            v.live == n as u64
        })
        .await?;
        views.push((full - spread.last).max(0.0));
        esay!(
            "  run {}: cold deploy {:.2} s, all {n} in every view {:.2} s later",
            run + 1,
            spread.last,
            full - spread.last
        );
        tokio::time::sleep(SETTLE).await;
        // Update: the running module's gossip carries it (and its state is handed over).
        let d = clients[(run * 7 + n / 2) % n]
            .deploy("membership", &versions.next(), None)
            .await?;
        let spread = all_running(&clients, &d, STEP_TIMEOUT).await?;
        update.push(spread.last);
        update_median.push(spread.median);
        // Gossip passes only between agents on the same deployment, so an update is
        // when membership is most likely to remove live members: counted once the
        // removal timeout (1.2 s at 100) has passed twice after the update.
        tokio::time::sleep(UPDATE_QUIET).await;
        let removed = poll::removals(&clients).await;
        update_removals.push(removed);
        esay!(
            "  run {}: update {:.2} s, live members removed {removed}",
            run + 1,
            spread.last
        );
    }
    let round = plan.interval_ms as f64 / 1000.0;
    let (push_pull, push) = bounds(n);
    let bound_text = format!("push-pull bound {push_pull:.1}, push {push:.1} rounds");
    let rounds: Vec<f64> = update.iter().map(|s| s / round).collect();
    // The goals are judged on the whole cluster (the last agent), never the median.
    let target = |row: Row, limit: f64, reference: &str| {
        if n == 100 {
            row.at_most(limit, reference)
        } else {
            row
        }
    };
    // From the deployment to the last membership view holding all N: the code's
    // download, start and the module's own gossip together.
    let deploy_to_views: Vec<f64> = cold.iter().zip(&views).map(|(c, v)| c + v).collect();
    let rows = vec![
        target(
            Row::new(
                GROUP,
                format!("update → all {n} agents running it"),
                "s",
                update.clone(),
            ),
            0.6,
            "a whole deployment ≤ 0.6 s; a datum: Serf 0.63 s, chitchat 0.30 s",
        ),
        Row::new(
            GROUP,
            format!("update → all {n} agents running it"),
            "rounds",
            rounds,
        )
        .vs(bound_text),
        Row::new(
            GROUP,
            format!("update → median agent of {n} running it"),
            "s",
            update_median,
        ),
        Row::new(
            GROUP,
            format!("membership: live members removed during an update, all {n} agents"),
            "count",
            update_removals,
        )
        .at_most(0.0, "none"),
        Row::new(
            GROUP,
            format!("cold deploy (backup gossip only) → all {n} running"),
            "s",
            cold,
        ),
        Row::new(
            GROUP,
            format!("all {n} in every membership view, after the module runs everywhere"),
            "s",
            views,
        ),
        target(
            Row::new(
                GROUP,
                format!("cold deploy → all {n} in every membership view (code included)"),
                "s",
                deploy_to_views,
            ),
            0.8,
            "≤ 0.8 s code included; Serf 2.42 s, chitchat 1.06 s (from start)",
        ),
    ];
    Ok(rows)
}

const OVERHEAD_SERIES: [&str; 9] = [
    "hearsay_module_envelopes_out_total",
    "hearsay_piggyback_bytes_out_total",
    "hearsay_module_payload_bytes_out_total",
    "hearsay_bytes_out_total",
    "hearsay_core_nanoseconds_total",
    "hearsay_module_nanoseconds_total",
    "hearsay_envelopes_in_total",
    "hearsay_envelopes_out_total",
    "hearsay_delivered_total",
];

/// CPU ticks (utime + stime) of every agent, summed.
pub fn cpu_ticks(cluster: &Cluster) -> f64 {
    cluster
        .agents
        .iter()
        .filter_map(|a| procfs::cpu_ticks(a.child.id()))
        .sum()
}

/// Steady-state windows of the membership gossip: what the core adds to it.
async fn overhead(plan: &Plan, cluster: &Cluster, n: usize) -> Result<Vec<Row>> {
    let clients = watch::clients(&cluster.apis())?;
    let window = Duration::from_secs(if plan.quick { 2 } else { 5 });
    let ticks_per_s = procfs::ticks_per_second();
    let mut per_env = vec![];
    let mut payload_per_env = vec![];
    let mut payload_rate = vec![];
    let mut total_rate = vec![];
    let mut core_us = vec![];
    let mut core_vs_module = vec![];
    let mut core_vs_rest = vec![];
    let mut agent_us = vec![];
    let mut cpu_percent = vec![];
    // Steady state: the last deployment's exchanges are over, every agent has heard
    // from its gossip partners (so their digests are known: compact envelopes), and
    // the views membership compared after the hot swap have met (10 s of grace, then
    // syncs: 10 s after the update the wire still carried half as much again).
    tokio::time::sleep(Duration::from_secs(if plan.quick { 3 } else { 30 })).await;
    let mut wire_rate = vec![];
    for _ in 0..plan.runs {
        let (t0, a) = (now_ms(), poll::metric_sum(&clients, &OVERHEAD_SERIES).await);
        let c0 = cpu_ticks(cluster);
        // Between the polls, so the bench's own requests are not counted.
        let (w0, lo0) = (now_ms(), procfs::loopback_tx_bytes());
        tokio::time::sleep(window).await;
        let (w1, lo1) = (now_ms(), procfs::loopback_tx_bytes());
        if let (Some(lo0), Some(lo1)) = (lo0, lo1) {
            wire_rate.push((lo1 - lo0) as f64 / n as f64 / ((w1 - w0) as f64 / 1000.0));
        }
        let (t1, b) = (now_ms(), poll::metric_sum(&clients, &OVERHEAD_SERIES).await);
        let c1 = cpu_ticks(cluster);
        let d: Vec<f64> = a.iter().zip(&b).map(|(a, b)| b - a).collect();
        let secs = (t1 - t0) as f64 / 1000.0;
        let [envs, piggyback, payload, bytes, core_ns, module_ns, env_in, env_out, _delivered] =
            d[..].try_into().unwrap_or([f64::NAN; 9]);
        per_env.push(piggyback / envs);
        payload_per_env.push(payload / envs);
        payload_rate.push(payload / n as f64 / secs);
        total_rate.push(bytes / n as f64 / secs);
        let envelopes = env_in + env_out;
        let agent_ns = (c1 - c0) / ticks_per_s * 1e9;
        core_us.push(core_ns / 1000.0 / envelopes);
        core_vs_module.push(100.0 * core_ns / module_ns);
        core_vs_rest.push(100.0 * core_ns / (agent_ns - core_ns));
        agent_us.push(agent_ns / 1000.0 / envelopes);
        cpu_percent.push(100.0 * (c1 - c0) / ticks_per_s / secs / n as f64);
    }
    Ok(vec![
        Row::new(
            GROUP,
            format!("core piggyback per module envelope ({n} agents, membership)"),
            "B",
            per_env,
        )
        .at_most(24.0, "target ≤ 24 B"),
        Row::new(
            GROUP,
            "module payload per envelope (for scale)",
            "B",
            payload_per_env,
        ),
        Row::new(
            GROUP,
            "gossip sent per agent: module payloads alone",
            "B/s",
            payload_rate,
        ),
        Row::new(
            GROUP,
            "gossip sent per agent: with the core (piggyback + core messages)",
            "B/s",
            total_rate,
        )
        .at_most(5000.0, "≤ 5 KB/s; Serf 270 B/s, chitchat 134 KB/s (quoted)"),
        Row::new(
            GROUP,
            "gossip on the wire per agent, idle (loopback bytes: IP, TCP and HTTP headers included)",
            "B/s",
            wire_rate,
        )
        .at_most(5000.0, "≤ 5 KB/s; Serf's measured the same way: the serf rows"),
        Row::new(
            GROUP,
            format!("idle CPU per agent ({n} agents, membership running)"),
            "%",
            cpu_percent,
        )
        .at_most(0.3, "≤ 0.3 %; Serf 0.4 %, chitchat 0.5 % (quoted)"),
        Row::new(
            GROUP,
            "core CPU per envelope (seal/open, checks, dispatch)",
            "µs",
            core_us,
        ),
        Row::new(
            GROUP,
            "whole agent CPU per envelope (HTTP, tokio, core, wasm)",
            "µs",
            agent_us,
        ),
        Row::new(
            GROUP,
            "CPU with the core vs without: core / (agent − core)",
            "%",
            core_vs_rest,
        )
        .at_most(5.0, "target ≤ 5%"),
        Row::new(
            GROUP,
            "core CPU relative to the wasm module's alone",
            "%",
            core_vs_module,
        ),
    ])
}

/// Memory of every agent (one value per agent): resident, proportional (shared pages
/// — the binary's code, mostly — divided among the processes sharing them), private.
fn memory(cluster: &Cluster, n: usize) -> Vec<Row> {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let pids: Vec<u32> = cluster.agents.iter().map(|a| a.child.id()).collect();
    let rss: Vec<f64> = pids
        .iter()
        .filter_map(|&p| procfs::rss_kib(p))
        .map(|(t, _)| mib(t))
        .collect();
    let shares: Vec<(u64, u64)> = pids.iter().filter_map(|&p| procfs::pss_private_kib(p)).collect();
    vec![
        Row::new(
            GROUP,
            format!("resident memory per agent, RSS ({n} agents, membership running)"),
            "MiB",
            rss,
        )
        .at_most(15.0, "≤ 15 MiB; Serf 15.0, chitchat 11.7"),
        Row::new(
            GROUP,
            "… proportional share, PSS (shared code counted once)",
            "MiB",
            shares.iter().map(|s| mib(s.0)).collect(),
        ),
        Row::new(
            GROUP,
            "… private to the agent",
            "MiB",
            shares.iter().map(|s| mib(s.1)).collect(),
        ),
    ]
}

/// Nodes joining (a new agent, seeded with the rendezvous nodes) and crashing (kill -9).
async fn join_and_crash(plan: &Plan, cluster: &mut Cluster, n: usize) -> Result<Vec<Row>> {
    let (mut joins, mut suspects, mut removals) = (vec![], vec![], vec![]);
    let mut dead = Vec::new();
    for run in 0..plan.runs {
        let before = clients_except(cluster, &dead)?;
        let t0 = now_ms();
        let joined = cluster.add_agent().await?;
        let all = clients_except(cluster, &dead)?;
        let join = until_views(&all, t0, STEP_TIMEOUT, "join", |v| v.live == n as u64 + 1).await?;
        joins.push(join);
        tokio::time::sleep(SETTLE).await;
        let t0 = now_ms();
        cluster.kill9(joined);
        dead.push(joined);
        let (suspect, removal) = crash_times(&before, n, t0).await?;
        esay!(
            "  run {}: joined {join:.2} s; crash suspected {suspect:.2} s, removed {removal:.2} s",
            run + 1
        );
        suspects.push(suspect);
        removals.push(removal);
        tokio::time::sleep(SETTLE).await;
    }
    Ok(vec![
        Row::new(
            GROUP,
            format!("a joining agent in all {} views, from its start", n + 1),
            "s",
            joins,
        ),
        Row::new(
            GROUP,
            format!("a killed agent suspected by all {n}"),
            "s",
            suspects,
        ),
        Row::new(GROUP, format!("a killed agent removed by all {n}"), "s", removals)
            .at_most(2.0, "≤ 2 s; Serf 10.6 s, chitchat 2.9 s"),
    ])
}

/// Clients of every agent but the `dead` ones.
pub fn clients_except(cluster: &Cluster, dead: &[usize]) -> Result<Vec<ApiClient>> {
    let apis: Vec<String> = cluster
        .agents
        .iter()
        .filter(|a| !dead.contains(&a.index))
        .map(|a| a.api.to_string())
        .collect();
    watch::clients(&apis)
}

/// Seconds from the kill at `t0` until every survivor no longer counts the node live,
/// and until every survivor has removed it (`n` survivors, views of `n`).
pub async fn crash_times(survivors: &[ApiClient], n: usize, t0: u64) -> Result<(f64, f64)> {
    let n = n as u64;
    let suspect = until_views(survivors, t0, STEP_TIMEOUT, "suspicion", |v| v.live <= n).await?;
    let removal = until_views(survivors, t0, STEP_TIMEOUT, "removal", |v| {
        v.live + v.suspected <= n
    })
    .await?;
    Ok((suspect, removal))
}

/// What a window with every agent alive showed: removals then are false ones.
pub struct Quiet {
    pub false_removals: u64,
    /// The most suspicions at once, all views together.
    pub max_suspected: u64,
    /// View polls that got no answer.
    pub unanswered: usize,
}

impl Quiet {
    /// Its rows: false removals (`window`: over what), none allowed, and the most
    /// suspicions at once.
    pub fn rows(&self, group: &'static str, window: String) -> Vec<Row> {
        vec![
            Row::new(
                group,
                format!("false removals, {window}"),
                "count",
                vec![self.false_removals as f64],
            )
            .at_most(0.0, "none"),
            Row::new(
                group,
                "most suspicions at once during that time (all nodes)",
                "count",
                vec![self.max_suspected as f64],
            ),
        ]
    }
}

/// Watches every view for `watch`, polling every `every`.
pub async fn quiet(clients: &[ApiClient], watch: Duration, every: Duration) -> Quiet {
    let removed = |vs: &[Option<poll::View>]| vs.iter().flatten().map(|v| v.removed).sum::<u64>();
    let start_removed = removed(&poll::views(clients).await);
    let (mut max_suspected, mut unanswered) = (0u64, 0usize);
    let started = Instant::now();
    while started.elapsed() < watch {
        let vs = poll::views(clients).await;
        unanswered += vs.iter().filter(|v| v.is_none()).count();
        max_suspected = max_suspected.max(vs.iter().flatten().map(|v| v.suspected).sum());
        tokio::time::sleep(every).await;
    }
    Quiet {
        false_removals: removed(&poll::views(clients).await) - start_removed,
        max_suspected,
        unanswered,
    }
}

/// Kills agents one at a time from the last (never a rendezvous node), each once the
/// previous is removed by all: seconds until every survivor suspected it and removed
/// it, per crash.
pub async fn crashes(cluster: &mut Cluster, runs: usize) -> Result<Vec<(f64, f64)>> {
    let n = cluster.agents.len();
    let (mut dead, mut times) = (vec![], vec![]);
    for run in 0..runs.min(n / 2) {
        let victim = n - 1 - run;
        let alive_before = n - dead.len();
        let t0 = now_ms();
        cluster.kill9(victim);
        dead.push(victim);
        let survivors = clients_except(cluster, &dead)?;
        let (suspect, removal) = crash_times(&survivors, alive_before - 1, t0).await?;
        esay!(
            "  crash {}: suspected by all {suspect:.2} s, removed by all {removal:.2} s",
            run + 1
        );
        times.push((suspect, removal));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(times)
}
