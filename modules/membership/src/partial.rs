//! Partial views (`ring_neighbours` > 0): which members a node keeps when it cannot
//! keep them all, how it finds its place on the ring, and how large it guesses the
//! cluster is. At 100,000 nodes a full view is 10¹⁰ entries across the cluster; a
//! partial one is a few dozen per node, whatever the size.
//!
//! A node keeps its `ring_neighbours` nearest members on each side (its watchers and
//! watched among them: failure detection is unchanged) and, beyond them, the
//! [`FINGERS_PER_BAND`] nearest clockwise in each band of distances `[2ʲ, 2ʲ⁺¹)` —
//! Chord's fingers (Stoica et al., SIGCOMM 2001), so that asking the member nearest
//! before a point, then the one it names, halves the distance each time. Suspected
//! and removed members are kept until they settle, as in a full view: they are what
//! rumors are about.
//!
//! A node finds its neighbours by asking `near` its own point of the ring (a bootstrap
//! peer when alone, then its neighbours and the members nearest before it): each
//! answer lists the answerer's members nearest that point, and the asker goes on to
//! the nearest of them before the point until none is nearer (Chord's lookup, here
//! done by the asker). The asked also keep the asker if it is near them, so both
//! ends of the ring learn each other; finger lookups (its point plus 2ʲ) fill the
//! bands. T-Man (Jelasity, Montresor, Babaoglu 2009) converges the same way from
//! random views.
//!
//! [`FINGERS_PER_BAND`]: crate::params::FINGERS_PER_BAND

use crate::params::FINGERS_PER_BAND;
use crate::view::{State, View};

/// The alive members this view need not keep: neither among the `k` nearest on
/// either side nor among a band's [`FINGERS_PER_BAND`] nearest.
pub fn surplus(view: &View, k: usize) -> Vec<String> {
    let me = view.self_hash();
    let near_before: Vec<&str> = view.ring_before().take(k).map(|(_, a, _)| a).collect();
    let mut in_band = [0usize; 64];
    let mut out = Vec::new();
    for (i, (hash, addr, m)) in view.ring_after().enumerate() {
        // Clockwise distance: members come nearest first, so a band's first are
        // its nearest.
        let distance = hash.wrapping_sub(me);
        let band = (63 - distance.max(1).leading_zeros()) as usize;
        in_band[band] += 1;
        let keep = i < k || in_band[band] <= FINGERS_PER_BAND || m.state != State::Alive;
        if !keep && !near_before.contains(&addr) {
            out.push(addr.to_string());
        }
    }
    out
}

/// Whether a member at ring hash `hash`, not in the view, would be kept: nearer
/// than the `k`-th on either side (or fewer known there), or among its band's
/// [`FINGERS_PER_BAND`] nearest. Notes that would be dropped at once are not
/// merged at all: at 100,000 nodes most of what answers name is not kept.
pub fn wanted(view: &View, k: usize, hash: u64) -> bool {
    let me = view.self_hash();
    if hash == me {
        return false;
    }
    let after = hash.wrapping_sub(me);
    let before = me.wrapping_sub(hash);
    let kth_after = view
        .ring_after()
        .nth(k.saturating_sub(1))
        .map(|(h, _, _)| h.wrapping_sub(me));
    let kth_before = view
        .ring_before()
        .nth(k.saturating_sub(1))
        .map(|(h, _, _)| me.wrapping_sub(h));
    if kth_after.map_or(true, |d| after < d) || kth_before.map_or(true, |d| before < d) {
        return true;
    }
    let band = 63 - after.leading_zeros();
    view.members_between(me.wrapping_add(1u64 << band), hash)
        .filter(|(_, m)| m.state.is_member())
        .take(FINGERS_PER_BAND)
        .count()
        < FINGERS_PER_BAND
}

/// The member of `candidates` (ring hash, address) nearest before `point`
/// (clockwise distance to it, 0 at the point itself), if any is nearer than
/// `than`.
pub fn nearer_before<'a>(
    point: u64,
    than: u64,
    candidates: impl Iterator<Item = (u64, &'a str)>,
) -> Option<&'a str> {
    candidates
        .map(|(hash, addr)| (point.wrapping_sub(hash), addr))
        .filter(|(d, _)| *d < than)
        .min_by_key(|(d, _)| *d)
        .map(|(_, addr)| addr)
}

/// How many nodes the cluster holds, guessed from how much of the ring this node's
/// `k` successors span (members are spread evenly by their hash); the view's size if
/// it knows fewer.
pub fn estimated_size(view: &View, k: usize) -> u64 {
    let me = view.self_hash();
    let known = view.member_count() as u64 + 1;
    match view.ring_after().nth(k.saturating_sub(1)) {
        Some((hash, _, _)) if hash != me && known > k as u64 => {
            let span = hash.wrapping_sub(me).max(1) as u128;
            let guess = ((k as u128) << 64) / span;
            (guess.min(u64::MAX as u128) as u64).max(known)
        }
        _ => known,
    }
}

/// The point of finger `band`: `2^band` clockwise from this node.
pub fn finger_point(view: &View, band: u32) -> u64 {
    view.self_hash().wrapping_add(1u64 << band.min(63))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::Note;
    use heartbeat::labels::Labels;
    use heartbeat::table::Heartbeat;

    fn view_of(n: usize) -> View {
        let mut view = View::new("10.0.0.0:1".to_string(), 1, Labels::default());
        for i in 1..n {
            let note = Note {
                addr: format!("10.0.{}.{}:1", i / 250, i % 250),
                incarnation: Heartbeat {
                    generation: 1,
                    counter: 0,
                },
                state: State::Alive,
                by: None,
                labels: None,
            };
            view.merge(&note, 0, &mut Vec::new());
        }
        view
    }

    #[test]
    fn the_nearest_before_a_point_counts_round_the_ring() {
        let candidates = [(u64::MAX - 5, "late"), (10, "early"), (500, "past")];
        // Point 20: "early" is 10 before it; "late" 26 before, going round.
        assert_eq!(
            nearer_before(20, u64::MAX, candidates.iter().copied()),
            Some("early")
        );
        // Point 3: "late" is 9 before it, round the top; "early" is past it.
        assert_eq!(
            nearer_before(3, u64::MAX, candidates.iter().copied()),
            Some("late")
        );
        // None nearer than what is held.
        assert_eq!(nearer_before(20, 5, candidates.iter().copied()), None);
    }

    #[test]
    fn the_size_is_guessed_from_the_neighbours_spread() {
        for n in [100, 1000, 5000] {
            let guess = estimated_size(&view_of(n), 8) as f64;
            assert!(
                guess > n as f64 / 2.5 && guess < n as f64 * 2.5,
                "{} nodes guessed {}",
                n,
                guess
            );
        }
        assert_eq!(estimated_size(&view_of(3), 8), 3);
    }

    #[test]
    fn a_full_view_keeps_neighbours_and_two_per_band_and_wants_only_those() {
        let mut view = view_of(2000);
        let k = 4;
        for addr in surplus(&view, k) {
            view.drop_member(&addr);
        }
        let kept = view.member_count();
        // 2k neighbours and two in each band 2,000 members fill (about 11).
        assert!((20..=40).contains(&kept), "{} kept", kept);
        assert!(surplus(&view, k).is_empty(), "a trimmed view is stable");
        let after: Vec<&str> = view.ring_after().take(k).map(|(_, a, _)| a).collect();
        assert_eq!(after.len(), k);
        // Another member between this node and its nearest successor is wanted; one
        // just past the farthest kept point of a full band is not.
        let me = view.self_hash();
        let first = view.ring_after().next().unwrap().0;
        assert!(wanted(&view, k, me.wrapping_add(first.wrapping_sub(me) / 2)));
        assert!(!wanted(&view, k, me.wrapping_add((1u64 << 63) - 1)));
    }
}
