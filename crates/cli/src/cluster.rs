//! `hearsay cluster`: a local cluster to try hearsay on — N agents as separate
//! processes on 127.0.0.1, the membership module deployed at the first, their API
//! addresses printed; Ctrl-C (or SIGTERM) stops them all.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use hearsay_client::ApiClient;

use crate::modules::MEMBERSHIP;
use crate::procs::{Cluster, Layout};
use crate::watch::short_version;

/// Arguments of `hearsay cluster`.
#[derive(Args)]
pub struct ClusterArgs {
    /// Number of agents.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// How many of the first agents are rendezvous nodes.
    #[arg(long, default_value_t = 3)]
    rendezvous: usize,
    /// Agent i gossips on port P+2i and serves its API on P+2i+1.
    #[arg(long, default_value_t = 7000)]
    port_base: u16,
    /// Module gossip interval in ms.
    #[arg(long, default_value_t = 200)]
    interval_ms: u64,
    /// Backup gossip interval in ms.
    #[arg(long, default_value_t = 1000)]
    backup_interval_ms: u64,
    /// Keep data and logs here (default: a temporary directory, removed at exit).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Don't deploy the membership module.
    #[arg(long)]
    no_deploy: bool,
    /// Gossip over TLS: a cluster CA and certificate are made in the data directory.
    #[arg(long)]
    tls: bool,
}

pub fn run(args: ClusterArgs) -> Result<()> {
    if args.nodes == 0 || args.nodes > 1000 {
        bail!("--nodes must be between 1 and 1000");
    }
    let layout = Layout {
        exe: std::env::current_exe().context("cannot find the hearsay binary")?,
        nodes: args.nodes,
        rendezvous: args.rendezvous,
        port_base: args.port_base,
        interval_ms: args.interval_ms,
        backup_interval_ms: args.backup_interval_ms,
        tls: args.tls,
        extra_args: Vec::new(),
        agent_args: None,
        own_compile_cache: false,
        hosts: None,
    };
    crate::block_on(async move {
        let mut cluster = Cluster::start(&layout, args.data_dir.clone()).await?;
        say!(
            "hearsay cluster: {} agents, data and logs (node-I/agent.log) in {}",
            args.nodes,
            cluster.dir.display()
        );
        say!("  {:<5} {:<22} {:<22} {}", "node", "gossip", "api", "pid");
        for a in &cluster.agents {
            let role = if a.index < args.rendezvous {
                "  rendezvous"
            } else {
                ""
            };
            say!(
                "  {:<5} {:<22} {:<22} {}{role}",
                a.index,
                a.gossip,
                a.api,
                a.child.id()
            );
        }
        let first = cluster.agents[0].api.to_string();
        if !args.no_deploy {
            let d = ApiClient::new(&first)?
                .deploy("membership", MEMBERSHIP, None)
                .await?;
            let version = d.version.as_deref().map_or("-".to_string(), short_version);
            say!(
                "deployed membership {version} as deployment {} at node 0",
                d.number
            );
        }
        say!("apis: {}", cluster.apis().join(","));
        say!("ready: try `hearsay status --api {first}`; Ctrl-C stops every agent");
        wait(&mut cluster).await;
        say!("stopping {} agents", cluster.agents.len());
        Ok(())
    })
}

/// Until Ctrl-C or SIGTERM; reports agents that exit on their own.
async fn wait(cluster: &mut Cluster) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let mut reported = vec![false; cluster.agents.len()];
    loop {
        let term_recv = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            () = term_recv => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                for (i, reported) in reported.iter_mut().enumerate() {
                    if !*reported {
                        if let Err(e) = cluster.check_alive(i) {
                            esay!("hearsay cluster: {e:#}");
                            *reported = true;
                        }
                    }
                }
            }
        }
    }
}
