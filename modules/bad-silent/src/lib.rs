//! bad-silent: statecast that initialises fine, merges what it receives, and never
//! sends anything: not on ticks, not in reply.
//!
//! A test module for the S3 repair scenario: statecast's engine (shared source, same
//! wire and state format) with the [`engine::Silent`] behaviour. Natively, use
//! `statecast::Statecast<statecast::Silent>`.

#![warn(missing_docs)]

#[path = "../../statecast/src/engine/mod.rs"]
pub mod engine;

hearsay_guest::export_module_v2!(engine::Statecast<engine::Silent>);
