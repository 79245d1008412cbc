//! Update propagation in the simulator (the same core, the membership-shaped
//! stand-in module, an honest network: every envelope encoded and decoded, 1–10 ms
//! latency), one seed per run, next to the bounds from theory.

use std::time::Instant;

use anyhow::{bail, Result};
use hearsay_sim::scenario::{self, deploy_script};
use hearsay_sim::SimConfig;

use super::agents::bounds;
use super::report::Row;
use super::Plan;

const GROUP: &str = "simulated";
const MAX_ROUNDS: u64 = 1000;

fn measure(plan: &Plan, nodes: usize, seed: u64, modules_dead: bool) -> Result<f64> {
    let mut cfg = SimConfig {
        nodes,
        seed,
        gossip_interval_ms: plan.interval_ms,
        ..SimConfig::default()
    };
    cfg.core.backup_interval_ms = plan.backup_interval_ms;
    let outcome = scenario::run(cfg, &deploy_script(modules_dead, MAX_ROUNDS, nodes - 1));
    let Some(m) = outcome.measures.last() else {
        bail!("the deploy script measured nothing");
    };
    if !m.converged || outcome.regressions > 0 {
        bail!(
            "simulated deploy at {nodes} nodes (seed {seed}): {} of {} reached, {} regressions",
            m.reached,
            m.alive,
            outcome.regressions
        );
    }
    Ok(if modules_dead {
        m.sim_seconds * 1000.0 / plan.backup_interval_ms as f64
    } else {
        m.rounds as f64
    })
}

pub fn rows(plan: &Plan) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &n in &plan.sim_sizes {
        let started = Instant::now();
        let alive: Vec<f64> = (1..=plan.runs as u64)
            .map(|seed| measure(plan, n, seed, false))
            .collect::<Result<_>>()?;
        let (push_pull, push) = bounds(n);
        rows.push(
            Row::new(
                GROUP,
                format!("deploy → all {n} simulated nodes running it"),
                "rounds",
                alive,
            )
            .vs(format!("push-pull bound {push_pull:.1}, push {push:.1} rounds")),
        );
        if n <= 10_000 {
            let dead: Vec<f64> = (1..=plan.runs as u64)
                .map(|seed| measure(plan, n, seed, true))
                .collect::<Result<_>>()?;
            rows.push(Row::new(
                GROUP,
                format!("… every module dead: backup gossip alone, {n} nodes"),
                "backup rounds",
                dead,
            ));
        }
        esay!(
            "simulated: {n} nodes × {} seeds in {:.1} s",
            plan.runs,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(rows)
}
