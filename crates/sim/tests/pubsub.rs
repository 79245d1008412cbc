//! The broadcast module's own code at 500 simulated nodes, fixed seed: every message
//! reaches every subscriber without faults and under 10% loss; right after half the
//! nodes crash, every message sent from the next round on reaches ≥ 99% of the live
//! ones, and all of them once the views are repaired; the tree's redundancy stays
//! near 0. Ten publishers take turns, each with its own tree once it published
//! twice: without faults the last delivery hop is within log2(N) + 2 (about 11). A small cluster that subscribes all at once — where the base
//! overlay starts as one island per rendezvous node and topic overlays used to stay
//! split — reaches everyone too, over five seeds.

use hearsay_sim::pubsub::{play, PubsubConfig};
use hearsay_sim::SimConfig;

#[test]
fn broadcasts_at_500_nodes_through_loss_and_mass_failure() {
    let report = play(PubsubConfig {
        sim: SimConfig {
            nodes: 500,
            seed: 11,
            ..SimConfig::default()
        },
        messages: 10,
        ..PubsubConfig::default()
    });
    for p in &report.phases {
        eprintln!("{p}");
    }
    let phase = |what: &str| report.phases.iter().find(|p| p.what == what).unwrap();
    assert_eq!(phase("no faults").worst_reach, 1.0);
    assert_eq!(phase("10% message loss").worst_reach, 1.0);
    assert!(phase("right after 50% crashed").worst_reach >= 0.99);
    assert_eq!(phase("views repaired").worst_reach, 1.0);
    assert!(phase("no faults").rmr <= 0.1, "{}", phase("no faults").rmr);
    let bound = (500f64).log2() + 2.0;
    assert!(
        phase("no faults").last_hop as f64 <= bound,
        "{}",
        phase("no faults").last_hop
    );
}

#[test]
fn sixty_nodes_subscribing_at_once_form_one_overlay() {
    for seed in 1..=5 {
        let report = play(PubsubConfig {
            sim: SimConfig {
                nodes: 60,
                seed,
                ..SimConfig::default()
            },
            messages: 5,
            ..PubsubConfig::default()
        });
        for p in &report.phases {
            eprintln!("seed {seed}: {p}");
            let floor = if p.what.starts_with("right after") {
                0.99
            } else {
                1.0
            };
            assert!(p.worst_reach >= floor, "seed {seed}: {p}");
        }
    }
}
