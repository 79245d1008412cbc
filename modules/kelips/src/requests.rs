//! Requests a node started (gets, puts, deletes of keys in other groups) until they
//! are answered or given up, and the outcomes of the last ones, which the API reads
//! by id (`result ID`) and the event stream announces (`result`).

use crate::wire::Op;
use std::collections::{BTreeMap, VecDeque};

/// Outcomes kept for `result ID`.
const KEPT: usize = 4096;

/// A request on its way.
#[derive(Debug, Clone)]
pub struct Pending {
    /// What it asks.
    pub op: Op,
    /// The key.
    pub key: String,
    /// The value (put).
    pub value: Option<String>,
    /// The group it is sent to.
    pub group: u32,
    /// Nodes of the key's group it was sent to, in order (relays not included).
    pub tried: Vec<String>,
    /// Times it was sent (a retry goes to two nodes at once).
    pub attempts: u64,
    /// The nodes of the key's group asked last, which have not answered yet.
    pub waiting: Vec<String>,
    /// When it was last sent.
    pub sent_at: u64,
    /// When it was started.
    pub created_at: u64,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The request id.
    pub id: u64,
    /// What it asked.
    pub op: Op,
    /// The key.
    pub key: String,
    /// `found`, `not_found`, `stored` or `failed`.
    pub status: &'static str,
    /// The value read (found).
    pub value: Option<String>,
    /// The tuple's version (found, stored).
    pub version: u64,
    /// The tuple's home node (found, stored).
    pub home: String,
    /// Request legs it took: 0 when answered here, 1 when the first node asked
    /// answered, more when a node was stale or passed it on.
    pub hops: u64,
}

/// Pending requests and recent outcomes, with totals.
#[derive(Debug, Clone, Default)]
pub struct Requests {
    next_id: u64,
    /// By id.
    pub pending: BTreeMap<u64, Pending>,
    done: VecDeque<Outcome>,
    /// Requests ended, by status, and the hops they took in all.
    pub found: u64,
    /// See `found`.
    pub not_found: u64,
    /// See `found`.
    pub stored: u64,
    /// See `found`.
    pub failed: u64,
    /// See `found`.
    pub hops: u64,
}

impl Requests {
    /// A fresh id.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Records an outcome.
    pub fn finish(&mut self, outcome: Outcome) {
        match outcome.status {
            "found" => self.found += 1,
            "not_found" => self.not_found += 1,
            "stored" => self.stored += 1,
            _ => self.failed += 1,
        }
        self.hops += outcome.hops;
        if self.done.len() == KEPT {
            self.done.pop_front();
        }
        self.done.push_back(outcome);
    }

    /// The outcome of request `id`, if it ended recently.
    pub fn outcome(&self, id: u64) -> Option<&Outcome> {
        self.done.iter().rev().find(|o| o.id == id)
    }

    /// Requests ended.
    pub fn ended(&self) -> u64 {
        self.found + self.not_found + self.stored + self.failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(id: u64, status: &'static str, hops: u64) -> Outcome {
        Outcome {
            id,
            op: Op::Get,
            key: "k".into(),
            status,
            value: None,
            version: 0,
            home: String::new(),
            hops,
        }
    }

    #[test]
    fn outcomes_are_counted_and_the_last_ones_kept() {
        let mut r = Requests::default();
        for _ in 0..KEPT + 10 {
            let id = r.next_id();
            r.finish(outcome(id, if id % 2 == 0 { "found" } else { "failed" }, 1));
        }
        assert_eq!(r.ended(), (KEPT + 10) as u64);
        assert_eq!(r.hops, (KEPT + 10) as u64);
        assert_eq!(r.found, r.failed);
        assert!(r.outcome(1).is_none());
        assert_eq!(r.outcome((KEPT + 10) as u64).map(|o| o.status), Some("found"));
    }
}
