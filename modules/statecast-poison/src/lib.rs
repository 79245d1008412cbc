//! statecast-poison: statecast that corrupts its record on its first tick (version far
//! ahead, one value bit flipped, check left stale) and, since it doesn't validate,
//! accepts and spreads any newer record — so the poison reaches every node, as in the
//! 2008 S3 outage. Param `poison_at` limits the corruption to one node.
//!
//! A test module for the S3 repair scenario: statecast's engine (shared source, same
//! wire and state format) with the [`engine::Poison`] behaviour. Natively, use
//! `statecast::Statecast<statecast::Poison>`.

#![warn(missing_docs)]

#[path = "../../statecast/src/engine/mod.rs"]
pub mod engine;

hearsay_guest::export_module_v2!(engine::Statecast<engine::Poison>);
