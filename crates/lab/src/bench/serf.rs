//! `serf`: Serf (Debian's `serf` package) beside hearsay, measured the same way: as
//! many agents as the largest hearsay cluster, on 127.0.0.1, all joined through the
//! first, left idle; then their CPU, their resident memory and the bytes they put on
//! the loopback interface, per agent. Serf's LAN defaults gossip every 200 ms, like
//! hearsay's agents here. Skipped with a message where `serf` is not installed.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::report::Row;
use super::Plan;
use crate::procfs;

const GROUP: &str = "serf";
const JOIN_TIMEOUT: Duration = Duration::from_secs(120);

/// The agents, stopped when dropped.
struct SerfAgents(Vec<Child>);

impl Drop for SerfAgents {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Where agent `i` of `n` listens: gossip on the port base + i, RPC on base + n + i
/// (the groups run one after another, so they share the base).
fn ports(plan: &Plan, n: usize, i: usize) -> (String, String) {
    let base = plan.port_base as usize;
    (
        format!("127.0.0.1:{}", base + i),
        format!("127.0.0.1:{}", base + n + i),
    )
}

/// How many members the agent answering RPC at `rpc` counts alive (0 if it can't be
/// asked).
fn alive_seen_by(rpc: &str) -> usize {
    Command::new("serf")
        .args(["members", "-status=alive", &format!("-rpc-addr={rpc}")])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
        .unwrap_or(0)
}

pub fn rows(plan: &Plan) -> Result<Vec<Row>> {
    let n = plan.big();
    if Command::new("serf").arg("version").output().is_err() {
        esay!("serf: not installed (Debian: apt-get install serf), rows skipped");
        return Ok(vec![]);
    }
    esay!("serf: {n} agents…");
    let mut agents = SerfAgents(Vec::with_capacity(n));
    let first = ports(plan, n, 0).0;
    for i in 0..n {
        let (bind, rpc) = ports(plan, n, i);
        let mut cmd = Command::new("serf");
        cmd.args([
            "agent",
            &format!("-node=serf{i}"),
            &format!("-bind={bind}"),
            &format!("-rpc-addr={rpc}"),
            "-log-level=err",
        ]);
        if i > 0 {
            // `-join` exits when the first agent is not listening yet (a loaded
            // machine); `-retry-join` tries again until it is.
            cmd.args([format!("-retry-join={first}"), "-retry-interval=1s".into()]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting serf agent")?;
        agents.0.push(child);
    }
    // Asking every agent costs a process each; the first, a middle and the last one
    // seeing everybody is taken as joined, then the rest has a moment to settle.
    let started = Instant::now();
    while [0, n / 2, n - 1]
        .into_iter()
        .any(|i| alive_seen_by(&ports(plan, n, i).1) < n)
    {
        if started.elapsed() > JOIN_TIMEOUT {
            bail!("serf: {n} agents did not all join within {JOIN_TIMEOUT:?}");
        }
        for (i, child) in agents.0.iter_mut().enumerate() {
            if let Ok(Some(status)) = child.try_wait() {
                bail!("serf: agent {i} exited ({status}) before the cluster formed");
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    esay!(
        "  joined in {:.1} s (three agents asked)",
        started.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(if plan.quick { 3 } else { 10 }));
    let pids: Vec<u32> = agents.0.iter().map(Child::id).collect();
    let ticks = || -> f64 { pids.iter().filter_map(|&p| procfs::cpu_ticks(p)).sum() };
    let window = Duration::from_secs(if plan.quick { 2 } else { 5 });
    let (mut cpu, mut wire) = (vec![], vec![]);
    for _ in 0..plan.runs {
        let (t0, c0, lo0) = (Instant::now(), ticks(), procfs::loopback_tx_bytes());
        std::thread::sleep(window);
        let (secs, c1, lo1) = (t0.elapsed().as_secs_f64(), ticks(), procfs::loopback_tx_bytes());
        cpu.push(100.0 * (c1 - c0) / procfs::ticks_per_second() / secs / n as f64);
        if let (Some(a), Some(b)) = (lo0, lo1) {
            wire.push((b - a) as f64 / n as f64 / secs);
        }
    }
    let rss: Vec<f64> = pids
        .iter()
        .filter_map(|&p| procfs::rss_kib(p))
        .map(|(kib, _)| kib as f64 / 1024.0)
        .collect();
    Ok(vec![
        Row::new(
            GROUP,
            format!(
                "Serf: gossip on the wire per agent, idle ({n} agents; loopback bytes, headers included)"
            ),
            "B/s",
            wire,
        ),
        Row::new(GROUP, format!("Serf: idle CPU per agent ({n} agents)"), "%", cpu),
        Row::new(
            GROUP,
            format!("Serf: resident memory per agent, RSS ({n} agents)"),
            "MiB",
            rss,
        ),
    ])
}
