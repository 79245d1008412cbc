//! Polling every node of a scenario's cluster at once: statuses and module queries,
//! and waiting (with a deadline) until a condition holds on every node. A timeout
//! names the first nodes that fell short, and what they showed.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::Value;

use hearsay_client::{ApiClient, ModuleReport, StatusReport};

use crate::watch;

/// Every node's API, polled together.
pub struct Probe {
    pub clients: Vec<ApiClient>,
    pub module: String,
    pub poll: Duration,
    pub timeout: Duration,
}

impl Probe {
    /// Every node's status (None: no answer), in node order.
    pub async fn statuses(&self) -> Vec<Option<StatusReport>> {
        watch::poll(&self.clients).await
    }

    /// Every node's answer to the module's query (None: no answer, e.g. the module
    /// doesn't run there), in node order.
    pub async fn queries(&self) -> Vec<Option<Value>> {
        watch::each(&self.clients, |c| {
            let module = self.module.clone();
            async move { c.query(&module, "").await.ok() }
        })
        .await
    }

    /// Polls statuses until the module's report satisfies `ok` on every node.
    pub async fn until_status(
        &self,
        what: &str,
        ok: impl Fn(&ModuleReport) -> bool,
    ) -> Result<Vec<StatusReport>> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let statuses = self.statuses().await;
            let report = |s: &Option<StatusReport>| s.as_ref().and_then(|s| s.module(&self.module).cloned());
            if statuses.iter().all(|s| report(s).is_some_and(|m| ok(&m))) {
                return Ok(statuses.into_iter().flatten().collect());
            }
            if Instant::now() >= deadline {
                let short: Vec<(usize, String)> = statuses
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| !report(s).is_some_and(|m| ok(&m)))
                    .map(|(i, s)| (i, describe_status(report(s).as_ref(), s.is_some())))
                    .collect();
                self.timed_out(what, &short)?;
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Polls queries until every node's answer satisfies `ok`.
    pub async fn until_query(&self, what: &str, ok: impl Fn(&Value) -> bool) -> Result<Vec<Value>> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let answers = self.queries().await;
            if answers.iter().all(|a| a.as_ref().is_some_and(&ok)) {
                return Ok(answers.into_iter().flatten().collect());
            }
            if Instant::now() >= deadline {
                let short: Vec<(usize, String)> = answers
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| !a.as_ref().is_some_and(&ok))
                    .map(|(i, a)| (i, a.as_ref().map_or("no answer".to_string(), Value::to_string)))
                    .collect();
                self.timed_out(what, &short)?;
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    fn timed_out(&self, what: &str, short: &[(usize, String)]) -> Result<()> {
        let n = self.clients.len();
        let examples: Vec<String> = short
            .iter()
            .take(3)
            .map(|(i, s)| format!("node {i}: {s}"))
            .collect();
        bail!(
            "only {} of {n} nodes {what} after {} s ({})",
            n - short.len(),
            self.timeout.as_secs(),
            examples.join("; ")
        )
    }
}

fn describe_status(m: Option<&ModuleReport>, answered: bool) -> String {
    match m {
        None if !answered => "no answer".to_string(),
        None => "module not configured".to_string(),
        Some(m) => {
            let mut s = format!("{} d{}", m.state, m.deployment.number);
            if let Some(r) = &m.reason {
                s.push_str(&format!(" ({r})"));
            }
            s
        }
    }
}
