//! Who a node knows: every member of its own affinity group and a few contacts in
//! each other group, each with the newest heartbeat heard of it. Heartbeats grow
//! every tick at their node and spread by gossip; an entry whose heartbeat stops
//! growing for `dead_after_ms` (three times as long for a contact, whose heartbeats
//! cross groups less often) is dropped, and remembered for as long again so that
//! gossip still carrying its last heartbeat cannot bring it back. A node that
//! restarts comes back with a higher generation and is taken in again at once.

use crate::hash::group_of;
use crate::wire::Entry;
use std::collections::BTreeMap;

/// What is known of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Its instance.
    pub generation: u64,
    /// Its newest heartbeat heard of.
    pub heartbeat: u64,
    /// When (this node's clock) the heartbeat last grew.
    pub heard_at: u64,
}

impl Peer {
    fn stamp(&self) -> (u64, u64) {
        (self.generation, self.heartbeat)
    }
}

/// The group view and the contacts.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// This node's address.
    pub me: String,
    /// Affinity groups in the cluster.
    pub groups: u32,
    /// This node's group.
    pub my_group: u32,
    /// Contacts kept per other group.
    pub per_group: usize,
    /// Members of this node's group (itself not included).
    pub members: BTreeMap<String, Peer>,
    /// Contacts by group (never this node's group).
    pub contacts: BTreeMap<u32, BTreeMap<String, Peer>>,
    /// Entries dropped as dead, with the stamp they died at and when.
    pub dead: BTreeMap<String, (u64, u64, u64)>,
}

impl View {
    /// An empty view for `me` among `groups` groups.
    pub fn new(me: &str, groups: u32, per_group: usize) -> View {
        View {
            me: me.to_string(),
            groups,
            my_group: group_of(me, groups),
            per_group,
            ..View::default()
        }
    }

    /// Members and contacts known.
    pub fn known(&self) -> usize {
        self.members.len() + self.contacts.values().map(|c| c.len()).sum::<usize>()
    }

    /// Other groups with at least one contact.
    pub fn groups_covered(&self) -> usize {
        self.contacts.values().filter(|c| !c.is_empty()).count()
    }

    /// Takes in what gossip says of a node; `direct`: the node itself said it (it is
    /// the sender), so it is alive even if the heartbeat is not new. Returns whether
    /// the node is new to this view.
    pub fn merge(&mut self, e: &Entry, direct: bool, now: u64) -> bool {
        if e.addr == self.me || e.generation == 0 {
            return false;
        }
        if let Some(&(generation, heartbeat, _)) = self.dead.get(&e.addr) {
            if (e.generation, e.heartbeat) <= (generation, heartbeat) {
                return false;
            }
            self.dead.remove(&e.addr);
        }
        let group = group_of(&e.addr, self.groups);
        let per_group = self.per_group;
        let table = if group == self.my_group {
            &mut self.members
        } else {
            self.contacts.entry(group).or_default()
        };
        match table.get_mut(&e.addr) {
            Some(p) => {
                if (e.generation, e.heartbeat) > p.stamp() {
                    p.generation = e.generation;
                    p.heartbeat = e.heartbeat;
                    p.heard_at = now;
                } else if direct {
                    p.heard_at = now;
                }
                false
            }
            None => {
                if group != self.my_group && table.len() >= per_group {
                    return false;
                }
                table.insert(
                    e.addr.clone(),
                    Peer {
                        generation: e.generation,
                        heartbeat: e.heartbeat,
                        heard_at: now,
                    },
                );
                true
            }
        }
    }

    /// Drops entries not heard of in time (members after `dead_after`, contacts after
    /// three times that), and forgets dead records as old again; the dropped addresses.
    pub fn expire(&mut self, now: u64, dead_after: u64) -> Vec<String> {
        let mut gone = Vec::new();
        let mut bury = |table: &mut BTreeMap<String, Peer>, limit: u64, dead: &mut BTreeMap<_, _>| {
            table.retain(|addr, p| {
                let alive = now.saturating_sub(p.heard_at) < limit;
                if !alive {
                    dead.insert(addr.clone(), (p.generation, p.heartbeat, now));
                    gone.push(addr.clone());
                }
                alive
            });
        };
        bury(&mut self.members, dead_after, &mut self.dead);
        for table in self.contacts.values_mut() {
            bury(table, dead_after * 3, &mut self.dead);
        }
        self.contacts.retain(|_, t| !t.is_empty());
        self.dead
            .retain(|_, (_, _, at)| now.saturating_sub(*at) < dead_after * 3);
        gone
    }

    /// A message came from `addr` itself: it is alive now.
    pub fn touch(&mut self, addr: &str, now: u64) {
        let group = group_of(addr, self.groups);
        let table = if group == self.my_group {
            Some(&mut self.members)
        } else {
            self.contacts.get_mut(&group)
        };
        if let Some(p) = table.and_then(|t| t.get_mut(addr)) {
            p.heard_at = now;
        }
    }

    /// Drops a node at once (it did not answer a request), as if it had died.
    pub fn suspect(&mut self, addr: &str, now: u64) {
        let group = group_of(addr, self.groups);
        let table = if group == self.my_group {
            &mut self.members
        } else {
            match self.contacts.get_mut(&group) {
                Some(t) => t,
                None => return,
            }
        };
        if let Some(p) = table.remove(addr) {
            self.dead
                .insert(addr.to_string(), (p.generation, p.heartbeat, now));
        }
        self.contacts.retain(|_, t| !t.is_empty());
    }

    /// The members' entries.
    pub fn member_entries(&self) -> Vec<Entry> {
        self.members.iter().map(|(a, p)| entry(a, p)).collect()
    }

    /// The contacts' entries.
    pub fn contact_entries(&self) -> Vec<Entry> {
        self.contacts
            .values()
            .flat_map(|t| t.iter().map(|(a, p)| entry(a, p)))
            .collect()
    }

    /// The contacts of `group` (this node's group: its members).
    pub fn of_group(&self, group: u32) -> Vec<String> {
        if group == self.my_group {
            return self.members.keys().cloned().collect();
        }
        self.contacts
            .get(&group)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }
}

fn entry(addr: &str, p: &Peer) -> Entry {
    Entry {
        addr: addr.to_string(),
        generation: p.generation,
        heartbeat: p.heartbeat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(addr: &str, generation: u64, heartbeat: u64) -> Entry {
        Entry {
            addr: addr.into(),
            generation,
            heartbeat,
        }
    }

    /// Addresses in `me`'s group and in one other group.
    fn addrs(v: &View) -> (Vec<String>, Vec<String>) {
        let all: Vec<String> = (0..200).map(|i| format!("10.1.0.{}:7000", i)).collect();
        let same = all
            .iter()
            .filter(|a| group_of(a, v.groups) == v.my_group)
            .cloned()
            .collect();
        let other_group = (v.my_group + 1) % v.groups;
        let other = all
            .iter()
            .filter(|a| group_of(a, v.groups) == other_group)
            .cloned()
            .collect();
        (same, other)
    }

    #[test]
    fn members_all_kept_contacts_bounded_per_group() {
        let mut v = View::new("me:1", 4, 2);
        let (same, other) = addrs(&v);
        for a in same.iter().chain(&other) {
            v.merge(&e(a, 1, 1), false, 0);
        }
        assert_eq!(
            v.members.len(),
            same.len() - usize::from(same.contains(&"me:1".to_string()))
        );
        assert_eq!(v.of_group((v.my_group + 1) % 4).len(), 2);
        assert!(!v.merge(&e("me:1", 9, 9), true, 0));
    }

    #[test]
    fn silent_entries_expire_and_stale_gossip_cannot_revive_them() {
        let mut v = View::new("me:1", 4, 2);
        let (same, other) = addrs(&v);
        let (m, c) = (same[0].clone(), other[0].clone());
        v.merge(&e(&m, 1, 5), false, 0);
        v.merge(&e(&c, 1, 5), false, 0);
        // The member's heartbeat keeps growing; the contact's does not.
        for t in 1..=25u64 {
            v.merge(&e(&m, 1, 5 + t), false, t * 1000);
            v.expire(t * 1000, 10_000);
        }
        assert!(v.members.contains_key(&m));
        assert!(
            v.of_group((v.my_group + 1) % 4).contains(&c),
            "contacts last 3× longer"
        );
        v.expire(30_000, 10_000);
        assert!(v.of_group((v.my_group + 1) % 4).is_empty());
        assert!(!v.merge(&e(&c, 1, 5), false, 31_000), "stale gossip");
        assert!(
            v.merge(&e(&c, 2, 1), false, 31_000),
            "restarted: a new generation"
        );
    }

    #[test]
    fn suspected_contacts_make_room() {
        let mut v = View::new("me:1", 4, 1);
        let (_, other) = addrs(&v);
        v.merge(&e(&other[0], 1, 1), false, 0);
        assert!(!v.merge(&e(&other[1], 1, 1), false, 0));
        v.suspect(&other[0], 0);
        assert!(v.merge(&e(&other[1], 1, 1), false, 0));
        assert!(!v.merge(&e(&other[0], 1, 1), true, 0));
    }
}
