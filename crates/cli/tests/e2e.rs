//! End to end with real processes: 10 agents on 127.0.0.1. A deployment made at one
//! node reaches all, an update made at another replaces it everywhere, a rollback at a
//! third brings the old code back under a new, higher number — while one node is
//! killed with SIGKILL mid-update and restarted from its data directory, and another
//! is frozen with SIGSTOP through the update and must catch up after SIGCONT.

mod common;

use std::time::Instant;

use common::{cli_ok, membership_wasm, variant, wait_for, Cluster};
use hearsay_core::{Configuration, DeploymentNumber};
use hearsay_node::api_types::DeploymentInfo;

const NODES: usize = 10;

fn deployment(json_line: &str) -> DeploymentInfo {
    serde_json::from_str(json_line.trim()).expect("deploy --json prints a deployment")
}

fn number(d: &DeploymentInfo) -> DeploymentNumber {
    d.number.parse().expect("a deployment number")
}

fn everyone_runs(c: &Cluster, d: &DeploymentInfo, skip: &[usize]) -> bool {
    c.agents
        .iter()
        .filter(|a| !skip.contains(&a.index))
        .all(|a| runs(a, d))
}

fn runs(a: &common::Agent, d: &DeploymentInfo) -> bool {
    a.status()
        .and_then(|s| s.module("membership").map(|m| m.runs(&d.number)))
        .unwrap_or(false)
}

#[test]
fn a_code_update_and_its_rollback_spread_through_real_processes() {
    let started = Instant::now();
    let mut c = Cluster::start("update", NODES, 3);
    let v1 = membership_wasm();
    let v2 = variant(&v1, "hearsay-e2e-v2");
    let v1_path = c.dir.join("v1.wasm");
    let v2_path = c.dir.join("v2.wasm");
    std::fs::write(&v1_path, &v1).unwrap();
    std::fs::write(&v2_path, &v2).unwrap();
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();

    // v1 at node 0: every node runs it, and every membership view holds all 10.
    let d1 = deployment(&cli_ok(&[
        "deploy",
        "--api",
        &c.agents[0].api(),
        "membership",
        &path(&v1_path),
        "--json",
    ]));
    let took = wait_for("every node runs v1", 30, || everyone_runs(&c, &d1, &[]));
    eprintln!("v1 everywhere after {took:?}");
    let took = wait_for("every membership view holds 10 nodes", 30, || {
        c.agents.iter().all(|a| {
            let answer = cli_ok(&["query", "--api", &a.api(), "membership", "count"]);
            serde_json::from_str::<serde_json::Value>(&answer).is_ok_and(|v| v["live"] == NODES)
        })
    });
    eprintln!("full membership views after {took:?} more");

    // Node 9 freezes and misses the update; node 8 dies in the middle of it.
    c.agents[9].sigstop();
    let d2 = deployment(&cli_ok(&[
        "deploy",
        "--api",
        &c.agents[1].api(),
        "membership",
        &path(&v2_path),
        "--json",
    ]));
    assert!(number(&d2) > number(&d1));
    // A different moment of the update on each run: anywhere in its first ~3 rounds.
    let moment = hearsay_node::now_ms() % 600;
    std::thread::sleep(std::time::Duration::from_millis(moment));
    c.agents[8].kill9();
    // Whatever moment the kill hit, the configuration on disk is whole: old or new.
    let on_disk = std::fs::read(c.agents[8].data_dir.join("configuration.json")).unwrap();
    let config: Configuration = serde_json::from_slice(&on_disk).expect("a whole configuration");
    let persisted = config.iter().next().expect("membership is configured").number;
    assert!(
        persisted == number(&d1) || persisted == number(&d2),
        "{persisted:?}"
    );
    eprintln!(
        "node 8 killed {moment} ms into the update with {} on disk",
        if persisted == number(&d2) { "v2" } else { "v1" }
    );
    c.agents[8].start();
    let took = wait_for("every running node runs v2", 30, || everyone_runs(&c, &d2, &[9]));
    eprintln!("v2 everywhere but the frozen node after {took:?}, node 8 restarted included");

    // Node 9 resumes: its first exchanges bring it up to date.
    c.agents[9].sigcont();
    let took = wait_for("the resumed node runs v2", 30, || runs(&c.agents[9], &d2));
    eprintln!("the resumed node caught up after {took:?}");
    assert!(took.as_secs() < 10, "catching up took {took:?}");

    // Rollback at node 2: v1 again, under a new, higher number, everywhere.
    let d3 = deployment(&cli_ok(&[
        "rollback",
        "--api",
        &c.agents[2].api(),
        "membership",
        "--json",
    ]));
    assert_eq!(
        d3.version, d1.version,
        "a rollback goes back to the previous code"
    );
    assert!(
        number(&d3) > number(&d2),
        "a rollback is a new, higher deployment"
    );
    let took = wait_for("every node runs v1 again", 30, || everyone_runs(&c, &d3, &[]));
    eprintln!("rollback everywhere after {took:?}");

    // Nobody went back: the status' `running` is the rollback everywhere, and its
    // configuration on disk too.
    for a in &c.agents {
        let s = a.status().unwrap();
        let m = s.module("membership").unwrap();
        assert_eq!(m.running.as_deref(), Some(d3.number.as_str()));
        let config: Configuration =
            serde_json::from_slice(&std::fs::read(a.data_dir.join("configuration.json")).unwrap()).unwrap();
        assert_eq!(config.iter().next().unwrap().number, number(&d3));
    }
    eprintln!("whole scenario: {:?}", started.elapsed());
}
