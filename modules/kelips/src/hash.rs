//! Which affinity group a node or a key belongs to, and the fingerprints the tuple
//! summaries are made of. Every node must compute the same numbers, natively and in
//! wasm, on any version of Rust: FNV-1a with a splitmix64 finaliser, written here
//! because guest crates take no registry dependencies (they build offline with Rust
//! 1.63) and std's hasher is neither stable across releases nor meant for this.

/// FNV-1a over `bytes`, then splitmix64's finaliser (FNV's low bits are weak for
/// short, similar inputs such as `127.0.0.1:7001` … `127.0.0.1:7010`).
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The affinity group (0..groups) of a node address or a key.
pub fn group_of(text: &str, groups: u32) -> u32 {
    (hash(text.as_bytes()) % u64::from(groups.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_spread() {
        // Fixed values: a change here moves every key to another group.
        assert_eq!(hash(b""), 0xf52a_15e9_a9b5_e89b);
        let mut counts = [0u32; 10];
        for i in 0..10_000 {
            counts[group_of(&format!("127.0.0.1:{}", 7000 + i), 10) as usize] += 1;
        }
        assert!(counts.iter().all(|c| (850..1150).contains(c)), "{:?}", counts);
    }
}
