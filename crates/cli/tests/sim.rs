//! `hearsay sim` as a module author uses it: the S3 story with the real statecast
//! code (same seed, same JSON but the wall time), a module's own wasm run on every
//! simulated node, and a scenario file driving real membership code through a crash
//! and a restart.

mod common;

use common::{cli, cli_ok};
use serde_json::Value;

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn sim_s3_is_deterministic_and_repairs_every_node() {
    let args = [
        "sim",
        "s3",
        "--nodes",
        "500",
        "--seed",
        "3",
        "--modules-dead",
        "--json",
    ];
    let mut a = json(&cli_ok(&args));
    let mut b = json(&cli_ok(&args));
    for r in [&mut a, &mut b] {
        assert!(r["wall_seconds"].as_f64().unwrap() > 0.0);
        r.as_object_mut().unwrap().remove("wall_seconds");
    }
    assert_eq!(a, b, "the same seed must give the same report");
    assert_eq!(a["recontaminated"], 0);
    assert_eq!(a["regressions"], 0);
    let phases = a["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 4);
    assert!(phases.iter().all(|p| p["done"] == true), "{a}");
}

#[test]
fn sim_run_runs_a_modules_own_wasm_and_reports_its_convergence() {
    let wasm = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/dist/membership.wasm");
    let out = cli_ok(&[
        "sim",
        "run",
        "--module",
        &format!("membership={wasm}"),
        "--nodes",
        "40",
        "--rounds",
        "15",
        "--json",
    ]);
    let r = json(&out);
    let m = &r["modules"][0];
    assert_eq!(m["module"], "membership");
    assert_eq!(m["native"], false);
    assert_eq!(m["answering"], 40);
    assert_eq!(m["fields"]["live"]["min"], 40.0, "{r}");
    assert!(m["views_converged_after_rounds"].as_u64().unwrap() <= 15, "{r}");
    assert!(r["bytes_per_node"].as_f64().unwrap() > 0.0);
    assert_eq!(r["failures"], 0);
    assert_eq!(r["load_failures"], 0);

    // A module that loops forever fails at every node (its fuel runs out), counted.
    let bad_loop = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/dist/bad-loop.wasm");
    let r = json(&cli_ok(&[
        "sim",
        "run",
        "--module",
        &format!("looper={bad_loop}"),
        "--nodes",
        "5",
        "--rounds",
        "10",
        "--json",
    ]));
    assert!(r["failures"].as_u64().unwrap() >= 5, "{r}");

    // A file that is not wasm is refused with a clear error, before anything runs.
    let bad = std::env::temp_dir().join(format!("hearsay-sim-bad-{}.wasm", std::process::id()));
    std::fs::write(&bad, b"not wasm").unwrap();
    let out = cli(&[
        "sim",
        "run",
        "--module",
        &format!("membership={}", bad.display()),
        "--nodes",
        "5",
    ]);
    let _ = std::fs::remove_file(&bad);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot run"), "{stderr}");
}

#[test]
fn a_scenario_file_crashes_and_restarts_a_node_running_real_membership() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/scenarios/membership-crash.toml"
    );
    let r = json(&cli_ok(&["sim", "scenario", file, "--nodes", "30", "--json"]));
    assert_eq!(r["failures"], Value::Array(vec![]), "{r}");
    assert_eq!(r["measures"][0]["converged"], true);
    // The same steps with a cluster of another size: the expectations name 30 members.
    let out = cli(&["sim", "scenario", file, "--nodes", "20", "--json"]);
    assert!(!out.status.success(), "a failed expectation must fail the run");
}
