//! `hearsay sim run` and `hearsay sim scenario`: a module author's modules in the
//! simulator before they are deployed anywhere — from their real wasm (wasmtime, as
//! the daemon runs them) or, with `--native`, the module library's native build of the
//! same source — and scenario files.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;

use hearsay_core::ModuleName;
use hearsay_sim::scenario::{self, ScriptReport};
use hearsay_sim::world::node_rounds;
use hearsay_sim::{library, ModuleSpec, Sim};

use crate::sim::Common;

/// Arguments of `hearsay sim run`.
#[derive(Args)]
pub struct RunArgs {
    /// A module every node runs: NAME=FILE.wasm (repeatable).
    #[arg(long = "module", value_name = "NAME=FILE", required = true)]
    modules: Vec<String>,
    /// Params for the modules (JSON).
    #[arg(long, default_value = "")]
    params: String,
    /// Run the module library's native build of each module's source instead of its
    /// wasm (membership, statecast, …): a hundred times faster, for large clusters.
    #[arg(long)]
    native: bool,
    /// What the modules may consume where it differs from the node's defaults,
    /// KEY=VALUE (repeatable; keys as `hearsay deploy --budget`).
    #[arg(long = "budget", value_name = "KEY=VALUE")]
    budget: Vec<String>,
    /// Rounds to run.
    #[arg(long, default_value_t = 50)]
    rounds: u64,
    /// What to ask every node's modules at the end (their query's args).
    #[arg(long, default_value = "count")]
    query: String,
    /// Also report the steady state: bytes, messages and wall time per node per round
    /// over the rounds after this one (joins and their rumors spent by then).
    #[arg(long, value_name = "ROUND")]
    measure_after: Option<u64>,
    #[command(flatten)]
    common: Common,
}

/// `min`, `median`, `max` of a field over the nodes' answers.
#[derive(Serialize)]
struct Spread {
    min: f64,
    median: f64,
    max: f64,
}

/// One module's answers at the end of a run.
#[derive(Serialize)]
struct ModuleReport {
    module: String,
    version: String,
    native: bool,
    /// Nodes where it answered.
    answering: usize,
    /// Every numeric field of the answers, over the nodes.
    fields: std::collections::BTreeMap<String, Spread>,
    /// For a membership-like module: the first round at which every node's `live`
    /// counted every node — with partial views, at which every node's neighbours were
    /// the true ring's (looked for until the `--measure-after` window starts).
    views_converged_after_rounds: Option<u64>,
}

/// What `hearsay sim run` prints.
#[derive(Serialize)]
struct RunReport {
    nodes: usize,
    seed: u64,
    loss: f64,
    rounds: u64,
    interval_ms: u64,
    modules: Vec<ModuleReport>,
    /// Envelopes all nodes sent.
    messages: u64,
    /// Bytes all nodes sent.
    bytes: u64,
    /// Bytes one node sent per round, on average.
    bytes_per_node: f64,
    /// Envelopes one node sent per round, on average.
    messages_per_node: f64,
    /// The same over the rounds after `--measure-after` only (null without it).
    steady: Option<Steady>,
    /// Module instances that failed.
    failures: u64,
    load_failures: u64,
    wall_seconds: f64,
}

/// Per node and round over the rounds after `--measure-after`: what a node costs
/// once the cluster has formed, which is what must stay flat as it grows.
#[derive(Serialize)]
struct Steady {
    /// The first round counted.
    from_round: u64,
    rounds: u64,
    bytes_per_node: f64,
    messages_per_node: f64,
    /// Wall time of the simulator (one thread: cores, modules, network) per node
    /// per round, in µs: the CPU a node's protocol costs, with the simulator's own.
    wall_us_per_node: f64,
}

fn spread(mut values: Vec<f64>) -> Spread {
    values.sort_by(f64::total_cmp);
    let at = |i: usize| values.get(i).copied().unwrap_or(f64::NAN);
    Spread {
        min: at(0),
        median: at(values.len() / 2),
        max: at(values.len().saturating_sub(1)),
    }
}

fn answers(sim: &mut Sim, module: &ModuleName, args: &str) -> Vec<serde_json::Value> {
    (0..sim.nodes.len())
        .filter_map(|i| sim.query(i, module, args))
        .filter_map(|a| serde_json::from_str(&a).ok())
        .collect()
}

/// Runs `hearsay sim run`.
pub fn run(args: RunArgs) -> Result<()> {
    args.common.check()?;
    let started = Instant::now();
    let mut budget = hearsay_core::BudgetOverrides::none();
    for text in &args.budget {
        budget.set_text(text).context("--budget")?;
    }
    let runtime = hearsay_runtime::Runtime::new(hearsay_runtime::Limits::default())
        .map_err(|e| anyhow::anyhow!("cannot start the wasm runtime: {e}"))?;
    let mut specs = Vec::new();
    for text in &args.modules {
        let (name, file) = text
            .split_once('=')
            .with_context(|| format!("--module {text:?}: expected NAME=FILE.wasm"))?;
        let name = ModuleName::new(name).map_err(|e| anyhow::anyhow!("--module {text:?}: {e}"))?;
        let code = std::fs::read(file).with_context(|| format!("cannot read {file}"))?;
        // Refused here with the runtime's own reason, rather than as a load failure
        // at every simulated node.
        runtime
            .compile(&code)
            .map_err(|e| anyhow::anyhow!("--module {text:?}: {file} cannot run: {e}"))?;
        let native = if args.native {
            let f = library::native(name.as_str())
                .with_context(|| format!("--native: the module library has no native build of {name}"))?;
            Some(f)
        } else {
            None
        };
        specs.push(ModuleSpec {
            name,
            code,
            native,
            params: args.params.clone(),
            budget: budget.clone(),
        });
    }
    let mut cfg = args.common.config();
    cfg.modules = Some(specs.clone());
    let nodes = cfg.nodes;
    let mut sim = Sim::new(cfg);
    if args.measure_after.is_some_and(|r| r >= args.rounds) {
        bail!("--measure-after must be below --rounds");
    }
    let mut converged: Vec<Option<u64>> = vec![None; specs.len()];
    let mut window = None;
    for round in 1..=args.rounds {
        if args.measure_after == Some(round - 1) {
            window = Some((sim.totals(), Instant::now()));
        }
        sim.run_rounds(1);
        for (k, spec) in specs.iter().enumerate() {
            // Asking every node each round would weigh on the steady window's time.
            if converged[k].is_some() || window.is_some() {
                continue;
            }
            let all = answers(&mut sim, &spec.name, "count");
            // Partial views: every node's neighbours the true ring's; full views:
            // every node counting every node.
            let whole = all.len() == nodes
                && match hearsay_sim::ring::placed(&all) {
                    Some(placed) => placed == nodes,
                    None => all.iter().all(|a| a["live"].as_u64() == Some(nodes as u64)),
                };
            if whole {
                converged[k] = Some(round);
            }
        }
    }
    let steady = window.map(|(before, since)| {
        let from = args.measure_after.unwrap_or(0);
        let (rounds, sent) = (args.rounds - from, sim.totals() - before);
        Steady {
            from_round: from + 1,
            rounds,
            bytes_per_node: sent.bytes_per_node_round(nodes, rounds),
            messages_per_node: sent.messages_per_node_round(nodes, rounds),
            wall_us_per_node: since.elapsed().as_secs_f64() * 1e6 / node_rounds(nodes, rounds),
        }
    });
    let mut modules = Vec::new();
    for (spec, converged) in specs.iter().zip(converged) {
        let all = answers(&mut sim, &spec.name, &args.query);
        let mut fields = std::collections::BTreeMap::new();
        if let Some(first) = all.first().and_then(|a| a.as_object()) {
            for (key, value) in first {
                // A node's place on the ring is no figure to spread.
                if value.is_number() && key != "ring_key" {
                    let values = all.iter().filter_map(|a| a[key].as_f64()).collect();
                    fields.insert(key.clone(), spread(values));
                }
            }
        }
        modules.push(ModuleReport {
            module: spec.name.to_string(),
            version: hearsay_core::CodeVersion::of(&spec.code).to_hex(),
            native: spec.native.is_some(),
            answering: all.len(),
            fields,
            views_converged_after_rounds: converged,
        });
    }
    let t = sim.totals();
    let report = RunReport {
        nodes,
        seed: args.common.seed,
        loss: args.common.loss,
        rounds: args.rounds,
        interval_ms: sim.cfg.gossip_interval_ms,
        modules,
        messages: t.messages,
        bytes: t.bytes,
        bytes_per_node: t.bytes_per_node_round(nodes, args.rounds),
        messages_per_node: t.messages_per_node_round(nodes, args.rounds),
        steady,
        failures: sim.stats().failures,
        load_failures: sim.stats().load_failures,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    if args.common.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        say!(
            "{} nodes × {} rounds ({} ms), seed {}: {} messages, {:.0} B per node per round, {} failures, {} failed loads, {:.1} s",
            report.nodes,
            report.rounds,
            report.interval_ms,
            report.seed,
            report.messages,
            report.bytes_per_node,
            report.failures,
            report.load_failures,
            report.wall_seconds
        );
        if let Some(st) = &report.steady {
            say!(
                "  steady, rounds {}–{}: {:.0} B and {:.1} messages per node per round, {:.1} µs of simulator per node per round",
                st.from_round,
                report.rounds,
                st.bytes_per_node,
                st.messages_per_node,
                st.wall_us_per_node
            );
        }
        for m in &report.modules {
            say!(
                "  {} ({}, {}): answered at {} nodes{}",
                m.module,
                &m.version[..12],
                if m.native { "native" } else { "wasm" },
                m.answering,
                m.views_converged_after_rounds.map_or(String::new(), |r| format!(
                    "; every view complete after {r} rounds"
                ))
            );
            for (field, s) in &m.fields {
                say!(
                    "    {field:<12} min {} / median {} / max {}",
                    s.min,
                    s.median,
                    s.max
                );
            }
        }
    }
    Ok(())
}

/// Arguments of `hearsay sim scenario`.
#[derive(Args)]
pub struct ScenarioArgs {
    /// The scenario file (TOML: `[[step]]` tables; see `hearsay_sim::scenario`).
    file: PathBuf,
    #[command(flatten)]
    common: Common,
}

/// Runs `hearsay sim scenario`.
pub fn scenario(args: ScenarioArgs) -> Result<()> {
    args.common.check()?;
    let steps = scenario::from_file(&args.file).map_err(|e| anyhow::anyhow!(e))?;
    let started = Instant::now();
    let report: ScriptReport = scenario::run(args.common.config(), &steps);
    if args.common.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for (i, m) in report.measures.iter().enumerate() {
            say!(
                "measure {}: converged {} ({} of {} live nodes) in {} rounds ({:.1} simulated s), {} messages",
                i + 1,
                m.converged,
                m.reached,
                m.alive,
                m.rounds,
                m.sim_seconds,
                m.traffic.messages
            );
        }
        say!(
            "{} events in {:.1} s; {} regressions",
            report.events,
            started.elapsed().as_secs_f64(),
            report.regressions
        );
        for f in &report.failures {
            say!("FAILED: {f}");
        }
    }
    if !report.passed() {
        bail!(
            "the scenario failed ({} failures, {} regressions)",
            report.failures.len(),
            report.regressions
        );
    }
    Ok(())
}
