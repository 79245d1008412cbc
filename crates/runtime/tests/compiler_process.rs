//! What a runtime does with each outcome of its compiler process: a refusal or a
//! crash fails the load with the reason; a process that can't run or answers nonsense
//! makes it compile in process. (The real compiler process, `hearsay compile-module`,
//! is tested with the binary in the CLI's tests.)

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use hearsay_runtime::{Limits, LoadError, Runtime};

/// An executable shell script standing in for the compiler binary.
fn script(dir: &std::path::Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn runtime_with(exe: PathBuf) -> Runtime {
    Runtime::new(Limits::default())
        .unwrap()
        .with_compiler_process(exe)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hearsay-compiler-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_refusal_fails_the_load_with_the_compilers_reason() {
    let dir = temp_dir("refuses");
    let exe = script(
        &dir,
        "compiler",
        "cat > /dev/null; echo 'function 3 is too big' >&2; exit 1",
    );
    match runtime_with(exe).compile(&common::echo()) {
        Err(LoadError::InvalidWasm(why)) => assert_eq!(why, "function 3 is too big"),
        other => panic!("expected the compiler's refusal, got {other:?}"),
    }
}

#[test]
fn a_compiler_killed_over_its_limits_fails_the_load_not_the_process() {
    let dir = temp_dir("killed");
    let exe = script(&dir, "compiler", "cat > /dev/null; kill -KILL $$");
    match runtime_with(exe).compile(&common::echo()) {
        Err(LoadError::InvalidWasm(why)) => assert!(why.contains("killed by signal 9"), "{why}"),
        other => panic!("expected a load failure, got {other:?}"),
    }
}

#[test]
fn no_compiler_process_means_compiling_here() {
    let runtime = runtime_with(PathBuf::from("/nonexistent/hearsay"));
    let code = runtime.compile(&common::echo()).expect("compiled in process");
    assert_eq!(code.version, hearsay_core::CodeVersion::of(&common::echo()));
}

#[test]
fn nonsense_from_the_compiler_process_means_compiling_here() {
    let dir = temp_dir("nonsense");
    let exe = script(&dir, "compiler", "cat > /dev/null; echo 'not compiled code'");
    assert!(runtime_with(exe).compile(&common::echo()).is_ok());
    // Invalid wasm is still refused, by the compiler here.
    let exe = script(&dir, "compiler2", "cat > /dev/null; exit 0");
    let bad = b"\0asm\x01\0\0\0\x01\xff".to_vec();
    assert!(matches!(
        runtime_with(exe).compile(&bad),
        Err(LoadError::InvalidWasm(_))
    ));
}
