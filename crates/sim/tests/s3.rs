//! The S3 story in the simulator with the real statecast code (healthy, poisoned, the
//! fix) natively linked: with fixed seeds the round counts are exact, the same seed
//! gives the same report, and no node relapses once repaired — with modules alive and
//! with every module dead before the fix (only the core's gossip carries it).

use hearsay_sim::s3::{play, S3Config, S3Report};
use hearsay_sim::SimConfig;

fn story(nodes: usize, seed: u64, modules_dead: bool) -> S3Report {
    play(S3Config {
        sim: SimConfig {
            nodes,
            seed,
            ..SimConfig::default()
        },
        modules_dead,
        max_rounds: 100,
        watch_rounds: 10,
    })
}

fn rounds(r: &S3Report) -> Vec<u64> {
    r.phases.iter().map(|p| p.rounds).collect()
}

#[test]
fn a_thousand_nodes_are_repaired_in_exact_rounds_and_never_relapse() {
    let alive = story(1_000, 1, false);
    assert!(alive.passed(), "{alive:?}");
    // Runs everywhere, the value everywhere, the poison everywhere, the fix everywhere.
    assert_eq!(rounds(&alive), [1, 2, 4, 2], "{alive:?}");
    assert_eq!((alive.recontaminated, alive.regressions), (0, 0));

    let dead = story(1_000, 1, true);
    assert!(dead.passed(), "{dead:?}");
    assert_eq!(rounds(&dead), [1, 2, 4, 2], "{dead:?}");
    // No module gossip during the repair: only the core's own envelopes, so fewer.
    assert!(dead.repair_messages < alive.repair_messages, "{dead:?} {alive:?}");
}

#[test]
fn the_same_seed_gives_the_same_story() {
    let a = story(300, 9, true);
    let b = story(300, 9, true);
    assert!(a.passed(), "{a:?}");
    assert_eq!(a, b);
    let other = story(300, 10, true);
    assert_ne!(
        (a.repair_messages, a.repair_bytes),
        (other.repair_messages, other.repair_bytes),
        "another seed, another run"
    );
}
