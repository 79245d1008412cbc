//! The SDK for writing hearsay gossip modules.
//!
//! A module is a state machine: the host calls it with events (`init`, `tick`,
//! `receive`, `query`, and the state handover pair) and the module acts only through
//! the [`Host`] it is handed — it sends bytes to a peer address, reads the host's clock,
//! draws randomness and logs. It never touches a socket, a clock or a thread-local rng,
//! which is what lets the same source run in the deterministic simulator (natively,
//! as a `Box<dyn DynModule>`) and in the daemon (as WebAssembly).
//!
//! What this crate does *not* do: networking, envelopes, deployment numbers, retries.
//! Those belong to the core; a module only sees payloads from peers running the same
//! deployment.
//!
//! # Layout
//!
//! - [`host`]: the [`Host`] trait (what a module may do) and log [`Level`]s.
//! - [`module`]: the [`Module`] trait (what a module implements), its object-safe
//!   twin [`DynModule`], and [`Factory`] / [`factory`] for hosting modules natively.
//! - [`export_module!`] / [`export_module_v2!`]: generate the WebAssembly exports of
//!   module ABI v1 or v2 (`docs/module-abi.md`; v2 adds events, labels, commands and
//!   a graceful leave).
//! - `abi` (hidden, wasm32 only): the glue the macro calls — imports, the wasm-side
//!   `Host`, input buffers and the single module instance.
//! - [`json`]: a tiny dependency-free JSON reader and string quoting, for module
//!   params and query answers.
//! - [`codec`]: varints, length-prefixed text and a bounds-checked reader, for
//!   modules' wire formats; [`random`]: seeded choices (index, sample, shuffle).
//!
//! # Writing a module
//!
//! ```
//! use hearsay_guest::{export_module, Host, Module};
//!
//! /// Counts the messages it has received.
//! struct Counter {
//!     received: u64,
//! }
//!
//! impl Module for Counter {
//!     fn init(_params: &str, _host: &mut dyn Host) -> Result<Self, String> {
//!         Ok(Counter { received: 0 })
//!     }
//!     fn tick(&mut self, _now_ms: u64, host: &mut dyn Host) {
//!         for peer in host.bootstrap_peers() {
//!             host.send(&peer, b"hello");
//!         }
//!     }
//!     fn receive(&mut self, _from: &str, _payload: &[u8], _host: &mut dyn Host) {
//!         self.received += 1;
//!     }
//!     fn query(&mut self, _args: &str, _host: &mut dyn Host) -> String {
//!         format!("{{\"received\":{}}}", self.received)
//!     }
//! }
//!
//! export_module!(Counter);
//! ```
//!
//! Build it as a `cdylib` for `wasm32-unknown-unknown`; natively the macro expands to
//! nothing, and a simulator hosts it with `hearsay_guest::factory::<Counter>()`.

#![warn(missing_docs)]

pub mod codec;
pub mod host;
pub mod json;
pub mod module;
pub mod random;
/// Native tests only: a module under test runs outside any wasm runtime.
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

mod export;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod abi;

pub use host::{Host, Level};
pub use module::{factory, DynModule, Factory, Module};

/// The newest module ABI version this SDK implements (`export_module_v2!`);
/// `export_module!` exports version 1.
pub const ABI_VERSION: i32 = 2;
