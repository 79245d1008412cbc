//! The tuples a node holds: every key of its own affinity group (and, for a while,
//! keys of groups it could not reach — see [`Tuples::hinted`]), each with its value,
//! version and home node. The newest (version, home) wins everywhere, so replicas
//! that saw the same writes agree whatever the order. A summary — 64 buckets by key
//! hash, each the XOR of its tuples' fingerprints — lets two members find where they
//! differ in one small message; deletes are tombstones whose age travels with them,
//! so every replica drops a tombstone at about the same time and none takes it back
//! once it is older than `tombstone_ms`.

use crate::hash::{group_of, hash};
use crate::wire::{Item, BUCKETS};
use std::collections::BTreeMap;

/// A key's tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuple {
    /// The value; None: deleted.
    pub value: Option<String>,
    /// Its version.
    pub version: u64,
    /// The member of the key's group that accepted the write.
    pub home: String,
    /// When (this node's clock) a tombstone was made, as its age says.
    pub deleted_at: u64,
}

/// The tuples and their summary.
#[derive(Debug, Clone)]
pub struct Tuples {
    /// By key.
    pub map: BTreeMap<String, Tuple>,
    summary: Vec<u32>,
}

impl Default for Tuples {
    fn default() -> Self {
        Tuples {
            map: BTreeMap::new(),
            summary: vec![0; BUCKETS],
        }
    }
}

fn bucket(key: &str) -> usize {
    (hash(key.as_bytes()) % BUCKETS as u64) as usize
}

fn fingerprint(key: &str, t: &Tuple) -> u32 {
    let mut bytes = Vec::with_capacity(key.len() + t.home.len() + 12);
    bytes.extend_from_slice(key.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(&t.version.to_le_bytes());
    bytes.extend_from_slice(t.home.as_bytes());
    bytes.push(t.value.is_none() as u8);
    hash(&bytes) as u32
}

impl Tuples {
    /// The summary: per bucket, the XOR of its tuples' fingerprints.
    pub fn summary(&self) -> &[u32] {
        &self.summary
    }

    /// A hash of the summary: equal hashes, equal summaries (but for a 2^-64 chance).
    pub fn summary_hash(&self) -> u64 {
        let bytes: Vec<u8> = self.summary.iter().flat_map(|b| b.to_le_bytes()).collect();
        hash(&bytes)
    }

    /// Live keys held.
    pub fn live(&self) -> usize {
        self.map.values().filter(|t| t.value.is_some()).count()
    }

    /// The tuple of `key`, if held and not deleted.
    pub fn get(&self, key: &str) -> Option<&Tuple> {
        self.map.get(key).filter(|t| t.value.is_some())
    }

    /// The next version a write of `key` takes here.
    pub fn next_version(&self, key: &str) -> u64 {
        self.map.get(key).map_or(1, |t| t.version + 1)
    }

    fn insert(&mut self, key: &str, t: Tuple) {
        let b = bucket(key);
        if let Some(old) = self.map.get(key) {
            self.summary[b] ^= fingerprint(key, old);
        }
        self.summary[b] ^= fingerprint(key, &t);
        self.map.insert(key.to_string(), t);
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.map.remove(key) {
            self.summary[bucket(key)] ^= fingerprint(key, &old);
        }
    }

    /// Takes in a tuple if it is newer than the one held (a tombstone only while
    /// younger than `tombstone_ms`); whether it was.
    pub fn merge(&mut self, item: &Item, now: u64, tombstone_ms: u64) -> bool {
        if item.value.is_none() && item.age_ms >= tombstone_ms {
            return false;
        }
        if let Some(t) = self.map.get(&item.key) {
            if (item.version, item.home.as_str()) <= (t.version, t.home.as_str()) {
                return false;
            }
        }
        let t = Tuple {
            value: item.value.clone(),
            version: item.version,
            home: item.home.clone(),
            deleted_at: if item.value.is_none() {
                now.saturating_sub(item.age_ms)
            } else {
                0
            },
        };
        self.insert(&item.key, t);
        true
    }

    /// The wire form of `key`'s tuple.
    pub fn item(&self, key: &str, now: u64) -> Option<Item> {
        self.map.get(key).map(|t| Item {
            key: key.to_string(),
            version: t.version,
            home: t.home.clone(),
            value: t.value.clone(),
            age_ms: if t.value.is_none() {
                now.saturating_sub(t.deleted_at)
            } else {
                0
            },
        })
    }

    /// Drops tombstones older than `tombstone_ms`.
    pub fn collect(&mut self, now: u64, tombstone_ms: u64) {
        let old: Vec<String> = self
            .map
            .iter()
            .filter(|(_, t)| t.value.is_none() && now.saturating_sub(t.deleted_at) >= tombstone_ms)
            .map(|(k, _)| k.clone())
            .collect();
        for key in old {
            self.remove(&key);
        }
    }

    /// Buckets whose summary differs from `other`'s.
    pub fn differing(&self, other: &[u32]) -> Vec<usize> {
        (0..BUCKETS)
            .filter(|&b| other.get(b) != Some(&self.summary[b]))
            .collect()
    }

    /// Tuples in `buckets` (in that order), as many as fit in `budget` bytes.
    pub fn in_buckets(&self, buckets: &[usize], budget: usize, now: u64) -> Vec<Item> {
        let mut by_bucket: BTreeMap<usize, Vec<&String>> = BTreeMap::new();
        for key in self.map.keys() {
            by_bucket.entry(bucket(key)).or_default().push(key);
        }
        let mut out = Vec::new();
        let mut used = 0;
        for b in buckets {
            for key in by_bucket.get(b).map(|v| v.as_slice()).unwrap_or(&[]) {
                if let Some(item) = self.item(key, now) {
                    used += crate::wire::item_size(&item);
                    if used > budget {
                        return out;
                    }
                    out.push(item);
                }
            }
        }
        out
    }

    /// Keys held whose group is not `group` (writes accepted for a group this node's
    /// requester could not reach, or left behind when `groups` changed).
    pub fn hinted(&self, group: u32, groups: u32) -> Vec<String> {
        self.map
            .keys()
            .filter(|k| group_of(k, groups) != group)
            .cloned()
            .collect()
    }

    /// Forgets `key` (handed off to its group).
    pub fn forget(&mut self, key: &str) {
        self.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, version: u64, home: &str, value: Option<&str>, age_ms: u64) -> Item {
        Item {
            key: key.into(),
            version,
            home: home.into(),
            value: value.map(String::from),
            age_ms,
        }
    }

    #[test]
    fn newest_version_then_home_wins_in_any_order() {
        let items = [
            item("k", 1, "a", Some("1"), 0),
            item("k", 2, "a", Some("2a"), 0),
            item("k", 2, "b", Some("2b"), 0),
            item("j", 1, "a", Some("j"), 0),
            item("k", 3, "a", None, 10),
        ];
        let orders: [[usize; 5]; 4] = [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 4, 0, 3, 1], [3, 1, 0, 4, 2]];
        let mut summaries = Vec::new();
        for order in orders {
            let mut t = Tuples::default();
            for i in order {
                t.merge(&items[i], 100, 60_000);
            }
            assert_eq!(t.map["k"].version, 3);
            assert!(t.get("k").is_none());
            assert_eq!(t.get("j").unwrap().value.as_deref(), Some("j"));
            summaries.push(t.summary().to_vec());
        }
        assert!(summaries.windows(2).all(|w| w[0] == w[1]));
        let mut t = Tuples::default();
        t.merge(&items[1], 0, 60_000);
        t.merge(&items[2], 0, 60_000);
        assert_eq!(t.map["k"].home, "b", "ties go to the greater home");
    }

    #[test]
    fn old_tombstones_are_dropped_and_not_taken_back() {
        let mut t = Tuples::default();
        t.merge(&item("k", 1, "a", Some("v"), 0), 0, 60_000);
        let empty = Tuples::default().summary().to_vec();
        assert!(t.merge(&item("k", 2, "a", None, 1_000), 5_000, 60_000));
        t.collect(63_999, 60_000);
        assert!(t.map.contains_key("k"));
        t.collect(64_000, 60_000);
        assert!(t.map.is_empty());
        assert_eq!(t.summary(), &empty[..]);
        assert!(!t.merge(&item("k", 2, "a", None, 60_000), 64_000, 60_000));
    }

    #[test]
    fn differing_buckets_carry_exactly_what_differs() {
        let mut a = Tuples::default();
        let mut b = Tuples::default();
        for i in 0..200 {
            let it = item(&format!("key{}", i), 1, "h", Some("v"), 0);
            a.merge(&it, 0, 60_000);
            if i % 50 != 0 {
                b.merge(&it, 0, 60_000);
            }
        }
        let diff = b.differing(a.summary());
        assert!(!diff.is_empty() && diff.len() <= 4, "{:?}", diff);
        for it in a.in_buckets(&diff, usize::MAX, 0) {
            b.merge(&it, 0, 60_000);
        }
        assert!(b.differing(a.summary()).is_empty());
        assert_eq!(b.live(), 200);
        let few = a.in_buckets(&(0..BUCKETS).collect::<Vec<_>>(), 100, 0);
        assert!(!few.is_empty() && few.iter().map(crate::wire::item_size).sum::<usize>() <= 100);
    }
}
