//! Random choices from the host's randomness ([`Host::random_u64`]), so they are
//! seeded in the simulator: a uniform index, a sample without repeats, a shuffle.

use crate::host::Host;

/// A uniform index below `n` (> 0), by multiply-shift (no modulo bias worth the name).
pub fn below(n: usize, host: &mut dyn Host) -> usize {
    ((host.random_u64() as u128 * n as u128) >> 64) as usize
}

/// Up to `k` distinct random items of `items` (a partial Fisher–Yates shuffle).
pub fn sample<T: Clone>(items: &[T], k: usize, host: &mut dyn Host) -> Vec<T> {
    let mut pool: Vec<&T> = items.iter().collect();
    let k = k.min(pool.len());
    for i in 0..k {
        let j = i + below(pool.len() - i, host);
        pool.swap(i, j);
    }
    pool.into_iter().take(k).cloned().collect()
}

/// Shuffles `items` in place (Fisher–Yates).
pub fn shuffle<T>(items: &mut [T], host: &mut dyn Host) {
    for i in (1..items.len()).rev() {
        let j = below(i + 1, host);
        items.swap(i, j);
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::testing::TestHost;

    #[test]
    fn samples_are_distinct_and_bounded() {
        let mut host = TestHost::new("a".into(), vec![], 7);
        let items: Vec<u32> = (0..10).collect();
        for k in 0..12 {
            let mut s = sample(&items, k, &mut host);
            assert_eq!(s.len(), k.min(10));
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), k.min(10));
        }
        let mut all = items.clone();
        shuffle(&mut all, &mut host);
        all.sort_unstable();
        assert_eq!(all, items);
        assert!((0..1000).all(|_| below(3, &mut host) < 3));
    }
}
