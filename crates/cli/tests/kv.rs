//! Keyed state end to end with 10 real agents running the kv module: 1,000 keys
//! written at different nodes are readable at every node; a deleted key disappears
//! everywhere and stays deleted after its writer is killed with -9 and restarted (a
//! restarted writer is a new generation: what it wrote before is dropped everywhere,
//! as chitchat's node states are); `hearsay kv watch` sees each change once.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{
    cli_ok, command_module, deploy_module, dist_module, hearsay_bin, runs_module, wait_for, Cluster,
};
use serde_json::{json, Value};

const NODES: usize = 10;
const KEYS: usize = 1000;

fn list(c: &Cluster, i: usize, prefix: &str) -> Value {
    let out = cli_ok(&["kv", "--api", &c.agents[i].api(), "list", prefix, "--json"]);
    serde_json::from_str(&out).unwrap()
}

fn count(c: &Cluster, i: usize, prefix: &str) -> u64 {
    list(c, i, prefix)["count"].as_u64().unwrap()
}

fn set(c: &Cluster, i: usize, key: &str, value: &str) {
    let answer = command_module(
        &c.agents[i],
        "kv",
        &json!({"op": "set", "key": key, "value": value}).to_string(),
    )
    .expect("set answered");
    assert!(answer["version"].is_u64(), "{answer}");
}

#[test]
fn keys_everywhere_deletes_stick_and_a_watch_sees_each_change_once() {
    let mut c = Cluster::start("kv", NODES, 1);
    let d = deploy_module(&c.agents[0], "kv", &dist_module("kv"), json!({}));
    wait_for("kv everywhere", 30, || {
        c.agents.iter().all(|a| runs_module(a, "kv", &d.number))
    });
    wait_for("every node's peer view holds every other", 30, || {
        (0..NODES).all(|i| {
            common::query_module(&c.agents[i], "kv", "").is_some_and(|v| v["peers"] == (NODES - 1) as u64)
        })
    });

    // A watcher of svc/ at node 9, through the CLI.
    let mut watcher = Command::new(hearsay_bin())
        .args([
            "kv",
            "--api",
            &c.agents[9].api(),
            "watch",
            "svc/",
            "--count",
            "3",
            "--timeout-s",
            "60",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut watching = String::new();
    let mut watcher_err = BufReader::new(watcher.stderr.take().unwrap());
    watcher_err.read_line(&mut watching).unwrap();
    assert!(watching.starts_with("watching \"svc/\""), "{watching}");

    // 1,000 keys, each written at one of the nodes.
    for k in 0..KEYS {
        set(&c, k % NODES, &format!("k/{k:04}"), &format!("value {k}"));
    }
    wait_for("every node reads all 1,000 keys", 60, || {
        (0..NODES).all(|i| count(&c, i, "k/") == KEYS as u64)
    });
    let at_3 = list(&c, 3, "k/0417");
    assert_eq!(at_3["keys"][0]["value"], "value 417");
    assert_eq!(at_3["keys"][0]["node"], c.agents[417 % NODES].gossip.to_string());

    // Changes under svc/: a registration, a new address, a deregistration. The watch
    // stream was opened before them, so it must print exactly these three.
    cli_ok(&["kv", "--api", &c.agents[2].api(), "set", "svc/web", "10.0.0.2:80"]);
    wait_for("svc/web at node 9", 30, || count(&c, 9, "svc/") == 1);
    cli_ok(&[
        "kv",
        "--api",
        &c.agents[2].api(),
        "set",
        "svc/web",
        "10.0.0.2:8080",
    ]);
    wait_for("the new address at node 9", 30, || {
        list(&c, 9, "svc/")["keys"][0]["value"] == "10.0.0.2:8080"
    });
    cli_ok(&["kv", "--api", &c.agents[2].api(), "delete", "svc/web"]);
    let out = watcher.wait_with_output().unwrap();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut watcher_err, &mut rest);
    assert!(out.status.success(), "{rest}");
    let printed: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let writer = c.agents[2].gossip.to_string();
    assert_eq!(
        printed,
        [
            format!("set svc/web {writer} 10.0.0.2:80"),
            format!("set svc/web {writer} 10.0.0.2:8080"),
            format!("removed svc/web {writer} deleted"),
        ]
    );

    // A deleted key disappears everywhere…
    let answer = command_module(
        &c.agents[5],
        "kv",
        &json!({"op": "delete", "key": "k/0005"}).to_string(),
    )
    .unwrap();
    assert_eq!(answer["deleted"], true);
    wait_for("k/0005 gone everywhere", 30, || {
        (0..NODES).all(|i| count(&c, i, "k/0005") == 0)
    });
    // … and stays deleted after its writer is killed with -9 and restarted; the
    // restarted writer's earlier keys go with its old generation.
    c.agents[5].kill9();
    c.agents[5].start();
    wait_for("node 5 runs kv again", 30, || {
        runs_module(&c.agents[5], "kv", &d.number)
    });
    wait_for("node 5's old keys dropped everywhere", 60, || {
        (0..NODES).all(|i| count(&c, i, "k/") == (KEYS - KEYS / NODES) as u64)
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    for i in 0..NODES {
        assert_eq!(count(&c, i, "k/0005"), 0, "node {i}: a deleted key came back");
    }
    // What the restarted node writes now spreads as before.
    set(&c, 5, "k/0005", "rewritten");
    wait_for("the new k/0005 everywhere", 30, || {
        (0..NODES).all(|i| list(&c, i, "k/0005")["keys"][0]["value"] == "rewritten")
    });

    // Node 9 saw each svc/ change once, in its kept events too.
    let events = cli_ok(&[
        "events",
        "--api",
        &c.agents[9].api(),
        "--module",
        "kv",
        "--kind",
        "key.set,key.removed",
        "--after",
        "0",
        "--json",
        "--timeout-s",
        "1",
    ]);
    let svc = events
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).unwrap()["data"]["key"] == "svc/web")
        .count();
    assert_eq!(svc, 3);
}
