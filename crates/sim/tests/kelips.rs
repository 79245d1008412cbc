//! The kelips module's own code at 400 simulated nodes in 20 affinity groups, fixed
//! seed: every view is whole within a few rounds; every key put is stored; lookups
//! from random nodes all find the right value in one hop without faults, and ≥ 99.9%
//! of them while 30% of the nodes are replaced over a simulated minute (three times
//! the churn); each node holds O(√N) entries, not O(N).

use hearsay_sim::kelips::{play, KelipsConfig};
use hearsay_sim::SimConfig;

#[test]
fn one_hop_lookups_at_400_nodes_through_churn() {
    let report = play(KelipsConfig {
        sim: SimConfig {
            nodes: 400,
            seed: 3,
            ..SimConfig::default()
        },
        keys: 400,
        lookups: 600,
        churn_per_minute: 0.3,
        ..KelipsConfig::default()
    });
    for p in &report.phases {
        eprintln!("{p}");
    }
    eprintln!("{:?}", report.state);
    assert_eq!(report.groups, 20);
    assert_eq!(report.join_rounds, Some(10));
    assert_eq!(report.stored, 400);
    let calm = &report.phases[0];
    assert_eq!(calm.lookups, 600);
    assert_eq!(calm.success, 1.0);
    assert!(
        (calm.mean_remote_hops - 1.0).abs() < 1e-9,
        "{}",
        calm.mean_remote_hops
    );
    let churn = &report.phases[1];
    assert!(churn.replaced >= 110, "{} replaced", churn.replaced);
    assert!(churn.success >= 0.999, "{churn}");
    assert!(churn.mean_hops <= 1.5, "{churn}");
    // About 20 members + 2 × 19 contacts + 400 / 20 tuples: far below 400.
    assert!(report.state.entries < 90.0, "{:?}", report.state);
    assert!(report.state.max_entries < 120, "{:?}", report.state);
}
