//! bad-loop: statecast that gossips normally for two ticks, then spins forever in its
//! third (and every later tick, and every message after that) until the host's fuel
//! limit cuts it off.
//!
//! A test module for the S3 repair scenario: statecast's engine (shared source, same
//! wire and state format) with the [`engine::Loop`] behaviour. Natively, use
//! `statecast::Statecast<statecast::Loop>`.

#![warn(missing_docs)]

#[path = "../../statecast/src/engine/mod.rs"]
pub mod engine;

hearsay_guest::export_module_v2!(engine::Statecast<engine::Loop>);
