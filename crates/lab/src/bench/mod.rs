//! `hearsay-lab bench`: the evaluation, one table. Each group starts what it needs (local
//! agents on 127.0.0.1, the simulator, the runtime in-process), measures, stops it
//! all, and adds rows; every timing is min / median / max over `--runs` runs. Nothing
//! in the table is typed in: references (bounds, targets, peers' figures) are
//! computed or quoted as such.
//!
//! - `agents`: real agents — update propagation, cold deploys, full membership views,
//!   the core's overhead (bytes and CPU, from their counters), resident memory,
//!   joins and crashes; `loss`: false removals and crash removal under 10% loss.
//! - `simulated`: update propagation at 1,000 to 100,000 simulated nodes.
//! - `repair`: the S3 scenario, modules alive and all dead.
//! - `storm`: a fix, the API and other modules beside an amplifying storm.
//! - `pubsub`: the broadcast module on the largest agent cluster, and simulated.
//! - `kv`: the kv module on the largest agent cluster.
//! - `aggregate`: the aggregate module on the largest agent cluster, in 3 levels of
//!   zones: a change at the root aggregate, a new version on the map.
//! - `hosts`: real agents each in a network namespace of its own, with delay and
//!   loss between them (root only): deploy, update, false removals, crashes.
//! - `cold`: new code where no compile cache holds it: baseline compiler first or
//!   not, one cache per agent; one agent alone on its host in the largest cluster
//!   (its memory, early and settled, and its idle CPU).
//! - `runtime`: messages through the wasm boundary, hot swap, compile.
//! - `serf`: Serf (Debian's package) on as many agents as the largest cluster,
//!   idle: bytes on the loopback, CPU and memory per agent, measured as hearsay's are.
//! - `membership`: membership's cost per node as the cluster grows: one node's view
//!   of up to 100,000 members (the real wasm), and whole clusters simulated.

mod agents;
mod aggregate;
mod cold;
mod heard;
mod hosts;
mod idle_window;
mod kelips;
mod kv;
mod loss;
mod membership;
mod membership_partial;
mod poll;
mod pubsub;
mod repair;
mod report;
mod runtime;
mod serf;
mod simulated;
mod storm;

use std::time::Instant;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use report::Report;

/// Arguments of `hearsay-lab bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// A small version of every row (for CI): fewer nodes, fewer runs, short windows.
    #[arg(long)]
    quick: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Runs per timing [default: 5, or 2 with --quick].
    #[arg(long)]
    runs: Option<usize>,
    /// Only these groups (comma-separated) [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Group>,
    /// Real-agent cluster sizes for update propagation [default: 10,50,100, or 10 with
    /// --quick]; the largest also runs the overhead, memory and membership rows.
    #[arg(long, value_delimiter = ',')]
    agents: Option<Vec<usize>>,
    /// Module gossip interval of the agents, in ms.
    #[arg(long, default_value_t = 200)]
    interval_ms: u64,
    /// Seconds the `hosts` group watches for false removals [default: 60, or 10 with
    /// --quick].
    #[arg(long)]
    hosts_watch_s: Option<u64>,
    /// Simulated nodes of the `pubsub` group's rows [default: 1000, or 500 with --quick;
    /// 10000 takes about 9 minutes and 2 GB].
    #[arg(long)]
    pubsub_sim_nodes: Option<usize>,
    /// Simulated cluster sizes of the `membership` group [default: 100,1000,10000, or
    /// 100 with --quick; 10000 takes about 8 minutes and 15 GB per run].
    #[arg(long, value_delimiter = ',')]
    membership_sim_nodes: Option<Vec<usize>>,
    /// Simulated cluster sizes of the `membership` group's partial-view rows
    /// [default: 1000,10000, or 1000 with --quick; 100000 takes about 9 minutes and
    /// 4.2 GB per run].
    #[arg(long, value_delimiter = ',')]
    membership_partial_nodes: Option<Vec<usize>>,
    /// Agent i uses ports P+2i and P+2i+1.
    #[arg(long, default_value_t = 20000)]
    port_base: u16,
}

/// The groups of rows.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Real agents: propagation, overhead, memory, membership.
    Agents,
    /// Membership under 10% loss (real agents).
    Loss,
    /// Simulated propagation at 1k–100k nodes.
    Simulated,
    /// The S3 containment scenario.
    Repair,
    /// A fix, the API and other modules beside an amplifying storm (real agents).
    Storm,
    /// The wasm runtime in-process.
    Runtime,
    /// Publish/subscribe: the broadcast module on real agents.
    Pubsub,
    /// Keyed state: the kv module on real agents.
    Kv,
    /// The one-hop lookup: the kelips module on real agents, then simulated.
    Kelips,
    /// Aggregation over zones: the aggregate module on real agents.
    Aggregate,
    /// New code on hosts whose compile cache lacks it (real agents).
    Cold,
    /// Real agents on hosts of their own (network namespaces, root only).
    Hosts,
    /// Serf (Debian's `serf`) beside the agents: idle bytes, CPU and memory.
    Serf,
    /// Membership's cost per node as the cluster grows: one node's view of up to
    /// 100,000 members (wasm), whole clusters simulated.
    Membership,
}

/// What one `hearsay-lab bench` invocation does.
#[derive(Debug, Clone)]
pub struct Plan {
    pub quick: bool,
    pub runs: usize,
    pub agent_sizes: Vec<usize>,
    pub sim_sizes: Vec<usize>,
    pub interval_ms: u64,
    pub backup_interval_ms: u64,
    pub port_base: u16,
    /// Seconds of steady-state gossip the loss row watches for false removals.
    pub loss_watch_s: u64,
    /// Seconds the hosts rows watch for false removals.
    pub hosts_watch_s: u64,
    /// Simulated nodes of the pubsub rows.
    pub pubsub_sim_nodes: usize,
    /// Agents of the S3 repair rows.
    pub repair_nodes: usize,
    /// Members a single node's view holds in the membership rows.
    pub membership_view_sizes: Vec<usize>,
    /// Simulated nodes of the membership rows.
    pub membership_sim_sizes: Vec<usize>,
    /// Simulated nodes of the membership rows with partial views.
    pub membership_partial_sizes: Vec<usize>,
    /// The `hearsay` binary the agents run.
    pub hearsay: std::path::PathBuf,
}

impl Plan {
    fn new(args: &BenchArgs) -> Result<Plan> {
        let runs = args.runs.unwrap_or(if args.quick { 2 } else { 5 });
        let agent_sizes =
            args.agents
                .clone()
                .unwrap_or(if args.quick { vec![10] } else { vec![10, 50, 100] });
        if runs == 0 || agent_sizes.is_empty() || agent_sizes.iter().any(|&n| !(3..=1000).contains(&n)) {
            bail!("--runs must be positive and every --agents size between 3 and 1000");
        }
        Ok(Plan {
            quick: args.quick,
            runs,
            agent_sizes,
            sim_sizes: if args.quick {
                vec![1_000]
            } else {
                vec![1_000, 10_000, 100_000]
            },
            interval_ms: args.interval_ms,
            backup_interval_ms: 1000,
            port_base: args.port_base,
            loss_watch_s: if args.quick { 10 } else { 120 },
            hosts_watch_s: args.hosts_watch_s.unwrap_or(if args.quick { 10 } else { 60 }),
            pubsub_sim_nodes: args
                .pubsub_sim_nodes
                .unwrap_or(if args.quick { 500 } else { 1_000 }),
            repair_nodes: if args.quick { 10 } else { 100 },
            membership_view_sizes: if args.quick {
                vec![100, 1_000, 10_000]
            } else {
                vec![100, 1_000, 10_000, 100_000]
            },
            membership_sim_sizes: args.membership_sim_nodes.clone().unwrap_or(if args.quick {
                vec![100]
            } else {
                vec![100, 1_000, 10_000]
            }),
            membership_partial_sizes: args.membership_partial_nodes.clone().unwrap_or(if args.quick {
                vec![1_000]
            } else {
                vec![1_000, 10_000]
            }),
            hearsay: crate::hearsay_binary()?,
        })
    }

    /// The largest agent cluster: overhead, memory and membership are measured there.
    pub fn big(&self) -> usize {
        self.agent_sizes.iter().copied().max().unwrap_or(10)
    }
}

pub fn run(args: BenchArgs) -> Result<()> {
    let plan = Plan::new(&args)?;
    let wants = |g: Group| args.only.is_empty() || args.only.contains(&g);
    let started = Instant::now();
    let mut report = Report::new(&plan);
    if wants(Group::Runtime) {
        esay!("runtime: the wasm boundary in-process…");
        report.rows.extend(runtime::rows(&plan)?);
    }
    if wants(Group::Simulated) {
        report.rows.extend(simulated::rows(&plan)?);
    }
    if wants(Group::Agents) {
        report.rows.extend(crate::block_on(agents::rows(&plan))?);
    }
    if wants(Group::Loss) {
        report.rows.extend(crate::block_on(loss::rows(&plan))?);
    }
    if wants(Group::Repair) {
        report.rows.extend(repair::rows(&plan)?);
    }
    if wants(Group::Storm) {
        report.rows.extend(crate::block_on(storm::rows(&plan))?);
    }
    if wants(Group::Pubsub) {
        report.rows.extend(crate::block_on(pubsub::rows(&plan))?);
    }
    if wants(Group::Kv) {
        report.rows.extend(crate::block_on(kv::rows(&plan))?);
    }
    if wants(Group::Kelips) {
        report.rows.extend(crate::block_on(kelips::rows(&plan))?);
    }
    if wants(Group::Aggregate) {
        report.rows.extend(crate::block_on(aggregate::rows(&plan))?);
    }
    if wants(Group::Cold) {
        report.rows.extend(crate::block_on(cold::rows(&plan))?);
    }
    if wants(Group::Hosts) {
        report.rows.extend(crate::block_on(hosts::rows(&plan))?);
    }
    if wants(Group::Serf) {
        report.rows.extend(serf::rows(&plan)?);
    }
    if wants(Group::Membership) {
        report.rows.extend(membership::rows(&plan)?);
        report.rows.extend(membership_partial::rows(&plan)?);
    }
    report.wall_seconds = started.elapsed().as_secs_f64();
    if args.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        say!("{}", report.table());
    }
    Ok(())
}
