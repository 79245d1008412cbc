//! `hearsay status`: a node's modules (version, deployment number, state) and the
//! peers it knows; `--json` prints the API's stable status document.

use anyhow::Result;
use clap::Args;

use hearsay_client::{ApiClient, StatusReport};

/// Arguments of `hearsay status`.
#[derive(Args)]
pub struct StatusArgs {
    /// The node's API address.
    #[arg(long)]
    api: String,
    /// Print the status document as JSON (stable: fields are only ever added).
    #[arg(long)]
    json: bool,
}

pub fn run(args: StatusArgs) -> Result<()> {
    let client = ApiClient::new(&args.api)?;
    let status = crate::block_on(async move { Ok(client.status().await?) })?;
    if args.json {
        say!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        say!("{}", table(&status).trim_end());
    }
    Ok(())
}

fn table(s: &StatusReport) -> String {
    let mut out = format!(
        "node {}  gossip {}  api {}  digest {}\n",
        s.node_id, s.gossip_addr, s.api_addr, s.digest
    );
    let sec = &s.security;
    if sec.secure {
        out.push_str(&format!(
            "security: deployments must be signed by one of {} trusted key(s){}\n",
            sec.trusted_keys,
            if sec.signs_deployments {
                " (this node signs its own)"
            } else {
                ""
            },
        ));
    } else {
        out.push_str("security: INSECURE — no trusted deployment keys: anyone reaching the gossip port can deploy code\n");
    }
    out.push_str(&format!(
        "gossip: {}, {}\n",
        if sec.cluster_key {
            "authenticated by the cluster key"
        } else {
            "not authenticated (no cluster key)"
        },
        if sec.tls {
            "encrypted (TLS)"
        } else {
            "in clear text"
        },
    ));
    if s.modules.is_empty() {
        out.push_str("no modules deployed\n");
    } else {
        out.push_str(&format!(
            "{:<16} {:<14} {:<36} {}\n",
            "MODULE", "VERSION", "DEPLOYMENT", "STATE"
        ));
        for m in &s.modules {
            let d = &m.deployment;
            let version = d
                .version
                .as_deref()
                .map_or("-".to_string(), crate::watch::short_version);
            let mut state = m.state.clone();
            if let Some(reason) = &m.reason {
                state.push_str(&format!(": {reason}"));
            }
            if m.state != "running" {
                if let Some(r) = m.running.as_ref().filter(|r| **r != d.number) {
                    state.push_str(&format!(" (still running {r})"));
                }
            }
            out.push_str(&format!(
                "{:<16} {:<14} {:<36} {}\n",
                d.module, version, d.number, state
            ));
        }
    }
    out.push_str(&format!(
        "peers: {} rendezvous [{}], {} overheard\n",
        s.peers.rendezvous.len(),
        s.peers.rendezvous.join(", "),
        s.peers.hints.len()
    ));
    out
}
