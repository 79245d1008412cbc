//! How fast a deployment spreads through simulated clusters, with fixed seeds, so the
//! round counts below are exact and any regression in the core shows up here.

use hearsay_sim::scenario::{deploy_script, partition_script, run, Step};
use hearsay_sim::{NetworkModel, SimConfig};

fn cfg(nodes: usize, seed: u64, loss: f64) -> SimConfig {
    SimConfig {
        nodes,
        seed,
        network: NetworkModel {
            loss,
            ..NetworkModel::default()
        },
        ..SimConfig::default()
    }
}

/// Plain push: log2(N) + ln(N), plus 3 rounds of slack (the bound).
fn push_bound(n: usize) -> u64 {
    let n = n as f64;
    (n.log2() + n.ln() + 3.0).floor() as u64
}

#[test]
fn ten_thousand_nodes_within_the_push_bound() {
    let n = 10_000;
    let report = run(cfg(n, 7, 0.0), &deploy_script(false, 100, n - 1));
    let m = &report.measures[0];
    eprintln!("10k, no loss: {m:?}");
    assert!(m.converged, "{m:?}");
    assert!(
        m.rounds <= push_bound(n),
        "{} rounds > bound {}",
        m.rounds,
        push_bound(n)
    );
    assert_eq!(report.regressions, 0);
}

#[test]
fn ten_percent_loss_within_one_and_a_half_bounds() {
    let n = 10_000;
    let report = run(cfg(n, 7, 0.1), &deploy_script(false, 100, n - 1));
    let m = &report.measures[0];
    eprintln!("10k, 10% loss: {m:?}");
    assert!(m.converged, "{m:?}");
    assert!(m.rounds * 2 <= push_bound(n) * 3, "{} rounds", m.rounds);
    assert_eq!(report.regressions, 0);
}

#[test]
fn backup_gossip_alone_reaches_everyone_when_modules_are_dead() {
    let n = 10_000;
    let mut c = cfg(n, 7, 0.0);
    let report = run(c.clone(), &deploy_script(true, 2_000, n - 1));
    let m = &report.measures[0];
    eprintln!("10k, modules dead: {m:?}");
    assert!(m.converged, "{m:?}");
    assert_eq!(report.regressions, 0);
    // Nothing but the core talked: every envelope was a core message.
    assert_eq!(m.traffic.bytes, m.traffic.core_bytes);
    // Backup rounds (1 s) rather than gossip rounds (200 ms) are what bound it.
    let backup_rounds = m.sim_seconds / (c.core.backup_interval_ms as f64 / 1000.0);
    assert!(
        backup_rounds <= 3.0 * (n as f64).log2(),
        "{backup_rounds} backup rounds"
    );
    // And with 10% loss it still gets there.
    c.network.loss = 0.1;
    let lossy = run(c, &deploy_script(true, 2_000, n - 1));
    assert!(lossy.measures[0].converged, "{:?}", lossy.measures[0]);
}

#[test]
fn same_seed_same_run() {
    let a = run(cfg(500, 42, 0.1), &deploy_script(false, 100, 499));
    let b = run(cfg(500, 42, 0.1), &deploy_script(false, 100, 499));
    assert_eq!(a, b);
    let c = run(cfg(500, 43, 0.1), &deploy_script(false, 100, 499));
    assert_ne!(
        a.measures[0].traffic, c.measures[0].traffic,
        "a different seed must give a different run"
    );
}

#[test]
fn a_partitioned_minority_is_repaired_on_return_and_nobody_goes_back() {
    let n = 1_000;
    let mut c = cfg(n, 11, 0.05);
    c.network.duplicate = 0.05;
    let report = run(c, &partition_script(n, 100, 30, 100));
    let m = &report.measures[0];
    eprintln!("partition: {m:?}");
    assert!(m.converged, "{m:?}");
    assert_eq!(report.regressions, 0);
    assert!(m.rounds <= 10, "repair after healing took {} rounds", m.rounds);
}

#[test]
fn rollback_spreads_as_a_new_deployment() {
    let n = 1_000;
    let steps = [
        Step::WaitRounds(3),
        Step::DeployStandin { node: 5, version: 2 },
        Step::WaitConverged(100),
        Step::Rollback {
            node: 9,
            module: "standin".into(),
        },
        Step::WaitConverged(100),
    ];
    let report = run(cfg(n, 3, 0.0), &steps);
    assert!(
        report.measures.iter().all(|m| m.converged),
        "{:?}",
        report.measures
    );
    assert_eq!(report.regressions, 0);
    // The rollback needed no code download: every node still has version 1.
    assert_eq!(report.measures[1].code_bytes, 0);
}

#[test]
fn crashed_nodes_do_not_block_convergence_of_the_living() {
    let n = 300;
    let mut steps = vec![Step::WaitRounds(2)];
    steps.extend((0..30).map(|i| Step::Crash(10 + i * 7)));
    steps.push(Step::DeployStandin { node: 1, version: 2 });
    steps.push(Step::WaitConverged(100));
    let report = run(cfg(n, 5, 0.0), &steps);
    let m = &report.measures[0];
    assert!(m.converged, "{m:?}");
    assert_eq!(m.alive, n - 30);
}

#[test]
fn a_crashed_node_restarts_from_its_disk_and_catches_up() {
    let n = 200;
    let steps = [
        Step::WaitRounds(3),
        Step::Crash(17),
        Step::DeployStandin { node: 1, version: 2 },
        Step::WaitRounds(20),
        Step::Restart(17),
        Step::WaitConverged(50),
    ];
    let report = run(cfg(n, 9, 0.0), &steps);
    let m = &report.measures[0];
    assert!(m.converged, "{m:?}");
    assert_eq!(m.alive, n, "the restarted node counts again");
    assert_eq!(report.regressions, 0, "it never ran anything older than it had");
}
