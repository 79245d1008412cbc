//! Runs `hearsay-lab` as its users do: a child process that starts `hearsay`
//! agents (the binary cargo built next to it, or `$HEARSAY_BIN`).
#![allow(dead_code)]

use std::process::{Command, Output};

/// Runs hearsay-lab.
pub fn lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearsay-lab"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs hearsay-lab and returns its stdout; panics (with stderr) if it fails.
pub fn lab_ok(args: &[&str]) -> String {
    let out = lab(args);
    assert!(
        out.status.success(),
        "hearsay-lab {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
