//! Backup gossip: the core's own, slower exchange of configuration with one random
//! peer from the rendezvous list and the overheard hints. It is what still spreads a
//! fix when every module is dead — trapped, looping or silent.
//!
//! It is anti-entropy, not the way news travels (a change is pushed at once, see
//! `rumor`), so its interval backs off while there is nothing to repair, as Trickle
//! does for code propagation in sensor networks (Levis et al., NSDI 2004): every
//! exchange doubles it, up to [`QUIET_BACKOFF`] times the configured interval, and any
//! sign of disagreement — an envelope carrying another configuration, a change here, a
//! module that doesn't run what is configured, code nobody is known to hold — brings
//! it back to the configured interval. In a quiet cluster each exchange is a fresh
//! connection to a random peer, the costliest message an idle agent sends.

use rand::Rng;

use crate::deployment::Millis;
use crate::envelope::Body;
use crate::ids::PeerAddr;
use crate::node::Core;

/// How far the interval between backup exchanges stretches while nothing disagrees,
/// as a multiple of the configured one: 8 s at the default 1 s.
pub const QUIET_BACKOFF: Millis = 8;

/// The schedule of backup exchanges.
#[derive(Debug, Clone)]
pub struct BackupGossip {
    /// The configured interval: the pace while anything disagrees.
    base: Millis,
    /// The interval after the next exchange: doubles up to `base × QUIET_BACKOFF`.
    interval: Millis,
    next_at: Option<Millis>,
}

impl BackupGossip {
    /// Exchanges every `interval` ms, backing off while all is quiet.
    pub fn new(interval: Millis) -> Self {
        let base = interval.max(1);
        BackupGossip {
            base,
            interval: base,
            next_at: None,
        }
    }

    /// Something disagrees: back to the configured interval, the next exchange within
    /// one of it.
    pub fn hurry(&mut self, now: Millis) {
        if self.interval == self.base {
            return;
        }
        self.interval = self.base;
        if let Some(at) = self.next_at.as_mut() {
            *at = (*at).min(now + self.base);
        }
    }

    /// True when an exchange is due at `now`; schedules the next one. The first
    /// exchange comes at a random point of the first interval so nodes started together
    /// don't all gossip in the same instant.
    pub fn due(&mut self, now: Millis, rng: &mut impl Rng) -> bool {
        match self.next_at {
            None => {
                self.next_at = Some(now + rng.gen_range(0..self.interval));
                false
            }
            Some(at) if now >= at => {
                // Stay on the grid, but never schedule in the past after a long pause.
                let next = at + self.interval;
                self.next_at = Some(if next > now { next } else { now + self.interval });
                self.interval = (self.interval * 2).min(self.base * QUIET_BACKOFF);
                true
            }
            Some(_) => false,
        }
    }

    /// When the next exchange is due (`now` if not yet scheduled).
    pub fn next_at(&self, now: Millis) -> Millis {
        self.next_at.unwrap_or(now)
    }
}

/// Picks `k` distinct peers uniformly among rendezvous nodes and hints, never
/// ourselves: where news is pushed.
pub fn choose_peers(
    rendezvous: &[PeerAddr],
    hints: &[PeerAddr],
    own: PeerAddr,
    k: usize,
    rng: &mut impl Rng,
) -> Vec<PeerAddr> {
    let mut candidates: Vec<PeerAddr> = rendezvous
        .iter()
        .chain(hints)
        .filter(|p| **p != own)
        .copied()
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    let k = k.min(candidates.len());
    rand::seq::index::sample(rng, candidates.len(), k)
        .into_iter()
        .map(|i| candidates[i])
        .collect()
}

/// One random peer of `peers` other than ourselves.
fn choose_one(peers: &[PeerAddr], own: PeerAddr, rng: &mut impl Rng) -> Option<PeerAddr> {
    let others = peers.iter().filter(|p| **p != own).count();
    if others == 0 {
        return None;
    }
    peers
        .iter()
        .filter(|p| **p != own)
        .nth(rng.gen_range(0..others))
        .copied()
}

/// The peers of one backup exchange: a random rendezvous node *and* a random hint.
/// Rendezvous nodes are always tried: hints are only what this node overheard, and a
/// module can fill them with addresses that never answer; the rendezvous list is the
/// operator's.
pub fn backup_peers(
    rendezvous: &[PeerAddr],
    hints: &[PeerAddr],
    own: PeerAddr,
    rng: &mut impl Rng,
) -> Vec<PeerAddr> {
    let mut peers = Vec::with_capacity(2);
    peers.extend(choose_one(rendezvous, own, rng));
    if let Some(hint) = choose_one(hints, own, rng) {
        if !peers.contains(&hint) {
            peers.push(hint);
        }
    }
    peers
}

impl Core {
    /// One backup round: send our summary to a random rendezvous node and a random
    /// hint; each answers with the records we lack and asks for the ones it lacks.
    pub(crate) fn backup_exchange(&mut self) {
        if !self.code.orphans().is_empty() || !self.all_running() {
            self.backup.hurry(self.now);
        }
        let peers = backup_peers(
            &self.settings.rendezvous,
            self.hints.as_slice(),
            self.addr,
            &mut self.rng,
        );
        for peer in peers {
            self.backup_exchange_with(peer);
        }
    }

    fn backup_exchange_with(&mut self, peer: PeerAddr) {
        self.metrics.backup_exchanges += 1;
        self.send(peer, Body::Summary(self.config.summary()));
        // Code we want and know nobody to ask for (a restart found it missing or
        // corrupt, and no module traffic names a holder): ask this peer. Peers with an
        // equal configuration say nothing else, so without this such a node would wait
        // forever.
        for version in self.code.orphans() {
            self.add_code_source(version, peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn addr(i: u16) -> PeerAddr {
        PeerAddr::from(([127, 0, 0, 1], i))
    }

    #[test]
    fn never_picks_itself_and_covers_everyone() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let rendezvous = [addr(1), addr(2)];
        let hints = [addr(3), addr(4), addr(2)];
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let peers = choose_peers(&rendezvous, &hints, addr(1), 2, &mut rng);
            assert_eq!(peers.len(), 2);
            assert_ne!(peers[0], peers[1]);
            assert!(!peers.contains(&addr(1)));
            seen.extend(peers);
        }
        assert_eq!(seen.len(), 3);
        assert_eq!(choose_peers(&[addr(1)], &[], addr(1), 3, &mut rng), vec![]);
        assert_eq!(choose_peers(&rendezvous, &hints, addr(9), 10, &mut rng).len(), 4);
    }

    #[test]
    fn a_backup_exchange_always_includes_a_rendezvous_node() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let rendezvous = [addr(1), addr(2)];
        // a module filled the hints with addresses that never answer
        let hints: Vec<PeerAddr> = (100..164).map(addr).collect();
        for _ in 0..100 {
            let peers = backup_peers(&rendezvous, &hints, addr(1), &mut rng);
            assert_eq!(peers[0], addr(2));
            assert_eq!(peers.len(), 2);
        }
        assert_eq!(backup_peers(&[addr(1)], &[], addr(1), &mut rng), vec![]);
        assert_eq!(backup_peers(&[], &[addr(7)], addr(1), &mut rng), vec![addr(7)]);
    }

    #[test]
    fn schedule_backs_off_while_quiet_and_hurries_back() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut b = BackupGossip::new(1000);
        assert!(!b.due(0, &mut rng));
        let mut at = b.next_at(0);
        assert!(at < 1000);
        // Each quiet exchange doubles the wait, up to 8 intervals.
        let mut gaps = Vec::new();
        for _ in 0..6 {
            assert!(b.due(at, &mut rng));
            gaps.push(b.next_at(0) - at);
            at = b.next_at(0);
            assert!(!b.due(at - 1, &mut rng));
        }
        assert_eq!(gaps, [1000, 2000, 4000, 8000, 8000, 8000]);
        // Disagreement: the next exchange within one interval, then backing off anew.
        b.hurry(at - 7000);
        assert_eq!(b.next_at(0), at - 6000);
        assert!(b.due(at - 6000, &mut rng));
        assert_eq!(b.next_at(0), at - 5000);
        assert!(b.due(at - 5000, &mut rng));
        assert_eq!(b.next_at(0), at - 3000);
        // Hurrying never postpones an exchange already due sooner.
        b.hurry(at - 3500);
        assert_eq!(b.next_at(0), at - 3000);
        // after a long pause, the next is an interval away from now, not in the past
        assert!(b.due(at + 100_000, &mut rng));
        assert_eq!(b.next_at(0), at + 101_000);
    }
}
