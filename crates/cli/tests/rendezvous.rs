//! Rendezvous entries as operators write them, with real agents: node A gossips on
//! IPv6 (`[::1]:P`), node B names it as `[::1]:P`, node C names B by a DNS name
//! (`localhost:P`, resolved by the system resolver); a deployment made at C reaches
//! all three and every membership view holds all three — so the name resolved and
//! IPv6 and IPv4 gossip mix. A malformed entry is refused at start.

mod common;

use std::process::{Child, Command, Stdio};

use common::{cli, free_ports, hearsay_bin, http, membership_wasm, wait_for};

/// An agent process, killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn agent(dir: &std::path::Path, name: &str, gossip: &str, api: &str, rendezvous: &str) -> Proc {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = Command::new(hearsay_bin())
        .args(["agent", "--data-dir"])
        .arg(dir.join(name))
        .args(["--gossip", gossip, "--api", api, "--rendezvous", rendezvous])
        .args(["--interval-ms", "100", "--backup-interval-ms", "300"])
        .args(["--rendezvous-refresh-ms", "500"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Proc(child)
}

fn live(api: &str) -> usize {
    http(api, "GET", "/v1/modules/membership/query?args=count", b"")
        .ok()
        .filter(|(code, _)| *code == 200)
        .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
        .and_then(|v| v["live"].as_u64())
        .unwrap_or(0) as usize
}

#[test]
fn ipv6_addresses_and_dns_names_as_rendezvous() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let dir = std::env::temp_dir().join(format!("hearsay-e2e-rendezvous-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let p = free_ports(6);
    let a_gossip = format!("[::1]:{}", p[0]);
    let b_gossip = format!("127.0.0.1:{}", p[2]);
    let c_gossip = format!("127.0.0.1:{}", p[4]);
    let apis: Vec<String> = [1, 3, 5].iter().map(|i| format!("127.0.0.1:{}", p[*i])).collect();
    let _a = agent(&dir, "a", &a_gossip, &apis[0], &a_gossip);
    let _b = agent(&dir, "b", &b_gossip, &apis[1], &a_gossip);
    let _c = agent(&dir, "c", &c_gossip, &apis[2], &format!("localhost:{}", p[2]));
    for api in &apis {
        wait_for("the agent answers", 30, || {
            http(api, "GET", "/v1/status", b"").is_ok_and(|(c, _)| c == 200)
        });
    }
    // C's status shows what the name resolved to.
    let (_, status) = http(&apis[2], "GET", "/v1/status", b"").unwrap();
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let resolved: Vec<&str> = status["peers"]["rendezvous"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(resolved.contains(&b_gossip.as_str()), "{resolved:?}");

    let wasm = membership_wasm();
    let path = dir.join("membership.wasm");
    std::fs::write(&path, &wasm).unwrap();
    let out = cli(&["deploy", "--api", &apis[2], "membership", path.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    wait_for("every node sees all three", 60, || {
        apis.iter().all(|api| live(api) == 3)
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_malformed_rendezvous_entry_is_refused_at_start() {
    for bad in ["localhost", "a_b:7000", "[::1]:", "host:99999"] {
        let stderr = common::agent_refused(&["--rendezvous", bad]);
        assert!(stderr.contains("rendezvous"), "{bad}: {stderr}");
    }
}
