//! Hot swap through real wasmtime with the real membership module: state handed over
//! keeps the membership view; a new version that fails to load leaves the old one
//! running; truncated, corrupted or foreign wasm is refused with a clear error.

mod common;

use std::sync::Arc;

use common::cluster::{cluster, deployment, live};
use common::{wat_module_abi, MEMBERSHIP};
use hearsay_core::{Input, ModuleName};
use hearsay_runtime::{Limits, LoadError, Runtime};

fn runtime() -> Arc<Runtime> {
    Arc::new(Runtime::new(Limits::default()).unwrap())
}

#[test]
fn a_hot_swap_hands_the_membership_view_over() {
    let (mut hosts, now) = cluster(runtime(), 5);
    assert_eq!(
        live(&mut hosts[0], now).len(),
        5,
        "the cluster must have formed first"
    );
    // A new deployment (new number, new params → a new instance) on node 0.
    let d2 = deployment(2, MEMBERSHIP, r#"{"fanout":2}"#);
    let inputs = hosts[0].load(now, &d2, MEMBERSHIP);
    assert!(
        matches!(&inputs[0], Input::Loaded { number, .. } if *number == d2.number),
        "{inputs:?}"
    );
    assert_eq!(hosts[0].metrics.handovers, 1);
    assert_eq!(
        live(&mut hosts[0], now).len(),
        5,
        "the new instance must start with the old view"
    );
    assert_eq!(hosts[0].instance(&d2.module).unwrap().0, d2.number);
}

#[test]
fn a_version_that_fails_to_load_leaves_the_old_one_running() {
    let (mut hosts, now) = cluster(runtime(), 3);
    let module = ModuleName::new("membership").unwrap();
    let before = hosts[0].instance(&module).unwrap().0;
    // Bytes that are not the deployment's code are refused, even valid ones.
    let d = deployment(3, b"other code", "");
    match &hosts[0].load(now, &d, MEMBERSHIP)[..] {
        [Input::LoadFailed { reason, .. }] => assert!(reason.contains("sha256"), "{reason}"),
        other => panic!("expected LoadFailed, got {other:?}"),
    }
    for (bad, why) in [
        (
            MEMBERSHIP[..MEMBERSHIP.len() / 2].to_vec(),
            "not a valid WebAssembly module",
        ),
        (b"definitely not wasm".to_vec(), "not a valid WebAssembly module"),
        (wat::parse_str("(module)").unwrap(), "not a hearsay module"),
    ] {
        let d = deployment(3, &bad, "");
        let inputs = hosts[0].load(now, &d, &bad);
        match &inputs[..] {
            [Input::LoadFailed { reason, .. }] => assert!(reason.contains(why), "{reason}"),
            other => panic!("expected LoadFailed, got {other:?}"),
        }
        assert_eq!(
            hosts[0].instance(&module).unwrap().0,
            before,
            "the old instance must keep running"
        );
        assert_eq!(live(&mut hosts[0], now).len(), 3);
    }
    // Bad params fail in init, with the module's own reason.
    let d = deployment(4, MEMBERSHIP, r#"{"fanout":0}"#);
    match &hosts[0].load(now, &d, MEMBERSHIP)[..] {
        [Input::LoadFailed { reason, .. }] => assert!(reason.starts_with("init failed"), "{reason}"),
        other => panic!("expected LoadFailed, got {other:?}"),
    }
    assert_eq!(hosts[0].metrics.load_failures, 5);
}

#[test]
fn corrupted_and_foreign_wasm_is_refused_with_a_reason() {
    let rt = Runtime::new(Limits::default()).unwrap();
    for len in [0, 4, 9, 100, MEMBERSHIP.len() / 3, MEMBERSHIP.len() - 1] {
        let err = rt.compile(&MEMBERSHIP[..len]).unwrap_err();
        assert!(matches!(err, LoadError::InvalidWasm(_)), "length {len}: {err}");
    }
    // The first 8 bytes alone are a valid, empty module: refused as not ours.
    assert!(matches!(rt.compile(&MEMBERSHIP[..8]), Err(LoadError::BadAbi(_))));
    let wasi = wat::parse_str(r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (memory (export "memory") 1))"#).unwrap();
    let err = rt.compile(&wasi).unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown import wasi_snapshot_preview1::fd_write"),
        "{err}"
    );
    let no_receive = wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap();
    assert!(rt
        .compile(&no_receive)
        .unwrap_err()
        .to_string()
        .contains("missing export"));
    // Flipped bits anywhere: refused or (when the flip still decodes) compiled — never a
    // panic. Deciding whether code is the *right* code is the sha256's job, in the core.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..40 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut flipped = MEMBERSHIP.to_vec();
        let bit = (state % (flipped.len() as u64 * 8)) as usize;
        flipped[bit / 8] ^= 1 << (bit % 8);
        let _ = rt.compile(&flipped);
    }
    // A module speaking another ABI version is refused at start.
    let v2 = wat_module_abi(3, "", "");
    let code = rt.compile(&v2).unwrap();
    let ctx = hearsay_runtime::InstanceContext {
        labels: Default::default(),
        node: Default::default(),
        self_addr: "127.0.0.1:1".into(),
        bootstrap: vec![],
        seed: 0,
        now_ms: 0,
        budget: hearsay_core::Budget::default(),
    };
    let err = hearsay_runtime::Instance::start(&rt, &code, "", &ctx).unwrap_err();
    // (Version 2 is a superset of 1: it starts.)
    let v2 = rt.compile(&wat_module_abi(2, "", "")).unwrap();
    assert!(hearsay_runtime::Instance::start(&rt, &v2, "", &ctx).is_ok());
    assert_eq!(
        err.to_string(),
        "not a hearsay module: module speaks ABI version 3; this host speaks 1 and 2"
    );
}

/// Agents of one host share compiled code: a second runtime loads what the first
/// compiled, and a corrupt cache file is recompiled, not trusted.
#[test]
fn compiled_code_is_shared_on_disk() {
    let dir = std::env::temp_dir().join(format!("hearsay-compile-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first = Runtime::with_disk_cache(Limits::default(), Some(dir.clone())).unwrap();
    let cold = std::time::Instant::now();
    first.compile(MEMBERSHIP).unwrap();
    let cold = cold.elapsed();
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(files.len(), 1, "one compiled file per version");
    let second = Runtime::with_disk_cache(Limits::default(), Some(dir.clone())).unwrap();
    let warm = std::time::Instant::now();
    let code = second.compile(MEMBERSHIP).unwrap();
    eprintln!("compile: cold {cold:?}, from the disk cache {:?}", warm.elapsed());
    let ctx = hearsay_runtime::InstanceContext {
        labels: Default::default(),
        node: Default::default(),
        self_addr: "127.0.0.1:1".into(),
        bootstrap: vec![],
        seed: 0,
        now_ms: 0,
        budget: hearsay_core::Budget::default(),
    };
    assert!(hearsay_runtime::Instance::start(&second, &code, "", &ctx).is_ok());
    // A corrupt file is thrown away and the code compiled again.
    std::fs::write(&files[0], b"garbage").unwrap();
    let third = Runtime::with_disk_cache(Limits::default(), Some(dir.clone())).unwrap();
    assert!(third.compile(MEMBERSHIP).is_ok());
    assert!(std::fs::metadata(&files[0]).unwrap().len() > 1000, "rewritten");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn only_the_last_two_compiled_versions_stay_in_memory() {
    let rt = Runtime::new(Limits::default()).unwrap();
    let versions: Vec<Vec<u8>> = (0..3)
        .map(|i| common::wat_module(&format!("i32.const {i} drop"), ""))
        .collect();
    let v = |i: usize| hearsay_core::CodeVersion::of(&versions[i]);
    for wasm in &versions {
        rt.compile(wasm).unwrap();
    }
    assert_eq!(rt.cached(), vec![v(2), v(1)]);
    rt.compile(&versions[1]).unwrap();
    assert_eq!(rt.cached(), vec![v(1), v(2)], "a hit moves to the front");
    rt.compile(&versions[0]).unwrap();
    assert_eq!(rt.cached(), vec![v(0), v(1)], "an evicted version compiles again");
}
