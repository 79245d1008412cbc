//! `hearsay-lab scenario s3` with 20 real agents and every module dead: the whole
//! story played and checked step by step, its timeline printed as JSON.

mod common;

use serde_json::Value;

#[test]
fn hearsay_scenario_s3_plays_the_whole_story_and_checks_it() {
    let out = common::lab(&[
        "scenario",
        "s3",
        "--nodes",
        "20",
        "--modules-dead",
        "--port-base",
        "31500",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "start",
            "healthy",
            "value set",
            "bad deployment",
            "poisoned everywhere",
            "modules dead",
            "fix everywhere",
            "poison gone",
            "still repaired"
        ]
    );
    assert!(report["repair_s"].as_f64().unwrap() > 0.0);
    eprintln!("{}", stderr.trim_end());
}
