//! Rumors waiting to be passed on: the latest note per node, each carried by every
//! message this node sends for a bounded number of rounds, so news reaches everyone
//! in O(log n) rounds while a quiet cluster sends none.

use crate::view::{Note, State};
use crate::wire::note_len;

/// The rumors of one node.
#[derive(Debug, Clone, Default)]
pub struct Rumors {
    /// (note, rounds it has been carried so far; 0: not sent yet).
    queue: Vec<(Note, u32)>,
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
        self.queue.retain(|(n, _)| n.addr != note.addr || side_by_side(n));
        self.queue.push((note, 0));
    }

    /// No rumor waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The rumors that fit in `room` bytes, the least carried first.
    pub fn take(&mut self, room: usize) -> Vec<Note> {
        self.queue.sort_by_key(|(_, rounds)| *rounds);
        let mut used = 0;
        let mut out = Vec::new();
        for (note, _) in self.queue.iter() {
            let len = note_len(note);
            if used + len > room {
                continue;
            }
            used += len;
            out.push(note.clone());
        }
        out
    }

    /// A round is over: every rumor has been carried one round more; those carried
    /// `limit` rounds are dropped.
    pub fn age(&mut self, limit: u32) {
        for (_, rounds) in self.queue.iter_mut() {
            *rounds += 1;
        }
        self.queue.retain(|(_, rounds)| *rounds < limit);
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
    fn the_latest_note_per_node_is_carried_a_bounded_number_of_rounds() {
        let mut r = Rumors::default();
        r.push(note("a", 1, None));
        r.push(note("a", 2, None));
        r.push(note("b", 1, None));
        for _ in 0..3 {
            assert_eq!(r.take(1000).len(), 2);
            assert_eq!(r.take(1000).len(), 2, "every message of a round");
            r.age(3);
        }
        assert!(r.is_empty());
    }

    #[test]
    fn suspicions_by_different_watchers_travel_side_by_side() {
        let mut r = Rumors::default();
        r.push(note("a", 1, Some("w1")));
        r.push(note("a", 1, Some("w2")));
        assert_eq!(r.take(1000).len(), 2);
        r.push(note("a", 2, None));
        assert_eq!(r.take(1000).len(), 1, "the new incarnation replaces both");
    }

    #[test]
    fn what_does_not_fit_waits_for_the_next_message() {
        let mut r = Rumors::default();
        for i in 0..10 {
            r.push(note(&format!("node-{}", i), 1, None));
        }
        let one = note_len(&note("node-0", 1, None));
        assert_eq!(r.take(3 * one).len(), 3);
        r.age(10);
        r.push(note("node-10", 1, None));
        assert_eq!(r.take(100 * one).len(), 11);
        assert_eq!(r.take(2 * one)[0].addr, "node-10", "least carried first");
    }
}
