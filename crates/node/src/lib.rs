//! The hearsay daemon: one node on the network. It drives the sans-IO core
//! (`hearsay-core`) and the WebAssembly host (`hearsay-runtime`) with tokio and HTTP,
//! persists the configuration and code, and serves a management API.
//!
//! One task, the actor, owns the core; everything else talks to it through queues
//! taken in order of priority (the API and the core's own gossip first). Module
//! instances run in a task of their own that yields after every call and reports
//! back, so no module can starve the core. Envelopes leave through a sender task that batches them per peer, the core's
//! ahead of modules'; code downloads run beside it and report back. So the core sees
//! one event at a time, exactly as in the simulator.
//!
//! # Layout
//!
//! - [`agent`]: startup and wiring; [`config`]: what an agent is told.
//! - `actor`: the owner of the core's driver; `inbox`: its queues; `effects`: the
//!   `match` over outputs; `control`: its side of the API (commands, status, metrics).
//! - `modules`: the module instances and their payload queues, run by the actor last.
//! - `gossip_http`: `POST /gossip`, `GET /code/{version}`; [`batch`]: the batch format.
//! - `api_http`: the management API; [`api_error`]: its errors, [`error_kind`]: their
//!   stable words; its JSON documents ([`api_types`]) and client ([`client`]) are the
//!   `hearsay-client` crate's.
//! - [`listener`]: serving both listeners with connection caps and timeouts;
//!   `json_errors`: JSON for the errors hyper answers itself; `body_budget`: request
//!   bodies read at once; `api_guard`: the API's Host, Origin and Content-Type rules.
//! - [`rendezvous`]: the rendezvous list (addresses and DNS names) and its
//!   resolution, again and again.
//! - `sender`: outgoing batches per peer; `fetcher`: code downloads; `peer_client`:
//!   the HTTP(S) client they share; [`tls`]: the cluster's TLS.
//! - [`datadir`]: node id, configuration, lock; [`store`]: the code store;
//!   `fsutil`: atomic writes.
//! - [`counters`], [`metrics`]: the daemon's counters and the Prometheus text.
//! - [`openapi`]: the API's OpenAPI 3.1 description.
//! - [`error`]: startup and storage errors.
#![warn(missing_docs)]

mod actor;
pub mod agent;
pub mod api_error;
mod api_events;
mod api_guard;
mod api_http;
pub mod batch;
mod body_budget;
pub mod config;
mod control;
pub mod counters;
pub mod datadir;
mod effects;
pub mod error;
pub mod error_kind;
pub mod event_log;
mod fetcher;
mod fsutil;
mod gossip_http;
mod inbox;
mod json_errors;
pub mod keys;
pub mod listener;
pub mod metrics;
mod modules;
pub mod openapi;
mod peer_client;
mod persister;
pub mod rendezvous;
mod sender;
pub mod store;
pub mod tls;
mod trim;
mod ui;

pub use agent::run;
pub use config::AgentConfig;
pub use error::{NodeError, StoreError};
/// The API's documents and client live in `hearsay-client`, re-exported here.
pub use hearsay_client::{api_types, client, event_client};
pub use hearsay_client::{ApiClient, ClientError, DeploymentInfo, ModuleReport, StatusReport};

/// Wall-clock milliseconds since the UNIX epoch: the daemon's `now`. Deployment
/// numbers are compared across nodes, so every node uses the same epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Makes every thread allocate from the one main heap, where the process allocates
/// with glibc's malloc (an embedder's; the `hearsay` binary uses mimalloc, whose heaps
/// are per thread and purged by themselves, and this changes nothing). glibc gives each thread that
/// allocates an arena of its own; the agent's blocking threads (compiles, code reads)
/// each kept one of up to a MiB of freed memory, a tenth of an agent's private memory
/// after a few deployments. The agent's threads rarely allocate at the same time, so
/// sharing one arena costs nothing.
pub(crate) fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tuning; called before the agent
    // starts any thread of its own.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Hands memory freed by a compile back to the OS (with glibc's malloc; mimalloc
/// returns it by itself a few ms after it is freed). Compiling a module allocates tens
/// of MiB briefly on a blocking thread, and glibc keeps a thread's freed heap; with
/// many agents on one machine that retained heap is most of their resident memory.
pub(crate) fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the OS.
    unsafe {
        libc::malloc_trim(0);
    }
}
