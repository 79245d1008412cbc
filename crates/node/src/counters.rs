//! The daemon's own counters (HTTP, sender, store, API), shared by its tasks. The
//! core's and the module host's counters are read from the actor when `/metrics` is
//! asked; these are atomics because listeners and the sender update them directly.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A counter with one label.
#[derive(Debug, Default)]
pub struct Labeled(Mutex<BTreeMap<&'static str, u64>>);

impl Labeled {
    /// Adds `n` under `label`.
    pub fn add(&self, label: &'static str, n: u64) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry(label).or_default() += n;
        }
    }

    /// Adds one under `label`.
    pub fn inc(&self, label: &'static str) {
        self.add(label, 1);
    }

    /// The value under `label`.
    pub fn get(&self, label: &str) -> u64 {
        self.0
            .lock()
            .map(|m| m.get(label).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// The current values.
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// A plain counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Everything the daemon counts besides the core and the module host.
#[derive(Debug, Default)]
pub struct NodeCounters {
    /// Batches received on `POST /gossip` and handed to the core.
    pub gossip_batches_in: Counter,
    /// Batches refused: bad framing, too large.
    pub gossip_bad_batches: Counter,
    /// TLS handshakes refused or timed out on the gossip listener (no or a wrong
    /// client certificate, plain HTTP on a TLS port, …).
    pub tls_handshakes_failed: Counter,
    /// Batches sent (answered with success).
    pub gossip_batches_out: Counter,
    /// Failed batch sends by reason (`connect`, `timeout`, `status`, `other`).
    pub gossip_send_failures: Labeled,
    /// Envelopes lost in the daemon by reason (`send_failed`, `queue_full`,
    /// `inbox_full`, `too_many_peers`).
    pub envelopes_lost: Labeled,
    /// `GET /code/{version}` answers by result.
    pub code_requests: Labeled,
    /// Code downloads by result (`ok`, `not_found`, `error`, `too_large`).
    pub code_fetches: Labeled,
    /// API errors by reason (the `kind` of the error body).
    pub api_errors: Labeled,
    /// Files removed from the code store at startup because they didn't match their hash.
    pub store_rejected_files: Counter,
    /// Code store writes or reads that failed.
    pub store_failures: Counter,
    /// Time the actor spent in the core (`Core::handle`), in ns.
    pub core_ns: Counter,
    /// Time the actor spent in module instances (ticks, deliveries), in ns.
    pub module_ns: Counter,
    /// TLS handshakes opened on a clear-text listener (a peer set up for TLS).
    pub tls_on_plain: Counter,
    /// Gossip batches dropped on purpose (`--gossip-loss`, for loss experiments).
    pub injected_losses: Counter,
    /// Configurations persisted.
    pub persists: Counter,
    /// Configurations that could not be persisted.
    pub persist_failures: Counter,
    /// What the listeners did with connections: `accepted`, `refused` (at the cap,
    /// every connection working), `accept_failed` (out of descriptors…), and requests
    /// turned away for the body budget (`body_budget_busy`).
    pub connections: Labeled,
}
