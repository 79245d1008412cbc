//! What the actor waits for, as separate queues in order of priority: operators'
//! API calls, the node's own events (downloads, compiles, unreachable peers), the
//! core's gossip (summaries, records, requests), and modules' gossip last.
//!
//! The order is the point: a module that floods this node — or its peers' copies of it
//! — fills only the last queue (and its module's payload queue, [`crate::modules`]), so a deployment record (a fix) or an operator's
//! `GET /status` is never queued behind it. Each queue is bounded; a full one sheds
//! its own kind of work and counts it.

use hearsay_core::{CodeVersion, Deployment, ModuleName, PeerAddr};
use tokio::sync::{mpsc, oneshot};

use crate::api_error::ApiError;
use crate::api_types::{NextReport, StatusReport};
use crate::metrics::MetricsSnapshot;

/// API calls waiting for the actor.
const API_QUEUE: usize = 256;
/// The node's own events waiting.
const EVENT_QUEUE: usize = 1024;
/// Batches of the core's gossip waiting.
const CORE_GOSSIP_QUEUE: usize = 1024;
/// Batches of modules' gossip waiting; beyond it, batches are refused (503).
const MODULE_GOSSIP_QUEUE: usize = 512;

/// A management API request, with where to send the answer.
pub(crate) enum ApiCall {
    Status(oneshot::Sender<StatusReport>),
    Metrics(oneshot::Sender<MetricsSnapshot>),
    Deploy {
        module: ModuleName,
        wasm: Vec<u8>,
        spec: hearsay_core::DeploySpec,
        reply: oneshot::Sender<Result<Deployment, ApiError>>,
    },
    Rollback {
        module: ModuleName,
        to: Option<String>,
        reply: oneshot::Sender<Result<Deployment, ApiError>>,
    },
    Stop {
        module: ModuleName,
        reply: oneshot::Sender<Result<Deployment, ApiError>>,
    },
    Query {
        module: ModuleName,
        args: String,
        reply: oneshot::Sender<Result<String, hearsay_runtime::QueryError>>,
    },
    /// The node is leaving gracefully: modules say goodbye (ABI v2 `hearsay_leave`);
    /// `reply` once their sends are with the core.
    Leave {
        reply: oneshot::Sender<()>,
    },
    /// The rendezvous names resolved to other addresses.
    Rendezvous(Vec<PeerAddr>),
    /// A module's command (ABI v2 `hearsay_command`).
    Command {
        module: ModuleName,
        args: String,
        reply: oneshot::Sender<Result<String, hearsay_runtime::QueryError>>,
    },
    /// The number a deployment made here now would get, and the current deployment:
    /// what an operator signs a record against.
    Next {
        module: ModuleName,
        reply: oneshot::Sender<NextReport>,
    },
    /// A record signed elsewhere, with its code unless stored here.
    DeployRecord {
        record: Deployment,
        wasm: Option<Vec<u8>>,
        reply: oneshot::Sender<Result<Deployment, ApiError>>,
    },
}

/// Something that happened to the node, for the core.
pub(crate) enum Event {
    /// A code download finished (`None`: it failed).
    Fetched {
        version: CodeVersion,
        from: PeerAddr,
        bytes: Option<Vec<u8>>,
    },
    /// Gossip could not reach a peer.
    Unreachable(PeerAddr),
    /// A deployment's code compiled (or not), for the module host.
    Compiled(crate::modules::Compiled),
    /// The optimised code of a deployment whose baseline code runs (or why not).
    Optimized(crate::modules::Compiled),
}

/// The senders: cloned into the listeners, the sender task, downloads and compiles.
#[derive(Clone)]
pub(crate) struct Inbox {
    pub api: mpsc::Sender<ApiCall>,
    pub events: mpsc::Sender<Event>,
    pub core_gossip: mpsc::Sender<Vec<Vec<u8>>>,
    pub module_gossip: mpsc::Sender<Vec<Vec<u8>>>,
}

/// The receiving ends, owned by the actor.
pub(crate) struct Queues {
    pub api: mpsc::Receiver<ApiCall>,
    pub events: mpsc::Receiver<Event>,
    pub core_gossip: mpsc::Receiver<Vec<Vec<u8>>>,
    pub module_gossip: mpsc::Receiver<Vec<Vec<u8>>>,
}

/// The actor's queues, bounded.
pub(crate) fn channels() -> (Inbox, Queues) {
    let (api, api_rx) = mpsc::channel(API_QUEUE);
    let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
    let (core_gossip, core_gossip_rx) = mpsc::channel(CORE_GOSSIP_QUEUE);
    let (module_gossip, module_gossip_rx) = mpsc::channel(MODULE_GOSSIP_QUEUE);
    (
        Inbox {
            api,
            events,
            core_gossip,
            module_gossip,
        },
        Queues {
            api: api_rx,
            events: events_rx,
            core_gossip: core_gossip_rx,
            module_gossip: module_gossip_rx,
        },
    )
}
