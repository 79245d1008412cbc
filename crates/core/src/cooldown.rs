//! A per-key cooldown: answers to a peer (records, requests, summaries) are sent at
//! most once per interval per key, so a flooding or looping peer can't make the core
//! amplify its traffic.

use std::collections::HashMap;
use std::hash::Hash;

use crate::deployment::Millis;

/// Keys remembered at once. Peers and module names are keys, and strangers choose
/// them; when this many are cooling down, a new key waits like a cooling one (no
/// answer), so a flood of made-up names costs a bounded table, not memory.
const MAX_KEYS: usize = 16_384;

/// Remembers when each key last fired.
#[derive(Debug, Clone)]
pub struct Cooldown<K> {
    last: HashMap<K, Millis>,
    interval: Millis,
}

impl<K: Hash + Eq> Cooldown<K> {
    /// Keys may fire once per `interval`.
    pub fn new(interval: Millis) -> Self {
        Cooldown {
            last: HashMap::new(),
            interval,
        }
    }

    /// True (and remembered) if `key` may fire at `now`.
    pub fn ready(&mut self, key: K, now: Millis) -> bool {
        match self.last.get_mut(&key) {
            Some(t) if now < t.saturating_add(self.interval) => false,
            Some(t) => {
                *t = now;
                true
            }
            None => {
                if self.last.len() >= MAX_KEYS {
                    self.prune(now);
                    if self.last.len() >= MAX_KEYS {
                        return false;
                    }
                }
                self.last.insert(key, now);
                true
            }
        }
    }

    /// Lets `key` fire again at once (e.g. after an answer was lost).
    pub fn reset(&mut self, key: &K) {
        self.last.remove(key);
    }

    /// Forgets keys whose cooldown is over, bounding memory.
    pub fn prune(&mut self, now: Millis) {
        let interval = self.interval;
        self.last.retain(|_, t| now < t.saturating_add(interval));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_keys_stays_bounded() {
        let mut c = Cooldown::new(100);
        for k in 0..(MAX_KEYS as u64 + 500) {
            c.ready(k, 0);
        }
        assert_eq!(c.last.len(), MAX_KEYS);
        assert!(!c.ready(u64::MAX, 50), "full: a new key gets no answer");
        assert!(c.ready(u64::MAX, 100), "room again once the others cooled down");
    }

    #[test]
    fn fires_once_per_interval() {
        let mut c = Cooldown::new(100);
        assert!(c.ready("a", 0));
        assert!(!c.ready("a", 99));
        assert!(c.ready("b", 99));
        assert!(c.ready("a", 100));
        c.prune(250);
        assert!(c.last.is_empty());
        assert!(c.ready("a", 250));
        c.reset(&"a");
        assert!(c.ready("a", 251));
    }
}
