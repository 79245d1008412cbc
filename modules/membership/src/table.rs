//! The "last heard from" heartbeat table: members, the local time each one's
//! heartbeat last rose, suspicion and removal, and tombstones for removed members.
//!
//! Times are the host's milliseconds as this node saw them; they are never sent to
//! other nodes, so clocks need not agree (the paper's key property).

use crate::wire::{self, Reader};
use std::collections::BTreeMap;

/// A member's heartbeat. `generation` is set when a node starts (from its clock) so
/// that a restarted node, whose counter starts again at 0, still outranks what the
/// cluster remembers of its previous life. Compared lexicographically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Heartbeat {
    /// Which life of the node this is.
    pub generation: u64,
    /// Incremented every tick by the node itself.
    pub counter: u64,
}

/// What this node currently believes about a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Heard from within `suspect_after_ms`.
    Live,
    /// Not heard from for `suspect_after_ms`; removed at `remove_after_ms`.
    Suspected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Member {
    heartbeat: Heartbeat,
    last_increase_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tombstone {
    heartbeat: Heartbeat,
    removed_at_ms: u64,
}

/// The table. Ordered maps keep every iteration (and so every run) deterministic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    self_addr: String,
    own: Heartbeat,
    members: BTreeMap<String, Member>,
    dead: BTreeMap<String, Tombstone>,
}

const STATE_VERSION: u8 = 1;

impl Table {
    /// A table that knows only itself.
    pub fn new(self_addr: String, generation: u64) -> Table {
        Table {
            self_addr,
            own: Heartbeat {
                generation,
                counter: 0,
            },
            members: BTreeMap::new(),
            dead: BTreeMap::new(),
        }
    }

    /// This node's address.
    pub fn self_addr(&self) -> &str {
        &self.self_addr
    }

    /// This node's heartbeat.
    pub fn own(&self) -> Heartbeat {
        self.own
    }

    /// Increments this node's heartbeat (once per tick).
    pub fn beat(&mut self) {
        self.own.counter = self.own.counter.saturating_add(1);
    }

    /// Merges one gossiped entry heard at `now`: keeps the higher heartbeat, and
    /// restarts the member's timer only when its heartbeat rose. A tombstoned
    /// member comes back only with a heartbeat above the one it died with.
    pub fn merge(&mut self, addr: &str, heartbeat: Heartbeat, now: u64) {
        if addr == self.self_addr {
            // Someone remembers a later life of ours (our state was lost, or our
            // clock went back): outrank it so we aren't taken for a stale entry.
            if heartbeat > self.own {
                self.own = Heartbeat {
                    generation: heartbeat.generation,
                    counter: heartbeat.counter.saturating_add(1),
                };
            }
            return;
        }
        if let Some(t) = self.dead.get(addr) {
            if heartbeat <= t.heartbeat {
                return;
            }
            self.dead.remove(addr);
        }
        match self.members.get_mut(addr) {
            Some(m) => {
                if heartbeat > m.heartbeat {
                    m.heartbeat = heartbeat;
                    m.last_increase_ms = now;
                }
            }
            None => {
                self.members.insert(
                    addr.to_string(),
                    Member {
                        heartbeat,
                        last_increase_ms: now,
                    },
                );
            }
        }
    }

    /// Removes members silent for `remove_after_ms` (remembering them as dead), and
    /// forgets the dead after `forget_after_ms`. Returns the addresses removed.
    pub fn expire(&mut self, now: u64, remove_after_ms: u64, forget_after_ms: u64) -> Vec<String> {
        let removed: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| now.saturating_sub(m.last_increase_ms) >= remove_after_ms)
            .map(|(a, _)| a.clone())
            .collect();
        for addr in &removed {
            if let Some(m) = self.members.remove(addr) {
                self.dead.insert(
                    addr.clone(),
                    Tombstone {
                        heartbeat: m.heartbeat,
                        removed_at_ms: now,
                    },
                );
            }
        }
        self.dead
            .retain(|_, t| now.saturating_sub(t.removed_at_ms) < forget_after_ms);
        removed
    }

    /// Every other member with its status and heartbeat, in address order.
    pub fn members(
        &self,
        now: u64,
        suspect_after_ms: u64,
    ) -> impl Iterator<Item = (&str, Status, Heartbeat)> + '_ {
        self.members.iter().map(move |(addr, m)| {
            let status = if now.saturating_sub(m.last_increase_ms) >= suspect_after_ms {
                Status::Suspected
            } else {
                Status::Live
            };
            (addr.as_str(), status, m.heartbeat)
        })
    }

    /// Every other member with its heartbeat and the local time it last rose, in
    /// address order.
    pub fn heard(&self) -> impl Iterator<Item = (&str, Heartbeat, u64)> + '_ {
        self.members
            .iter()
            .map(|(addr, m)| (addr.as_str(), m.heartbeat, m.last_increase_ms))
    }

    /// Number of other members (live or suspected).
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether this node knows no other member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Milliseconds since `addr`'s heartbeat last rose, if it is a member.
    pub fn age_ms(&self, addr: &str, now: u64) -> Option<u64> {
        self.members
            .get(addr)
            .map(|m| now.saturating_sub(m.last_increase_ms))
    }

    /// Number of tombstones held.
    pub fn dead_count(&self) -> usize {
        self.dead.len()
    }

    /// Serializes the whole table for a hot swap (same node, same clock, so the
    /// local times stay meaningful).
    pub fn export(&self) -> Vec<u8> {
        let mut out = vec![STATE_VERSION];
        wire::put_addr(&mut out, &self.self_addr);
        wire::put_varint(&mut out, self.own.generation);
        wire::put_varint(&mut out, self.own.counter);
        put_entries(
            &mut out,
            self.members
                .iter()
                .map(|(a, m)| (a, m.heartbeat, m.last_increase_ms)),
        );
        put_entries(
            &mut out,
            self.dead.iter().map(|(a, t)| (a, t.heartbeat, t.removed_at_ms)),
        );
        out
    }

    /// Takes over an exported table. The own heartbeat never goes backwards; if the
    /// node's address changed, the old self becomes an ordinary (soon dead) member.
    /// Returns false, leaving the table untouched, if the state is malformed.
    pub fn import(&mut self, state: &[u8]) -> bool {
        match decode_state(state) {
            Some(old) => {
                let mut members = old.members;
                let mut dead = old.dead;
                members.remove(&self.self_addr);
                dead.remove(&self.self_addr);
                if old.self_addr == self.self_addr {
                    self.own = self.own.max(old.own);
                }
                self.members = members;
                self.dead = dead;
                true
            }
            None => false,
        }
    }
}

fn decode_state(state: &[u8]) -> Option<Table> {
    let mut r = Reader::new(state);
    if r.u8()? != STATE_VERSION {
        return None;
    }
    let self_addr = r.addr()?;
    let own = Heartbeat {
        generation: r.varint()?,
        counter: r.varint()?,
    };
    let mut table = Table::new(self_addr, 0);
    table.own = own;
    for (addr, heartbeat, last_increase_ms) in read_entries(&mut r)? {
        table.members.insert(
            addr,
            Member {
                heartbeat,
                last_increase_ms,
            },
        );
    }
    for (addr, heartbeat, removed_at_ms) in read_entries(&mut r)? {
        table.dead.insert(
            addr,
            Tombstone {
                heartbeat,
                removed_at_ms,
            },
        );
    }
    if !r.is_done() {
        return None;
    }
    Some(table)
}

/// Members and tombstones alike are exported as `count, (addr, generation, counter,
/// time)*`: the time is when the heartbeat last rose, or when the member was removed.
fn put_entries<'a>(out: &mut Vec<u8>, entries: impl ExactSizeIterator<Item = (&'a String, Heartbeat, u64)>) {
    wire::put_varint(out, entries.len() as u64);
    for (addr, heartbeat, time_ms) in entries {
        wire::put_addr(out, addr);
        wire::put_varint(out, heartbeat.generation);
        wire::put_varint(out, heartbeat.counter);
        wire::put_varint(out, time_ms);
    }
}

/// Reads what [`put_entries`] wrote.
fn read_entries(r: &mut Reader) -> Option<Vec<(String, Heartbeat, u64)>> {
    let n = r.varint()?;
    let mut entries = Vec::new();
    for _ in 0..n {
        let addr = r.addr()?;
        let heartbeat = Heartbeat {
            generation: r.varint()?,
            counter: r.varint()?,
        };
        entries.push((addr, heartbeat, r.varint()?));
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(generation: u64, counter: u64) -> Heartbeat {
        Heartbeat { generation, counter }
    }

    fn status(t: &Table, addr: &str, now: u64) -> Option<Status> {
        t.members(now, 1000)
            .find(|(a, _, _)| *a == addr)
            .map(|(_, s, _)| s)
    }

    #[test]
    fn timer_restarts_only_when_the_heartbeat_rises() {
        let mut t = Table::new("me".into(), 0);
        t.merge("x", hb(0, 5), 0);
        t.merge("x", hb(0, 5), 900);
        t.merge("x", hb(0, 4), 950);
        assert_eq!(status(&t, "x", 999), Some(Status::Live));
        assert_eq!(status(&t, "x", 1000), Some(Status::Suspected));
        t.merge("x", hb(0, 6), 1500);
        assert_eq!(status(&t, "x", 1500), Some(Status::Live));
    }

    #[test]
    fn removed_members_stay_dead_until_their_heartbeat_rises() {
        let mut t = Table::new("me".into(), 0);
        t.merge("x", hb(0, 5), 0);
        assert!(t.expire(1999, 2000, 4000).is_empty());
        assert_eq!(t.expire(2000, 2000, 4000), vec!["x".to_string()]);
        t.merge("x", hb(0, 5), 2100);
        assert_eq!(
            status(&t, "x", 2100),
            None,
            "stale gossip resurrected a dead member"
        );
        // A restart: new generation, counter from 0.
        t.merge("x", hb(3000, 0), 3000);
        assert_eq!(status(&t, "x", 3000), Some(Status::Live));
        // Tombstones are forgotten after forget_after_ms.
        assert_eq!(t.dead_count(), 0);
        t.expire(5000, 2000, 4000);
        assert_eq!(t.dead_count(), 1);
        t.expire(8999, 2000, 4000);
        assert_eq!(t.dead_count(), 1);
        t.expire(9000, 2000, 4000);
        assert_eq!(t.dead_count(), 0);
    }

    #[test]
    fn own_heartbeat_outranks_a_remembered_later_life() {
        let mut t = Table::new("me".into(), 10);
        t.merge("me", hb(20, 7), 0);
        assert_eq!(t.own(), hb(20, 8));
        t.merge("me", hb(1, 99), 0);
        assert_eq!(t.own(), hb(20, 8));
    }

    #[test]
    fn export_import_round_trips_and_rejects_garbage() {
        let mut t = Table::new("me".into(), 7);
        t.beat();
        t.merge("x", hb(1, 2), 100);
        t.merge("y", hb(3, 4), 200);
        t.expire(2150, 2000, 4000);
        let state = t.export();
        let mut fresh = Table::new("me".into(), 9000);
        assert!(fresh.import(&state));
        assert_eq!(fresh.own(), hb(9000, 0));
        assert_eq!(fresh.members, t.members);
        assert_eq!(fresh.dead, t.dead);
        for cut in 0..state.len() {
            let mut other = Table::new("me".into(), 1);
            assert!(!other.import(&state[..cut]));
            assert_eq!(other, Table::new("me".into(), 1));
        }
    }
}
