//! Two compilers: with a baseline tier, code no cache holds runs first as Winch's
//! output, and the host then moves the running instance onto Cranelift's code, state
//! and all — or leaves it where it is when that would lose state or the deployment
//! has moved on.

mod common;

use std::sync::Arc;

use common::cluster::{cluster, deployment, live};
use common::MEMBERSHIP;
use hearsay_core::ModuleName;
use hearsay_runtime::{Limits, ModuleHost, Runtime, Tier};

fn tiered() -> Arc<Runtime> {
    Arc::new(
        Runtime::new(Limits::default())
            .unwrap()
            .with_baseline_tier()
            .unwrap(),
    )
}

fn membership() -> ModuleName {
    ModuleName::new("membership").unwrap()
}

#[test]
fn new_code_runs_on_baseline_code_then_moves_onto_optimised_code_with_its_state() {
    let (mut hosts, now) = cluster(tiered(), 4);
    let d = deployment(1, MEMBERSHIP, "");
    for host in hosts.iter_mut() {
        assert_eq!(host.tier(&membership()), Some(Tier::Baseline));
        assert_eq!(live(host, now).len(), 4, "the baseline code gossips");
    }
    let host = &mut hosts[0];
    let inputs = host.optimize(now, &d, MEMBERSHIP);
    assert!(inputs.is_empty(), "the core sees no new load: {inputs:?}");
    assert_eq!(host.tier(&membership()), Some(Tier::Optimized));
    assert_eq!(host.metrics.optimized, 1);
    assert_eq!(host.instance(&membership()).map(|(n, _)| n), Some(d.number));
    assert_eq!(live(host, now).len(), 4, "the view was handed over");
    // Once is enough; the others' runtime now has the optimised code in memory.
    host.optimize(now, &d, MEMBERSHIP);
    assert_eq!(host.metrics.optimized, 1);
    let other = &mut hosts[1];
    other.optimize(now, &d, MEMBERSHIP);
    assert_eq!(other.tier(&membership()), Some(Tier::Optimized));
    assert_eq!(live(other, now).len(), 4);
}

#[test]
fn the_runtime_keeps_the_optimised_code_in_place_of_the_baseline_code() {
    let rt = tiered();
    assert_eq!(rt.compile(MEMBERSHIP).unwrap().tier, Tier::Baseline);
    assert_eq!(rt.compile(MEMBERSHIP).unwrap().tier, Tier::Baseline);
    assert_eq!(rt.optimize(MEMBERSHIP).unwrap().tier, Tier::Optimized);
    assert_eq!(rt.compile(MEMBERSHIP).unwrap().tier, Tier::Optimized);
    assert_eq!(rt.cached().len(), 1, "one entry per version");
    let plain = Runtime::new(Limits::default()).unwrap();
    assert_eq!(plain.compile(MEMBERSHIP).unwrap().tier, Tier::Optimized);
}

#[test]
fn optimised_code_on_disk_is_used_at_once() {
    let dir = std::env::temp_dir().join(format!("hearsay-tiers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first = Runtime::with_disk_cache(Limits::default(), Some(dir.clone()))
        .unwrap()
        .with_baseline_tier()
        .unwrap();
    assert_eq!(first.compile(MEMBERSHIP).unwrap().tier, Tier::Baseline);
    let compiled = || {
        std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("cwasm".as_ref()))
            .count()
    };
    assert_eq!(compiled(), 1, "the baseline code is shared on disk");
    first.optimize(MEMBERSHIP).unwrap();
    assert_eq!(compiled(), 2, "and so is the optimised code");
    let second = Runtime::with_disk_cache(Limits::default(), Some(dir.clone()))
        .unwrap()
        .with_baseline_tier()
        .unwrap();
    assert_eq!(second.compile(MEMBERSHIP).unwrap().tier, Tier::Optimized);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_module_without_state_to_hand_over_keeps_its_baseline_code() {
    let rt = tiered();
    let mut host = ModuleHost::new(rt, common::cluster::addr(0), vec![], 1);
    // No hearsay_export_state: nothing says a fresh instance would hold what it holds.
    let echo = common::echo();
    let mut d = deployment(1, &echo, "");
    d.module = ModuleName::new("echo").unwrap();
    host.load(1000, &d, &echo);
    assert_eq!(host.tier(&d.module), Some(Tier::Baseline));
    host.optimize(1200, &d, &echo);
    assert_eq!(host.tier(&d.module), Some(Tier::Baseline));
    assert_eq!(host.metrics.optimized, 0);
}

#[test]
fn optimised_code_of_a_superseded_deployment_changes_nothing() {
    let (mut hosts, now) = cluster(tiered(), 2);
    let old = deployment(1, MEMBERSHIP, "");
    let new = deployment(2, MEMBERSHIP, r#"{"fanout":2}"#);
    let host = &mut hosts[0];
    host.load(now, &new, MEMBERSHIP);
    assert_eq!(host.instance(&membership()).map(|(n, _)| n), Some(new.number));
    host.optimize(now, &old, MEMBERSHIP);
    assert_eq!(host.metrics.optimized, 0);
    assert_eq!(host.instance(&membership()).map(|(n, _)| n), Some(new.number));
}
