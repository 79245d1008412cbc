//! `hearsay-lab bench --quick --json`: every group runs end to end (real agents, the
//! simulator, the S3 scenario, the runtime) and reports every row with its runs. The
//! figures are timings on a shared machine, so they are checked for presence and
//! sanity here, not against targets: `hearsay bench` (BENCHMARKS.md) is where they
//! are judged.

mod common;

use common::lab_ok;
use serde_json::Value;

#[test]
fn the_quick_bench_reports_every_row() {
    // Below the kernel's ephemeral range (32768+), where an outgoing connection may
    // hold the port a joining agent is given.
    let port_base = (22_000 + (std::process::id() % 400) * 20).to_string();
    let out = lab_ok(&["bench", "--quick", "--json", "--port-base", &port_base]);
    let report: Value = serde_json::from_str(&out).expect("a JSON report");
    assert_eq!(report["quick"], true);
    assert_eq!(report["runs"], 2);
    let rows = report["rows"].as_array().expect("rows");
    for group in [
        "runtime",
        "simulated",
        "agents",
        "loss",
        "repair",
        "pubsub",
        "kv",
        "kelips",
        "aggregate",
        "serf",
        "membership",
    ] {
        assert!(
            rows.iter().any(|r| r["group"] == group),
            "no {group} rows in {out}"
        );
    }
    let row = |needle: &str| -> &Value {
        rows.iter()
            .find(|r| r["name"].as_str().is_some_and(|n| n.contains(needle)))
            .unwrap_or_else(|| panic!("no row '{needle}'"))
    };
    for r in rows {
        let values = r["values"].as_array().expect("values");
        assert!(!values.is_empty(), "{r}");
        assert!(r["median"].is_number(), "a row without a median: {r}");
    }
    // Timings come from every run.
    assert_eq!(
        row("update → all 10 agents running it")["values"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Simulated rounds are exact for a seed; both seeds stay within the push bound.
    let sim = row("deploy → all 1000 simulated nodes");
    assert!(sim["max"].as_f64().unwrap() <= 17.0, "{sim}");
    // Compact envelopes: the core's piggyback is a few dozen bytes at most, never the
    // ~50 of the full form on every message.
    let piggyback = row("core piggyback per module envelope")["median"]
        .as_f64()
        .unwrap();
    assert!((23.0..40.0).contains(&piggyback), "{piggyback} B");
    // Memory is measured for every agent.
    assert_eq!(
        row("resident memory per agent")["values"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    // Membership's steady bytes per node and round are beats (tens of bytes), not a
    // table of members, and a simulated cluster formed without removing anyone.
    let bytes = row("simulated 100: bytes each node sends per round")["median"]
        .as_f64()
        .unwrap();
    assert!((20.0..400.0).contains(&bytes), "{bytes} B per node per round");
    assert_eq!(row("simulated 100: false removals")["max"].as_f64(), Some(0.0));
    // Every kelips put is stored and every get finds its key, on real agents.
    for needle in ["puts from random agents", "gets from random agents"] {
        assert_eq!(row(needle)["median"].as_f64(), Some(1.0), "{}", row(needle));
    }
}
