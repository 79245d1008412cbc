//! Publish/subscribe end to end with 10 real agents running the broadcast module:
//! 3 subscribers on topic `a`, 2 on `b`; 200 messages published at the other nodes
//! arrive exactly once at every subscriber of their topic and never anywhere else —
//! and again after one subscriber is killed with -9, restarted and subscribed anew.
//! `hearsay subscribe` prints what arrives; `hearsay publish` publishes.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use common::{
    cli_ok, command_module, deploy_module, dist_module, hearsay_bin, runs_module, wait_for, Agent, Cluster,
};
use serde_json::{json, Value};

const NODES: usize = 10;
const A: [usize; 3] = [1, 2, 3];
const B: [usize; 2] = [4, 5];
const PUBLISHERS: [usize; 5] = [0, 6, 7, 8, 9];

fn subscribe(agent: &Agent, topic: &str) {
    let answer = command_module(
        agent,
        "broadcast",
        &json!({"op": "subscribe", "topic": topic}).to_string(),
    )
    .expect("subscribe answered");
    assert!(
        answer["subscribed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == topic),
        "{answer}"
    );
}

/// The messages node `a` delivered (from its event stream): message text → count.
fn delivered(a: &Agent) -> BTreeMap<String, usize> {
    let api = a.api();
    let out = cli_ok(&[
        "events",
        "--api",
        &api,
        "--module",
        "broadcast",
        "--kind",
        "message",
        "--after",
        "0",
        "--json",
        "--timeout-s",
        "1",
    ]);
    let mut got = BTreeMap::new();
    for line in out.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let message = record["data"]["message"].as_str().unwrap().to_string();
        *got.entry(message).or_insert(0) += 1;
    }
    got
}

/// Publishes `n` messages named `{tag}-{topic}-{k}` at the publishers, alternating
/// topics; returns what each topic's subscribers must get.
fn publish(c: &Cluster, tag: &str, n: usize) -> BTreeMap<&'static str, Vec<String>> {
    let mut sent: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for k in 0..n {
        let topic = if k % 2 == 0 { "a" } else { "b" };
        let message = format!("{tag}-{topic}-{k}");
        let at = &c.agents[PUBLISHERS[k % PUBLISHERS.len()]];
        let answer = command_module(
            at,
            "broadcast",
            &json!({"op": "publish", "topic": topic, "message": message}).to_string(),
        )
        .expect("publish answered");
        assert!(answer["id"].is_string(), "{answer}");
        sent.entry(topic).or_default().push(message);
    }
    sent
}

/// Every subscriber of a topic got each of its messages exactly once; nobody got a
/// message of a topic it doesn't subscribe to.
fn check(c: &Cluster, sent: &BTreeMap<&'static str, Vec<String>>, tag: &str) {
    for topic in ["a", "b"] {
        let subscribers: &[usize] = if topic == "a" { &A } else { &B };
        wait_for(
            &format!("every subscriber of {topic} has its {tag} messages"),
            60,
            || {
                subscribers.iter().all(|&i| {
                    let got = delivered(&c.agents[i]);
                    sent[topic].iter().all(|m| got.contains_key(m))
                })
            },
        );
    }
    for a in &c.agents {
        let got: BTreeMap<String, usize> = delivered(a)
            .into_iter()
            .filter(|(m, _)| m.starts_with(tag))
            .collect();
        let want: Vec<&String> = if A.contains(&a.index) {
            sent["a"].iter().collect()
        } else if B.contains(&a.index) {
            sent["b"].iter().collect()
        } else {
            Vec::new()
        };
        assert_eq!(
            got.len(),
            want.len(),
            "node {} got {} {tag} messages, not {}",
            a.index,
            got.len(),
            want.len()
        );
        for m in want {
            assert_eq!(got.get(m), Some(&1), "node {}: {m} not exactly once", a.index);
        }
    }
}

#[test]
fn messages_reach_their_topics_subscribers_exactly_once_even_after_a_kill_9() {
    let mut c = Cluster::start("pubsub", NODES, 1);
    let d = deploy_module(&c.agents[0], "broadcast", &dist_module("broadcast"), json!({}));
    wait_for("broadcast everywhere", 30, || {
        c.agents.iter().all(|a| runs_module(a, "broadcast", &d.number))
    });
    for &i in &A {
        subscribe(&c.agents[i], "a");
    }
    // One subscriber of b through the CLI, printing what it receives.
    let printer = Command::new(hearsay_bin())
        .args([
            "subscribe",
            "--api",
            &c.agents[B[0]].api(),
            "b",
            "--count",
            "100",
            "--timeout-s",
            "120",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the CLI subscribed", 30, || {
        common::query_module(&c.agents[B[0]], "broadcast", "").is_some_and(|v| v["topics"]["b"].is_object())
    });
    subscribe(&c.agents[B[1]], "b");
    // Give the overlays and every node's directory a moment to form.
    wait_for("the topic overlays formed", 30, || {
        A.iter().chain(&B).all(|&i| {
            common::query_module(&c.agents[i], "broadcast", "").is_some_and(|v| {
                v["topics"]
                    .as_object()
                    .unwrap()
                    .values()
                    .all(|o| !o["active"].as_array().unwrap().is_empty())
            })
        })
    });
    // `hearsay publish` answers the message's id.
    let id = cli_ok(&["publish", "--api", &c.agents[0].api(), "c", "nobody listens"]);
    assert_eq!(id.trim().len(), 16, "{id}");

    let sent = publish(&c, "first", 200);
    check(&c, &sent, "first");
    let out = printer.wait_with_output().unwrap();
    assert!(out.status.success());
    let printed: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(printed.len(), 100);
    assert!(printed.iter().all(|m| m.starts_with("first-b-")), "{printed:?}");

    // A subscriber of a killed with -9, restarted, subscribed anew.
    c.agents[A[1]].kill9();
    c.agents[A[1]].start();
    wait_for("the restarted node runs broadcast", 30, || {
        runs_module(&c.agents[A[1]], "broadcast", &d.number)
    });
    subscribe(&c.agents[A[1]], "a");
    wait_for("it is back in a's overlay", 30, || {
        common::query_module(&c.agents[A[1]], "broadcast", "")
            .is_some_and(|v| !v["topics"]["a"]["active"].as_array().unwrap().is_empty())
    });
    let sent = publish(&c, "second", 200);
    check(&c, &sent, "second");
}
