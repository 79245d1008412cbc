//! Membership as applications use it, with 10 real agents labelled
//! `zone=/eu/r{i % 3}` and `role=db|web`: ABI v1's membership runs first; membership
//! of ABI v2 deployed at node 3 shows in node 0's event stream as adopted and then
//! started, and takes the v1 state over; `hearsay members` on every agent lists all 10
//! with their labels, `--label` and `--state` filter; SIGTERM on one agent makes every
//! other list it as `left` — acted on from its leave, not found by the failure
//! timeout (which would say `failed`) — with a `member.left` event.

mod common;

use std::time::Instant;

use common::{
    cli, cli_ok, deploy_module, first_event, membership_v1_wasm, membership_wasm, runs_module, wait_for,
    Agent, Cluster,
};
use serde_json::Value;

const NODES: usize = 10;

fn members(a: &Agent, extra: &[&str]) -> Vec<Value> {
    let api = a.api();
    let mut args = vec!["members", "--api", &api, "--json"];
    args.extend(extra);
    serde_json::from_str::<Vec<Value>>(&cli_ok(&args)).expect("members --json prints a list")
}

fn state_of(list: &[Value], addr: &str) -> Option<String> {
    list.iter()
        .find(|m| m["addr"] == addr)
        .and_then(|m| m["state"].as_str().map(String::from))
}

#[test]
fn members_with_labels_events_and_a_graceful_leave() {
    let mut c = Cluster::start_with("members", NODES, 2, |i| {
        let role = if i % 2 == 0 { "db" } else { "web" };
        vec![
            "--label".into(),
            format!("zone=/eu/r{}", i % 3),
            "--label".into(),
            format!("role={role}"),
        ]
    });
    let v1 = deploy_module(
        &c.agents[0],
        "membership",
        &membership_v1_wasm(),
        serde_json::json!({}),
    );
    wait_for("v1 membership: every node sees all 10", 60, || {
        c.agents
            .iter()
            .all(|a| common::query_module(a, "membership", "count").is_some_and(|v| v["live"] == NODES))
    });
    // v1 has no `members` query: the CLI says what is wrong.
    let out = cli(&["members", "--api", &c.agents[0].api()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ABI v2"), "{out:?}");

    // The v2 deployment, made at node 3, in node 0's stream: adopted, then started.
    let v2 = deploy_module(
        &c.agents[3],
        "membership",
        &membership_wasm(),
        serde_json::json!({}),
    );
    assert_ne!(v1.version, v2.version);
    let watched = c.agents[0].api();
    let adopted = first_event(
        &watched,
        0,
        &["--module", "membership", "--kind", "deployment_adopted"],
    );
    let adopted = if adopted["data"]["deployment"]["number"] == v2.number {
        adopted
    } else {
        let after = adopted["id"].as_u64().unwrap();
        first_event(
            &watched,
            after,
            &["--module", "membership", "--kind", "deployment_adopted"],
        )
    };
    assert_eq!(adopted["data"]["deployment"]["number"], v2.number, "{adopted}");
    let after = adopted["id"].as_u64().unwrap();
    let started = first_event(&watched, after, &["--module", "membership", "--kind", "started"]);
    assert_eq!(started["data"]["number"], v2.number, "{started}");
    eprintln!(
        "members: at node 0, deployment adopted → started in {} ms",
        started["time_ms"].as_u64().unwrap() - adopted["time_ms"].as_u64().unwrap()
    );
    wait_for("v2 everywhere", 30, || {
        c.agents.iter().all(|a| runs_module(a, "membership", &v2.number))
    });

    // Every agent lists all 10, alive, with their labels.
    wait_for("every node lists all 10 with labels", 30, || {
        c.agents.iter().all(|a| {
            let list = members(a, &[]);
            list.len() == NODES
                && list
                    .iter()
                    .all(|m| m["state"] == "alive" && m["labels"]["zone"].is_string())
        })
    });
    for a in &c.agents {
        let list = members(a, &[]);
        for b in &c.agents {
            let m = list.iter().find(|m| m["addr"] == b.gossip.to_string()).unwrap();
            assert_eq!(m["labels"]["zone"], format!("/eu/r{}", b.index % 3), "{m}");
            assert_eq!(m["labels"]["role"], if b.index % 2 == 0 { "db" } else { "web" });
        }
    }
    // Filters: zone /eu/r1 holds nodes 1, 4, 7; with role=web, 1 and 7.
    assert_eq!(members(&c.agents[5], &["--label", "zone=/eu/r1"]).len(), 3);
    assert_eq!(
        members(&c.agents[5], &["--label", "zone=/eu/r1", "--label", "role=web"]).len(),
        2
    );
    let table = cli_ok(&["members", "--api", &c.agents[5].api()]);
    assert!(table.starts_with("ADDRESS"), "{table}");
    assert_eq!(table.lines().count(), NODES + 1, "{table}");

    // A graceful stop of node 9: everyone else lists it as left.
    let leaver = c.agents[9].gossip.to_string();
    let t0 = Instant::now();
    let status = c.agents[9].sigterm();
    assert!(status.success(), "a graceful stop exits 0: {status}");
    wait_for("every node lists node 9 as left", 30, || {
        c.agents[..9]
            .iter()
            .all(|a| state_of(&members(a, &[]), &leaver).as_deref() == Some("left"))
    });
    eprintln!(
        "members: node 9 listed as left everywhere {} ms after SIGTERM (polling included)",
        t0.elapsed().as_millis()
    );
    for a in &c.agents[..9] {
        let alive = members(a, &["--state", "alive"]);
        assert_eq!(alive.len(), NODES - 1);
    }
    let event = first_event(&watched, 0, &["--module", "membership", "--kind", "member.left"]);
    assert_eq!(event["data"]["addr"], leaver, "{event}");
    assert_eq!(event["data"]["labels"]["zone"], "/eu/r0", "{event}");
    assert_eq!(event["source"], "membership");
}
