//! Membership hints: addresses the core overheard in module traffic (and in its own
//! exchanges), kept as a bounded uniform-ish sample. Backup gossip draws from these
//! plus the static rendezvous list, so configuration keeps spreading when every module
//! is dead.

use std::collections::HashSet;

use rand::Rng;

use crate::ids::PeerAddr;

/// A bounded set of peer addresses. When full, a new address replaces a random old
/// one, so the sample keeps moving with the cluster instead of freezing on the first
/// peers ever heard.
#[derive(Debug, Clone)]
pub struct Hints {
    addrs: Vec<PeerAddr>,
    index: HashSet<PeerAddr>,
    cap: usize,
}

impl Hints {
    /// An empty set holding at most `cap` addresses.
    pub fn new(cap: usize) -> Self {
        Hints {
            addrs: Vec::new(),
            index: HashSet::new(),
            cap: cap.max(1),
        }
    }

    /// Notes an address. Returns true if it was new.
    pub fn insert(&mut self, addr: PeerAddr, rng: &mut impl Rng) -> bool {
        if self.index.contains(&addr) {
            return false;
        }
        if self.addrs.len() < self.cap {
            self.addrs.push(addr);
        } else {
            let slot = rng.gen_range(0..self.addrs.len());
            self.index.remove(&self.addrs[slot]);
            self.addrs[slot] = addr;
        }
        self.index.insert(addr);
        true
    }

    /// Forgets an address (e.g. our own).
    pub fn remove(&mut self, addr: &PeerAddr) {
        if self.index.remove(addr) {
            self.addrs.retain(|a| a != addr);
        }
    }

    /// The addresses, in no particular order.
    pub fn as_slice(&self) -> &[PeerAddr] {
        &self.addrs
    }

    /// How many addresses are held.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// True when nothing was heard yet.
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn addr(i: u16) -> PeerAddr {
        PeerAddr::from(([10, 0, 0, 1], i))
    }

    #[test]
    fn bounded_and_deduplicated() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut h = Hints::new(4);
        assert!(h.insert(addr(1), &mut rng));
        assert!(!h.insert(addr(1), &mut rng));
        for i in 2..100 {
            h.insert(addr(i), &mut rng);
        }
        assert_eq!(h.len(), 4);
        let unique: HashSet<_> = h.as_slice().iter().collect();
        assert_eq!(unique.len(), 4);
        assert!(
            h.as_slice().iter().any(|a| a.port() > 50),
            "sample must keep moving"
        );
        let first = h.as_slice()[0];
        h.remove(&first);
        assert_eq!(h.len(), 3);
        assert!(h.insert(first, &mut rng));
    }
}
