//! The event stream end to end, with 3 real agents: `hearsay events` on one node
//! prints the adoption of a deployment made at another and then its start; a client
//! that resumes after an id gets exactly the events after it; bad requests get JSON
//! errors; every route answers under `/v1` too.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{deploy_module, first_event, hearsay_bin, http, membership_wasm, Cluster};
use serde_json::Value;

#[test]
fn events_show_a_deployment_spreading_and_resume_after_an_id() {
    let c = Cluster::start("events", 3, 1);
    let watched = c.agents[2].api();

    // A live subscriber on node 2, started before the deploy at node 0.
    let mut child = Command::new(hearsay_bin())
        .args([
            "events",
            "--api",
            &watched,
            "--module",
            "membership",
            "--json",
            "--count",
            "2",
        ])
        .args([
            "--kind",
            "deployment_adopted,started",
            "--after",
            "0",
            "--timeout-s",
            "30",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // `--after 0`: whatever the node kept first, so the deploy can't race the
    // subscription (nothing about membership happened before it).
    let d = deploy_module(
        &c.agents[0],
        "membership",
        &membership_wasm(),
        serde_json::json!({}),
    );

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("two events within 30 s");
        seen.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    assert!(child.wait().unwrap().success(), "--count 2 ends the command");
    assert_eq!(seen[0]["kind"], "deployment_adopted", "{seen:?}");
    assert_eq!(seen[0]["data"]["deployment"]["number"], d.number.as_str());
    assert!(seen[0]["data"]["from"].is_string(), "heard from a peer: {seen:?}");
    assert_eq!(seen[1]["kind"], "started");
    assert_eq!(seen[1]["module"], "membership");
    assert_eq!(seen[1]["source"], "core");
    let (first, second) = (seen[0]["id"].as_u64().unwrap(), seen[1]["id"].as_u64().unwrap());
    assert!(second > first);

    // Resuming after the first: the kept events after it, in order, the second among
    // them — and nothing at or before the id given.
    let resumed = first_event(&watched, first, &["--kind", "started"]);
    assert_eq!(resumed["id"].as_u64(), Some(second), "{resumed}");

    // Bad requests: JSON errors, counted.
    let (code, body) = http(&watched, "GET", "/v1/events?bogus=1", b"").unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("\"kind\":\"bad_request\""), "{body}");
    let (code, _) = http(&watched, "GET", "/v1/status", b"").unwrap();
    assert_eq!(code, 200, "routes answer under /v1");
    let (code, _) = http(&watched, "GET", "/status", b"").unwrap();
    assert_eq!(code, 200, "and where they were before");
    // The core's own CPU time is accounted (the driver measures each core step).
    assert!(common::metric(&watched, "hearsay_core_nanoseconds_total") > 0);
}
