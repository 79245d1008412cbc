//! One shared copy of each address and each set of labels a view holds.
//!
//! Every node's view names every member, so a view of n members held as strings is n
//! allocations of the same few dozen bytes, and in the simulator (every node's view in
//! one process, the module linked natively) n² of them: at 10,000 nodes that alone
//! was more than this machine's 24 GiB. Views hold `Arc`s from these tables instead:
//! 16 bytes for an address, 8 for labels. In a wasm instance the tables are that
//! node's own; natively they are the process's, shared by every node it simulates.
//!
//! Entries nobody else holds any more are dropped whenever a table has doubled since
//! it was last swept, so a table never holds more than about twice what the views
//! use, whatever the churn. No crate interns into `Arc`s with that reclaiming, and
//! guest crates take no dependencies beyond this repository's (they build with the
//! wasm32 toolchain offline), hence by hand.

use heartbeat::labels::Labels;
use std::collections::HashSet;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// An interned address.
pub type Addr = Arc<str>;

/// The smallest size a table is swept at.
const FIRST_SWEEP: usize = 1024;

struct Table<T: ?Sized + Eq + Hash> {
    entries: HashSet<Arc<T>>,
    sweep_at: usize,
}

impl<T: ?Sized + Eq + Hash> Table<T> {
    fn intern(&mut self, value: &T, make: impl FnOnce(&T) -> Arc<T>) -> Arc<T> {
        if let Some(found) = self.entries.get(value) {
            return found.clone();
        }
        if self.entries.len() >= self.sweep_at {
            // Under the lock a count of one means only this table holds it: nobody
            // can clone it meanwhile.
            self.entries.retain(|e| Arc::strong_count(e) > 1);
            self.sweep_at = (self.entries.len() * 2).max(FIRST_SWEEP);
        }
        let made = make(value);
        self.entries.insert(made.clone());
        made
    }
}

static ADDRS: Mutex<Option<Table<str>>> = Mutex::new(None);
static LABELS: Mutex<Option<Table<Labels>>> = Mutex::new(None);

fn intern_in<T: ?Sized + Eq + Hash>(
    table: &Mutex<Option<Table<T>>>,
    value: &T,
    make: impl FnOnce(&T) -> Arc<T>,
) -> Arc<T> {
    // A panic elsewhere while the lock was held leaves the table as it was between
    // two whole operations: still good.
    let mut guard = table.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    guard
        .get_or_insert_with(|| Table {
            entries: HashSet::new(),
            sweep_at: FIRST_SWEEP,
        })
        .intern(value, make)
}

/// The shared copy of `addr`.
pub fn addr(addr: &str) -> Addr {
    intern_in(&ADDRS, addr, |a: &str| Arc::from(a))
}

/// The shared copy of `labels`.
pub fn labels(labels: &Labels) -> Arc<Labels> {
    intern_in(&LABELS, labels, |l| Arc::new(l.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_copy() {
        let a = addr("10.0.0.1:7000");
        let b = addr(&String::from("10.0.0.1:7000"));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &addr("10.0.0.2:7000")));
        let zone = Labels::from_pairs(vec![("zone".into(), "a".into())]);
        assert!(Arc::ptr_eq(&labels(&zone), &labels(&zone.clone())));
    }

    #[test]
    fn copies_nobody_holds_are_dropped_as_the_table_grows() {
        let kept = addr("kept.example:1");
        let weak = Arc::downgrade(&addr("dropped.example:1"));
        for i in 0..FIRST_SWEEP * 4 {
            addr(&format!("churn-{}.example:1", i));
        }
        assert!(weak.upgrade().is_none(), "a copy nobody held survived the sweeps");
        assert!(Arc::ptr_eq(&kept, &addr("kept.example:1")));
    }
}
