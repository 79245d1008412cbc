//! A few membership hosts wired to each other in memory (module sends routed straight
//! to the addressed host), for tests of swaps and tiers through real wasmtime.

use std::sync::Arc;

use super::MEMBERSHIP;
use hearsay_core::{CodeVersion, Deployment, DeploymentNumber, Input, ModuleName, NodeId, PeerAddr};
use hearsay_runtime::{ModuleHost, Runtime};

pub fn addr(i: usize) -> PeerAddr {
    PeerAddr::from(([127, 0, 0, 1], 7000 + i as u16))
}

pub fn deployment(time_ms: u64, wasm: &[u8], params: &str) -> Deployment {
    Deployment {
        module: ModuleName::new("membership").unwrap(),
        version: Some(CodeVersion::of(wasm)),
        number: DeploymentNumber {
            time_ms,
            origin: NodeId(1),
        },
        params: params.into(),
        previous: None,
        budget: Default::default(),
        auto_rollback_ms: None,
        signature: None,
    }
}

/// Routes module sends straight between hosts (the core's part is tested elsewhere).
pub fn route(hosts: &mut [ModuleHost], now: u64, inputs: Vec<(usize, Input)>) {
    let mut queue = std::collections::VecDeque::from(inputs);
    while let Some((from, input)) = queue.pop_front() {
        if let Input::ModuleSend { module, to, payload } = input {
            let to = (to.port() - 7000) as usize;
            let Some((number, _)) = hosts[to].instance(&module) else {
                continue;
            };
            for i in hosts[to].deliver(now, &module, number, addr(from), &payload) {
                queue.push_back((to, i));
            }
        }
    }
}

pub fn live(host: &mut ModuleHost, now: u64) -> Vec<String> {
    let module = ModuleName::new("membership").unwrap();
    let (answer, _) = host.query(now, &module, "");
    let json: serde_json::Value = serde_json::from_str(&answer.unwrap()).unwrap();
    json["live"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// `n` hosts running membership on `rt`, 20 rounds in: every view holds every node.
pub fn cluster(rt: Arc<Runtime>, n: usize) -> (Vec<ModuleHost>, u64) {
    let mut hosts: Vec<ModuleHost> = (0..n)
        .map(|i| ModuleHost::new(rt.clone(), addr(i), vec![addr(0)], i as u64))
        .collect();
    let d = deployment(1, MEMBERSHIP, "");
    let mut now = 1_000;
    for (i, h) in hosts.iter_mut().enumerate() {
        let inputs = h.load(now, &d, MEMBERSHIP);
        assert!(matches!(inputs[0], Input::Loaded { .. }), "node {i}: {inputs:?}");
    }
    for _ in 0..20 {
        now += 200;
        let sends: Vec<(usize, Input)> = (0..n)
            .flat_map(|i| hosts[i].tick(now).into_iter().map(move |s| (i, s)))
            .collect();
        route(&mut hosts, now, sends);
    }
    (hosts, now)
}
