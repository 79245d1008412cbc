//! The S3 scenario's pieces for end-to-end tests: the statecast modules from
//! `modules/dist`, deploying and querying them over the API, a healthy 20-agent
//! cluster holding a value, the poisoned deployment spreading through it, and the
//! module's wire encoding (to forge its gossip).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use base64::Engine as _;
use hearsay_node::api_types::{DeployResponse, DeploymentInfo, ModuleReport};
use serde_json::{json, Value};

use super::{http, wait_for, Agent, Cluster};

pub const MODULE: &str = "statecast";
/// The value set while the cluster is healthy.
pub const VALUE: u64 = 42;
/// Agents in every S3 test cluster, and how many of them are rendezvous nodes.
pub const NODES: usize = 20;
pub const RENDEZVOUS: usize = 3;

/// One test at a time in a test binary: each starts 20 agents on 2 cores.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A committed module, e.g. `dist("statecast-poison")`.
pub fn dist(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../modules/dist/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Deploys statecast code through `a`; panics if refused.
pub fn deploy(a: &Agent, wasm: &[u8], params: Value) -> DeploymentInfo {
    let b64 = base64::engine::general_purpose::STANDARD.encode(wasm);
    let body = json!({"module": MODULE, "wasm_base64": b64, "params": params}).to_string();
    let (code, answer) = http(&a.api(), "POST", "/deploy", body.as_bytes()).unwrap();
    assert_eq!(code, 200, "deploy at node {}: {answer}", a.index);
    serde_json::from_str::<DeployResponse>(&answer)
        .unwrap()
        .deployment
}

/// The module's report in `a`'s status.
pub fn report(a: &Agent) -> Option<ModuleReport> {
    a.status().and_then(|s| s.module(MODULE).cloned())
}

pub fn runs(a: &Agent, d: &DeploymentInfo) -> bool {
    report(a).is_some_and(|m| m.runs(&d.number))
}

/// The module's query answer at `a` (None if it doesn't run there).
pub fn query(a: &Agent) -> Option<Value> {
    query_args(a, "")
}

fn query_args(a: &Agent, args: &str) -> Option<Value> {
    let (code, body) = http(
        &a.api(),
        "GET",
        &format!("/modules/{MODULE}/query?args={args}"),
        b"",
    )
    .ok()?;
    (code == 200).then(|| serde_json::from_str(&body).ok()).flatten()
}

pub fn poisoned(a: &Agent) -> Option<bool> {
    query(a).and_then(|v| v["poisoned"].as_bool())
}

/// Every agent but those in `skip` satisfies `f`.
pub fn all(c: &Cluster, skip: &[usize], f: impl Fn(&Agent) -> bool) -> bool {
    c.agents.iter().filter(|a| !skip.contains(&a.index)).all(f)
}

/// 20 agents (3 rendezvous) running statecast, all holding value 42 at version 1.
pub fn healthy_cluster(name: &str) -> (Cluster, DeploymentInfo) {
    let c = Cluster::start(name, NODES, RENDEZVOUS);
    let healthy = deploy(&c.agents[0], &dist("statecast"), Value::Null);
    wait_for("every node runs statecast", 30, || {
        all(&c, &[], |a| runs(a, &healthy))
    });
    let set =
        super::command_module(&c.agents[0], MODULE, &format!("{{\"set\":{VALUE}}}")).expect("set answered");
    assert_eq!(set["value"], VALUE, "{set}");
    wait_for("every node holds the value", 30, || {
        all(&c, &[], |a| {
            query(a).is_some_and(|v| v["version"] == 1 && v["value"] == VALUE && v["poisoned"] == false)
        })
    });
    (c, healthy)
}

/// statecast-poison deployed at node 1, corrupting at the last node only: waits until
/// every node runs it and holds the poisoned record (spread by gossip).
pub fn poison(c: &Cluster) -> DeploymentInfo {
    let at = c.agents.last().unwrap().gossip.to_string();
    let bad = deploy(&c.agents[1], &dist("statecast-poison"), json!({"poison_at": at}));
    wait_for("every node runs statecast-poison", 30, || {
        all(c, &[], |a| runs(a, &bad))
    });
    wait_for("every node holds the poisoned record", 30, || {
        all(c, &[], |a| poisoned(a) == Some(true))
    });
    bad
}

/// A statecast push message carrying the sound record `{version, value}`, encoded by
/// the module's own code.
pub fn message(version: u64, value: u64) -> Vec<u8> {
    statecast::engine::wire::encode_message(false, &statecast::Record::new(version, value), &[])
}
