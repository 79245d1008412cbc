//! The aggregate module's own code at 1,000 simulated nodes in 3 levels of 10 zones,
//! fixed seed: every node's root aggregate counts all within a few rounds; a changed
//! attribute at one node is in every node's root aggregate within 3·log2(N) rounds,
//! without and with 10% loss; a stopped node leaves every count once its row expires
//! (30 rounds of 200 ms) and a few rounds more; bytes per node per round stay bounded.

use hearsay_sim::aggregate::{play, AggregateConfig};
use hearsay_sim::SimConfig;

#[test]
fn a_thousand_nodes_in_three_levels_aggregate_within_the_bound() {
    let report = play(AggregateConfig {
        sim: SimConfig {
            nodes: 1000,
            seed: 2,
            ..SimConfig::default()
        },
        ..AggregateConfig::default()
    });
    for p in &report.phases {
        eprintln!("{p}");
    }
    assert_eq!(report.branching, 10);
    let bound = report.bound_rounds;
    let rounds: Vec<u64> = report
        .phases
        .iter()
        .map(|p| p.rounds.expect("converged"))
        .collect();
    assert!(rounds[0] <= 20, "joined in {} rounds", rounds[0]);
    assert!((rounds[1] as f64) <= bound, "{} rounds > {bound:.1}", rounds[1]);
    assert!(
        (rounds[2] as f64) <= bound,
        "with loss: {} rounds > {bound:.1}",
        rounds[2]
    );
    // expire_ms 6,000 at 200 ms a round: not before 30 rounds, and soon after.
    assert!(
        (30..=45).contains(&rounds[3]),
        "a stopped node left after {} rounds",
        rounds[3]
    );
    for p in &report.phases {
        assert!(p.bytes_per_node_round < 8_000.0, "{p}");
    }
    assert!(
        report.idle_bytes_per_node_round < 4_000.0,
        "{}",
        report.idle_bytes_per_node_round
    );
}
