//! Aggregation over zones end to end: 9 real agents in 3 zones (`--label zone=…`)
//! run the aggregate module; each sets `load` by command; every agent's root table
//! shows 9 nodes and the right maximum; after one agent is killed with -9 every
//! agent counts 8; new aggregates arrive by deploying new params; `hearsay query …
//! aggregate zone /eu` prints a zone's table.

mod common;

use common::{
    cli_ok, command_module, deploy_module, dist_module, query_module, runs_module, wait_for, Cluster,
};
use serde_json::{json, Value};

const ZONES: [&str; 3] = ["/eu", "/us", "/asia"];

fn root(c: &Cluster, i: usize) -> Option<Value> {
    query_module(&c.agents[i], "aggregate", "zone%20/").map(|v| v["row"]["attrs"].clone())
}

fn all_roots(c: &Cluster, skip: Option<usize>, want: impl Fn(&Value) -> bool) -> bool {
    (0..c.agents.len())
        .filter(|&i| Some(i) != skip)
        .all(|i| root(c, i).is_some_and(|r| want(&r)))
}

#[test]
fn nine_agents_in_three_zones_aggregate_and_notice_a_kill() {
    let mut c = Cluster::start_with("aggregate", 9, 1, |i| {
        vec!["--label".to_string(), format!("zone={}", ZONES[i % 3])]
    });
    let params =
        json!({"aggregates": {"nodes": "count()", "max_load": "max(load)", "mean_load": "avg(load)"}});
    let d = deploy_module(
        &c.agents[0],
        "aggregate",
        &dist_module("aggregate"),
        json!({ "params": params }),
    );
    wait_for("aggregate everywhere", 30, || {
        c.agents.iter().all(|a| runs_module(a, "aggregate", &d.number))
    });
    for (i, a) in c.agents.iter().enumerate() {
        let answer =
            command_module(a, "aggregate", &format!("set load {}", i as f64 / 10.0)).expect("answered");
        assert_eq!(answer["ok"], true, "{answer}");
    }
    // The mean is over rows that may arrive a round after the count and the max do:
    // every root must reach all three.
    let mean_is = |r: &Value, want: f64| r["mean_load"].as_f64().is_some_and(|m| (m - want).abs() < 1e-9);
    let ok = (0..300).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        all_roots(&c, None, |r| {
            r["nodes"] == 9 && r["max_load"] == 0.8 && mean_is(r, 0.4)
        })
    });
    if !ok {
        for i in 0..9 {
            eprintln!(
                "{i}: {}",
                query_module(&c.agents[i], "aggregate", "tree").unwrap_or_default()
            );
        }
        panic!("every root table: 9 nodes, max_load 0.8, mean_load 0.4");
    }

    // A node's own zone: its table of 3 nodes, each with the host's facts.
    let eu = query_module(&c.agents[3], "aggregate", "zone%20/eu").unwrap();
    let rows = eu["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{eu}");
    for row in rows {
        assert_eq!(row["kind"], "node");
        assert_eq!(row["attrs"]["zone"], "/eu");
        assert!(
            row["attrs"]["aggregate_version"]
                .as_str()
                .is_some_and(|v| v.len() == 12 && d.version.as_deref().unwrap().starts_with(v)),
            "{row}"
        );
        assert!(row["attrs"]["uptime_min"].as_u64().is_some(), "{row}");
    }
    // Another zone, seen from outside it: its row only.
    let us = query_module(&c.agents[0], "aggregate", "zone%20/us").unwrap();
    assert_eq!(us["rows"], Value::Null);
    assert_eq!(us["row"]["attrs"]["nodes"], 3);

    // Through the CLI.
    let printed = cli_ok(&["query", "--api", &c.agents[4].api(), "aggregate", "zone /us"]);
    let printed: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(printed["rows"].as_array().map(Vec::len), Some(3), "{printed}");

    // The node with the highest load is killed: every other agent counts 8 and the
    // next highest load once its row expires (expire_ms, 6 s by default).
    c.agents[8].kill9();
    wait_for("every root table: 8 nodes, max_load 0.7", 30, || {
        all_roots(&c, Some(8), |r| r["nodes"] == 8 && r["max_load"] == 0.7)
    });

    // New aggregates arrive as new params; what was set survives the swap.
    let params =
        json!({"aggregates": {"nodes": "count()", "worst": "top(2, load)", "zones": "distinct(zone)"}});
    let d2 = deploy_module(
        &c.agents[1],
        "aggregate",
        &dist_module("aggregate"),
        json!({ "params": params }),
    );
    wait_for("the new params everywhere", 30, || {
        (0..8).all(|i| runs_module(&c.agents[i], "aggregate", &d2.number))
    });
    wait_for("the new aggregates in every root table", 30, || {
        all_roots(&c, Some(8), |r| {
            r["worst"]
                == json!([{"node": format!("/us/{}", c.agents[7].gossip), "value": 0.7},
                                 {"node": format!("/eu/{}", c.agents[6].gossip), "value": 0.6}])
                && r["zones"] == json!({"/asia": 2, "/eu": 3, "/us": 3})
        })
    });
}
