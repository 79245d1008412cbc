//! The event queue: events ordered by (virtual time, insertion sequence), so equal
//! times keep their order and a run is a pure function of its seed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use hearsay_core::{CodeVersion, Millis};

/// Something that happens to one node at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An envelope arrives.
    Arrive {
        /// Receiving node.
        to: usize,
        /// The encoded envelope.
        bytes: Vec<u8>,
    },
    /// The node's driver asked to be woken at this time (a module round, a timer).
    Wake {
        /// Which node.
        node: usize,
    },
    /// A code download finishes.
    FetchDone {
        /// Downloading node.
        node: usize,
        /// What it asked for.
        version: CodeVersion,
        /// Who it asked.
        from: usize,
        /// The bytes, or `None` when the peer did not have them or was unreachable.
        bytes: Option<Vec<u8>>,
    },
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key(Millis, u64);

/// A min-heap of timed events.
#[derive(Debug, Default)]
pub struct Queue {
    heap: BinaryHeap<Reverse<(Key, EventSlot)>>,
    seq: u64,
}

/// Wraps an event so the heap orders on the key alone.
#[derive(Debug)]
struct EventSlot(Event);

impl PartialEq for EventSlot {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for EventSlot {}
impl PartialOrd for EventSlot {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for EventSlot {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl Queue {
    /// Schedules `event` at `at`.
    pub fn push(&mut self, at: Millis, event: Event) {
        self.seq += 1;
        self.heap.push(Reverse((Key(at, self.seq), EventSlot(event))));
    }

    /// The earliest event, if any.
    pub fn pop(&mut self) -> Option<(Millis, Event)> {
        self.heap.pop().map(|Reverse((Key(at, _), slot))| (at, slot.0))
    }

    /// Time of the earliest event.
    pub fn peek_time(&self) -> Option<Millis> {
        self.heap.peek().map(|Reverse((Key(at, _), _))| *at)
    }

    /// Events pending.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_time_then_insertion() {
        let mut q = Queue::default();
        q.push(5, Event::Wake { node: 1 });
        q.push(3, Event::Wake { node: 2 });
        q.push(5, Event::Wake { node: 3 });
        q.push(3, Event::Wake { node: 4 });
        let order: Vec<_> = std::iter::from_fn(|| q.pop())
            .map(|(t, e)| match e {
                Event::Wake { node } => (t, node),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, vec![(3, 2), (3, 4), (5, 1), (5, 3)]);
    }
}
