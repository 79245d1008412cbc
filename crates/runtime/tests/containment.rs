//! A module that traps, loops forever, grows memory without bound or sends without end
//! is contained: that instance fails with its reason, the runtime and the core go on —
//! whichever compiler made its code.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{echo, wat_module, wat_module_with};
use hearsay_core::{
    Budget, Configuration, Core, CoreInit, Input, ModuleName, ModuleState, NodeId, Output, PeerAddr, Settings,
};
use hearsay_runtime::{Instance, InstanceContext, Limits, ModuleError, ModuleHost, Runtime};

fn ctx() -> InstanceContext {
    InstanceContext {
        labels: Default::default(),
        node: Default::default(),
        self_addr: "127.0.0.1:7000".into(),
        bootstrap: vec!["127.0.0.1:7001".into()],
        seed: 1,
        now_ms: 1000,
        budget: runtime().limits().budget,
    }
}

fn runtime() -> Runtime {
    Runtime::new(Limits {
        fuel_per_call: 2_000_000,
        budget: Budget {
            memory_bytes: 4 << 20,
            ..Budget::default()
        },
        ..Limits::default()
    })
    .unwrap()
}

/// The runtime twice: compiling with Cranelift, and with the baseline compiler first
/// (Winch), whose code must be contained just the same.
fn both_tiers() -> [Runtime; 2] {
    [runtime(), runtime().with_baseline_tier().unwrap()]
}

fn start(rt: &Runtime, wasm: &[u8]) -> Instance {
    let code = rt.compile(wasm).unwrap();
    Instance::start(rt, &code, "", &ctx()).unwrap().0
}

/// After a failure the instance stays dead, and the same runtime still runs good code.
fn assert_contained(rt: &Runtime, mut bad: Instance, first: ModuleError) {
    assert_eq!(
        bad.tick(2000),
        Err(first.clone()),
        "a failed instance must stay failed"
    );
    assert_eq!(bad.failure(), Some(&first));
    let mut good = start(rt, &echo());
    let effects = good.receive(3000, "127.0.0.1:7009", b"ping").unwrap();
    assert_eq!(
        effects.sends,
        vec![("127.0.0.1:7009".to_string(), b"ping".to_vec())]
    );
}

#[test]
fn a_trap_is_contained() {
    for rt in both_tiers() {
        let mut m = start(&rt, &wat_module("", "unreachable"));
        let err = m.receive(1000, "127.0.0.1:7001", b"x").unwrap_err();
        assert!(
            matches!(&err, ModuleError::Trap(r) if r.contains("unreachable")),
            "{err}"
        );
        assert_contained(&rt, m, err);
    }
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    for rt in both_tiers() {
        let mut m = start(&rt, &wat_module("(loop $l (br $l))", ""));
        let err = m.tick(1000).unwrap_err();
        assert_eq!(err, ModuleError::OutOfFuel(2_000_000));
        assert_contained(&rt, m, err);
    }
}

#[test]
fn runaway_memory_hits_the_limit() {
    for rt in both_tiers() {
        let mut m = start(
            &rt,
            &wat_module("(loop $l (drop (memory.grow (i32.const 16))) (br $l))", ""),
        );
        let err = m.tick(1000).unwrap_err();
        assert_eq!(err, ModuleError::MemoryLimit(4 << 20));
        assert_contained(&rt, m, err);
    }
}

#[test]
fn a_flood_of_sends_is_cut_off() {
    for rt in both_tiers() {
        let flood =
            "(loop $l (call $send (i32.const 0) (i32.const 14) (i32.const 0) (i32.const 14)) (br $l))";
        let mut m = start(&rt, &wat_module(flood, ""));
        let err = m.tick(1000).unwrap_err();
        assert_eq!(err, ModuleError::Flood(Limits::default().max_sends_per_call));
        assert_contained(&rt, m, err);
    }
}

#[test]
fn out_of_bounds_pointers_trap_instead_of_reading_host_memory() {
    for rt in both_tiers() {
        let mut m = start(
            &rt,
            &wat_module(
                "(call $send (i32.const 0) (i32.const 14) (i32.const -16) (i32.const 64))",
                "",
            ),
        );
        let err = m.tick(1000).unwrap_err();
        assert!(
            matches!(&err, ModuleError::Trap(r) if r.contains("out of bounds")),
            "{err}"
        );
    }
}

/// The whole path: the core loads a module, the module traps on a payload, the core
/// marks it failed with the reason — and keeps gossiping configuration.
#[test]
fn the_core_keeps_gossiping_when_its_module_dies() {
    let rt = Arc::new(runtime());
    let me: PeerAddr = "127.0.0.1:7000".parse().unwrap();
    let peer: PeerAddr = "127.0.0.1:7001".parse().unwrap();
    let module = ModuleName::new("trapper").unwrap();
    let mut core = Core::new(CoreInit {
        id: NodeId(1),
        addr: me,
        settings: Settings {
            rendezvous: vec![peer],
            ..Settings::default()
        },
        configuration: Configuration::new(),
        code: BTreeSet::new(),
        ran: Vec::new(),
        seed: 1,
    });
    let mut host = ModuleHost::new(rt, me, vec![peer], 7);
    let wasm = wat_module("", "unreachable");
    let (deployment, outputs) = core
        .deploy(1000, module.clone(), wasm.clone(), String::new())
        .unwrap();
    let mut inputs = Vec::new();
    for o in outputs {
        if let Output::Load { deployment } = o {
            inputs.extend(host.load(1000, &deployment, &wasm));
        }
    }
    for i in inputs {
        core.handle(1000, i);
    }
    assert_eq!(core.status()[0].state, ModuleState::Running);

    // A payload from a peer on the same deployment: delivered, and the module traps.
    let mut other = Core::new(CoreInit {
        id: NodeId(2),
        addr: peer,
        settings: Settings::default(),
        configuration: Configuration::from(vec![deployment.clone()]),
        code: [deployment.version.unwrap()].into_iter().collect(),
        ran: Vec::new(),
        seed: 2,
    });
    other.handle(1000, Input::Tick);
    other.handle(
        1000,
        Input::Loaded {
            module: module.clone(),
            number: deployment.number,
        },
    );
    let sent = other.handle(
        1000,
        Input::ModuleSend {
            module: module.clone(),
            to: me,
            payload: b"boom".to_vec(),
        },
    );
    let Some(Output::Send { bytes, .. }) = sent.into_iter().next() else {
        panic!("no envelope")
    };
    for o in core.handle(1001, Input::Receive { bytes }) {
        if let Output::Deliver {
            module,
            number,
            from,
            payload,
        } = o
        {
            for i in host.deliver(1001, &module, number, from, &payload) {
                core.handle(1001, i);
            }
        }
    }
    match &core.status()[0].state {
        ModuleState::Failed { reason } => assert!(reason.contains("unreachable"), "{reason}"),
        other => panic!("expected failed, got {other:?}"),
    }
    assert_eq!(host.metrics.failures, 1);

    // The core still runs backup gossip: within two intervals it sends a summary.
    let mut summaries = 0;
    for t in (1100..4000).step_by(100) {
        summaries += core
            .handle(t, Input::Tick)
            .iter()
            .filter(|o| matches!(o, Output::Send { .. }))
            .count();
    }
    assert!(
        summaries >= 2,
        "backup gossip must go on without the module ({summaries})"
    );

    // And a fix deployed here replaces the dead module.
    let fix = echo();
    let (_, outputs) = core
        .deploy(5000, module.clone(), fix.clone(), String::new())
        .unwrap();
    for o in outputs {
        if let Output::Load { deployment } = o {
            for i in host.load(5000, &deployment, &fix) {
                core.handle(5000, i);
            }
        }
    }
    assert_eq!(core.status()[0].state, ModuleState::Running);
}

/// A module whose `hearsay_import_state` counts `iterations` down, or loops forever
/// with `None`.
fn importer(iterations: Option<u32>) -> Vec<u8> {
    let body = match iterations {
        Some(n) => format!(
            "(local $i i32) i32.const {n} local.set $i
             (loop $l local.get $i i32.const 1 i32.sub local.tee $i br_if $l)"
        ),
        None => "(loop $l (br $l))".into(),
    };
    let import = format!(
        r#"(func (export "hearsay_import_state") (param i32 i32) (result i32)
    {body}
    i32.const 0)"#
    );
    wat_module_with(1, "", "", &import)
}

#[test]
fn a_handover_may_burn_more_than_a_message_and_still_ends() {
    // A whole view handed over costs far more than one message (a membership view of
    // 10,000 members: about 120 million instructions), so an import has fuel of its
    // own — and an import that never returns still runs out of it.
    let rt = Runtime::new(Limits {
        fuel_per_call: 2_000_000,
        fuel_per_state_call: 20_000_000,
        ..Limits::default()
    })
    .unwrap();
    let mut big = start(&rt, &importer(Some(1_000_000)));
    assert_eq!(big.import_state(1000, b"state"), Ok(true));
    assert!(
        big.usage().fuel > 2_000_000,
        "the import burnt {} fuel, no more than a message may",
        big.usage().fuel
    );
    let mut endless = start(&rt, &importer(None));
    let err = endless.import_state(1000, b"state").unwrap_err();
    assert_eq!(err, ModuleError::OutOfFuel(20_000_000));
    assert_contained(&rt, endless, err);
}
