//! The membership module with partial views (`ring_neighbours`) — the same source as
//! membership.wasm, linked natively — behind real cores: thousands of nodes started
//! at once find the true ring within a bounded number of rounds and keep views a few
//! dozen members long, and nobody alive is removed at 10% loss. Fixed seeds: the
//! round counts are exact. (100,000 nodes: `hearsay sim run … --nodes 100000`, a
//! bench row; too long for a test.)

use hearsay_core::ModuleName;
use hearsay_sim::{ModuleSpec, NetworkModel, Sim, SimConfig};

const MEMBERSHIP: &[u8] = include_bytes!("../../../modules/dist/membership.wasm");

fn membership() -> ModuleName {
    ModuleName::new("membership").unwrap()
}

fn sim(nodes: usize, seed: u64, loss: f64) -> Sim {
    Sim::new(SimConfig {
        nodes,
        seed,
        network: NetworkModel {
            loss,
            ..NetworkModel::default()
        },
        modules: Some(vec![ModuleSpec {
            name: membership(),
            code: MEMBERSHIP.to_vec(),
            native: hearsay_sim::library::native("membership"),
            params: r#"{"ring_neighbours":4}"#.to_string(),
            budget: Default::default(),
        }]),
        ..SimConfig::default()
    })
}

fn counts(sim: &mut Sim) -> Vec<serde_json::Value> {
    (0..sim.nodes.len())
        .map(|i| {
            let answer = sim.query(i, &membership(), "count").expect("membership runs");
            serde_json::from_str(&answer).expect("JSON")
        })
        .collect()
}

fn placed(sim: &mut Sim) -> usize {
    hearsay_sim::ring::placed(&counts(sim)).expect("partial views name their neighbours")
}

fn rounds_until_placed(sim: &mut Sim, max: u64) -> Option<u64> {
    let n = sim.nodes.len();
    (1..=max).find(|_| {
        sim.run_rounds(1);
        placed(sim) == n
    })
}

fn total(all: &[serde_json::Value], field: &str) -> u64 {
    all.iter().map(|a| a[field].as_u64().expect("a count")).sum()
}

#[test]
fn five_thousand_nodes_started_at_once_find_the_true_ring_and_hold_a_few_dozen_members() {
    let mut sim = sim(5000, 1, 0.0);
    let rounds = rounds_until_placed(&mut sim, 40).expect("every node's neighbours are the true ring's");
    eprintln!("5,000 nodes, partial views: the true ring after {rounds} rounds");
    assert!(rounds <= 9, "{rounds} rounds");
    sim.run_rounds(20);
    assert_eq!(placed(&mut sim), 5000, "the ring holds");
    let all = counts(&mut sim);
    assert_eq!((total(&all, "suspected"), total(&all, "removed")), (0, 0));
    let most = all.iter().map(|a| a["live"].as_u64().unwrap()).max().unwrap();
    // 4 neighbours each side and two fingers in each of the ~13 bands 5,000 nodes
    // fill: a full view would be 5,000.
    assert!(most <= 40, "a node holds {most} members");
    assert_eq!(sim.stats().regressions, 0);
}

#[test]
fn at_ten_percent_loss_the_ring_forms_and_nobody_alive_is_removed() {
    let mut sim = sim(1000, 2, 0.10);
    let rounds = rounds_until_placed(&mut sim, 60).expect("the ring forms under loss");
    eprintln!("1,000 nodes at 10% loss, partial views: the true ring after {rounds} rounds");
    sim.run_rounds(300);
    let all = counts(&mut sim);
    assert_eq!(total(&all, "removed"), 0, "false removals");
    assert_eq!(placed(&mut sim), 1000);
}
