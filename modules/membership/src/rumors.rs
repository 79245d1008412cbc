//! Rumors waiting to be passed on: the latest note per node, each carried by every
//! message this node sends for a bounded number of rounds, so news reaches everyone
//! in O(log n) rounds while a quiet cluster sends none.
//!
//! A join (a member alive at the first incarnation of its life) is dropped sooner,
//! once sent as many times as a note lives rounds (memberlist's count, per copy):
//! nobody's failure detection waits on it — a join missed shows in the digests, which
//! a sync repairs — while every node of a cluster that starts at once hears dozens of
//! joins first-hand, and carried in every message for log n rounds they kept the
//! messages full long after the views had met. Refutations keep their rounds: they
//! clear suspicions everywhere, and at heavy loss the copies were too few.
//!
//! At most [`MAX_RUMORS`] wait at once; beyond that the longest carried are dropped
//! (Serf's queue depth limit). A storm of news — a whole cluster starting, a rack
//! failing — would otherwise fill every message this node sends for log n rounds, at
//! every node, while the views meet anyway: a node that misses news because its
//! rumor was dropped sees its neighbours' digests differ and syncs the arcs of the
//! ring that differ.

use crate::view::{Note, State};
use crate::wire::note_len;

/// Most rumors waiting at once.
pub const MAX_RUMORS: usize = 64;

/// A rumor waiting, and how far it has gone.
#[derive(Debug, Clone)]
struct Waiting {
    note: Note,
    /// Rounds it has been carried so far (0: not sent yet).
    rounds: u32,
    /// Copies sent so far.
    copies: u32,
}

/// The rumors of one node.
#[derive(Debug, Clone, Default)]
pub struct Rumors {
    queue: Vec<Waiting>,
    /// Rounds a note is carried; a join, copies sent (0: not known yet, taken as 1
    /// until the first `age`).
    limit: u32,
}

impl Rumors {
    /// Queues a note, in place of any older one about the same node.
    pub fn push(&mut self, note: Note) {
        // Suspicions of one incarnation by different watchers all travel: a quorum
        // of them removes the node.
        let side_by_side = |n: &Note| {
            n.state == State::Suspected
                && note.state == State::Suspected
                && n.incarnation == note.incarnation
                && n.by != note.by
        };
        self.queue
            .retain(|w| w.note.addr != note.addr || side_by_side(&w.note));
        if self.queue.len() >= MAX_RUMORS {
            // The longest carried, the first of them queued if several.
            let oldest = (0..self.queue.len()).rev().max_by_key(|&i| self.queue[i].rounds);
            if let Some(i) = oldest {
                self.queue.remove(i);
            }
        }
        self.queue.push(Waiting {
            note,
            rounds: 0,
            copies: 0,
        });
    }

    /// No rumor waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether a note about `addr` waits.
    pub fn has(&self, addr: &str) -> bool {
        self.queue.iter().any(|w| w.note.addr == addr)
    }

    /// The rumors that fit in `room` bytes, the least carried first, for a message
    /// sent `copies` times.
    pub fn take(&mut self, room: usize, copies: u32) -> Vec<Note> {
        self.queue.sort_by_key(|w| w.rounds);
        let mut used = 0;
        let mut out = Vec::new();
        for w in self.queue.iter_mut() {
            let len = note_len(&w.note);
            if used + len > room {
                continue;
            }
            used += len;
            w.copies += copies;
            out.push(w.note.clone());
        }
        let limit = self.limit.max(1);
        self.queue.retain(|w| !w.sent_enough(limit));
        out
    }

    /// A round is over: every rumor has been carried one round more; those carried
    /// `limit` rounds are dropped, and from now on a join once sent `limit` times.
    pub fn age(&mut self, limit: u32) {
        self.limit = limit;
        for w in self.queue.iter_mut() {
            w.rounds += 1;
        }
        self.queue.retain(|w| w.rounds < limit && !w.sent_enough(limit));
    }
}

impl Waiting {
    /// A join (a member alive at the first incarnation of its life, or a restart) sent
    /// `limit` times already.
    fn sent_enough(&self, limit: u32) -> bool {
        self.note.state == State::Alive && self.note.incarnation.counter == 0 && self.copies >= limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heartbeat::table::Heartbeat;

    fn note(addr: &str, counter: u64, by: Option<&str>) -> Note {
        Note {
            addr: addr.into(),
            incarnation: Heartbeat {
                generation: 1,
                counter,
            },
            state: if by.is_some() {
                State::Suspected
            } else {
                State::Alive
            },
            by: by.map(String::from),
            labels: None,
        }
    }

    #[test]
    fn the_latest_note_per_node_is_carried_a_bounded_number_of_rounds_or_copies() {
        let mut r = Rumors::default();
        r.push(note("a", 0, None));
        r.push(note("b", 0, None));
        r.push(note("r", 0, None));
        r.push(note("r", 1, None));
        r.push(note("c", 1, Some("w1")));
        r.age(5);
        assert_eq!(r.take(1000, 1).len(), 4, "one note per node");
        assert_eq!(r.take(1000, 3).len(), 4, "a message to three members");
        assert_eq!(r.take(1000, 1).len(), 4, "the fifth copy");
        for _ in 0..4 {
            let notes = r.take(1000, 1);
            assert_eq!(
                notes.len(),
                2,
                "joins go at the fifth copy; every message of a round carries the rest"
            );
            assert!(notes.iter().all(|n| n.addr == "r" || n.addr == "c"));
            r.age(5);
        }
        assert!(
            r.is_empty(),
            "the refutation and the suspicion went after five rounds"
        );
    }

    #[test]
    fn suspicions_by_different_watchers_travel_side_by_side() {
        let mut r = Rumors::default();
        r.age(10);
        r.push(note("a", 1, Some("w1")));
        r.push(note("a", 1, Some("w2")));
        assert_eq!(r.take(1000, 1).len(), 2);
        r.push(note("a", 2, None));
        assert_eq!(r.take(1000, 1).len(), 1, "the new incarnation replaces both");
    }

    #[test]
    fn a_storm_of_news_keeps_the_freshest_rumors() {
        let mut r = Rumors::default();
        for i in 0..MAX_RUMORS {
            r.push(note(&format!("old-{}", i), 1, None));
        }
        r.age(100);
        for i in 0..MAX_RUMORS / 2 {
            r.push(note(&format!("new-{}", i), 1, None));
        }
        let kept = r.take(usize::MAX, 0);
        assert_eq!(kept.len(), MAX_RUMORS);
        assert_eq!(
            kept.iter().filter(|n| n.addr.starts_with("new-")).count(),
            MAX_RUMORS / 2
        );
        // Of the old, the first queued went first.
        assert!(kept.iter().all(|n| n.addr != "old-0"));
        assert!(kept.iter().any(|n| n.addr == format!("old-{}", MAX_RUMORS - 1)));
    }

    #[test]
    fn what_does_not_fit_waits_for_the_next_message() {
        let mut r = Rumors::default();
        r.age(10);
        for i in 0..10 {
            r.push(note(&format!("node-{}", i), 1, None));
        }
        let one = note_len(&note("node-0", 1, None));
        assert_eq!(r.take(3 * one, 1).len(), 3);
        r.age(10);
        r.push(note("node-10", 1, None));
        assert_eq!(r.take(100 * one, 1).len(), 11);
        assert_eq!(r.take(2 * one, 1)[0].addr, "node-10", "least carried first");
    }
}
