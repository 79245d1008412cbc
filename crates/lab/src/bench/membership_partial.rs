//! Membership with partial views at simulated scale (issue 19's 100,000 nodes): the
//! module's native build on every node of the simulator with `ring_neighbours`, all
//! started at once, 50 rounds as `hearsay sim run --nodes N --rounds 50
//! --measure-after 30` runs them — rounds until every node's neighbours are the
//! true ring's, bytes and messages per node per round over rounds 31–50, false
//! removals and suspicions, and the wall time of the whole run.

use std::time::Instant;

use anyhow::{bail, Result};
use hearsay_core::ModuleName;
use hearsay_sim::world::node_rounds;
use hearsay_sim::Sim;

use super::report::Row;
use super::Plan;

const GROUP: &str = "membership";
/// Neighbours each node keeps on each side.
const PARAMS: &str = r#"{"ring_neighbours":4}"#;
/// Rounds of a run, and the last round before the steady window.
const ROUNDS: u64 = 50;
const STEADY_FROM: u64 = 30;

struct Run {
    ring_rounds: u64,
    bytes_per_node: f64,
    messages_per_node: f64,
    false_removals: u64,
    suspected_at_end: u64,
    wall_us_per_node: f64,
    wall_s: f64,
    live_max: u64,
}

/// Every node's `count` answer.
fn counts(sim: &mut Sim, module: &ModuleName, n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .filter_map(|i| sim.query(i, module, "count"))
        .filter_map(|a| serde_json::from_str(&a).ok())
        .collect()
}

fn run(plan: &Plan, n: usize, seed: u64) -> Result<Run> {
    let started = Instant::now();
    let (mut sim, module) = super::membership::cluster(plan, n, seed, PARAMS)?;
    let mut ring_rounds = None;
    for round in 1..=STEADY_FROM {
        sim.run_rounds(1);
        if hearsay_sim::ring::placed(&counts(&mut sim, &module, n)) == Some(n) {
            ring_rounds = Some(round);
            break;
        }
    }
    let Some(ring_rounds) = ring_rounds else {
        bail!("{n} simulated nodes, partial views (seed {seed}): the ring not found in {STEADY_FROM} rounds");
    };
    sim.run_rounds(STEADY_FROM - ring_rounds);
    let before = sim.totals();
    let steady = Instant::now();
    sim.run_rounds(ROUNDS - STEADY_FROM);
    let steady_s = steady.elapsed().as_secs_f64();
    let sent = sim.totals() - before;
    let wall_s = started.elapsed().as_secs_f64();
    let all = counts(&mut sim, &module, n);
    if hearsay_sim::ring::placed(&all) != Some(n) {
        bail!("{n} simulated nodes, partial views (seed {seed}): the ring broke in the steady rounds");
    }
    let sum = |field: &str| all.iter().filter_map(|a| a[field].as_u64()).sum::<u64>();
    Ok(Run {
        ring_rounds,
        bytes_per_node: sent.bytes_per_node_round(n, ROUNDS - STEADY_FROM),
        messages_per_node: sent.messages_per_node_round(n, ROUNDS - STEADY_FROM),
        false_removals: sum("removed"),
        suspected_at_end: sum("suspected"),
        wall_us_per_node: steady_s * 1e6 / node_rounds(n, ROUNDS - STEADY_FROM),
        wall_s,
        live_max: all.iter().filter_map(|a| a["live"].as_u64()).max().unwrap_or(0),
    })
}

pub fn rows(plan: &Plan) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &n in &plan.membership_partial_sizes {
        let started = Instant::now();
        let runs: Vec<Run> = (1..=plan.runs as u64)
            .map(|seed| run(plan, n, seed))
            .collect::<Result<_>>()?;
        let of = |f: fn(&Run) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
        let name = |what: &str| format!("partial views, simulated {n}: {what}");
        rows.push(Row::new(
            GROUP,
            name("all started at once → every node's neighbours the true ring's"),
            "rounds",
            of(|r| r.ring_rounds as f64),
        ));
        rows.push(Row::new(
            GROUP,
            name("members a node holds, at most"),
            "count",
            of(|r| r.live_max as f64),
        ));
        rows.push(Row::new(
            GROUP,
            name("bytes each node sends per round, rounds 31–50"),
            "B",
            of(|r| r.bytes_per_node),
        ));
        rows.push(Row::new(
            GROUP,
            name("messages each node sends per round, rounds 31–50"),
            "msg",
            of(|r| r.messages_per_node),
        ));
        rows.push(
            Row::new(
                GROUP,
                name("false removals over 50 rounds (all nodes)"),
                "count",
                of(|r| r.false_removals as f64),
            )
            .at_most(0.0, "none"),
        );
        rows.push(
            Row::new(
                GROUP,
                name("suspected at the end (all nodes)"),
                "count",
                of(|r| r.suspected_at_end as f64),
            )
            .at_most(0.0, "none"),
        );
        rows.push(Row::new(
            GROUP,
            name("simulator time per node per round, rounds 31–50"),
            "µs",
            of(|r| r.wall_us_per_node),
        ));
        let row = Row::new(
            GROUP,
            name("wall time of the 50 rounds, start included"),
            "s",
            of(|r| r.wall_s),
        );
        rows.push(if n >= 100_000 {
            row.at_most(600.0, "≤ 10 min at 100,000 (issue 19)")
        } else {
            row
        });
        esay!(
            "membership: {n} simulated nodes with partial views × {} seeds in {:.1} s",
            plan.runs,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(rows)
}
