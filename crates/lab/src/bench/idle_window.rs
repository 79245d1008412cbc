//! A window in which nothing asks the agents anything: what they cost alone. The
//! agents' counters (envelopes sent, membership's messages by kind from its `traffic`
//! query) are read before and after, and their CPU from /proc. A thousand agents
//! polled every few seconds stayed saturated where the same agents, asked nothing,
//! used 0.13 % CPU each.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hearsay_client::ApiClient;

use super::agents::cpu_ticks;
use crate::procfs;
use crate::procs::Cluster;
use crate::watch;

/// The window's length.
pub const IDLE: Duration = Duration::from_secs(30);

/// What the agents cost while nothing asks them anything.
pub struct Idle {
    /// CPU per agent, % of a core.
    pub cpu_percent: f64,
    /// Envelopes (module and core) sent per agent per second.
    pub envelopes_per_s: f64,
    /// The machine's load averages at the window's end (`/proc/loadavg`).
    pub load: String,
    /// Membership's messages sent per agent per second, by kind (its `traffic` query).
    pub kinds: String,
    /// Agents that answered both before and after (the rates are theirs).
    pub answered: usize,
}

/// One agent's counters: envelopes sent (`envelopes`) and membership's messages sent
/// by kind; None if it did not answer both questions.
async fn counters(c: ApiClient) -> Option<BTreeMap<String, f64>> {
    let metrics = c.metrics().await.ok()?;
    let envelopes = metrics
        .lines()
        .find_map(|l| l.strip_prefix("hearsay_envelopes_out_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())?;
    let traffic = c.query("membership", "traffic").await.ok()?;
    let mut out: BTreeMap<String, f64> = traffic["sent"]
        .as_object()?
        .iter()
        .map(|(kind, counts)| (kind.clone(), counts[0].as_f64().unwrap_or(0.0)))
        .collect();
    out.insert("envelopes".into(), envelopes);
    Some(out)
}

/// Counters and CPU read before and after [`IDLE`] without a poll between; rates per
/// agent from the agents that answered both times.
pub async fn idle(cluster: &Cluster, clients: &[ApiClient]) -> Idle {
    let before = watch::each(clients, counters).await;
    let (c0, t0) = (cpu_ticks(cluster), Instant::now());
    tokio::time::sleep(IDLE).await;
    let (c1, t1) = (cpu_ticks(cluster), Instant::now());
    let after = watch::each(clients, counters).await;
    let secs = (t1 - t0).as_secs_f64();
    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    let mut answered = 0;
    for (b, a) in before.iter().zip(&after) {
        if let (Some(b), Some(a)) = (b, a) {
            answered += 1;
            for (k, v) in a {
                *sums.entry(k.clone()).or_insert(0.0) += v - b.get(k).copied().unwrap_or(0.0);
            }
        }
    }
    let per_agent = |v: f64| v / answered.max(1) as f64 / secs;
    let kinds = sums
        .iter()
        .filter(|(k, v)| *k != "envelopes" && **v > 0.0)
        .map(|(k, v)| format!("{k} {:.3}", per_agent(*v)))
        .collect::<Vec<_>>()
        .join(", ");
    Idle {
        cpu_percent: 100.0 * (c1 - c0) / procfs::ticks_per_second() / secs / cluster.agents.len() as f64,
        envelopes_per_s: per_agent(sums.get("envelopes").copied().unwrap_or(0.0)),
        load: std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
        kinds,
        answered,
    }
}
