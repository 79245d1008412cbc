//! Module ABI v2 on the real runtime: a module reads the node's labels, publishes
//! events, takes commands (state-changing calls, apart from the read-only query) and
//! says goodbye when the node leaves; a v1 module has no commands and leaves
//! silently; bad events are dropped and counted, never fatal.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use hearsay_core::{Configuration, Core, CoreInit, Input, ModuleName, NodeId, PeerAddr, Settings};
use hearsay_runtime::{Instance, InstanceContext, Limits, ModuleHost, QueryError, Runtime};

/// modules/abi-v2/labels.wat: labels, events, commands and a goodbye (see its
/// header).
fn v2_module() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/abi-v2/labels.wat");
    wat::parse_file(path).expect("modules/abi-v2/labels.wat")
}

fn ctx(labels: &[(&str, &str)]) -> InstanceContext {
    InstanceContext {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        self_addr: "127.0.0.1:7000".into(),
        node: Default::default(),
        bootstrap: vec!["127.0.0.1:7001".into()],
        seed: 1,
        now_ms: 1000,
        budget: hearsay_core::Budget::default(),
    }
}

#[test]
fn a_v2_module_reads_labels_emits_events_takes_commands_and_says_goodbye() {
    let rt = Runtime::new(Limits::default()).unwrap();
    let code = rt.compile(&v2_module()).unwrap();
    let (mut instance, _) =
        Instance::start(&rt, &code, "", &ctx(&[("zone", "/eu/r1"), ("role", "db")])).unwrap();
    assert!(instance.has_commands());
    let (answer, effects) = instance.command(2000, "set").unwrap().expect("it takes commands");
    let labels: BTreeMap<String, String> = serde_json::from_str(&answer).unwrap();
    assert_eq!(labels["zone"], "/eu/r1");
    assert_eq!(labels["role"], "db");
    assert_eq!(effects.events.len(), 1);
    assert_eq!(effects.events[0].kind, "labels");
    assert_eq!(effects.events[0].data, answer.as_bytes());

    // A bad kind is dropped and counted; the instance lives on.
    let (_, effects) = instance.command(2001, "x").unwrap().unwrap();
    assert!(effects.events.is_empty());
    assert_eq!(instance.usage().events_dropped, 1);
    assert!(instance.failure().is_none());

    let effects = instance.leave(3000).unwrap();
    assert_eq!(
        effects.sends,
        vec![("127.0.0.1:7001".to_string(), b"\"bye\"".to_vec())]
    );
}

#[test]
fn a_v1_module_still_runs_with_no_commands_and_a_silent_leave() {
    // Membership as committed before ABI v2 (modules/abi-v1/README.md).
    const MEMBERSHIP_V1: &[u8] = include_bytes!("../../../modules/abi-v1/membership.wasm");
    let rt = Runtime::new(Limits::default()).unwrap();
    let code = rt.compile(MEMBERSHIP_V1).unwrap();
    let (mut instance, _) = Instance::start(&rt, &code, "", &ctx(&[])).unwrap();
    assert!(!instance.has_commands());
    assert_eq!(instance.command(2000, "anything").unwrap(), None);
    assert!(instance.leave(3000).unwrap().sends.is_empty());
    assert!(instance.query(3001, "count").unwrap().0.contains("live"));
}

#[test]
fn the_host_hands_labels_to_instances_and_collects_their_events() {
    let rt = Arc::new(Runtime::new(Limits::default()).unwrap());
    let me: PeerAddr = "127.0.0.1:7000".parse().unwrap();
    let mut host = ModuleHost::new(rt, me, vec!["127.0.0.1:7001".parse().unwrap()], 7);
    host.set_labels([("zone".to_string(), "/us".to_string())].into());
    let mut core = Core::new(CoreInit {
        id: NodeId(1),
        addr: me,
        settings: Settings::default(),
        configuration: Configuration::default(),
        code: Default::default(),
        ran: Vec::new(),
        seed: 1,
    });
    let module = ModuleName::new("v2").unwrap();
    let wasm = v2_module();
    let (d, _) = core.deploy(1000, module.clone(), wasm.clone(), "").unwrap();
    let inputs = host.load(1000, &d, &wasm);
    assert!(matches!(inputs[0], Input::Loaded { .. }));
    let (answer, _) = host.command(1100, &module, "go");
    assert_eq!(answer.unwrap(), r#"{"zone":"/us"}"#);
    assert_eq!(host.events.len(), 1);
    assert_eq!(host.events[0].0, module);
    let other = ModuleName::new("absent").unwrap();
    assert_eq!(
        host.command(1100, &other, "").0,
        Err(QueryError::NotRunning(other))
    );
    let inputs = host.leave(1200);
    assert!(
        matches!(&inputs[..], [Input::ModuleSend { payload, .. }] if payload == b"\"bye\""),
        "{inputs:?}"
    );
}
