//! One writer's keys as a replica holds them: a vector sorted by key.
//!
//! Written by hand rather than a `BTreeMap` because of memory: every replica holds
//! one of these per writer, and most writers own a handful of keys. A `BTreeMap`
//! allocates a whole leaf (11 slots, about 800 bytes here) for its first key; at
//! 10,000 simulated nodes with 2,000 writers that was 16 GB of the simulator's
//! 20 GB. A sorted vector takes what its entries take, and keeps the ordered
//! iteration (`list` by prefix) and logarithmic lookups the map gave.

use crate::store::Entry;

/// Keys → entries, sorted by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    entries: Vec<(String, Entry)>,
}

impl Keys {
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The entry of `key`.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    /// The entry of `key`, to change it.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Entry> {
        match self.find(key) {
            Ok(i) => Some(&mut self.entries[i].1),
            Err(_) => None,
        }
    }

    /// Sets `key`'s entry; the one it replaces, if any.
    pub fn insert(&mut self, key: String, entry: Entry) -> Option<Entry> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, entry)),
            Err(i) => {
                self.entries.insert(i, (key, entry));
                None
            }
        }
    }

    /// Keeps the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &Entry) -> bool) {
        self.entries.retain(|(k, e)| keep(k, e));
        if self.entries.capacity() > 2 * self.entries.len() + 4 {
            self.entries.shrink_to_fit();
        }
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.entries = Vec::new();
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every (key, entry), in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries.iter().map(|(k, e)| (k, e))
    }

    /// Every entry, in key order.
    pub fn values(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().map(|(_, e)| e)
    }

    /// The (key, entry) pairs from the first key ≥ `from` on, in key order.
    pub fn from(&self, from: &str) -> impl Iterator<Item = (&String, &Entry)> {
        let start = match self.find(from) {
            Ok(i) | Err(i) => i,
        };
        self.entries[start..].iter().map(|(k, e)| (k, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn entry(version: u64) -> Entry {
        Entry {
            value: Some(version.to_string()),
            version,
            deleted_at: 0,
            expires_at: 0,
        }
    }

    /// Random sequences of inserts and removals (guests take no registry crates, so
    /// no proptest here: a fixed-seed generator instead) leave the same contents, in
    /// the same order, as a BTreeMap given the same sequence.
    #[test]
    fn behaves_as_a_btreemap() {
        let mut seed = 0x6b657973u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..500 {
            let mut keys = Keys::default();
            let mut map = BTreeMap::new();
            for _ in 0..next(200) {
                let key = format!("k{}", next(20));
                let v = next(100);
                if next(3) < 2 {
                    assert_eq!(
                        keys.insert(key.clone(), entry(v)),
                        map.insert(key.clone(), entry(v))
                    );
                } else {
                    keys.retain(|k, _| *k != key);
                    map.remove(&key);
                }
                assert_eq!(keys.len(), map.len());
                assert_eq!(keys.get(&key), map.get(&key));
            }
            assert!(keys.iter().eq(map.iter()));
            assert!(keys.values().eq(map.values()));
            let from = format!("k{}", next(20));
            assert!(keys.from(&from).eq(map.range(from..)));
        }
    }
}
