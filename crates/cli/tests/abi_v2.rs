//! Module ABI v2 on real agents: a node's `--label`s show in its status and reach its
//! modules; a command (POST) changes a module's state where a query only reads; what
//! a module emits appears in the node's event stream with the module as its source;
//! a v1 module (membership.wasm as it was before ABI v2) runs beside it and takes no
//! commands.

mod common;

use common::{cli_ok, deploy_module, first_event, http, membership_v1_wasm, runs_module, wait_for, Cluster};
use serde_json::Value;

/// modules/abi-v2/labels.wat: a command publishes and answers the node's labels, a
/// query answers `{"ok":true}`, every payload received becomes an event, and on a
/// graceful leave it says "bye" to its bootstrap peer.
fn labels_module() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/abi-v2/labels.wat");
    wat::parse_file(path).expect("modules/abi-v2/labels.wat")
}

#[test]
fn labels_commands_and_module_events_on_real_agents() {
    let c = Cluster::start_with("abi-v2", 2, 1, |i| {
        vec![
            "--label".into(),
            format!("zone=/eu/r{i}"),
            "--label".into(),
            "role=db".into(),
        ]
    });
    let status: Value =
        serde_json::from_str(&cli_ok(&["status", "--api", &c.agents[1].api(), "--json"])).unwrap();
    assert_eq!(status["labels"]["zone"], "/eu/r1", "{status}");
    assert_eq!(status["labels"]["role"], "db");

    let d = deploy_module(&c.agents[0], "labels", &labels_module(), serde_json::json!({}));
    let m = deploy_module(
        &c.agents[0],
        "membership",
        &membership_v1_wasm(),
        serde_json::json!({}),
    );
    wait_for("both modules everywhere", 30, || {
        c.agents
            .iter()
            .all(|a| runs_module(a, "labels", &d.number) && runs_module(a, "membership", &m.number))
    });

    // A command at node 1: its labels, and an event in its stream from the module.
    let api = c.agents[1].api();
    let (code, answer) = http(&api, "POST", "/v1/modules/labels/command", br#"{"args":"go"}"#).unwrap();
    assert_eq!(code, 200, "{answer}");
    let labels: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(labels["zone"], "/eu/r1");
    let event = first_event(&api, 0, &["--module", "labels", "--kind", "labels"]);
    assert_eq!(event["source"], "labels", "{event}");
    assert_eq!(event["data"]["zone"], "/eu/r1", "{event}");

    // The same through the CLI.
    let answer: Value =
        serde_json::from_str(&cli_ok(&["command", "--api", &api, "labels", "again"])).unwrap();
    assert_eq!(answer["role"], "db");
    // Queries stay read-only GETs; commands are POST only.
    let (code, answer) = http(&api, "GET", "/v1/modules/labels/query", b"").unwrap();
    assert_eq!((code, answer.as_str()), (200, r#"{"ok":true}"#));
    let (code, _) = http(&api, "GET", "/v1/modules/labels/command", b"").unwrap();
    assert_eq!(code, 405);
    // A v1 module takes no commands; an absent one isn't running.
    let (code, answer) = http(&api, "POST", "/v1/modules/membership/command", br#"{"args":""}"#).unwrap();
    assert_eq!(code, 400, "{answer}");
    assert!(answer.contains("no_commands"), "{answer}");
    let (code, answer) = http(&api, "POST", "/v1/modules/absent/command", br#"{}"#).unwrap();
    assert_eq!(code, 404, "{answer}");
    let (code, answer) = http(&api, "POST", "/v1/modules/labels/command", br#"{"argz":1}"#).unwrap();
    assert_eq!(code, 400, "{answer}");
    // ...and membership (v1) still answers its query.
    let (code, answer) = http(&api, "GET", "/v1/modules/membership/query?args=count", b"").unwrap();
    assert_eq!(code, 200, "{answer}");
}

#[test]
fn a_leaving_node_says_goodbye_through_its_modules() {
    let mut c = Cluster::start("abi-v2-leave", 2, 1);
    let d = deploy_module(&c.agents[0], "farewell", &labels_module(), serde_json::json!({}));
    wait_for("the module everywhere", 30, || {
        c.agents.iter().all(|a| runs_module(a, "farewell", &d.number))
    });
    let status = c.agents[1].sigterm();
    assert!(status.success(), "a graceful stop exits 0: {status}");
    let event = first_event(&c.agents[0].api(), 0, &["--kind", "received"]);
    assert_eq!(event["source"], "farewell", "{event}");
    assert_eq!(event["data"], "bye", "{event}");
}

#[test]
fn a_bad_label_is_refused_at_start() {
    let stderr = common::agent_refused(&["--label", "Bad Key=x"]);
    assert!(stderr.contains("label key"), "{stderr}");
}
