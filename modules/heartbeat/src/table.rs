//! The "last heard from" heartbeat table: members, the local time each one's
//! heartbeat last rose, suspicion and removal, and tombstones for removed members.
//!
//! Times are the host's milliseconds as this node saw them; they are never sent to
//! other nodes, so clocks need not agree (the paper's key property).

use crate::labels::Labels;
use crate::wire::{self, Entry, Reader};
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

#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    heartbeat: Heartbeat,
    last_increase_ms: u64,
    /// Its labels for the generation of `heartbeat`, once heard.
    labels: Option<Labels>,
    /// When they were heard (they are passed on with pushes for a while after).
    labels_since_ms: u64,
    /// A `Suspected` change was reported and no `Recovered` since.
    reported_suspected: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Tombstone {
    heartbeat: Heartbeat,
    removed_at_ms: u64,
    /// It left gracefully (rather than failing).
    left: bool,
    labels: Option<Labels>,
}

/// A change in what this node believes about a member: what becomes an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// First heard of (or back after being removed).
    Joined(String),
    /// Not heard from for the suspicion timeout.
    Suspected(String),
    /// Heard from again while suspected.
    Recovered(String),
    /// Its labels changed.
    Updated(String),
    /// Removed after the failure timeout.
    Failed(String),
    /// Removed on its graceful leave.
    Left(String),
}

impl Change {
    /// The event kind: `member.joined`, `member.suspected`, ….
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Joined(_) => "member.joined",
            Change::Suspected(_) => "member.suspected",
            Change::Recovered(_) => "member.recovered",
            Change::Updated(_) => "member.updated",
            Change::Failed(_) => "member.failed",
            Change::Left(_) => "member.left",
        }
    }

    /// The member's address.
    pub fn addr(&self) -> &str {
        match self {
            Change::Joined(a)
            | Change::Suspected(a)
            | Change::Recovered(a)
            | Change::Updated(a)
            | Change::Failed(a)
            | Change::Left(a) => a,
        }
    }
}

/// A member as the gossip message builder sees it.
#[derive(Debug, Clone, Copy)]
pub struct Heard<'a> {
    /// Its address.
    pub addr: &'a str,
    /// Its heartbeat.
    pub heartbeat: Heartbeat,
    /// The local time its heartbeat last rose.
    pub last_increase_ms: u64,
    /// Its labels, if heard for this generation.
    pub labels: Option<&'a Labels>,
    /// When they were heard.
    pub labels_since_ms: u64,
}

/// A removed member still remembered.
#[derive(Debug, Clone, Copy)]
pub struct Gone<'a> {
    /// Its address.
    pub addr: &'a str,
    /// The heartbeat it was removed at.
    pub heartbeat: Heartbeat,
    /// The local time it was removed.
    pub removed_at_ms: u64,
    /// It left gracefully (else it failed).
    pub left: bool,
    /// Its labels, if known.
    pub labels: Option<&'a Labels>,
}

/// The table. Ordered maps keep every iteration (and so every run) deterministic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    self_addr: String,
    own: Heartbeat,
    own_labels: Labels,
    members: BTreeMap<String, Member>,
    dead: BTreeMap<String, Tombstone>,
}

/// Version 1: ABI v1's membership (no labels); version 2 adds labels and leaves.
const STATE_VERSION: u8 = 2;

impl Table {
    /// A table that knows only itself.
    pub fn new(self_addr: String, generation: u64) -> Table {
        Table {
            self_addr,
            own: Heartbeat {
                generation,
                counter: 0,
            },
            own_labels: Labels::default(),
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

    /// This node's labels.
    pub fn own_labels(&self) -> &Labels {
        &self.own_labels
    }

    /// Sets this node's labels (read from the host at start).
    pub fn set_own_labels(&mut self, labels: Labels) {
        self.own_labels = labels;
    }

    /// Increments this node's heartbeat (once per tick, and once to leave).
    pub fn beat(&mut self) {
        self.own.counter = self.own.counter.saturating_add(1);
    }

    /// Merges one gossiped entry heard at `now`: keeps the higher heartbeat, and
    /// restarts the member's timer only when its heartbeat rose. A tombstoned
    /// member comes back only with a heartbeat above the one it died with; a leave
    /// removes a member whose heartbeat is not above the one it left at. Labels are
    /// taken for the generation they come with. What changed is pushed on `changes`.
    pub fn merge(&mut self, entry: &Entry, now: u64, changes: &mut Vec<Change>) {
        let addr = entry.addr.as_str();
        let heartbeat = entry.heartbeat;
        if addr == self.self_addr {
            // Someone remembers a later life of ours (our state was lost, or our
            // clock went back), or a leave of ours that never was: outrank it so we
            // aren't taken for a stale entry.
            if heartbeat >= self.own && (heartbeat > self.own || entry.left) {
                self.own = Heartbeat {
                    generation: heartbeat.generation,
                    counter: heartbeat.counter.saturating_add(1),
                };
            }
            return;
        }
        if let Some(t) = self.dead.get_mut(addr) {
            if heartbeat < t.heartbeat || (heartbeat == t.heartbeat && (t.left || !entry.left)) {
                return;
            }
            if entry.left {
                // Already removed (failed, or left at a lower heartbeat): now left.
                t.heartbeat = heartbeat;
                t.left = true;
                return;
            }
            self.dead.remove(addr);
        }
        if entry.left {
            if let Some(m) = self.members.get(addr) {
                if m.heartbeat > heartbeat {
                    return; // a later life is running
                }
            }
            let labels = self
                .members
                .remove(addr)
                .map(|m| {
                    changes.push(Change::Left(addr.to_string()));
                    m.labels
                })
                .unwrap_or_else(|| entry.labels.clone());
            self.dead.insert(
                addr.to_string(),
                Tombstone {
                    heartbeat,
                    removed_at_ms: now,
                    left: true,
                    labels,
                },
            );
            return;
        }
        match self.members.get_mut(addr) {
            Some(m) => {
                if heartbeat > m.heartbeat {
                    if heartbeat.generation != m.heartbeat.generation {
                        m.labels = None;
                    }
                    m.heartbeat = heartbeat;
                    m.last_increase_ms = now;
                    if m.reported_suspected {
                        m.reported_suspected = false;
                        changes.push(Change::Recovered(addr.to_string()));
                    }
                }
                if let Some(labels) = &entry.labels {
                    if heartbeat.generation == m.heartbeat.generation && m.labels.as_ref() != Some(labels) {
                        if m.labels.is_some() {
                            changes.push(Change::Updated(addr.to_string()));
                        }
                        m.labels = Some(labels.clone());
                        m.labels_since_ms = now;
                    }
                }
            }
            None => {
                self.members.insert(
                    addr.to_string(),
                    Member {
                        heartbeat,
                        last_increase_ms: now,
                        labels: entry.labels.clone(),
                        labels_since_ms: now,
                        reported_suspected: false,
                    },
                );
                changes.push(Change::Joined(addr.to_string()));
            }
        }
    }

    /// Reports members newly silent for `suspect_after_ms`, removes those silent for
    /// `remove_after_ms` (remembering them as dead), and forgets the dead after
    /// `forget_after_ms`. Returns what changed.
    pub fn expire(
        &mut self,
        now: u64,
        suspect_after_ms: u64,
        remove_after_ms: u64,
        forget_after_ms: u64,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut removed = Vec::new();
        for (addr, m) in self.members.iter_mut() {
            let silent = now.saturating_sub(m.last_increase_ms);
            if silent >= remove_after_ms {
                removed.push(addr.clone());
            } else if silent >= suspect_after_ms && !m.reported_suspected {
                m.reported_suspected = true;
                changes.push(Change::Suspected(addr.clone()));
            }
        }
        for addr in removed {
            if let Some(m) = self.members.remove(&addr) {
                self.dead.insert(
                    addr.clone(),
                    Tombstone {
                        heartbeat: m.heartbeat,
                        removed_at_ms: now,
                        left: false,
                        labels: m.labels,
                    },
                );
                changes.push(Change::Failed(addr));
            }
        }
        self.dead
            .retain(|_, t| now.saturating_sub(t.removed_at_ms) < forget_after_ms);
        changes
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

    /// Every other member as heard, in address order.
    pub fn heard(&self) -> impl Iterator<Item = Heard<'_>> + '_ {
        self.members.iter().map(|(addr, m)| Heard {
            addr,
            heartbeat: m.heartbeat,
            last_increase_ms: m.last_increase_ms,
            labels: m.labels.as_ref(),
            labels_since_ms: m.labels_since_ms,
        })
    }

    /// Every removed member still remembered, in address order.
    pub fn gone(&self) -> impl Iterator<Item = Gone<'_>> + '_ {
        self.dead.iter().map(|(addr, t)| Gone {
            addr,
            heartbeat: t.heartbeat,
            removed_at_ms: t.removed_at_ms,
            left: t.left,
            labels: t.labels.as_ref(),
        })
    }

    /// The labels known for `addr` (a member, or a remembered dead one).
    pub fn labels_of(&self, addr: &str) -> Option<&Labels> {
        if addr == self.self_addr {
            return Some(&self.own_labels);
        }
        match self.members.get(addr) {
            Some(m) => m.labels.as_ref(),
            None => self.dead.get(addr).and_then(|t| t.labels.as_ref()),
        }
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
    /// local times stay meaningful): version 1's layout, then the labels of members
    /// and tombstones and which tombstones left.
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
        for labels in self.members.values().map(|m| &m.labels) {
            put_labels(&mut out, labels.as_ref());
        }
        for t in self.dead.values() {
            out.push(t.left as u8);
            put_labels(&mut out, t.labels.as_ref());
        }
        out
    }

    /// After a hot swap: no member's silence counts before `until`. While a cluster
    /// changes versions, the core delivers gossip only between nodes running the same
    /// deployment, so a node that swapped early hears nothing from the others until
    /// they swap too — silence that says nothing about whether they are alive.
    pub fn hold_silence_until(&mut self, until: u64) {
        for m in self.members.values_mut() {
            m.last_increase_ms = m.last_increase_ms.max(until);
        }
    }

    /// Takes over an exported table (version 1 or 2). The own heartbeat never goes
    /// backwards; if the node's address changed, the old self becomes an ordinary
    /// (soon dead) member. Returns false, leaving the table untouched, if the state
    /// is malformed.
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

fn put_labels(out: &mut Vec<u8>, labels: Option<&Labels>) {
    match labels {
        Some(labels) => {
            out.push(1);
            labels.encode(out);
        }
        None => out.push(0),
    }
}

fn read_labels(r: &mut Reader) -> Option<Option<Labels>> {
    match r.u8()? {
        0 => Some(None),
        1 => Labels::decode(r).map(Some),
        _ => None,
    }
}

fn decode_state(state: &[u8]) -> Option<Table> {
    let mut r = Reader::new(state);
    let version = r.u8()?;
    if version != 1 && version != STATE_VERSION {
        return None;
    }
    let self_addr = wire::read_addr(&mut r)?;
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
                labels: None,
                labels_since_ms: last_increase_ms,
                reported_suspected: false,
            },
        );
    }
    for (addr, heartbeat, removed_at_ms) in read_entries(&mut r)? {
        table.dead.insert(
            addr,
            Tombstone {
                heartbeat,
                removed_at_ms,
                left: false,
                labels: None,
            },
        );
    }
    if version == STATE_VERSION {
        for m in table.members.values_mut() {
            m.labels = read_labels(&mut r)?;
        }
        for t in table.dead.values_mut() {
            t.left = match r.u8()? {
                0 => false,
                1 => true,
                _ => return None,
            };
            t.labels = read_labels(&mut r)?;
        }
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
        let addr = wire::read_addr(r)?;
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

    fn entry(addr: &str, heartbeat: Heartbeat) -> Entry {
        Entry {
            addr: addr.to_string(),
            heartbeat,
            left: false,
            want_labels: false,
            labels: None,
        }
    }

    fn merge(t: &mut Table, e: Entry, now: u64) -> Vec<Change> {
        let mut changes = Vec::new();
        t.merge(&e, now, &mut changes);
        changes
    }

    fn status(t: &Table, addr: &str, now: u64) -> Option<Status> {
        t.members(now, 1000)
            .find(|(a, _, _)| *a == addr)
            .map(|(_, s, _)| s)
    }

    #[test]
    fn timer_restarts_only_when_the_heartbeat_rises() {
        let mut t = Table::new("me".into(), 0);
        assert_eq!(
            merge(&mut t, entry("x", hb(0, 5)), 0),
            vec![Change::Joined("x".into())]
        );
        assert!(merge(&mut t, entry("x", hb(0, 5)), 900).is_empty());
        merge(&mut t, entry("x", hb(0, 4)), 950);
        assert_eq!(status(&t, "x", 999), Some(Status::Live));
        assert_eq!(status(&t, "x", 1000), Some(Status::Suspected));
        assert_eq!(
            t.expire(1000, 1000, 2000, 4000),
            vec![Change::Suspected("x".into())]
        );
        assert!(t.expire(1100, 1000, 2000, 4000).is_empty(), "reported once");
        assert_eq!(
            merge(&mut t, entry("x", hb(0, 6)), 1500),
            vec![Change::Recovered("x".into())]
        );
        assert_eq!(status(&t, "x", 1500), Some(Status::Live));
    }

    #[test]
    fn removed_members_stay_dead_until_their_heartbeat_rises() {
        let mut t = Table::new("me".into(), 0);
        merge(&mut t, entry("x", hb(0, 5)), 0);
        assert!(t.expire(1999, 10_000, 2000, 4000).is_empty());
        assert_eq!(
            t.expire(2000, 10_000, 2000, 4000),
            vec![Change::Failed("x".into())]
        );
        merge(&mut t, entry("x", hb(0, 5)), 2100);
        assert_eq!(
            status(&t, "x", 2100),
            None,
            "stale gossip resurrected a dead member"
        );
        // A restart: new generation, counter from 0.
        assert_eq!(
            merge(&mut t, entry("x", hb(3000, 0)), 3000),
            vec![Change::Joined("x".into())]
        );
        assert_eq!(status(&t, "x", 3000), Some(Status::Live));
        // Tombstones are forgotten after forget_after_ms.
        assert_eq!(t.dead_count(), 0);
        t.expire(5000, 10_000, 2000, 4000);
        assert_eq!(t.dead_count(), 1);
        t.expire(8999, 10_000, 2000, 4000);
        assert_eq!(t.dead_count(), 1);
        t.expire(9000, 10_000, 2000, 4000);
        assert_eq!(t.dead_count(), 0);
    }

    #[test]
    fn a_leave_removes_at_once_and_stale_heartbeats_do_not_undo_it() {
        let mut t = Table::new("me".into(), 0);
        merge(&mut t, entry("x", hb(1, 5)), 0);
        let leave = Entry {
            left: true,
            ..entry("x", hb(1, 6))
        };
        assert_eq!(merge(&mut t, leave.clone(), 10), vec![Change::Left("x".into())]);
        assert_eq!(status(&t, "x", 10), None);
        assert!(merge(&mut t, leave.clone(), 20).is_empty(), "reported once");
        assert!(merge(&mut t, entry("x", hb(1, 6)), 30).is_empty());
        assert_eq!(status(&t, "x", 30), None);
        assert!(t.gone().any(|g| g.addr == "x" && g.left));
        // A leave heard before the member itself keeps its stale gossip out too.
        assert!(merge(
            &mut t,
            Entry {
                left: true,
                ..entry("y", hb(1, 9))
            },
            40
        )
        .is_empty());
        assert!(merge(&mut t, entry("y", hb(1, 8)), 50).is_empty());
        assert_eq!(status(&t, "y", 50), None);
        // A stale leave of a later life changes nothing.
        merge(&mut t, entry("z", hb(2, 1)), 60);
        assert!(merge(
            &mut t,
            Entry {
                left: true,
                ..entry("z", hb(1, 9))
            },
            70
        )
        .is_empty());
        assert_eq!(status(&t, "z", 70), Some(Status::Live));
        // The restarted node comes back.
        assert_eq!(
            merge(&mut t, entry("x", hb(2, 0)), 80),
            vec![Change::Joined("x".into())]
        );
    }

    #[test]
    fn labels_belong_to_a_generation() {
        let mut t = Table::new("me".into(), 0);
        let web = Labels::from_pairs(vec![("role".into(), "web".into())]);
        let db = Labels::from_pairs(vec![("role".into(), "db".into())]);
        merge(&mut t, entry("x", hb(1, 1)), 0);
        assert_eq!(t.labels_of("x"), None);
        merge(
            &mut t,
            Entry {
                labels: Some(web.clone()),
                ..entry("x", hb(1, 1))
            },
            10,
        );
        assert_eq!(t.labels_of("x"), Some(&web));
        // Labels of an older generation are not taken.
        merge(&mut t, entry("x", hb(2, 0)), 20);
        assert_eq!(t.labels_of("x"), None, "a restart forgets the old labels");
        merge(
            &mut t,
            Entry {
                labels: Some(web.clone()),
                ..entry("x", hb(1, 9))
            },
            30,
        );
        assert_eq!(t.labels_of("x"), None);
        merge(
            &mut t,
            Entry {
                labels: Some(db.clone()),
                ..entry("x", hb(2, 0))
            },
            40,
        );
        assert_eq!(t.labels_of("x"), Some(&db));
        assert_eq!(
            merge(
                &mut t,
                Entry {
                    labels: Some(web.clone()),
                    ..entry("x", hb(2, 1))
                },
                50
            ),
            vec![Change::Updated("x".into())]
        );
    }

    #[test]
    fn own_heartbeat_outranks_a_remembered_later_life() {
        let mut t = Table::new("me".into(), 10);
        merge(&mut t, entry("me", hb(20, 7)), 0);
        assert_eq!(t.own(), hb(20, 8));
        merge(&mut t, entry("me", hb(1, 99)), 0);
        assert_eq!(t.own(), hb(20, 8));
        merge(
            &mut t,
            Entry {
                left: true,
                ..entry("me", hb(20, 8))
            },
            0,
        );
        assert_eq!(t.own(), hb(20, 9), "a leave we never made is outranked");
    }

    #[test]
    fn export_import_round_trips_and_rejects_garbage() {
        let mut t = Table::new("me".into(), 7);
        t.beat();
        let web = Labels::from_pairs(vec![("role".into(), "web".into())]);
        merge(
            &mut t,
            Entry {
                labels: Some(web),
                ..entry("x", hb(1, 2))
            },
            100,
        );
        merge(&mut t, entry("y", hb(3, 4)), 200);
        merge(&mut t, entry("w", hb(3, 4)), 200);
        merge(
            &mut t,
            Entry {
                left: true,
                ..entry("w", hb(3, 5))
            },
            300,
        );
        t.expire(2150, 1000, 2000, 4000);
        let state = t.export();
        let mut fresh = Table::new("me".into(), 9000);
        assert!(fresh.import(&state));
        assert_eq!(fresh.own(), hb(9000, 0));
        // What is reported as suspected is this instance's own business.
        let unreported = |t: &Table| -> BTreeMap<String, Member> {
            t.members
                .iter()
                .map(|(a, m)| {
                    (
                        a.clone(),
                        Member {
                            reported_suspected: false,
                            labels_since_ms: 0,
                            ..m.clone()
                        },
                    )
                })
                .collect()
        };
        assert_eq!(unreported(&fresh), unreported(&t));
        assert_eq!(fresh.dead, t.dead);
        for cut in 0..state.len() {
            let mut other = Table::new("me".into(), 1);
            assert!(!other.import(&state[..cut]));
            assert_eq!(other, Table::new("me".into(), 1));
        }
    }

    #[test]
    fn imports_the_state_of_abi_v1_membership() {
        // Version 1: self "me" (generation 7, counter 1), member x (1,2) heard at 100,
        // tombstone y (3,4) removed at 2150.
        let mut v1 = vec![1u8];
        wire::put_addr(&mut v1, "me");
        v1.extend([7, 1, 1]);
        wire::put_addr(&mut v1, "x");
        v1.extend([1, 2, 100, 1]);
        wire::put_addr(&mut v1, "y");
        v1.extend([3, 4]);
        wire::put_varint(&mut v1, 2150);
        let mut t = Table::new("me".into(), 5);
        assert!(t.import(&v1));
        assert_eq!(t.own(), hb(7, 1));
        assert_eq!(status(&t, "x", 100), Some(Status::Live));
        assert!(t.gone().any(|g| g.addr == "y" && !g.left));
    }
}
