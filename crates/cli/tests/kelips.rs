//! The one-hop lookup end to end with 10 real agents running the kelips module in 3
//! affinity groups: 1,000 puts and 1,000 gets from random nodes, all found; after the
//! agent most others hold as a contact is killed with -9 (its peers still list it
//! until its heartbeat goes stale)
//! every key is still found, and again once it is back; `hearsay kelips put|get`
//! through the CLI, a missing key exiting with status 1.

mod common;

use common::{
    cli, cli_ok, command_module, deploy_module, dist_module, query_module, runs_module, wait_for, Cluster,
};
use serde_json::{json, Value};

const NODES: usize = 10;
const KEYS: usize = 1000;

/// A deterministic walk over node indices.
fn pick(state: &mut u64, n: usize) -> usize {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*state >> 33) as usize % n
}

/// Starts requests (`args` per key, at the node `at` picks), then waits for each
/// outcome: the outcomes, by key.
fn run_all(c: &Cluster, args: impl Fn(usize) -> Value, mut at: impl FnMut() -> usize) -> Vec<Value> {
    let mut started = Vec::new();
    for k in 0..KEYS {
        let node = at();
        let answer = command_module(&c.agents[node], "kelips", &args(k).to_string()).expect("answered");
        assert!(answer["id"].is_u64(), "{answer}");
        started.push((node, answer));
    }
    let mut outcomes = Vec::new();
    for (node, answer) in started {
        if answer["done"] == true {
            outcomes.push(answer);
            continue;
        }
        let id = answer["id"].as_u64().unwrap();
        let mut outcome = Value::Null;
        wait_for("a request's outcome", 30, || {
            outcome =
                query_module(&c.agents[node], "kelips", &format!("result%20{id}")).unwrap_or(Value::Null);
            outcome["done"] == true
        });
        outcomes.push(outcome);
    }
    outcomes
}

fn get_all(c: &Cluster, walk: &mut u64, skip: Option<usize>) -> Vec<Value> {
    run_all(
        c,
        |k| json!({"op": "get", "key": format!("file/{k}")}),
        || loop {
            let i = pick(walk, NODES);
            if Some(i) != skip {
                return i;
            }
        },
    )
}

fn assert_all_found(outcomes: &[Value], when: &str) {
    for (k, o) in outcomes.iter().enumerate() {
        assert_eq!(o["status"], "found", "{when}: file/{k}: {o}");
        assert_eq!(o["value"], format!("home of {k}"), "{when}: {o}");
    }
}

#[test]
fn a_thousand_puts_and_gets_from_random_nodes_are_all_found() {
    let mut c = Cluster::start("kelips", NODES, 1);
    let d = deploy_module(
        &c.agents[0],
        "kelips",
        &dist_module("kelips"),
        json!({"params": {"groups": 3}}),
    );
    wait_for("kelips everywhere", 30, || {
        c.agents.iter().all(|a| runs_module(a, "kelips", &d.number))
    });
    // Every node knows its whole group and a contact in every other occupied group.
    wait_for("views whole", 60, || {
        let s: Vec<Value> = (0..NODES)
            .filter_map(|i| query_module(&c.agents[i], "kelips", ""))
            .collect();
        if s.len() < NODES {
            return false;
        }
        let mut sizes = [0u64; 3];
        for v in &s {
            sizes[v["group"].as_u64().unwrap() as usize] += 1;
        }
        let occupied = sizes.iter().filter(|&&x| x > 0).count() as u64;
        s.iter().all(|v| {
            v["members"].as_u64() == Some(sizes[v["group"].as_u64().unwrap() as usize] - 1)
                && v["groups_covered"].as_u64() == Some(occupied - 1)
                && v["synced"] == true
        })
    });

    let mut walk = 17;
    let puts = run_all(
        &c,
        |k| json!({"op": "put", "key": format!("file/{k}"), "value": format!("home of {k}")}),
        || pick(&mut walk, NODES),
    );
    for (k, o) in puts.iter().enumerate() {
        assert_eq!(o["status"], "stored", "file/{k}: {o}");
    }
    // Reads are eventually consistent: gets start once the members of each group hold
    // the same tuples, all 1,000 in all.
    wait_for("every replica holds what was stored", 30, || {
        let mut groups = std::collections::BTreeMap::<u64, Vec<u64>>::new();
        for i in 0..NODES {
            match query_module(&c.agents[i], "kelips", "") {
                Some(v) => groups
                    .entry(v["group"].as_u64().unwrap())
                    .or_default()
                    .push(v["live_tuples"].as_u64().unwrap()),
                None => return false,
            }
        }
        groups.values().all(|h| h.iter().all(|x| *x == h[0]))
            && groups.values().map(|h| h[0]).sum::<u64>() == KEYS as u64
    });
    let gets = get_all(&c, &mut walk, None);
    assert_all_found(&gets, "no faults");
    let remote: Vec<u64> = gets
        .iter()
        .map(|o| o["hops"].as_u64().unwrap())
        .filter(|&h| h > 0)
        .collect();
    assert!(remote.len() > KEYS / 4, "many keys are in another group");
    assert!(remote.iter().all(|&h| h == 1), "one hop each without faults");

    // The agent most others hold as a contact (the rendezvous node aside) is killed
    // with -9: requests sent to it time out and go elsewhere. It is chosen in a group
    // of at least 3, so its group's tuples live on at 2 others (a group's members are
    // its keys' only replicas).
    let group_of = |i: usize| {
        query_module(&c.agents[i], "kelips", "").unwrap()["group"]
            .as_u64()
            .unwrap()
    };
    let groups: Vec<u64> = (0..NODES).map(group_of).collect();
    let held_as_contact = |v: usize| {
        let addr = c.agents[v].gossip.to_string();
        (0..NODES)
            .filter(|&i| {
                let view = query_module(&c.agents[i], "kelips", "view").unwrap();
                view["contacts"]
                    .as_object()
                    .unwrap()
                    .values()
                    .any(|list| list.as_array().unwrap().iter().any(|a| a == addr.as_str()))
            })
            .count()
    };
    let victim = (1..NODES)
        .filter(|&v| groups.iter().filter(|&&g| g == groups[v]).count() >= 3)
        .max_by_key(|&v| held_as_contact(v))
        .expect("a group of 3 or more among 10 agents in 3 groups");
    c.agents[victim].kill9();
    let gets = get_all(&c, &mut walk, Some(victim));
    assert_all_found(&gets, "one agent killed");
    let retried = gets.iter().filter(|o| o["hops"].as_u64() > Some(1)).count();
    assert!(retried > 0, "no request went to the killed agent first");
    c.agents[victim].start();
    wait_for("the killed agent runs kelips again", 30, || {
        runs_module(&c.agents[victim], "kelips", &d.number)
    });
    wait_for("the restarted agent synced with its group", 60, || {
        query_module(&c.agents[victim], "kelips", "").is_some_and(|v| v["synced"] == true)
    });
    let gets = get_all(&c, &mut walk, None);
    assert_all_found(&gets, "after the restart");

    // The CLI: put at one node, get at another; a missing key is an error.
    let stored = cli_ok(&[
        "kelips",
        "--api",
        &c.agents[1].api(),
        "put",
        "svc/db",
        "10.0.0.9:5432",
    ]);
    assert!(stored.starts_with("stored svc/db version 1 at "), "{stored}");
    let value = cli_ok(&["kelips", "--api", &c.agents[8].api(), "get", "svc/db"]);
    assert_eq!(value.trim(), "10.0.0.9:5432");
    let missing = cli(&["kelips", "--api", &c.agents[8].api(), "get", "svc/none"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("svc/none: not found"));
    let answer = command_module(&c.agents[0], "kelips", "{\"op\":\"put\",\"key\":\"\"}").unwrap();
    assert!(answer["error"].is_string(), "{answer}");
}
