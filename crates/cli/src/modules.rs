//! Module code the CLI carries: the membership module's committed wasm, embedded so
//! `hearsay cluster` works from anywhere.

/// `modules/dist/membership.wasm`, as committed.
pub const MEMBERSHIP: &[u8] = include_bytes!("../../../modules/dist/membership.wasm");
