//! Budgets through real wasmtime, against the hostile modules of `modules/`: a module
//! inside every per-call limit is still held to its messages, bytes, CPU and log lines
//! per second, fails when it stays over, can't spread memory over many memories and
//! tables, and can't keep the next version from running by what it hands over — nor
//! die of a bad query answer.

mod common;

use std::sync::Arc;

use common::wat_module;
use hearsay_core::{
    Budget, BudgetOverrides, CodeVersion, Deployment, DeploymentNumber, Input, ModuleName, NodeId,
};
use hearsay_runtime::{Instance, InstanceContext, Limits, LoadError, ModuleError, ModuleHost, Runtime};

const STORM: &[u8] = include_bytes!("../../../modules/dist/hostile-storm.wasm");
const LOGSPAM: &[u8] = include_bytes!("../../../modules/dist/hostile-logspam.wasm");
const HANDOVER: &[u8] = include_bytes!("../../../modules/dist/hostile-handover.wasm");
const MEMORIES: &str = include_str!("../../../modules/hostile/memories.wat");
const BAD_REPLY: &str = include_str!("../../../modules/hostile/bad-reply.wat");

fn ctx(budget: Budget) -> InstanceContext {
    InstanceContext {
        labels: Default::default(),
        node: Default::default(),
        self_addr: "127.0.0.1:7000".into(),
        bootstrap: vec!["127.0.0.1:7001".into(), "127.0.0.1:7002".into()],
        seed: 1,
        now_ms: 1000,
        budget,
    }
}

fn start(rt: &Runtime, wasm: &[u8], budget: Budget) -> Result<Instance, LoadError> {
    let code = rt.compile(wasm)?;
    Instance::start(rt, &code, "", &ctx(budget)).map(|(i, _)| i)
}

fn budget(overrides: &[(&str, u64)]) -> Budget {
    let mut o = BudgetOverrides::none();
    for (k, v) in overrides {
        o.set(k, *v).unwrap();
    }
    o.resolve(&Budget::default())
}

#[test]
fn a_storm_is_held_to_its_message_budget_and_fails_when_it_stays_over() {
    let rt = Runtime::new(Limits::default()).unwrap();
    let mut storm = start(
        &rt,
        STORM,
        budget(&[("messages_per_s", 100), ("fail_after_s", 3)]),
    )
    .unwrap();
    let mut sent = 0;
    let mut now = 1000;
    let failure = loop {
        match storm.tick(now) {
            Ok(effects) => sent += effects.sends.len(),
            Err(e) => break e,
        }
        now += 200;
        assert!(now < 20_000, "the storm was never failed");
    };
    // One second's burst plus 100 per second after it, not 1,024 per tick.
    let seconds = (now - 1000) / 1000 + 1;
    assert!(sent as u64 <= 100 * (seconds + 1), "{sent} sent in {seconds} s");
    assert!(sent >= 100, "the budget still lets messages through: {sent}");
    assert!(
        matches!(&failure, ModuleError::OverBudget(r) if r.contains("messages")),
        "{failure}"
    );
    assert!(
        (4000..=5000).contains(&now),
        "failed after 3 s over budget, at {now}"
    );
    let usage = storm.usage();
    assert!(usage.sends_over_budget > 10_000, "{usage:?}");
    assert!(
        usage.messages >= sent as u64,
        "the failing call's sends are dropped with it"
    );
}

#[test]
fn a_storm_pays_for_its_sends_in_cpu_and_is_throttled() {
    let rt = Runtime::new(Limits::default()).unwrap();
    // 1,024 sends cost over a million fuel; a budget of 2 M/s allows two calls a second.
    let mut storm = start(
        &rt,
        STORM,
        budget(&[("fuel_per_s", 2_000_000), ("fail_after_s", 1000)]),
    )
    .unwrap();
    let mut ran = 0;
    for t in 0..50 {
        let before = storm.usage().fuel;
        storm.tick(1000 + t * 100).unwrap();
        if storm.usage().fuel > before {
            ran += 1;
        }
    }
    let usage = storm.usage();
    assert!(
        usage.fuel >= 1_024_000 * ran,
        "each run was charged for its sends: {usage:?}"
    );
    assert!(
        (8..=14).contains(&ran),
        "5 s at 2 M fuel/s: about 10 of 50 ticks run, not {ran}"
    );
    assert_eq!(usage.calls_throttled, 50 - ran);
}

#[test]
fn an_endless_cpu_hog_fails_when_it_stays_over_its_cpu_budget() {
    let rt = Runtime::new(Limits {
        fuel_per_call: 10_000_000,
        ..Limits::default()
    })
    .unwrap();
    // Each tick burns about 5 M fuel; the budget is 1 M per second.
    let busy = wat_module(
        "(local $i i32) (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 1000000))))",
        "",
    );
    let mut m = start(
        &rt,
        &busy,
        budget(&[("fuel_per_s", 1_000_000), ("fail_after_s", 5)]),
    )
    .unwrap();
    let mut now = 1000;
    let failure = loop {
        if let Err(e) = m.tick(now) {
            break e;
        }
        now += 200;
        assert!(now < 60_000);
    };
    assert!(
        matches!(&failure, ModuleError::OverBudget(r) if r.contains("CPU")),
        "{failure}"
    );
    assert!(m.usage().calls_throttled > 10);
}

#[test]
fn log_spam_is_held_to_its_budget_and_cannot_forge_lines() {
    let rt = Runtime::new(Limits::default()).unwrap();
    let mut spam = start(&rt, LOGSPAM, budget(&[("logs_per_s", 5)])).unwrap();
    let mut kept = Vec::new();
    for t in 0..50 {
        kept.extend(spam.tick(1000 + t * 100).unwrap().logs);
    }
    // A burst of 3 s worth, then 5 per second: 15 + 5 × 5, not 32 × 50.
    assert!((15..=42).contains(&kept.len()), "{} lines kept", kept.len());
    assert_eq!(spam.usage().logs_dropped, 32 * 50 - kept.len() as u64);
    for line in &kept {
        assert!(
            !line.text.contains('\n'),
            "a newline went through: {:?}",
            line.text
        );
        assert!(line.text.contains("\\nINFO hearsay_node"), "escaped, not dropped");
        assert!(line.text.len() <= 1024 + 64);
    }
}

#[test]
fn memory_is_counted_over_all_memories_and_tables_of_an_instance() {
    let wasm = wat::parse_str(MEMORIES).unwrap();
    let rt = Runtime::new(Limits {
        max_memories: 16,
        ..Limits::default()
    })
    .unwrap();
    match start(&rt, &wasm, Budget::default()) {
        Err(LoadError::Failed(ModuleError::MemoryLimit(limit))) => assert_eq!(limit, 64 << 20),
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("512 MiB over nine memories went through a 64 MiB budget"),
    }
    // With room for it all, it starts, and what it holds is all counted.
    let roomy = budget(&[("memory_bytes", 1 << 30)]);
    let m = start(&rt, &wasm, roomy).unwrap();
    let held = m.usage().memory_bytes;
    assert!(held >= (8 * (64 << 20)) + 65536 + 16_000_000, "{held}");
    // And a host allowing fewer memories than it declares refuses it outright.
    let strict = Runtime::new(Limits::default()).unwrap();
    assert!(start(&strict, &wasm, roomy).is_err());
}

fn deployment(time_ms: u64, wasm: &[u8], params: &str) -> Deployment {
    let mut d = Deployment::new(
        ModuleName::new("handover").unwrap(),
        Some(CodeVersion::of(wasm)),
        DeploymentNumber {
            time_ms,
            origin: NodeId(1),
        },
    );
    d.params = params.into();
    d
}

/// A different code version of the same module: an empty custom section appended.
fn variant(wasm: &[u8], name: &str) -> Vec<u8> {
    let mut out = wasm.to_vec();
    out.extend([0, name.len() as u8 + 1, name.len() as u8]);
    out.extend(name.as_bytes());
    out
}

fn host() -> ModuleHost {
    let rt = Arc::new(Runtime::new(Limits::default()).unwrap());
    ModuleHost::new(rt, "127.0.0.1:7000".parse().unwrap(), vec![], 1)
}

fn loaded(inputs: &[Input]) -> bool {
    matches!(inputs.first(), Some(Input::Loaded { .. }))
}

#[test]
fn a_huge_state_export_never_keeps_the_next_version_from_running() {
    let mut host = host();
    let module = ModuleName::new("handover").unwrap();
    assert!(loaded(&host.load(1000, &deployment(1, HANDOVER, ""), HANDOVER)));
    // The old version hands over 16 MiB; the budget takes 8: the fix starts fresh.
    let fix = variant(HANDOVER, "fix");
    let inputs = host.load(2000, &deployment(2, &fix, ""), &fix);
    assert!(loaded(&inputs), "{inputs:?}");
    assert_eq!(host.metrics.fresh_starts, 1);
    assert_eq!(host.metrics.handovers, 0);
    let note = host
        .logs
        .iter()
        .find(|(m, l)| *m == module && l.text.contains("started fresh"));
    assert!(
        note.is_some_and(|(_, l)| l.text.contains("over the limit")),
        "{:?}",
        host.logs
    );
    let (answer, _) = host.query(2100, &module, "");
    assert_eq!(answer.unwrap(), r#"{"imported":false}"#);
    // A state within the budget is handed over.
    let small = variant(HANDOVER, "small");
    let d3 = deployment(3, &small, r#"{"export_mib":1}"#);
    assert!(loaded(&host.load(3000, &d3, &small)));
    let d4 = deployment(4, &fix, "");
    assert!(loaded(&host.load(4000, &d4, &fix)));
    assert_eq!(host.metrics.handovers, 1);
    let (answer, _) = host.query(4100, &module, "");
    assert_eq!(answer.unwrap(), r#"{"imported":true}"#);
}

#[test]
fn an_import_that_fails_the_new_version_restarts_it_fresh() {
    let mut host = host();
    let module = ModuleName::new("handover").unwrap();
    assert!(loaded(&host.load(
        1000,
        &deployment(1, HANDOVER, r#"{"export_mib":1}"#),
        HANDOVER
    )));
    let fussy = variant(HANDOVER, "fussy");
    let inputs = host.load(2000, &deployment(2, &fussy, r#"{"trap_on_import":true}"#), &fussy);
    assert!(loaded(&inputs), "{inputs:?}");
    assert_eq!(host.metrics.fresh_starts, 1);
    assert!(host
        .logs
        .iter()
        .any(|(_, l)| l.text.contains("importing it failed")));
    let (number, failure) = host.instance(&module).unwrap();
    assert_eq!(number.time_ms, 2);
    assert!(failure.is_none(), "the new version runs: {failure:?}");
    assert!(host
        .tick(2200)
        .iter()
        .all(|i| !matches!(i, Input::ModuleFailed { .. })));
}

#[test]
fn a_query_answered_out_of_bounds_fails_the_answer_not_the_module() {
    let rt = Runtime::new(Limits::default()).unwrap();
    let wasm = wat::parse_str(BAD_REPLY).unwrap();
    let mut m = start(&rt, &wasm, Budget::default()).unwrap();
    for _ in 0..3 {
        let (answer, _) = m.query(1000, "").unwrap();
        let json: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert!(json["error"].as_str().unwrap().contains("outside"), "{answer}");
    }
    assert!(m.failure().is_none());
    assert!(m.tick(1200).is_ok());
}
