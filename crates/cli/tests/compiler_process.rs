//! `hearsay compile-module`, the compiler process agents run: what it compiles loads in
//! the agent's runtime, a host's disk cache means it runs once per version and tier,
//! and invalid code is refused with wasmtime's reason.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use hearsay_runtime::{Limits, LoadError, Runtime, Tier};

/// A wrapper around the real binary that notes each compile in `calls`.
fn counting_compiler(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let calls = dir.join("calls");
    let exe = dir.join("compiler");
    std::fs::write(
        &exe,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nexec '{}' \"$@\"\n",
            calls.display(),
            common::HEARSAY
        ),
    )
    .unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    (exe, calls)
}

fn calls(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// An empty directory of this test run's own.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hearsay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn code_compiled_by_the_compiler_process_loads_and_is_compiled_once_per_host() {
    let dir = scratch("compile-module");
    let (exe, log) = counting_compiler(&dir);
    let cache = dir.join("compiled");
    let wasm = common::membership_wasm();

    let runtime = || {
        Runtime::with_disk_cache(Limits::default(), Some(cache.clone()))
            .unwrap()
            .with_compiler_process(exe.clone())
    };
    let code = runtime()
        .compile(&wasm)
        .expect("membership compiles in the compiler process");
    assert_eq!(code.version, hearsay_core::CodeVersion::of(&wasm));
    assert_eq!(calls(&log), ["compile-module --optimized"]);
    // Another agent of the host: loaded from the cache, no compile.
    runtime().compile(&wasm).expect("loaded from the cache");
    assert_eq!(calls(&log).len(), 1);

    // Invalid code: the compiler process's own reason.
    let mut truncated = wasm.clone();
    truncated.truncate(wasm.len() / 2);
    match runtime().compile(&truncated) {
        Err(LoadError::InvalidWasm(why)) => assert!(!why.is_empty() && !why.contains("signal"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(calls(&log).len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn with_a_baseline_tier_each_tier_is_compiled_once_per_host_the_optimised_in_the_background() {
    let dir = scratch("compile-tiers");
    let (exe, log) = counting_compiler(&dir);
    let cache = dir.join("compiled");
    let wasm = common::membership_wasm();
    let runtime = || {
        Runtime::with_disk_cache(Limits::default(), Some(cache.clone()))
            .unwrap()
            .with_compiler_process(exe.clone())
            .with_baseline_tier()
            .unwrap()
    };
    let first = runtime();
    assert_eq!(first.compile(&wasm).unwrap().tier, Tier::Baseline);
    assert_eq!(runtime().compile(&wasm).unwrap().tier, Tier::Baseline);
    assert_eq!(calls(&log), ["compile-module --baseline"]);
    assert_eq!(first.optimize(&wasm).unwrap().tier, Tier::Optimized);
    assert_eq!(
        calls(&log),
        [
            "compile-module --baseline",
            "compile-module --optimized --background"
        ]
    );
    // Another agent of the host now starts on the optimised code at once.
    assert_eq!(runtime().compile(&wasm).unwrap().tier, Tier::Optimized);
    assert_eq!(calls(&log).len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
