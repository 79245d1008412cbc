//! bad-trap: statecast that ticks and sends normally until a message arrives, then
//! traps (panics) on it — and on every call to tick or receive after that.
//! A node nobody sends to stays alive, so for a cluster whose modules are all dead
//! use `bad-loop`.
//!
//! A test module for the S3 repair scenario: statecast's engine (shared source, same
//! wire and state format) with the [`engine::Trap`] behaviour. Natively, use
//! `statecast::Statecast<statecast::Trap>`.

#![warn(missing_docs)]

#[path = "../../statecast/src/engine/mod.rs"]
pub mod engine;

hearsay_guest::export_module_v2!(engine::Statecast<engine::Trap>);
