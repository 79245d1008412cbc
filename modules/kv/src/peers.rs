//! Whom a node gossips with: a small partial view of live peers (peer sampling, as in
//! Cyclon or newscast), not every node of the cluster. A node that writes nothing is
//! then tracked by no replica (see [`crate::store`]): each node's state is its view and
//! the cluster's writers, so a cluster of 10,000 mostly-reading nodes costs each node
//! what its writers cost, not 10,000 entries.
//!
//! The view holds up to [`VIEW`] addresses: every node a message came from (alive by
//! the message itself) and the addresses peers name in their exchanges ([`SAMPLE`] of
//! theirs each time), a full view making room by dropping one at random, so views stay
//! random and mix within a few rounds. An address not heard from directly for
//! `dead_after_ms` leaves the view.

use hearsay_guest::{random, Host};
use std::collections::BTreeMap;

/// Addresses a view holds at most.
pub const VIEW: usize = 32;
/// Addresses an exchange names of the sender's view.
pub const SAMPLE: usize = 4;

/// The partial view.
#[derive(Debug, Clone, Default)]
pub struct PeerView {
    me: String,
    /// Address → when it was last heard from directly (or named, if never heard).
    peers: BTreeMap<String, u64>,
}

impl PeerView {
    /// An empty view of node `me`.
    pub fn new(me: &str) -> PeerView {
        PeerView {
            me: me.to_string(),
            peers: BTreeMap::new(),
        }
    }

    /// Addresses in the view.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether the view is empty.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// The addresses.
    pub fn addrs(&self) -> Vec<String> {
        self.peers.keys().cloned().collect()
    }

    fn admit(&mut self, addr: &str, now: u64, host: &mut dyn Host) {
        if self.peers.len() >= VIEW {
            let out = random::below(self.peers.len(), host);
            if let Some(victim) = self.peers.keys().nth(out).cloned() {
                self.peers.remove(&victim);
            }
        }
        self.peers.insert(addr.to_string(), now);
    }

    /// A message came from `addr`: it is alive now.
    pub fn heard_from(&mut self, addr: &str, now: u64, host: &mut dyn Host) {
        if addr == self.me || addr.is_empty() {
            return;
        }
        match self.peers.get_mut(addr) {
            Some(at) => *at = now,
            None => self.admit(addr, now, host),
        }
    }

    /// A peer named `addr`: taken in if new (named is not alive: it must answer
    /// before `dead_after_ms` to stay).
    pub fn named(&mut self, addr: &str, now: u64, host: &mut dyn Host) {
        if addr != self.me && !addr.is_empty() && !self.peers.contains_key(addr) {
            self.admit(addr, now, host);
        }
    }

    /// Drops addresses not heard from for `dead_after` ms.
    pub fn expire(&mut self, now: u64, dead_after: u64) {
        self.peers.retain(|_, at| now.saturating_sub(*at) < dead_after);
    }

    /// Up to `k` random addresses of the view.
    pub fn sample(&self, k: usize, host: &mut dyn Host) -> Vec<String> {
        random::sample(&self.addrs(), k, host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearsay_guest::testing::TestHost;

    #[test]
    fn bounded_random_and_expiring() {
        let mut host = TestHost::new("me".into(), vec![], 3);
        let mut v = PeerView::new("me");
        v.heard_from("me", 0, &mut host);
        assert!(v.is_empty(), "never itself");
        for i in 0..100 {
            v.named(&format!("n{}", i), 0, &mut host);
        }
        assert_eq!(v.len(), VIEW);
        // The last named are not simply the last 32: eviction is random.
        assert!(v.addrs().iter().any(|a| a.len() == 2 || a < &"n68".to_string()));
        let keep = v.addrs()[0].clone();
        v.heard_from(&keep, 9_000, &mut host);
        v.named(&keep, 0, &mut host);
        v.expire(10_000, 5_000);
        assert_eq!(v.addrs(), vec![keep]);
    }
}
