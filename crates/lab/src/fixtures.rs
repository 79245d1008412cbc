//! Module code the lab plays with, embedded so it runs from anywhere: the library's
//! committed modules, the test fixtures (statecast-poison, bad-loop, a storm and a
//! silent module), and distinct code versions of any of them.

use std::borrow::Cow;

use wasm_encoder::{CustomSection, Section};

pub use hearsay_cli::modules::MEMBERSHIP;

/// `modules/dist/statecast.wasm`: healthy gossiped state, and the fix (it drops
/// records that fail their check, also those handed over by poisoned code).
pub const STATECAST: &[u8] = include_bytes!("../../../modules/dist/statecast.wasm");
/// `modules/dist/statecast-poison.wasm`: corrupts its record and spreads it.
pub const STATECAST_POISON: &[u8] = include_bytes!("../../../modules/dist/statecast-poison.wasm");
/// `modules/dist/broadcast.wasm`: publish/subscribe (HyParView + Plumtree).
pub const BROADCAST: &[u8] = include_bytes!("../../../modules/dist/broadcast.wasm");
/// `modules/dist/kv.wasm`: keyed state owned by its writers.
pub const KV: &[u8] = include_bytes!("../../../modules/dist/kv.wasm");
/// `modules/dist/kelips.wasm`: a one-hop lookup over affinity groups.
pub const KELIPS: &[u8] = include_bytes!("../../../modules/dist/kelips.wasm");
/// `modules/dist/aggregate.wasm`: aggregation over zones (Astrolabe).
pub const AGGREGATE: &[u8] = include_bytes!("../../../modules/dist/aggregate.wasm");
/// `modules/dist/bad-loop.wasm`: loops forever from its third tick, on every node.
pub const BAD_LOOP: &[u8] = include_bytes!("../../../modules/dist/bad-loop.wasm");
/// `modules/dist/hostile-storm.wasm`: sends all it may and answers every message.
pub const STORM: &[u8] = include_bytes!("../../../modules/dist/hostile-storm.wasm");
/// `modules/dist/bad-silent.wasm`: a module that does nothing (the storm's fix).
pub const SILENT: &[u8] = include_bytes!("../../../modules/dist/bad-silent.wasm");

/// The same module with an empty custom section named `name` appended: still valid
/// and behaving identically, but other bytes, so another code version (sha256).
pub fn variant(wasm: &[u8], name: &str) -> Vec<u8> {
    let mut out = wasm.to_vec();
    CustomSection {
        name: Cow::Borrowed(name),
        data: Cow::Borrowed(&[]),
    }
    .append_to(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variant_is_a_custom_section() {
        assert!(MEMBERSHIP.starts_with(b"\0asm"));
        let v2 = variant(MEMBERSHIP, "hearsay-demo-v2");
        assert_eq!(&v2[MEMBERSHIP.len()..], b"\x00\x10\x0fhearsay-demo-v2");
        let long = variant(MEMBERSHIP, &"x".repeat(200));
        assert_eq!(
            &long[MEMBERSHIP.len()..MEMBERSHIP.len() + 4],
            [0, 0xca, 0x01, 0xc8]
        );
    }
}
