//! A deterministic simulator for hearsay: many real [`hearsay_core::Core`]s, each with a
//! module, over a virtual network with latency, loss, duplication and partitions.
//! Virtual time jumps from event to event, so a thousand rounds of a thousand nodes
//! take moments, and one seed gives the same run, byte for byte.
//!
//! # Layout
//!
//! - [`world`]: the nodes, the event loop, and the driver side of the core's contract.
//! - [`network`]: latency, loss, duplication, partitions.
//! - [`queue`]: events ordered by (time, sequence).
//! - [`module`]: modules as the simulator hosts them — the stand-in, or a real guest
//!   module (e.g. membership) linked natively.
//! - [`standin`]: the stand-in module that gossips with fanout F.
//! - [`addr`]: node index ↔ simulated address.
//! - [`scenario`]: scripts of steps (deploy, partition, heal, …) and their measures.
#![warn(missing_docs)]

pub mod addr;
pub mod module;
pub mod network;
pub mod queue;
pub mod scenario;
pub mod standin;
pub mod world;

pub use module::ModuleKind;
pub use network::NetworkModel;
pub use scenario::{run, ScriptReport, Step};
pub use world::{Sim, SimConfig};
