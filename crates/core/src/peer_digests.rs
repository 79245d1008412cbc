//! The configuration digest each peer sent last: when it equals ours, the peer holds
//! the same deployments, so a module payload to it can name its deployment by a
//! 4-byte tag instead of module and number (`Body::Tagged`). Bounded: past the cap
//! the lowest address is forgotten, which costs only a full envelope to it next time.

use std::collections::BTreeMap;

use crate::configuration::ConfigDigest;
use crate::ids::PeerAddr;

/// Peers' last digests.
#[derive(Debug, Clone)]
pub struct PeerDigests {
    last: BTreeMap<PeerAddr, ConfigDigest>,
    cap: usize,
}

impl PeerDigests {
    /// Remembers up to `cap` peers.
    pub fn new(cap: usize) -> Self {
        PeerDigests {
            last: BTreeMap::new(),
            cap,
        }
    }

    /// `peer` just sent an envelope carrying `digest`.
    pub fn note(&mut self, peer: PeerAddr, digest: ConfigDigest) {
        if self.last.insert(peer, digest).is_none() && self.last.len() > self.cap {
            if let Some(&first) = self.last.keys().find(|a| **a != peer) {
                self.last.remove(&first);
            }
        }
    }

    /// Whether `peer`'s last envelope carried `digest`.
    pub fn holds(&self, peer: PeerAddr, digest: ConfigDigest) -> bool {
        self.last.get(&peer) == Some(&digest)
    }

    /// Peers remembered.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// None remembered.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_digest_within_the_cap() {
        let mut p = PeerDigests::new(2);
        let a: PeerAddr = "10.0.0.1:1".parse().unwrap();
        let b: PeerAddr = "10.0.0.2:1".parse().unwrap();
        let c: PeerAddr = "10.0.0.3:1".parse().unwrap();
        p.note(a, ConfigDigest(1));
        p.note(a, ConfigDigest(2));
        assert!(p.holds(a, ConfigDigest(2)) && !p.holds(a, ConfigDigest(1)));
        p.note(b, ConfigDigest(2));
        p.note(c, ConfigDigest(2));
        assert_eq!(p.len(), 2);
        assert!(p.holds(c, ConfigDigest(2)), "the newest peer is kept");
        assert!(!p.holds(a, ConfigDigest(2)), "the lowest address went");
    }
}
