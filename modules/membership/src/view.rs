//! What this node believes about every member: its incarnation, alive / suspected /
//! failed / left, its labels, who suspects it — and the rules that merge news into
//! it, SWIM's: a higher incarnation wins; at the same incarnation suspected beats
//! alive and failed or left beat both; only the member itself raises its incarnation,
//! to refute a suspicion. Failed and left members stay as tombstones for a while so
//! stale news can't bring them back.
//!
//! The view also keeps the ring that assigns watchers: members alive or suspected
//! (this node included), ordered by a hash of their address; a node's watchers are
//! its next `k` on the ring, so each node watches its previous `k`. Members and
//! tombstones are held in ring order, in one map, their addresses and labels shared
//! ([`crate::intern`]): a member costs a view about a hundred bytes, whatever the
//! cluster's size. Times are this node's own milliseconds and never leave it.
//!
//! A member is *announced* — listed by the queries, its changes published as events —
//! once its labels are known: a node first heard of through a beat or a page that
//! lacked them is watched and gossiped with, but no application sees it with no
//! labels. The module asks such members for their own note (see [`View::unlabeled`]).

use crate::intern::{self, Addr};
use heartbeat::labels::Labels;
use heartbeat::table::{Change, Heartbeat};
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound::{Excluded, Included, Unbounded};
use std::sync::Arc;

/// What a node is, as far as this view goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// Alive.
    Alive = 0,
    /// Suspected by at least one watcher, not refuted yet.
    Suspected = 1,
    /// Removed: its watchers agree it stopped (a tombstone).
    Failed = 2,
    /// Removed: it left gracefully (a tombstone).
    Left = 3,
}

impl State {
    /// The state a byte encodes (its discriminant), if any.
    pub fn from_u8(byte: u8) -> Option<State> {
        Some(match byte {
            0 => State::Alive,
            1 => State::Suspected,
            2 => State::Failed,
            3 => State::Left,
            _ => return None,
        })
    }

    /// Alive or suspected: still a member.
    pub fn is_member(self) -> bool {
        matches!(self, State::Alive | State::Suspected)
    }
}

/// A piece of news about one node: what travels in rumors, beats and pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The node's address.
    pub addr: String,
    /// The incarnation the news is about.
    pub incarnation: Heartbeat,
    /// What it says.
    pub state: State,
    /// For a suspicion: the watcher that suspects.
    pub by: Option<String>,
    /// The node's labels, when carried.
    pub labels: Option<Labels>,
}

/// The watchers suspecting a member at its incarnation. Almost every member has none,
/// and every node holds every member, so the list costs one pointer until there is one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
// A boxed Vec is one word where a Vec is three, in every member of every view.
#[allow(clippy::box_collection)]
pub struct Suspecters(Option<Box<Vec<Addr>>>);

impl Suspecters {
    /// `by`, if a suspicion names one; none otherwise.
    pub fn of(by: Option<&str>) -> Suspecters {
        Suspecters(by.map(|by| Box::new(vec![intern::addr(by)])))
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |v| v.len())
    }

    /// None at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `addr` is one of them.
    pub fn contains(&self, addr: &str) -> bool {
        self.0.as_ref().map_or(false, |v| v.iter().any(|a| &**a == addr))
    }

    /// These and `addr`.
    fn with(&self, addr: &str) -> Suspecters {
        let mut all = self.0.as_deref().cloned().unwrap_or_default();
        all.push(intern::addr(addr));
        Suspecters(Some(Box::new(all)))
    }
}

/// One member, or a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its incarnation as last heard.
    pub incarnation: Heartbeat,
    /// Its state.
    pub state: State,
    /// When it entered that state (local ms).
    pub since_ms: u64,
    /// Its labels, once heard (one shared copy: see [`intern`]).
    pub labels: Option<Arc<Labels>>,
    /// The labels are from an earlier life (a lower generation): kept, and listed,
    /// until this life's arrive.
    pub labels_stale: bool,
    /// Watchers suspecting it at this incarnation.
    pub suspecters: Suspecters,
}

impl Member {
    /// A member as handed over or first heard, nobody suspecting it.
    pub fn new(incarnation: Heartbeat, state: State, since_ms: u64, labels: Option<&Labels>) -> Member {
        Member {
            incarnation,
            state,
            since_ms,
            labels: labels.map(intern::labels),
            labels_stale: false,
            suspecters: Suspecters::default(),
        }
    }

    /// What applications see of it: its state once its labels are known.
    fn announced(&self) -> Option<State> {
        self.labels.as_ref().map(|_| self.state)
    }

    /// Alive or suspected with labels missing or stale: to ask it for its note.
    fn wants_labels(&self) -> bool {
        self.state.is_member() && (self.labels.is_none() || self.labels_stale)
    }
}

/// What merging a note did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merged {
    /// Nothing new.
    Stale,
    /// New here: worth passing on.
    News,
    /// It suspected or removed this very node: refuted with a higher incarnation.
    Refuted,
}

/// A member's place on the ring: the hash of its address, then the address (which
/// only two addresses with one hash ever need).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Spot {
    hash: u64,
    addr: Addr,
}

/// A place on the ring to look up by, borrowed ([`Spot`]) or not (`(hash, &str)`),
/// so a lookup needs no interned address: `BTreeMap` finds keys by what they borrow
/// as, and a `Spot` borrows as this.
trait Place {
    fn place(&self) -> (u64, &str);
}

impl Place for Spot {
    fn place(&self) -> (u64, &str) {
        (self.hash, &self.addr)
    }
}

impl Place for (u64, &str) {
    fn place(&self) -> (u64, &str) {
        *self
    }
}

impl<'a> Borrow<dyn Place + 'a> for Spot {
    fn borrow(&self) -> &(dyn Place + 'a) {
        self
    }
}

impl PartialEq for dyn Place + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.place() == other.place()
    }
}

impl Eq for dyn Place + '_ {}

impl PartialOrd for dyn Place + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn Place + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        self.place().cmp(&other.place())
    }
}

/// The view of one node.
#[derive(Debug, Clone)]
pub struct View {
    self_addr: Addr,
    self_hash: u64,
    own: Heartbeat,
    own_labels: Labels,
    /// Every member and tombstone in ring order, this node excepted. The ring that
    /// assigns watchers is its members (alive or suspected) and this node.
    members: BTreeMap<Spot, Member>,
    /// How many of them are members.
    live: usize,
    /// The digests of the ring entries, whole and by arc.
    digests: Digests,
    /// Members whose labels are missing or stale (see [`Member::wants_labels`]).
    unlabeled: BTreeSet<Addr>,
    /// Members suspected, failed or left: the only ones a tick's expiry looks at, so
    /// its cost follows what changes, not the cluster's size.
    unsettled: BTreeSet<Addr>,
}

/// Arcs of the ring whose digests a view keeps; a sync compares at most this many.
pub const RANGES: usize = 256;

/// Which of `count` equal arcs of the ring (a power of two) a hash falls in.
pub fn arc_of(hash: u64, count: usize) -> usize {
    match count.trailing_zeros() {
        0 => 0,
        bits => (hash >> (64 - bits)) as usize,
    }
}

/// Where arc `i` of `count` starts on the ring.
pub fn arc_start(i: usize, count: usize) -> u64 {
    match count.trailing_zeros() {
        0 => 0,
        bits => (i as u64) << (64 - bits),
    }
}

/// XORs of the ring entries' (address, incarnation) hashes: over the whole ring, and
/// over each of [`RANGES`] equal arcs of it (by the top bits of the address hash), for
/// a sync to ask only for the arcs whose digests differ.
#[derive(Debug, Clone)]
struct Digests {
    whole: u64,
    arcs: Box<[u64; RANGES]>,
}

impl Digests {
    /// Adds or removes (the same, by XOR) an entry's share: `entry` at `addr_hash`.
    fn toggle(&mut self, addr_hash: u64, entry: u64) {
        self.whole ^= entry;
        self.arcs[arc_of(addr_hash, RANGES)] ^= entry;
    }
}

/// FNV-1a, 64 bits, then MurmurHash3's finaliser: stable across builds and
/// platforms, which the ring needs, and spread evenly even for addresses that differ
/// in one character (plain FNV-1a put such addresses in clumps, so random points on
/// the ring picked a few members over and over).
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A ring entry's share of the digest: `addr_hash` is [`hash`] of its address.
fn entry_hash(addr_hash: u64, incarnation: Heartbeat) -> u64 {
    let mut h = addr_hash ^ incarnation.generation.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^= incarnation.counter.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    // A final mix, so XORs of nearby values don't cancel.
    h ^= h >> 31;
    h.wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

impl View {
    /// The view of a node just started at `addr`, whose start time is `generation`.
    pub fn new(addr: String, generation: u64, labels: Labels) -> View {
        let own = Heartbeat {
            generation,
            counter: 0,
        };
        let self_hash = hash(addr.as_bytes());
        let mut digests = Digests {
            whole: 0,
            arcs: Box::new([0; RANGES]),
        };
        digests.toggle(self_hash, entry_hash(self_hash, own));
        View {
            digests,
            self_addr: intern::addr(&addr),
            self_hash,
            own,
            own_labels: labels,
            members: BTreeMap::new(),
            live: 0,
            unlabeled: BTreeSet::new(),
            unsettled: BTreeSet::new(),
        }
    }

    /// This node's address.
    pub fn self_addr(&self) -> &str {
        &self.self_addr
    }

    /// This node's incarnation.
    pub fn own(&self) -> Heartbeat {
        self.own
    }

    /// This node's labels.
    pub fn own_labels(&self) -> &Labels {
        &self.own_labels
    }

    /// This node's note: alive, with its labels.
    pub fn own_note(&self) -> Note {
        Note {
            addr: self.self_addr.to_string(),
            incarnation: self.own,
            state: State::Alive,
            by: None,
            labels: Some(self.own_labels.clone()),
        }
    }

    /// Raises this node's incarnation (refuting a suspicion, or leaving).
    pub fn raise_own(&mut self, above: Heartbeat) {
        let own = if above.generation > self.own.generation {
            Heartbeat {
                generation: above.generation,
                counter: above.counter + 1,
            }
        } else {
            Heartbeat {
                generation: self.own.generation,
                counter: self.own.counter.max(above.counter) + 1,
            }
        };
        self.set_own(own);
    }

    /// This node's incarnation is `own` from now on (the digest follows).
    fn set_own(&mut self, own: Heartbeat) {
        let change = entry_hash(self.self_hash, self.own) ^ entry_hash(self.self_hash, own);
        self.own = own;
        self.digests.toggle(self.self_hash, change);
    }

    /// Every member and tombstone, in ring order.
    pub fn members(&self) -> impl Iterator<Item = (&str, &Member)> + '_ {
        self.members.iter().map(|(spot, m)| (&*spot.addr, m))
    }

    /// How many members and tombstones this view holds.
    pub fn known(&self) -> usize {
        self.members.len()
    }

    /// One member or tombstone.
    pub fn get(&self, addr: &str) -> Option<&Member> {
        let place = (hash(addr.as_bytes()), addr);
        self.members.get(&place as &dyn Place)
    }

    /// Members alive or suspected, this node excluded.
    pub fn member_count(&self) -> usize {
        self.live
    }

    /// The digest of this view: equal views (the same members at the same
    /// incarnations, this node included) have equal digests.
    pub fn digest(&self) -> u64 {
        self.digests.whole
    }

    /// The digests of `count` equal arcs of the ring (a power of two, at most
    /// [`RANGES`]), in ring order: they XOR to [`View::digest`].
    pub fn arc_digests(&self, count: usize) -> Vec<u64> {
        let per = RANGES / count.clamp(1, RANGES);
        self.digests
            .arcs
            .chunks(per)
            .map(|arc| arc.iter().fold(0, |a, b| a ^ b))
            .collect()
    }

    /// Members whose labels are missing or stale, to be asked for their own note.
    pub fn unlabeled(&self) -> &BTreeSet<Addr> {
        &self.unlabeled
    }

    fn set(&mut self, addr: &str, member: Member) {
        let place = (hash(addr.as_bytes()), addr);
        let spot = match self.members.get_key_value(&place as &dyn Place) {
            Some((spot, old)) => {
                if old.state.is_member() {
                    self.digests
                        .toggle(spot.hash, entry_hash(spot.hash, old.incarnation));
                    self.live -= 1;
                }
                spot.clone()
            }
            None => Spot {
                hash: place.0,
                addr: intern::addr(addr),
            },
        };
        if member.state.is_member() {
            self.digests
                .toggle(spot.hash, entry_hash(spot.hash, member.incarnation));
            self.live += 1;
        }
        if member.wants_labels() {
            self.unlabeled.insert(spot.addr.clone());
        } else {
            self.unlabeled.remove(addr);
        }
        if member.state == State::Alive {
            self.unsettled.remove(addr);
        } else {
            self.unsettled.insert(spot.addr.clone());
        }
        self.members.insert(spot, member);
    }

    /// Merges a note heard at `now`; what it changed for applications (see
    /// [`announce`]) goes to `changes`.
    pub fn merge(&mut self, note: &Note, now: u64, changes: &mut Vec<Change>) -> Merged {
        if note.addr == *self.self_addr {
            if note.state != State::Alive && note.incarnation >= self.own {
                self.raise_own(note.incarnation);
                return Merged::Refuted;
            }
            return Merged::Stale;
        }
        let addr = note.addr.as_str();
        let existing = self.get(addr);
        let member = match existing {
            None => Member {
                suspecters: Suspecters::of(note.by.as_deref()),
                ..Member::new(note.incarnation, note.state, now, note.labels.as_ref())
            },
            Some(old) if note.incarnation < old.incarnation => return Merged::Stale,
            Some(old) if note.incarnation == old.incarnation => match merge_same(note, old, now) {
                Some(member) => member,
                None => return Merged::Stale,
            },
            // A newer incarnation: whatever it says replaces what was known, but
            // labels it lacks are kept (stale if from an earlier life).
            Some(old) => {
                let (labels, labels_stale) = match &note.labels {
                    Some(labels) => (Some(intern::labels(labels)), false),
                    None => (
                        old.labels.clone(),
                        old.labels_stale || note.incarnation.generation != old.incarnation.generation,
                    ),
                };
                Member {
                    incarnation: note.incarnation,
                    state: note.state,
                    since_ms: now,
                    labels,
                    labels_stale,
                    suspecters: Suspecters::of(note.by.as_deref()),
                }
            }
        };
        // Cloned only now: most notes (every beat) are stale.
        let old = existing.cloned();
        announce(addr, old.as_ref(), &member, changes);
        self.set(addr, member);
        Merged::News
    }

    /// Suspected members that `quorum` watchers suspect, or that nobody refuted for
    /// `remove_after_ms`, become failed; tombstones older than `forget_after_ms` go.
    /// The failed ones' notes are returned, to spread.
    pub fn expire(
        &mut self,
        now: u64,
        quorum: usize,
        remove_after_ms: u64,
        forget_after_ms: u64,
        changes: &mut Vec<Change>,
    ) -> Vec<Note> {
        let mut failed = Vec::new();
        let mut forget = Vec::new();
        for (addr, m) in self.unsettled.iter().filter_map(|a| Some((a, self.get(a)?))) {
            match m.state {
                State::Suspected
                    if m.suspecters.len() >= quorum || now.saturating_sub(m.since_ms) >= remove_after_ms =>
                {
                    failed.push(Note {
                        addr: addr.to_string(),
                        incarnation: m.incarnation,
                        state: State::Failed,
                        by: None,
                        labels: None,
                    });
                }
                State::Failed | State::Left if now.saturating_sub(m.since_ms) >= forget_after_ms => {
                    forget.push(addr.clone());
                }
                _ => {}
            }
        }
        for addr in forget {
            let place = (hash(addr.as_bytes()), &*addr);
            self.members.remove(&place as &dyn Place);
            self.unlabeled.remove(&addr);
            self.unsettled.remove(&addr);
        }
        for note in &failed {
            self.merge(note, now, changes);
        }
        failed
    }

    /// Suspicions run `by` ms longer before they time out (capped at `now`): this
    /// node stalled, and refutations may be among what waited for it.
    pub fn postpone_suspicions(&mut self, by: u64, now: u64) {
        for addr in &self.unsettled {
            let place = (hash(addr.as_bytes()), &**addr);
            if let Some(m) = self.members.get_mut(&place as &dyn Place) {
                if m.state == State::Suspected {
                    m.since_ms = m.since_ms.saturating_add(by).min(now);
                }
            }
        }
    }

    /// Entries after ring place `(hash, addr)` (not it), going round.
    fn going_round(&self, hash: u64, addr: &str) -> impl Iterator<Item = (&Spot, &Member)> + '_ {
        let at = (hash, addr);
        let at = &at as &dyn Place;
        self.members
            .range::<dyn Place, _>((Excluded(at), Unbounded))
            .chain(self.members.range::<dyn Place, _>((Unbounded, Excluded(at))))
    }

    /// Entries before ring place `(hash, addr)` (not it), going back round.
    fn going_back(&self, hash: u64, addr: &str) -> impl Iterator<Item = (&Spot, &Member)> + '_ {
        let at = (hash, addr);
        let at = &at as &dyn Place;
        self.members
            .range::<dyn Place, _>((Unbounded, Excluded(at)))
            .rev()
            .chain(
                self.members
                    .range::<dyn Place, _>((Excluded(at), Unbounded))
                    .rev(),
            )
    }

    /// Members (alive or suspected) after this node on the ring, going round.
    fn after_me(&self) -> impl Iterator<Item = (&Spot, &Member)> + '_ {
        self.going_round(self.self_hash, &self.self_addr)
            .filter(|(_, m)| m.state.is_member())
    }

    /// Members (alive or suspected) before this node on the ring, going back round.
    fn before_me(&self) -> impl Iterator<Item = (&Spot, &Member)> + '_ {
        self.going_back(self.self_hash, &self.self_addr)
            .filter(|(_, m)| m.state.is_member())
    }

    /// The `k` members after this node on the ring: its watchers.
    pub fn watchers(&self, k: usize) -> Vec<String> {
        self.after_me().take(k).map(|(s, _)| s.addr.to_string()).collect()
    }

    /// The `k` members before this node on the ring: the ones it watches.
    pub fn watched(&self, k: usize) -> Vec<String> {
        self.before_me()
            .take(k)
            .map(|(s, _)| s.addr.to_string())
            .collect()
    }

    /// Where this node sits on the ring: [`hash`] of its address.
    pub fn self_hash(&self) -> u64 {
        self.self_hash
    }

    /// Members (alive or suspected) after this node on the ring, nearest first, with
    /// their ring hashes: the clockwise side a partial view keeps.
    pub fn ring_after(&self) -> impl Iterator<Item = (u64, &str, &Member)> + '_ {
        self.after_me().map(|(s, m)| (s.hash, &*s.addr, m))
    }

    /// Members (alive or suspected) before this node on the ring, nearest first.
    pub fn ring_before(&self) -> impl Iterator<Item = (u64, &str, &Member)> + '_ {
        self.before_me().map(|(s, m)| (s.hash, &*s.addr, m))
    }

    /// The notes (labels included) of the `k` members (alive or suspected) at or
    /// after ring point `point` and the `k` before it, this node among them if it
    /// falls there, `skip` (the asker, who knows itself) not: what a partial view
    /// answers a `near`.
    pub fn nearest<'a>(&'a self, point: u64, k: usize, skip: &str) -> Vec<Note> {
        let live = |(s, m): (&'a Spot, &'a Member)| -> Option<(u64, &'a Spot, &'a Member)> {
            (m.state.is_member() && *s.addr != *skip).then_some((s.hash, s, m))
        };
        // Going round from the point, and back round from it (no address is empty:
        // nothing sits at `(point, "")` itself). Distances count from the point so
        // this node, not in the map, finds its place among them.
        let after = self
            .going_round(point, "")
            .filter_map(live)
            .take(k)
            .map(|(h, s, m)| (h.wrapping_sub(point), Some((s, m))));
        let before = self
            .going_back(point, "")
            .filter_map(live)
            .take(k)
            .map(|(h, s, m)| (point.wrapping_sub(h).wrapping_sub(1), Some((s, m))));
        let mut notes: Vec<Note> = Vec::with_capacity(2 * k + 1);
        for (side, mine) in [
            (after.collect::<Vec<_>>(), self.self_hash.wrapping_sub(point)),
            (
                before.collect(),
                point.wrapping_sub(self.self_hash).wrapping_sub(1),
            ),
        ] {
            let mut side = side;
            side.push((mine, None));
            side.sort_by_key(|(d, _)| *d);
            for (_, entry) in side.into_iter().take(k) {
                let note = match entry {
                    Some((spot, m)) => Note {
                        addr: spot.addr.to_string(),
                        incarnation: m.incarnation,
                        state: m.state,
                        by: None,
                        labels: m.labels.as_deref().filter(|_| !m.labels_stale).cloned(),
                    },
                    None => self.own_note(),
                };
                if !notes.iter().any(|n| n.addr == note.addr) {
                    notes.push(note);
                }
            }
        }
        notes
    }

    /// The member (alive or suspected) nearest before ring point `point`, going
    /// back round, with its ring hash: where Chord's lookup of the point starts.
    pub fn member_before(&self, point: u64) -> Option<(u64, &str)> {
        // No address is empty: nothing sits at `(point, "")` itself.
        self.going_back(point, "")
            .find(|(_, m)| m.state.is_member())
            .map(|(s, _)| (s.hash, &*s.addr))
    }

    /// A member's or tombstone's note as this view holds it, with its labels (not
    /// stale ones).
    pub fn note_of(&self, addr: &str) -> Option<Note> {
        let m = self.get(addr)?;
        Some(Note {
            addr: addr.to_string(),
            incarnation: m.incarnation,
            state: m.state,
            by: None,
            labels: m.labels.as_deref().filter(|_| !m.labels_stale).cloned(),
        })
    }

    /// Members and tombstones from ring point `from` up to (not including) ring point
    /// `to`, clockwise, going round if `to` is below `from`.
    pub fn members_between(&self, from: u64, to: u64) -> impl Iterator<Item = (&str, &Member)> + '_ {
        let (a, b) = ((from, ""), (to, ""));
        let (a, b) = (&a as &dyn Place, &b as &dyn Place);
        let (first, second) = if from <= to {
            (
                self.members.range::<dyn Place, _>((Included(a), Excluded(b))),
                None,
            )
        } else {
            (
                self.members.range::<dyn Place, _>((Included(a), Unbounded)),
                Some(self.members.range::<dyn Place, _>((Unbounded, Excluded(b)))),
            )
        };
        first
            .chain(second.into_iter().flatten())
            .map(|(s, m)| (&*s.addr, m))
    }

    /// Drops an alive member without a trace (a partial view that no longer keeps
    /// it): no event, no tombstone. Its incarnation, if it was one.
    pub fn drop_member(&mut self, addr: &str) -> Option<Heartbeat> {
        let place = (hash(addr.as_bytes()), addr);
        let (spot, m) = self.members.remove_entry(&place as &dyn Place)?;
        if m.state.is_member() {
            self.digests
                .toggle(spot.hash, entry_hash(spot.hash, m.incarnation));
            self.live -= 1;
        }
        self.unlabeled.remove(addr);
        self.unsettled.remove(addr);
        Some(m.incarnation)
    }

    /// A member at a random point of the ring (not this node), if any: `r` is random.
    pub fn random_member(&self, r: u64) -> Option<&str> {
        let point = (r, "");
        let point = &point as &dyn Place;
        self.members
            .range::<dyn Place, _>((Included(point), Unbounded))
            .chain(self.members.range::<dyn Place, _>((Unbounded, Excluded(point))))
            .find(|(_, m)| m.state.is_member())
            .map(|(s, _)| &*s.addr)
    }

    /// Puts a member back as it was handed over (a hot swap), without events.
    pub fn restore(&mut self, addr: &str, member: Member) {
        if addr != &*self.self_addr {
            self.set(addr, member);
        }
    }

    /// Takes this node's incarnation from the previous instance it was handed over
    /// from: the same life goes on. (A new incarnation — this instance's start time —
    /// would be news to every member: each node's first beat spread to all as a
    /// rumor, and its labels went stale everywhere, so every node asked every member
    /// `who` after each update.)
    pub fn restore_own(&mut self, own: Heartbeat) {
        if own != Heartbeat::default() {
            self.set_own(own);
        }
    }

    /// Every member's note (tombstones included) in ring order, this node's own among
    /// them: after the member `cursor` (an empty cursor is the start) and from ring
    /// point `from`, whichever is later, to before ring point `below` (the ring's end
    /// if `None`). The order is this node's to choose: the asker only ever hands back
    /// the last address it got.
    pub fn notes_within<'a>(
        &'a self,
        cursor: &'a str,
        from: u64,
        below: Option<u64>,
    ) -> impl Iterator<Item = Note> + 'a {
        let start = (hash(cursor.as_bytes()), cursor);
        let floor = (from, "");
        let lower = if !cursor.is_empty() && start > floor {
            Excluded(&start as &dyn Place)
        } else {
            Included(&floor as &dyn Place)
        };
        let end = below.map(|b| (b, ""));
        let upper = match &end {
            Some(end) => Excluded(end as &dyn Place),
            None => Unbounded,
        };
        let mine = (self.self_hash, &*self.self_addr);
        let inside =
            mine >= floor && (cursor.is_empty() || mine > start) && below.map_or(true, |b| mine.0 < b);
        let mut own = inside.then(|| self.own_note());
        let mut others = self
            .members
            .range::<dyn Place, _>((lower, upper))
            .map(|(spot, m)| {
                (
                    spot,
                    Note {
                        addr: spot.addr.to_string(),
                        incarnation: m.incarnation,
                        state: m.state,
                        by: None,
                        // Stale labels stay here: another node takes them for this life's.
                        labels: m.labels.as_deref().filter(|_| !m.labels_stale).cloned(),
                    },
                )
            })
            .peekable();
        std::iter::from_fn(move || {
            let own_first = match (&own, others.peek()) {
                (Some(_), Some((spot, _))) => mine < spot.place(),
                (Some(_), None) => true,
                _ => false,
            };
            if own_first {
                own.take()
            } else {
                others.next().map(|(_, note)| note)
            }
        })
    }
}

/// A note about the incarnation already held, merged into `old`: the member as it is
/// now, or `None` if the note told nothing new. At the same incarnation suspected
/// beats alive and failed or left beat both.
fn merge_same(note: &Note, old: &Member, now: u64) -> Option<Member> {
    // (state, since, suspecters) when the note changes them; decided before any clone,
    // since most notes (a beat of a live member) change nothing.
    let moved: Option<(State, u64, Option<Suspecters>)> = match (old.state, note.state) {
        (State::Alive, State::Suspected) => {
            Some((State::Suspected, now, Some(Suspecters::of(note.by.as_deref()))))
        }
        (State::Suspected, State::Suspected) => match &note.by {
            Some(by) if !old.suspecters.contains(by) => {
                Some((State::Suspected, old.since_ms, Some(old.suspecters.with(by))))
            }
            _ => None,
        },
        (State::Alive | State::Suspected, State::Failed | State::Left) => Some((note.state, now, None)),
        (State::Failed, State::Left) => Some((State::Left, old.since_ms, None)),
        _ => None,
    };
    let labels_filled = note.labels.is_some() && (old.labels.is_none() || old.labels_stale);
    if moved.is_none() && !labels_filled {
        return None;
    }
    let mut m = old.clone();
    if let Some((state, since_ms, suspecters)) = moved {
        m.state = state;
        m.since_ms = since_ms;
        if let Some(suspecters) = suspecters {
            m.suspecters = suspecters;
        }
    }
    if labels_filled {
        m.labels = note.labels.as_ref().map(intern::labels);
        m.labels_stale = false;
    }
    Some(m)
}

/// What applications are told when a member goes from `old` to `new`: its changes
/// as they see it, where a member whose labels are unknown is not there at all (so
/// it joins when they arrive, and nothing is said of one that fails before).
fn announce(addr: &str, old: Option<&Member>, new: &Member, changes: &mut Vec<Change>) {
    let a = || addr.to_string();
    let before = old.and_then(Member::announced);
    let after = match new.announced() {
        Some(state) => state,
        None => return,
    };
    match (before.map_or(false, State::is_member), after) {
        (false, State::Alive) => changes.push(Change::Joined(a())),
        (false, State::Suspected) => {
            changes.push(Change::Joined(a()));
            changes.push(Change::Suspected(a()));
        }
        (false, _) => {}
        (true, State::Alive) => {
            if before == Some(State::Suspected) {
                changes.push(Change::Recovered(a()));
            }
        }
        (true, State::Suspected) => {
            if before == Some(State::Alive) {
                changes.push(Change::Suspected(a()));
            }
        }
        (true, State::Failed) => changes.push(Change::Failed(a())),
        (true, State::Left) => changes.push(Change::Left(a())),
    }
    let was_member = before.map_or(false, State::is_member);
    if was_member && after.is_member() && old.and_then(|m| m.labels.as_ref()) != new.labels.as_ref() {
        changes.push(Change::Updated(a()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(counter: u64) -> Heartbeat {
        Heartbeat {
            generation: 5,
            counter,
        }
    }

    /// A note as the protocol sends it: labels with an alive one, none otherwise.
    fn note(addr: &str, counter: u64, state: State, by: Option<&str>) -> Note {
        Note {
            addr: addr.into(),
            incarnation: hb(counter),
            state,
            by: by.map(String::from),
            labels: (state == State::Alive).then(|| zone("z")),
        }
    }

    fn zone(z: &str) -> Labels {
        Labels::from_pairs(vec![("zone".into(), z.into())])
    }

    fn kinds(changes: &[Change]) -> Vec<&'static str> {
        changes.iter().map(Change::kind).collect()
    }

    fn view() -> View {
        View::new("me".into(), 5, Labels::default())
    }

    #[test]
    fn swim_order_higher_incarnation_wins_then_suspicion_then_death() {
        let mut v = view();
        let mut changes = Vec::new();
        assert_eq!(
            v.merge(&note("a", 1, State::Alive, None), 10, &mut changes),
            Merged::News
        );
        assert_eq!(
            v.merge(&note("a", 1, State::Alive, None), 11, &mut changes),
            Merged::Stale
        );
        assert_eq!(
            v.merge(&note("a", 1, State::Suspected, Some("w1")), 12, &mut changes),
            Merged::News
        );
        assert_eq!(
            v.merge(&note("a", 1, State::Suspected, Some("w1")), 13, &mut changes),
            Merged::Stale
        );
        assert_eq!(
            v.merge(&note("a", 1, State::Suspected, Some("w2")), 13, &mut changes),
            Merged::News
        );
        assert_eq!(v.get("a").unwrap().suspecters.len(), 2);
        assert_eq!(
            v.merge(&note("a", 1, State::Alive, None), 14, &mut changes),
            Merged::Stale
        );
        assert_eq!(
            v.merge(&note("a", 2, State::Alive, None), 15, &mut changes),
            Merged::News
        );
        assert_eq!(v.get("a").unwrap().state, State::Alive);
        assert_eq!(
            v.merge(&note("a", 2, State::Failed, None), 16, &mut changes),
            Merged::News
        );
        assert_eq!(
            v.merge(&note("a", 2, State::Alive, None), 17, &mut changes),
            Merged::Stale
        );
        assert_eq!(
            v.merge(&note("a", 3, State::Alive, None), 18, &mut changes),
            Merged::News
        );
        assert_eq!(
            kinds(&changes),
            [
                "member.joined",
                "member.suspected",
                "member.recovered",
                "member.failed",
                "member.joined"
            ]
        );
    }

    #[test]
    fn suspicion_of_this_node_is_refuted_with_a_higher_incarnation() {
        let mut v = view();
        let before = v.digest();
        assert_eq!(
            v.merge(&note("me", 0, State::Suspected, Some("w")), 1, &mut Vec::new()),
            Merged::Refuted
        );
        assert_eq!(v.own(), hb(1));
        assert_ne!(v.digest(), before);
        assert_eq!(
            v.merge(&note("me", 0, State::Failed, None), 1, &mut Vec::new()),
            Merged::Stale
        );
        assert_eq!(
            v.merge(&note("me", 1, State::Failed, None), 1, &mut Vec::new()),
            Merged::Refuted
        );
        assert_eq!(v.own(), hb(2));
    }

    #[test]
    fn a_quorum_or_the_timeout_removes_and_tombstones_are_forgotten() {
        let mut v = view();
        let mut changes = Vec::new();
        v.merge(&note("a", 1, State::Suspected, Some("w1")), 0, &mut changes);
        v.merge(&note("b", 1, State::Suspected, Some("w1")), 0, &mut changes);
        v.merge(&note("a", 1, State::Suspected, Some("w2")), 0, &mut changes);
        let failed = v.expire(10, 2, 3000, 30_000, &mut changes);
        assert_eq!(failed.len(), 1);
        assert_eq!(v.get("a").unwrap().state, State::Failed);
        assert_eq!(v.get("b").unwrap().state, State::Suspected);
        assert_eq!(v.expire(3000, 2, 3000, 30_000, &mut changes).len(), 1);
        assert_eq!(v.member_count(), 0);
        v.expire(40_000, 2, 3000, 30_000, &mut changes);
        assert_eq!(v.known(), 0);
    }

    #[test]
    fn a_stall_postpones_the_timeout_of_suspicions_but_not_past_now() {
        let mut v = view();
        let mut changes = Vec::new();
        v.merge(&note("a", 1, State::Suspected, Some("w1")), 0, &mut changes);
        v.merge(&note("b", 1, State::Alive, None), 0, &mut changes);
        v.postpone_suspicions(5_000, 1_000);
        assert_eq!(v.get("a").unwrap().since_ms, 1_000);
        assert_eq!(v.get("b").unwrap().since_ms, 0, "only suspicions are postponed");
        assert!(v.expire(3_000, 2, 3_000, 30_000, &mut changes).is_empty());
        assert_eq!(v.expire(4_000, 2, 3_000, 30_000, &mut changes).len(), 1);
    }

    #[test]
    fn equal_views_have_equal_digests_whatever_the_order() {
        let (mut x, mut y) = (
            View::new("n0".into(), 5, Labels::default()),
            View::new("n0".into(), 5, Labels::default()),
        );
        for i in 0..20 {
            x.merge(
                &note(&format!("n{}", i + 1), 1, State::Alive, None),
                0,
                &mut Vec::new(),
            );
        }
        for i in (0..20).rev() {
            y.merge(
                &note(&format!("n{}", i + 1), 1, State::Alive, None),
                0,
                &mut Vec::new(),
            );
        }
        assert_eq!(x.digest(), y.digest());
        // Suspicion keeps the digest: only who is a member at which incarnation counts.
        y.merge(&note("n3", 1, State::Suspected, Some("w")), 0, &mut Vec::new());
        assert_eq!(x.digest(), y.digest());
        y.merge(&note("n3", 1, State::Failed, None), 0, &mut Vec::new());
        assert_ne!(x.digest(), y.digest());
    }

    #[test]
    fn arc_digests_fold_into_the_digest_and_place_a_difference() {
        let mut x = view();
        let mut y = view();
        let mut changes = Vec::new();
        for i in 0..500 {
            let n = note(
                &format!("10.0.{}.{}:7000", i / 200, i % 200),
                1,
                State::Alive,
                None,
            );
            x.merge(&n, 0, &mut changes);
            y.merge(&n, 0, &mut changes);
        }
        for count in [1, 2, 64, RANGES] {
            assert_eq!(x.arc_digests(count).len(), count);
            assert_eq!(x.arc_digests(count).iter().fold(0, |a, b| a ^ b), x.digest());
            assert_eq!(x.arc_digests(count), y.arc_digests(count));
        }
        let changed = "10.0.1.7:7000";
        y.merge(&note(changed, 2, State::Alive, None), 0, &mut changes);
        let (xs, ys) = (x.arc_digests(64), y.arc_digests(64));
        let differ: Vec<usize> = (0..64).filter(|&i| xs[i] != ys[i]).collect();
        assert_eq!(differ, vec![arc_of(hash(changed.as_bytes()), 64)]);
        let arc = differ[0];
        let below = (arc + 1 < 64).then(|| arc_start(arc + 1, 64));
        let inside: Vec<Note> = y.notes_within("", arc_start(arc, 64), below).collect();
        assert!(inside.iter().any(|n| n.addr == changed));
        assert!(
            inside.len() < 500 / 64 * 3,
            "{} notes in one arc of 64",
            inside.len()
        );
        assert!(inside.iter().all(|n| arc_of(hash(n.addr.as_bytes()), 64) == arc));
    }

    #[test]
    fn watchers_and_watched_are_each_others_mirror() {
        let names: Vec<String> = (0..12).map(|i| format!("10.0.0.{}:7000", i)).collect();
        let views: Vec<View> = names
            .iter()
            .map(|me| {
                let mut v = View::new(me.clone(), 5, Labels::default());
                for other in &names {
                    v.merge(&note(other, 1, State::Alive, None), 0, &mut Vec::new());
                }
                v
            })
            .collect();
        for (i, v) in views.iter().enumerate() {
            let watchers = v.watchers(4);
            assert_eq!(watchers.len(), 4);
            assert!(!watchers.contains(&names[i]));
            for w in &watchers {
                let j = names.iter().position(|n| n == w).unwrap();
                assert!(
                    views[j].watched(4).contains(&names[i]),
                    "{} watches {}",
                    w,
                    names[i]
                );
            }
        }
        // Fewer members than watchers: every other member, once.
        let mut small = View::new("a".into(), 5, Labels::default());
        small.merge(&note("b", 1, State::Alive, None), 0, &mut Vec::new());
        assert_eq!(small.watchers(4), ["b"]);
        assert_eq!(small.watched(4), ["b"]);
    }

    #[test]
    fn pages_list_every_note_after_the_cursor_in_ring_order() {
        let mut v = View::new("m".into(), 5, Labels::default());
        for a in ["a", "z", "q", "b", "y"] {
            v.merge(&note(a, 1, State::Alive, None), 0, &mut Vec::new());
        }
        v.merge(&note("y", 1, State::Failed, None), 0, &mut Vec::new());
        let mut ring: Vec<&str> = vec!["a", "b", "m", "q", "y", "z"];
        ring.sort_by_key(|a| hash(a.as_bytes()));
        let all: Vec<String> = v.notes_within("", 0, None).map(|n| n.addr).collect();
        assert_eq!(all, ring, "every note, tombstones and this node's own included");
        // Page by page, each cursor the last address of the page before: every note once.
        for cut in 0..ring.len() {
            let rest: Vec<String> = v.notes_within(ring[cut], 0, None).map(|n| n.addr).collect();
            assert_eq!(rest, ring[cut + 1..], "after {}", ring[cut]);
        }
        // A cursor this node never heard of (the page's member was forgotten since):
        // the notes after its place on the ring.
        let gone = "gone";
        let after: Vec<&str> = ring
            .iter()
            .copied()
            .filter(|a| (hash(a.as_bytes()), *a) > (hash(gone.as_bytes()), gone))
            .collect();
        let rest: Vec<String> = v.notes_within(gone, 0, None).map(|n| n.addr).collect();
        assert_eq!(rest, after);
    }

    #[test]
    fn the_ring_skips_tombstones_and_this_node() {
        let names: Vec<String> = (0..8).map(|i| format!("10.0.0.{}:7000", i)).collect();
        let mut v = View::new(names[0].clone(), 5, Labels::default());
        for other in &names[1..] {
            v.merge(&note(other, 1, State::Alive, None), 0, &mut Vec::new());
        }
        let all = v.watchers(7);
        assert_eq!(all.len(), 7);
        let dead = all[0].clone();
        v.merge(&note(&dead, 1, State::Failed, None), 0, &mut Vec::new());
        assert_eq!(v.member_count(), 6);
        assert_eq!(v.watchers(7), all[1..]);
        assert!(!v.watched(7).contains(&dead));
        for r in [0, u64::MAX / 3, u64::MAX / 2, u64::MAX] {
            let m = v.random_member(r).unwrap();
            assert!(m != dead && m != names[0], "{} at {}", m, r);
        }
    }

    #[test]
    fn a_member_heard_without_labels_is_announced_when_they_arrive() {
        let mut v = view();
        let mut changes = Vec::new();
        // Heard of through a beat: watched and on the ring, but nobody is told.
        let beat = Note {
            labels: None,
            ..note("a", 1, State::Alive, None)
        };
        assert_eq!(v.merge(&beat, 0, &mut changes), Merged::News);
        assert_eq!(v.member_count(), 1);
        assert!(v.unlabeled().contains("a"));
        assert!(changes.is_empty());
        // Suspected before its labels came: still nothing to tell.
        v.merge(&note("a", 1, State::Suspected, Some("w")), 1, &mut changes);
        assert!(changes.is_empty());
        // Its own note: it joins, suspected as it is.
        assert_eq!(
            v.merge(&note("a", 1, State::Alive, None), 2, &mut changes),
            Merged::News
        );
        assert_eq!(kinds(&changes), ["member.joined", "member.suspected"]);
        assert!(v.unlabeled().is_empty());
        assert_eq!(v.get("a").unwrap().labels.as_deref(), Some(&zone("z")));
        // One that fails before anyone heard its labels leaves no trace either.
        changes.clear();
        let b = Note {
            labels: None,
            ..note("b", 1, State::Alive, None)
        };
        v.merge(&b, 3, &mut changes);
        v.merge(&note("b", 1, State::Failed, None), 4, &mut changes);
        assert!(changes.is_empty());
        assert!(v.unlabeled().is_empty());
    }

    #[test]
    fn a_restart_heard_without_labels_keeps_the_old_ones_until_the_new_arrive() {
        let mut v = view();
        let mut changes = Vec::new();
        v.merge(&note("a", 1, State::Alive, None), 0, &mut changes);
        let reborn = Note {
            incarnation: Heartbeat {
                generation: 9,
                counter: 0,
            },
            labels: None,
            ..note("a", 1, State::Alive, None)
        };
        v.merge(&reborn, 1, &mut changes);
        let a = v.get("a").unwrap();
        assert_eq!(
            (a.labels.as_deref().cloned(), a.labels_stale),
            (Some(zone("z")), true)
        );
        assert!(v.unlabeled().contains("a"));
        // Stale labels are not passed on as this life's.
        let page: Vec<Note> = v.notes_within("", 0, None).filter(|n| n.addr == "a").collect();
        assert_eq!(page[0].labels, None);
        // This life's labels: an update, and nothing more to ask.
        let own = Note {
            labels: Some(zone("y")),
            ..reborn
        };
        assert_eq!(v.merge(&own, 2, &mut changes), Merged::News);
        assert_eq!(kinds(&changes), ["member.joined", "member.updated"]);
        assert!(v.unlabeled().is_empty());
        assert_eq!(v.get("a").unwrap().labels.as_deref(), Some(&zone("y")));
    }
}
