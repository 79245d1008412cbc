//! Listening to every agent's event stream instead of polling it. Each event carries
//! the agent's own time, so a timing does not depend on how often anyone asks, and
//! an open stream costs nothing until something happens: a thousand settled agents
//! polled every 4 s were answered late enough to put seconds on a crash's timing.
//! Opened while a thousand agents start on two cores, the streams themselves time
//! out and reconnect (2,000 reconnects in 8 minutes), so the hosts bench listens only
//! once the cluster has settled.
//!
//! Each event is filed under a key (`started NUMBER`, `member.failed ADDR`, …): per
//! agent, the first time it was heard.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use hearsay_cli::events::follow;
use hearsay_client::event_client::EventQuery;
use hearsay_client::ApiClient;
use tokio::task::{AbortHandle, JoinSet};

/// How often the waits look at what was heard (nothing is asked of the agents).
const LOOK: Duration = Duration::from_millis(100);

/// Per agent: each key's first time (ms, the agent's clock).
type Filed = Vec<BTreeMap<String, u64>>;

/// Every agent's stream of some kinds of events, followed until dropped.
pub struct Heard {
    filed: Arc<Mutex<Filed>>,
    /// The followers, stopped when this is dropped.
    _followers: JoinSet<()>,
    /// Each agent's follower, to stop following an agent that was killed.
    handles: Vec<AbortHandle>,
}

/// An event's key: its kind and what it is about (a deployment's number, a member's
/// address).
fn key(record: &serde_json::Value) -> Option<String> {
    let kind = record["kind"].as_str()?;
    let data = &record["data"];
    let about = data["number"]
        .as_str()
        .or_else(|| data["addr"].as_str())
        .unwrap_or("");
    Some(format!("{kind} {about}"))
}

impl Heard {
    /// Subscribes to `kinds` at every agent; returns once every stream is open (what
    /// happens after is heard), or after 60 s with those that opened (the others keep
    /// trying).
    pub async fn listen(clients: &[ApiClient], kinds: &[&str]) -> Heard {
        let query = EventQuery {
            module: None,
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            after: None,
        };
        let filed: Arc<Mutex<Filed>> = Arc::new(Mutex::new(vec![BTreeMap::new(); clients.len()]));
        let mut followers = JoinSet::new();
        let mut handles = Vec::with_capacity(clients.len());
        let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel::<()>(clients.len().max(1));
        for (i, client) in clients.iter().enumerate() {
            let (client, query, filed, opened) =
                (client.clone(), query.clone(), filed.clone(), opened_tx.clone());
            handles.push(followers.spawn(async move {
                let mut first = None;
                while first.is_none() {
                    match client.events(&query).await {
                        Ok(sub) => first = Some(sub),
                        Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                    }
                }
                let _ = opened.send(()).await;
                let each = |record: &serde_json::Value| {
                    if let (Some(k), Some(t)) = (key(record), record["time_ms"].as_u64()) {
                        if let Ok(mut f) = filed.lock() {
                            f[i].entry(k).or_insert(t);
                        }
                    }
                    true
                };
                let _ = follow(&client, query, first, each).await;
            }));
        }
        drop(opened_tx);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        for _ in 0..clients.len() {
            if tokio::time::timeout_at(deadline, opened_rx.recv()).await.is_err() {
                break;
            }
        }
        Heard {
            filed,
            _followers: followers,
            handles,
        }
    }

    /// Stops following agent `i` (killed: its stream would be retried for nothing).
    pub fn forget(&mut self, i: usize) {
        if let Some(h) = self.handles.get(i) {
            h.abort();
        }
    }

    /// Per agent of `agents`, the earliest time it heard one of `keys` (None: none
    /// yet), read under the lock without copying what was filed.
    fn earliest(&self, agents: &[usize], keys: &[String]) -> Vec<Option<u64>> {
        let filed = match self.filed.lock() {
            Ok(f) => f,
            Err(_) => return vec![None; agents.len()],
        };
        agents
            .iter()
            .map(|&i| keys.iter().filter_map(|k| filed.get(i)?.get(k).copied()).min())
            .collect()
    }

    /// Waits until every agent of `agents` heard one of `keys`; each one's earliest
    /// time (ms, its clock).
    pub async fn until_all(&self, agents: &[usize], keys: &[String], timeout: Duration) -> Result<Vec<u64>> {
        let started = Instant::now();
        loop {
            let times = self.earliest(agents, keys);
            let heard = times.iter().flatten().count();
            if heard == agents.len() {
                return Ok(times.into_iter().flatten().collect());
            }
            if started.elapsed() > timeout {
                bail!(
                    "only {heard} of {} agents heard {} within {} s",
                    agents.len(),
                    keys.join(" or "),
                    timeout.as_secs()
                );
            }
            tokio::time::sleep(LOOK).await;
        }
    }
}
