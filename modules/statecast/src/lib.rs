//! statecast: "gossiped server state" for the S3 repair scenario, as a hearsay module.
//!
//! Every node holds one cluster-wide record `{version, value, check}` (`check`: a
//! checksum of version and value) and push-pulls it with `fanout` random peers every
//! tick; the higher version wins, ties go to the higher value. In 2008 a corrupted
//! bit in Amazon S3's gossiped server state spread to every server; this module and
//! its variants replay that story on hearsay.
//!
//! This crate is the healthy, *fixed* code: it validates every record it receives
//! or imports and drops any that fails its check, so a poisoned record is never
//! accepted — not from a peer, not from the state a poisoned predecessor hands over
//! on a hot swap — and a poisoned record it finds itself holding is replaced by the
//! newest sound one it has (or version 0).
//!
//! The engine in [`engine`] is shared, source-wise, by the variant crates
//! (`statecast-poison`, `bad-trap`, `bad-loop`, `bad-silent`, `bad-flood`): each
//! includes the same directory and exports `Statecast<ItsBehavior>`. They can't
//! depend on this crate instead, since its exports would clash with theirs in the
//! wasm. Natively all behaviours are here: `factory::<Statecast<Poison>>()`.
//!
//! # Params and queries
//!
//! Params: `{"fanout":3}` (1 to 16, default 3); the poison variant also takes
//! `"poison_at":"addr"` (only that node corrupts; absent: every node does).
//! Query, any args: `{"self":"addr","version":N,"value":N,"poisoned":bool,"peers":N}`.
//! Command (module ABI v2) `{"set":N}`: writes value N at the held version + 1 and
//! answers as a query does.

#![warn(missing_docs)]

pub mod engine;

pub use engine::{Behavior, Fixed, Flood, Kind, Loop, Poison, Record, Silent, Statecast, Trap};

hearsay_guest::export_module_v2!(engine::Statecast<engine::Fixed>);
