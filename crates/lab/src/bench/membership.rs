//! Membership's cost per node as the cluster grows (issue 19). Two measures:
//!
//! - **One node, real wasm.** membership.wasm under wasmtime, its view handed a
//!   cluster of n members (the module's own handover), then fed what a node hears
//!   in a quiet round: a tick and a beat from each node it watches. CPU per beat and
//!   per tick at n = 100 … 100,000 — what an agent pays, one view in its memory.
//! - **Every node, simulated.** The module's native build on every node of the
//!   simulator, all started at once: rounds until every view holds everyone, then
//!   bytes and messages per node per round over the steady rounds that follow, false
//!   removals and the simulator's time per node and round.

use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use hearsay_core::ModuleName;
use hearsay_runtime::{sample, Limits, Runtime};
use hearsay_sim::world::node_rounds;
use hearsay_sim::{library, ModuleSpec, Sim, SimConfig};
use heartbeat::labels::Labels;
use heartbeat::table::Heartbeat;
use membership::view::{Note, State, View};
use membership::wire::{self, Message};

use super::report::Row;
use super::Plan;
use crate::fixtures::MEMBERSHIP;

const GROUP: &str = "membership";
/// The node's incarnation in the handed-over view: above any a fresh instance has,
/// so the instance takes it and its digest is the view's.
const GENERATION: u64 = 1 << 40;
/// Rounds the simulated rows measure once views are full.
const STEADY_ROUNDS: u64 = 50;
/// Rounds the simulated views get to fill before the run is called failed.
const MAX_JOIN_ROUNDS: u64 = 60;

/// Member `i`'s address in the handed-over views.
fn member(i: usize) -> String {
    format!("10.{}.{}.{}:7000", i >> 16, (i >> 8) & 255, i & 255)
}

/// What one node holding `n` members costs.
struct OneNode {
    /// A hot swap's import of its view, ms.
    import_ms: f64,
    /// Instructions (fuel) that import burnt per member.
    import_fuel_per_member: f64,
    /// µs per beat received.
    beat_us: f64,
    /// µs per tick.
    tick_us: f64,
}

fn one_node(rt: &Runtime, code: &hearsay_runtime::Code, n: usize, rounds: usize) -> Result<OneNode> {
    let mut view = View::new(sample::ME.into(), GENERATION, Labels::default());
    let incarnation = Heartbeat {
        generation: 1,
        counter: 0,
    };
    for i in 0..n {
        let note = Note {
            addr: member(i),
            incarnation,
            state: State::Alive,
            by: None,
            labels: Some(Labels::default()),
        };
        view.merge(&note, 0, &mut Vec::new());
    }
    let state = membership::state::export(&view);
    let mut me = sample::instance_at_me(rt, code).map_err(|e| anyhow!(e))?;
    let mut now = 2_000;
    let fuel = me.usage().fuel;
    let started = Instant::now();
    let imported = me
        .import_state(now, &state)
        .map_err(|e| anyhow!("handing over a view of {n} members: {e}"))?;
    let import_ms = started.elapsed().as_secs_f64() * 1000.0;
    if !imported {
        bail!("membership.wasm refused a handed-over view of {n} members");
    }
    let import_fuel_per_member = (me.usage().fuel - fuel) as f64 / n as f64;
    let beat = wire::encode(&Message::Beat {
        incarnation,
        digest: view.digest(),
        members: n as u64 + 1,
        rumors: Vec::new(),
    });
    let watched = view.watched(2);
    let (mut tick_s, mut beat_s) = (0.0, 0.0);
    for _ in 0..rounds {
        now += 200;
        let started = Instant::now();
        me.tick(now).map_err(|e| anyhow!("{e}"))?;
        tick_s += started.elapsed().as_secs_f64();
        for from in &watched {
            let started = Instant::now();
            let effects = me.receive(now, from, &beat).map_err(|e| anyhow!("{e}"))?;
            beat_s += started.elapsed().as_secs_f64();
            if !effects.sends.is_empty() {
                bail!("a beat with an equal digest made the node at {n} members send: its view is not the one handed over");
            }
        }
    }
    let (answer, _) = me.query(now, "count").map_err(|e| anyhow!("{e}"))?;
    let count: serde_json::Value = serde_json::from_str(&answer)?;
    if count["live"].as_u64() != Some(n as u64 + 1) || count["suspected"].as_u64() != Some(0) {
        bail!("after {rounds} quiet rounds the node at {n} members answers {answer}");
    }
    let per = |s: f64, k: usize| s * 1e6 / k as f64;
    Ok(OneNode {
        import_ms,
        import_fuel_per_member,
        beat_us: per(beat_s, rounds * watched.len()),
        tick_us: per(tick_s, rounds),
    })
}

/// A simulated cluster of `n` nodes running membership natively, started at once.
struct Simulated {
    join_rounds: u64,
    bytes_per_node: f64,
    messages_per_node: f64,
    false_removals: u64,
    wall_us_per_node: f64,
}

fn live_everywhere(sim: &mut Sim, module: &ModuleName, n: usize) -> (bool, u64) {
    let mut all = true;
    let mut removed = 0;
    for i in 0..n {
        let answer = sim.query(i, module, "count").unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
        all &= v["live"].as_u64() == Some(n as u64);
        removed += v["removed"].as_u64().unwrap_or(0);
    }
    (all, removed)
}

/// `n` simulated nodes, all started at once with membership's native build and
/// `params`; the module's name.
pub(super) fn cluster(plan: &Plan, n: usize, seed: u64, params: &str) -> Result<(Sim, ModuleName)> {
    let module = ModuleName::new("membership").map_err(|e| anyhow!("{e}"))?;
    let sim = Sim::new(SimConfig {
        nodes: n,
        seed,
        gossip_interval_ms: plan.interval_ms,
        modules: Some(vec![ModuleSpec {
            name: module.clone(),
            code: MEMBERSHIP.to_vec(),
            native: library::native("membership"),
            params: params.to_string(),
            budget: Default::default(),
        }]),
        ..SimConfig::default()
    });
    Ok((sim, module))
}

fn simulated(plan: &Plan, n: usize, seed: u64) -> Result<Simulated> {
    let (mut sim, module) = cluster(plan, n, seed, "")?;
    let mut join_rounds = None;
    for round in 1..=MAX_JOIN_ROUNDS {
        sim.run_rounds(1);
        if live_everywhere(&mut sim, &module, n).0 {
            join_rounds = Some(round);
            break;
        }
    }
    let Some(join_rounds) = join_rounds else {
        bail!("{n} simulated nodes (seed {seed}): views not full after {MAX_JOIN_ROUNDS} rounds");
    };
    // The joins' last rumors and syncs die down over a few more rounds.
    sim.run_rounds(10);
    let before = sim.totals();
    let started = Instant::now();
    sim.run_rounds(STEADY_ROUNDS);
    let wall = started.elapsed().as_secs_f64();
    let sent = sim.totals() - before;
    let (full, false_removals) = live_everywhere(&mut sim, &module, n);
    if !full {
        bail!("{n} simulated nodes (seed {seed}): views no longer full after the steady rounds");
    }
    Ok(Simulated {
        join_rounds,
        bytes_per_node: sent.bytes_per_node_round(n, STEADY_ROUNDS),
        messages_per_node: sent.messages_per_node_round(n, STEADY_ROUNDS),
        false_removals,
        wall_us_per_node: wall * 1e6 / node_rounds(n, STEADY_ROUNDS),
    })
}

pub fn rows(plan: &Plan) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let rt = Runtime::new(Limits::default()).map_err(|e| anyhow!("{e}"))?;
    let code = rt.compile(MEMBERSHIP).map_err(|e| anyhow!("{e}"))?;
    let rounds = if plan.quick { 50 } else { 500 };
    for &n in &plan.membership_view_sizes {
        let runs: Vec<OneNode> = (0..plan.runs)
            .map(|_| one_node(&rt, &code, n, rounds))
            .collect::<Result<_>>()?;
        let of = |f: fn(&OneNode) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
        rows.push(Row::new(
            GROUP,
            format!("membership.wasm: CPU per beat received, a node holding {n} members"),
            "µs",
            of(|r| r.beat_us),
        ));
        rows.push(Row::new(
            GROUP,
            format!("membership.wasm: CPU per tick (expiry, watch, beats out), {n} members"),
            "µs",
            of(|r| r.tick_us),
        ));
        rows.push(Row::new(
            GROUP,
            format!("membership.wasm: a hot swap's import of a view of {n} members"),
            "ms",
            of(|r| r.import_ms),
        ));
        rows.push(Row::new(
            GROUP,
            format!("… instructions per member imported ({n} members)"),
            "fuel",
            of(|r| r.import_fuel_per_member),
        ));
        esay!("membership: one node holding {n} members measured");
    }
    for &n in &plan.membership_sim_sizes {
        let started = Instant::now();
        let runs: Vec<Simulated> = (1..=plan.runs as u64)
            .map(|seed| simulated(plan, n, seed))
            .collect::<Result<_>>()?;
        let of = |f: fn(&Simulated) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
        rows.push(Row::new(
            GROUP,
            format!("simulated {n}: all started at once → every view full"),
            "rounds",
            of(|r| r.join_rounds as f64),
        ));
        rows.push(Row::new(
            GROUP,
            format!("simulated {n}: bytes each node sends per round, steady"),
            "B",
            of(|r| r.bytes_per_node),
        ));
        rows.push(Row::new(
            GROUP,
            format!("simulated {n}: messages each node sends per round, steady"),
            "msg",
            of(|r| r.messages_per_node),
        ));
        rows.push(
            Row::new(
                GROUP,
                format!(
                    "simulated {n}: false removals, from the start through the steady rounds (all nodes)"
                ),
                "count",
                of(|r| r.false_removals as f64),
            )
            .at_most(0.0, "none"),
        );
        rows.push(Row::new(
            GROUP,
            format!("simulated {n}: simulator time per node per round (one process holds every view)"),
            "µs",
            of(|r| r.wall_us_per_node),
        ));
        esay!(
            "membership: {n} simulated nodes × {} seeds in {:.1} s",
            plan.runs,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(rows)
}
