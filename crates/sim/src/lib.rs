//! A deterministic simulator for hearsay: many real [`hearsay_core::Core`]s in the
//! same driver loop the daemon runs, each hosting what a node hosts — any number of
//! modules, from their real wasm (through `hearsay-runtime`) or natively linked — over
//! a virtual network with latency, loss, duplication and partitions. Nodes crash and
//! restart from what they persisted. Virtual time jumps from event to event, so a
//! thousand rounds of a thousand nodes take moments, and one seed gives the same run,
//! byte for byte.
//!
//! # Layout
//!
//! - [`world`]: the nodes, the event loop, and the operations scenarios perform.
//! - [`effects`]: what each of the core's outputs does here (the `match` the daemon
//!   has too), and the world it acts on.
//! - [`node`]: one node — its driver, modules and disk.
//! - [`modules`]: the modules a node hosts; [`guest`]: a natively linked one;
//!   [`codebase`]: every version's bytes and native builds; [`library`]: the native
//!   builds of the module library; [`standin`]: the stand-in module.
//! - [`network`]: latency, loss, duplication, partitions; [`queue`]: events ordered by
//!   (time, sequence); [`addr`]: node index ↔ simulated address.
//! - [`ring`]: whether a membership module's partial views hold the true ring.
//! - [`scenario`]: scripts of steps (deploy, crash, restart, partition, heal, expect),
//!   in code or TOML files, and their measures; [`s3`]: the S3 story; [`pubsub`]:
//!   publish/subscribe with the broadcast module at scale, the papers' figures.
#![warn(missing_docs)]

pub mod addr;
pub mod aggregate;
pub mod codebase;
pub mod effects;
pub mod guest;
pub mod kelips;
pub mod kv;
pub mod library;
pub mod modules;
pub mod network;
pub mod node;
pub mod pubsub;
pub mod queue;
pub mod ring;
pub mod s3;
pub mod scenario;
pub mod standin;
pub mod world;

pub use network::NetworkModel;
pub use scenario::{run, ScriptReport, Step};
pub use world::{ModuleSpec, Sim, SimConfig};
