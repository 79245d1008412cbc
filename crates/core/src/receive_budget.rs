//! What each peer may deliver to a module: `receive_per_peer_per_s` of the module's
//! budget, metered per (module, peer). A peer over it has its payloads dropped before
//! the module sees them — an amplifying module on other nodes (or a stranger) can't
//! make this node's instance work without bound. The table is bounded: idle meters are
//! forgotten (a full bucket is the same as none), and while it is full, payloads from
//! peers without a meter are dropped.

use std::collections::HashMap;

use crate::budget::TokenBucket;
use crate::deployment::Millis;
use crate::ids::{ModuleName, PeerAddr};

/// Meters kept at once, all modules together.
const MAX_METERS: usize = 8192;

/// Per-(module, peer) receive meters: by module, then peer, so the hot path finds a
/// meter without allocating.
#[derive(Debug, Default)]
pub(crate) struct ReceiveBudget {
    meters: HashMap<ModuleName, HashMap<PeerAddr, TokenBucket>>,
    count: usize,
}

impl ReceiveBudget {
    /// True when `from` may deliver one more payload to `module` at `now`.
    pub(crate) fn admit(&mut self, module: &ModuleName, from: PeerAddr, per_s: u64, now: Millis) -> bool {
        if let Some(meter) = self.meters.get_mut(module).and_then(|m| m.get_mut(&from)) {
            if meter.rate() == per_s {
                return meter.take(now, 1);
            }
            // The module's budget changed with a new deployment: start over.
            *meter = TokenBucket::new(per_s, 1, now);
            return meter.take(now, 1);
        }
        if self.count >= MAX_METERS {
            self.prune(now);
            if self.count >= MAX_METERS {
                return false;
            }
        }
        let mut meter = TokenBucket::new(per_s, 1, now);
        let admitted = meter.take(now, 1);
        self.meters.entry(module.clone()).or_default().insert(from, meter);
        self.count += 1;
        admitted
    }

    /// Forgets meters that are full again.
    pub(crate) fn prune(&mut self, now: Millis) {
        for peers in self.meters.values_mut() {
            peers.retain(|_, m| !m.is_idle(now));
        }
        self.meters.retain(|_, peers| !peers.is_empty());
        self.count = self.meters.values().map(HashMap::len).sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_peer_gets_its_own_rate_and_idle_meters_are_forgotten() {
        let mut b = ReceiveBudget::default();
        let m = ModuleName::new("m").unwrap();
        let (p1, p2): (PeerAddr, PeerAddr) = ("10.0.0.1:1".parse().unwrap(), "10.0.0.2:1".parse().unwrap());
        let admitted = (0..20).filter(|_| b.admit(&m, p1, 5, 0)).count();
        assert_eq!(admitted, 5);
        assert!(b.admit(&m, p2, 5, 0), "another peer is not held back");
        assert!(b.admit(&m, p1, 5, 1000), "refilled after a second");
        b.prune(10_000);
        assert!(b.meters.is_empty());
    }
}
