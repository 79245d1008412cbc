//! The wasm runtime in-process (wasmtime, the real membership.wasm): messages per
//! second through the boundary, hot swap with state handover, cold compile.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Result};
use hearsay_core::{CodeVersion, Deployment, DeploymentNumber, ModuleName, NodeId, PeerAddr};
use hearsay_runtime::{sample, Limits, ModuleHost, Runtime};

use super::report::Row;
use super::Plan;
use crate::fixtures::MEMBERSHIP;

const GROUP: &str = "runtime";
const MEMBERS: usize = 100;

fn deployment(module: &ModuleName, time_ms: u64) -> Deployment {
    Deployment {
        module: module.clone(),
        version: Some(CodeVersion::of(MEMBERSHIP)),
        number: DeploymentNumber {
            time_ms,
            origin: NodeId(1),
        },
        params: String::new(),
        previous: None,
        budget: Default::default(),
        auto_rollback_ms: None,
        signature: None,
    }
}

pub fn rows(plan: &Plan) -> Result<Vec<Row>> {
    let e = |e: hearsay_runtime::ModuleError| anyhow!("membership.wasm: {e}");
    let rt = Arc::new(Runtime::new(Limits::default()).map_err(|e| anyhow!("{e}"))?);
    let code = rt.compile(MEMBERSHIP).map_err(|e| anyhow!("{e}"))?;
    let (mut me, message) = sample::membership_push(&rt, &code, MEMBERS).map_err(|e| anyhow!(e))?;
    let per_run = if plan.quick { 300 } else { 3000 };
    let mut rates = Vec::new();
    for _ in 0..plan.runs {
        let started = Instant::now();
        for _ in 0..per_run {
            me.receive(1300, sample::PEER, &message).map_err(e)?;
        }
        rates.push(per_run as f64 / started.elapsed().as_secs_f64());
    }

    let module = ModuleName::new("membership").map_err(|e| anyhow!("{e}"))?;
    let me_addr: PeerAddr = sample::ME.parse()?;
    let mut swaps = Vec::new();
    for run in 0..plan.runs as u64 {
        let mut host = ModuleHost::new(rt.clone(), me_addr, vec![], 1);
        host.load(1000, &deployment(&module, 10 * run + 1), MEMBERSHIP);
        let number = deployment(&module, 10 * run + 1).number;
        host.deliver(1100, &module, number, sample::PEER.parse()?, &message);
        let started = Instant::now();
        host.load(2000, &deployment(&module, 10 * run + 2), MEMBERSHIP);
        swaps.push(started.elapsed().as_secs_f64() * 1000.0);
        if host.metrics.handovers != 1 {
            return Err(anyhow!("the swap did not hand state over"));
        }
    }

    let (mut compiles, mut baseline_compiles) = (Vec::new(), Vec::new());
    for _ in 0..plan.runs {
        let fresh = Runtime::new(Limits::default()).map_err(|e| anyhow!("{e}"))?;
        let started = Instant::now();
        fresh.compile(MEMBERSHIP).map_err(|e| anyhow!("{e}"))?;
        compiles.push(started.elapsed().as_secs_f64() * 1000.0);
        let tiered = Runtime::new(Limits::default())
            .and_then(Runtime::with_baseline_tier)
            .map_err(|e| anyhow!("{e}"))?;
        let started = Instant::now();
        tiered.compile(MEMBERSHIP).map_err(|e| anyhow!("{e}"))?;
        baseline_compiles.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(vec![
        Row::new(
            GROUP,
            format!(
                "membership messages through the wasm boundary ({MEMBERS} members, {} B: receive → merge → reply)",
                message.len()
            ),
            "msg/s",
            rates,
        ),
        Row::new(GROUP, "hot swap with state handover (code compiled)", "ms", swaps),
        Row::new(
            GROUP,
            format!("compile membership.wasm ({} KiB), cold", MEMBERSHIP.len() / 1024),
            "ms",
            compiles,
        ),
        Row::new(
            GROUP,
            "… with the baseline compiler (Winch), as a new version's first code",
            "ms",
            baseline_compiles,
        ),
    ])
}
