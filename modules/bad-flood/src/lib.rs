//! bad-flood: statecast whose every tick sends its record to its peers (and bootstrap
//! peers) in a loop that never ends, so the host's flood limit trips.
//!
//! A test module for the S3 repair scenario: statecast's engine (shared source, same
//! wire and state format) with the [`engine::Flood`] behaviour. Natively, use
//! `statecast::Statecast<statecast::Flood>`.

#![warn(missing_docs)]

#[path = "../../statecast/src/engine/mod.rs"]
pub mod engine;

hearsay_guest::export_module_v2!(engine::Statecast<engine::Flood>);
