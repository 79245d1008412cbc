//! Agents on hosts of their own: 50 real agents in 5 network namespaces routed through
//! this one (10 per host, each host its own address), every batch sent 20 ms ± 5 ms
//! late and 1% of them dropped. Membership deployed at one agent reaches all 50, every
//! view fills, and a killed agent is removed from every view. Needs root (namespaces);
//! skipped with a message without it. The bench's figures for larger clusters are
//! `hearsay-lab bench --only hosts --agents N`.

use std::time::{Duration, Instant};

use hearsay_cli::netns::{self, Hosts};
use hearsay_cli::procs::{Cluster, Layout};
use hearsay_client::ApiClient;

const AGENTS: usize = 50;
const HOSTS: usize = 5;

/// Every client's membership `count` answer, as (live, suspected).
async fn counts(clients: &[ApiClient]) -> Vec<Option<(u64, u64)>> {
    let mut out = vec![];
    for c in clients {
        let v = c.query("membership", "count").await.ok();
        out.push(v.and_then(|v| Some((v["live"].as_u64()?, v["suspected"].as_u64()?))));
    }
    out
}

async fn until(what: &str, secs: u64, mut ok: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok().await {
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn agents_on_separate_hosts_with_delay_and_loss_keep_membership() {
    if let Some(why) = netns::unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    Hosts::api_token_in_env().expect("a token");
    let hosts = Hosts::create(1, HOSTS).expect("namespaces");
    let layout = Layout {
        exe: env!("CARGO_BIN_EXE_hearsay").into(),
        nodes: AGENTS,
        rendezvous: 3,
        port_base: 31000,
        interval_ms: 200,
        backup_interval_ms: 1000,
        tls: false,
        extra_args: [
            "--gossip-delay-ms",
            "20",
            "--gossip-jitter-ms",
            "5",
            "--gossip-loss",
            "0.01",
        ]
        .map(String::from)
        .to_vec(),
        agent_args: None,
        own_compile_cache: false,
        hosts: Some(hosts.placement().clone()),
    };
    hearsay_cli::block_on(async {
        let mut cluster = Cluster::start(&layout, None).await?;
        // Agents are spread over the hosts' addresses, none on loopback.
        let ips: std::collections::BTreeSet<_> = cluster.agents.iter().map(|a| a.gossip.ip()).collect();
        assert_eq!(ips.len(), HOSTS);
        assert!(ips.iter().all(|ip| !ip.is_loopback()));
        let clients: Vec<ApiClient> = cluster
            .apis()
            .iter()
            .map(|a| ApiClient::new(a))
            .collect::<Result<_, _>>()?;
        let wasm = hearsay_cli::modules::MEMBERSHIP;
        clients[0].deploy("membership", wasm, None).await?;
        until("membership running at all 50", 60, async || {
            counts(&clients).await.iter().all(|c| c.is_some())
        })
        .await;
        until("every view holds all 50", 60, async || {
            counts(&clients)
                .await
                .iter()
                .all(|c| c.is_some_and(|(live, _)| live == AGENTS as u64))
        })
        .await;
        let victim = AGENTS - 1;
        cluster.kill9(victim);
        let survivors = &clients[..victim];
        until("the killed agent removed from every view", 30, async || {
            counts(survivors)
                .await
                .iter()
                .all(|c| c.is_some_and(|(live, suspected)| live + suspected == victim as u64))
        })
        .await;
        drop(cluster);
        Ok(())
    })
    .expect("cluster");
    drop(hosts);
}
