//! The core of hearsay: the part of every node that cannot itself be updated by
//! gossip, so it is small, exact and sans-IO.
//!
//! It decides which deployment of each module runs (the highest deployment number
//! wins), wraps module payloads in envelopes that carry that number, compares numbers
//! on every received envelope to pull or push deployment records and code, and keeps
//! configuration spreading through its own backup gossip when modules are dead.
//!
//! What it does *not* do: sockets, HTTP, files, clocks, threads, WebAssembly. Those
//! belong to drivers — the daemon (`hearsay-node`) and the simulator (`hearsay-sim`) —
//! which run the one [`Driver`] loop: it feeds [`Input`]s to [`Core::handle`] and has
//! the driver's [`Effects`] carry out the [`Output`]s.
//!
//! # Layout
//!
//! - [`ids`]: node identities, peer addresses, module names.
//! - [`deployment`]: deployment numbers and their order, code versions, records.
//! - [`configuration`]: one deployment per module, the "highest wins" merge, the digest.
//! - [`envelope`]: the wire format, its size cap and integrity check.
//! - [`io`]: the inputs and outputs a driver exchanges with the core; [`event`]: what
//!   happened, one of the outputs.
//! - [`driver`]: the driver loop every driver shares, behind its [`Effects`].
//! - [`settings`]: the tunables.
//! - [`node`]: [`Core`] itself; its behaviour is split over `receive` (the mismatch
//!   rules), `instance` (what runs, reconcile), `fetch` (code downloads) and
//!   [`backup`] (backup gossip).
//! - [`budget`]: what a module may consume, and the rate meter every budget uses;
//!   `receive_budget` applies it to what each peer may deliver.
//! - `rumor`: news pushed at once when the configuration changes;
//!   `rollback_policy`: the automatic rollback of a deployment that keeps failing.
//! - [`hints`], [`cooldown`], [`metrics`]: bounded helpers the core uses.
#![warn(missing_docs)]

pub mod backup;
pub mod budget;
mod code_store;
pub mod configuration;
pub mod cooldown;
pub mod deployment;
pub mod driver;
pub mod envelope;
pub mod event;
mod fetch;
pub mod hints;
pub mod ids;
mod instance;
pub mod io;
pub mod metrics;
pub mod node;
pub mod peer_digests;
mod receive;
mod receive_budget;
mod rollback_policy;
mod rumor;
pub mod settings;
pub mod trust;

pub use budget::{Budget, BudgetOverrides};
pub use configuration::{ConfigDigest, Configuration, Offer};
pub use deployment::{CodeVersion, Deployment, DeploymentNumber, DeploymentTag, Millis};
pub use driver::{Driver, Effects};
pub use envelope::{Body, Envelope, EnvelopeError};
pub use event::{Event, Severity};
pub use ids::{ModuleName, NodeId, PeerAddr};
pub use instance::{ModuleState, ModuleStatus};
pub use io::{CommandError, DeploySpec, Input, Output, Traffic};
pub use metrics::{DropReason, Metrics};
pub use node::{Core, CoreInit};
pub use rollback_policy::AutoRollbackStatus;
pub use settings::Settings;
