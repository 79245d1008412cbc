//! membership: membership and failure detection whose cost per node does not grow with
//! the cluster — SWIM's dissemination (Das, Gupta, Motivala, DSN 2002) with failure
//! detection by watchers, as a hearsay module. It replaces the heartbeat-table protocol that was `membership`
//! until now (the `heartbeat` module): a hot swap takes over that module's state.
//!
//! `heartbeat` gossips every member's heartbeat: each message carries the table, so
//! bytes per node grow with the cluster (about 50 KB/s per agent at 100 agents). Here
//! a quiet cluster sends only beats, a few dozen bytes each:
//!
//! - **Watchers.** Members sit on a ring ordered by a hash of their address; a node's
//!   `watchers` (2) are the members after it. Every tick a node sends each watcher a
//!   *beat* (its incarnation, a digest of its view, its view's size). A watcher that
//!   hears no beat for `beat_timeout_ms` (900 ms: four beats in a row) suspects the
//!   node.
//! - **Rumors.** A suspicion, a removal, a join, a refutation or a leave is a *note*
//!   (node, incarnation, state) merged by SWIM's rules: higher incarnation wins; at the
//!   same one, suspected beats alive and failed or left beat both. A node that hears
//!   news passes it at once to `fanout` random members and lets it ride on its next
//!   messages, ⌈log2 n⌉ × `retransmit` of them, so it reaches everyone in a few ms and
//!   the unlucky within a round or two.
//! - **Removal.** A suspected node is removed as soon as `quorum` (2) of its watchers
//!   suspect it — the chance that two watchers each miss four beats in a row of a live
//!   node at 10% loss is about 10⁻⁸ per round — or after `remove_after_ms` if fewer
//!   can (its other watchers are gone too). Two watchers with a quorum of two detect
//!   as fast as four would and send half the beats: beats are most of what an idle
//!   agent spends (each is an HTTP request of its own). More watchers make a removal
//!   survive a watcher that fails at the same time. A node that hears itself suspected raises
//!   its incarnation and says so, which clears the suspicion everywhere.
//! - **Joins and repair.** A node alone asks `fanout` bootstrap peers for its view,
//!   sending its own note (with its labels) with the request; each peer spreads that
//!   note as a rumor and answers a first page, and the last asked pages on through
//!   the ring (one transfer at a time); a page lost on the way is asked for again
//!   at the next tick. One and three ticks after its first members it diffs its
//!   view with a bootstrap peer's, and four times in its first eight ticks with a
//!   random member's (below): joiners that started with it come then. A beat whose
//!   digest differs from this node's view twice in a row starts a *diff* with its
//!   sender (at most one per `sync_interval_ms`): the same exchange, but the asker
//!   sends its digests of equal arcs of the ring (about 32 members each, up to 256
//!   arcs) and the pages hold only the arcs that differ, so views that drift apart
//!   meet again for the price of what differs, without any periodic full-state
//!   traffic.
//! - **Stalls.** A tick more than twice the usual time after the last means this node
//!   did not run (an overloaded host): the silence it saw meanwhile is its own, and is
//!   not counted against the nodes it watches or the suspected (Lifeguard's lesson).
//! - **Local health.** A node that had to refute a suspicion of itself, or stalled,
//!   holds the nodes it watches to a longer beat timeout for a while (up to 9×,
//!   Lifeguard's local health multiplier): when every host runs late, suspicions
//!   and their refutations would otherwise load it further. `count` reports it as
//!   `health_penalty` (0 when well).
//!
//! - **Partial views** (`ring_neighbours` k > 0, for clusters too large for every
//!   node to hold every member: 100,000 simulated nodes). A node keeps its k nearest
//!   members on each side of the ring and two fingers per power-of-two distance,
//!   a few dozen members whatever the size (see [`partial`]). It finds its place by
//!   asking members `near` its own point of the ring — a bootstrap peer when alone,
//!   then its neighbours (each told this node's members nearest it: T-Man's
//!   exchange), and, now and then, a random member, following each answer to the
//!   member nearest before the point (Chord's lookup); a member or two new among its
//!   neighbours are told to the others at once; a watched node silent for half the
//!   beat timeout is asked `near` before it is suspected (views differ while a large
//!   cluster forms; its answer is a sign of life). Joins are not spread as rumors,
//!   suspicions and removals still are; queries and events cover the members kept.
//!
//! A node's load per round is `watchers` beats out and in, plus rumors when something
//! changes: flat in the cluster's size. It speaks the same queries and events as
//! `heartbeat` (see that crate), and a hot swap from `heartbeat` takes over its
//! table (ABI v1 or v2 state): every member alive, nobody suspected for
//! `swap_grace_ms` while the other nodes swap too. A node handed its state (from
//! `heartbeat` or an earlier membership) goes on at the incarnation it had and is no
//! joiner: an update costs no rumor, no `who` and no catch-up, only its beats.
//!
//! # Layout
//!
//! - [`params`]: tuning. [`view`]: members, merge rules, the ring. [`rumors`]: what
//!   waits to be passed on. [`wire`]: the messages. [`state`]: hot swap state and
//!   queries. [`intern`]: the addresses and labels views share. [`partial`]: what a
//!   partial view keeps. [`traffic`]: what was sent and heard, by kind.
//! - this file: the [`Membership`] module — beats, suspicions, floods, syncs, queries.

#![warn(missing_docs)]

pub mod intern;
pub mod params;
pub mod partial;
pub mod rumors;
pub mod state;
pub mod traffic;
pub mod view;
pub mod wire;

use hearsay_guest::json::push_quoted;
use hearsay_guest::{export_module_v2, Host, Level, Module};
use heartbeat::labels::{self, Labels};
use heartbeat::table::{Change, Heartbeat};
use params::Params;
use rumors::Rumors;
use std::collections::BTreeMap;
use traffic::{Counting, Traffic};
use view::{Merged, Note, State, View};
use wire::Message;

/// One in this many ticks, a node also asks a bootstrap peer it does not count as a
/// member for its view, so partitions heal once links come back.
const REJOIN_ONE_IN: u64 = 16;
/// Most members a leave is sent to directly; the rest hear it passed on.
const LEAVE_DIRECT_MAX: usize = 128;
/// Sends of rumors passed on per tick, in units of `fanout`: a burst of news (a whole
/// cluster starting) spreads by the rounds' messages instead of a storm.
const FLOODS_PER_TICK: u64 = 4;
/// Times a page is asked for before the transfer is given up.
const PAGE_TRIES: u32 = 3;
/// Consecutive beats with another digest before a sync starts.
const MISMATCHED_BEATS: u32 = 2;
/// Ticks after a node stops being alone at which it diffs its view with a bootstrap peer:
/// when a whole cluster starts at once, the first pages a node gets hold only the
/// nodes its bootstrap peer had heard of by then.
const CATCH_UP_TICKS: [u64; 2] = [1, 3];
/// Where a node handed a view by its previous version counts its ticks since it
/// joined from: past every catch-up.
const CATCH_UP_AFTER_SWAP: u64 = 1 << 20;
/// Ticks after a node stops being alone at which it diffs its view with a random member:
/// with many bootstrap peers (the lab starts one node in ten as one) each has heard
/// only a few of the nodes starting with it by the catch-ups above, and views filled
/// from beats' diffs along the ring alone: a simulated 1,000-node start through 100
/// bootstrap peers took over 30 rounds, 9 with these.
const MEMBER_CATCH_UP_TICKS: [u64; 4] = [2, 3, 5, 8];
/// Members asked for their own note (their labels) per tick, at most.
const WHO_PER_TICK: usize = 8;
/// Own notes sent in answer per tick, at most: a flood of `who` costs little.
const IAM_PER_TICK: u64 = 16;
/// A tick this many usual rounds after the last means this node stalled.
const STALL_ROUNDS: u64 = 2;
/// Most a node's own ill health stretches the beat timeout it holds its watched to:
/// up to `beat_timeout_ms × (1 + this)` (Lifeguard's local health multiplier).
const MAX_PENALTY: u64 = 8;
/// The penalty falls by one after this many `remove_after_ms` without a refutation or
/// a stall (12 s at the defaults): slower than the load that raised it comes back.
/// Falling each `remove_after_ms` it was back to 0 before the next stall and cut
/// the removals of a cluster whose hosts all run late by 5× only; at this pace they
/// stop (the `cluster` test of that name).
const PENALTY_FALLS_AFTER: u64 = 4;

/// Members per arc a diff aims at: a differing arc costs a page about this long.
const MEMBERS_PER_ARC: usize = 32;

/// Partial views: ticks without a change among a node's ring neighbours after which
/// it asks near itself only each [`STABILISE_EVERY`] ticks instead of every tick.
const FORMING_TICKS: u64 = 4;
/// Partial views, settled: one tick in this many, a node asks its successor or its
/// predecessor near itself (Chord's stabilisation; changes among its neighbours are
/// told at once, so this is the backstop).
const STABILISE_EVERY: u64 = 8;
/// Partial views, settled: one tick in this many, a node looks one finger up (Chord's
/// `fix_fingers`).
const FINGER_EVERY: u64 = 32;
/// Partial views, forming: one tick in this many, a node looks one finger up (the
/// exchanges with its neighbours fill most bands on the way).
const FINGER_EVERY_FORMING: u64 = 4;
/// Partial views, settled: one tick in this many, a node looks its own place up from
/// a random member.
const ROUTE_EVERY: u64 = 64;
/// Partial views: `near` asks answered later than this many ticks are not followed.
const NEAR_TICKS: u64 = 2;
/// Partial views: most new neighbours a node tells its others about at once.
const TELL_AT_MOST: usize = 2;
/// Partial views: most `near` asks waiting at once.
const NEAR_WAITING_MAX: usize = 32;
/// Partial views: most members dropped while their rumor was still passed on that
/// are remembered, so the rumor heard again is not news again.
const DROPPED_MAX: usize = 1024;

/// A page asked for.
#[derive(Debug, Clone)]
struct Asked {
    peer: String,
    cursor: String,
    /// Times asked so far.
    tries: u32,
    /// Only the arcs that differ (a diff), or the whole view (a sync).
    diff: bool,
}

/// A `near` asked (partial views), waiting for its answer.
#[derive(Debug, Clone)]
struct NearAsked {
    peer: String,
    point: u64,
    /// The tick it was asked at.
    tick: u64,
    /// A lookup routed from afar: it goes on while each answer names a member nearer
    /// the point than the answerer, even if not nearer than what this view holds.
    route: bool,
}

/// The membership module.
#[derive(Debug, Clone)]
pub struct Membership {
    params: Params,
    view: View,
    rumors: Rumors,
    /// Each node this one watches → when its last beat came (or the watch began),
    /// and whether one came since the watch began.
    watching: BTreeMap<String, (u64, bool)>,
    now_ms: u64,
    /// Members removed in this node's view since it started (a false removal
    /// anywhere counts at every node that removed the member).
    removals: u64,
    left: bool,
    /// Nobody is suspected before this time (after a hot swap).
    quiet_until: u64,
    /// When this node last started a sync.
    last_sync_ms: u64,
    /// The page asked for last and not received yet. Asked again at the next tick, up
    /// to [`PAGE_TRIES`] times: a page lost on the way would otherwise end the
    /// transfer of a view there.
    waiting: Option<Asked>,
    /// Beats in a row whose digest differed from this view's, per sender.
    mismatches: BTreeMap<String, u32>,
    /// Sends of rumors passed on still allowed this tick.
    flood_budget: u64,
    /// The most members a beat said its sender knows, since the last tick: rumors
    /// live by the cluster's size, not by this view's (small while it joins).
    heard_size: u64,
    /// Ticks since this node last stopped being alone (see [`CATCH_UP_TICKS`]).
    ticks_joined: u64,
    /// Members whose labels this node lacks → when it last asked them `who`.
    asked: BTreeMap<String, u64>,
    /// `iam` answers still allowed this tick.
    iam_budget: u64,
    /// When this node last ticked (0: not yet).
    last_tick_ms: u64,
    /// The usual time between its ticks, as measured (0: not yet).
    round_ms: u64,
    /// Lifeguard's local health: how unwell this node has lately shown itself to be
    /// (0 to [`MAX_PENALTY`]). Each time it had to refute a suspicion or removal of
    /// itself, or stalled, it rises by one; each [`PENALTY_FALLS_AFTER`] ×
    /// `remove_after_ms` without either it falls by one. A node that others find slow
    /// is slow to judge others in turn: on an overloaded host every node is late,
    /// and beats late for that reason should not start suspicions whose rumors and
    /// refutations load it further.
    penalty: u64,
    /// When `penalty` last rose or fell.
    penalty_since_ms: u64,
    /// Its own incarnation at its last tick: a rise since is a refutation.
    own_at_tick: Heartbeat,
    /// Ticks so far.
    ticks: u64,
    /// Partial views: `near` asks waiting for their answer.
    near_waiting: Vec<NearAsked>,
    /// Partial views: ticks since the ring neighbours last changed.
    settled: u64,
    /// Partial views: the ring neighbours at the last tick, successors then
    /// predecessors.
    neighbours: Vec<String>,
    /// Partial views: members dropped while a rumor about them still waited → the
    /// incarnation dropped and when: that rumor, heard again, is not news (it would
    /// otherwise go round for ever between nodes that each drop it).
    dropped: BTreeMap<String, (Heartbeat, u64)>,
    /// Partial views: silent watched nodes asked near this node → when.
    probed: BTreeMap<String, u64>,
    /// What this instance sent and heard, by kind (the `traffic` query).
    traffic: Traffic,
    /// Partial views: how many entries the view held after the last trim.
    trimmed_at: usize,
}

export_module_v2!(Membership);

impl Module for Membership {
    fn init(params: &str, host: &mut dyn Host) -> Result<Self, String> {
        let params = Params::parse(params)?;
        let self_addr = host.self_addr();
        if self_addr.is_empty() || self_addr.len() > wire::MAX_ADDR_LEN {
            return Err(format!("self address must be 1 to {} bytes", wire::MAX_ADDR_LEN));
        }
        let (labels, dropped) = Labels::from_json(&host.labels());
        if dropped > 0 {
            host.log(
                Level::Warn,
                &format!(
                    "{} labels left out: at most {} of at most {} bytes in all",
                    dropped,
                    labels::MAX_LABELS,
                    labels::MAX_ENCODED
                ),
            );
        }
        let now_ms = host.now_ms();
        // The start time is the generation: a restart outranks the previous life.
        let view = View::new(self_addr, now_ms, labels);
        if wire::note_len(&view.own_note()) + wire::HEADER_MAX > params.max_message_bytes as usize {
            return Err("max_message_bytes is too small for this node's address and labels".to_string());
        }
        Ok(Membership {
            flood_budget: params.fanout * FLOODS_PER_TICK,
            params,
            view,
            rumors: Rumors::default(),
            watching: BTreeMap::new(),
            now_ms,
            removals: 0,
            left: false,
            quiet_until: 0,
            last_sync_ms: 0,
            waiting: None,
            mismatches: BTreeMap::new(),
            heard_size: 0,
            ticks_joined: 0,
            asked: BTreeMap::new(),
            iam_budget: IAM_PER_TICK,
            last_tick_ms: 0,
            round_ms: 0,
            penalty: 0,
            penalty_since_ms: 0,
            own_at_tick: Heartbeat::default(),
            ticks: 0,
            near_waiting: Vec::new(),
            settled: 0,
            neighbours: Vec::new(),
            dropped: BTreeMap::new(),
            trimmed_at: 0,
            probed: BTreeMap::new(),
            traffic: Traffic::default(),
        })
    }

    fn tick(&mut self, now_ms: u64, host: &mut dyn Host) {
        self.counted(host, |m, host| m.on_tick(now_ms, host));
    }

    fn receive(&mut self, from: &str, payload: &[u8], host: &mut dyn Host) {
        self.traffic.heard(payload);
        self.counted(host, |m, host| m.on_receive(from, payload, host));
    }

    fn query(&mut self, args: &str, host: &mut dyn Host) -> String {
        let now = host.now_ms().max(self.now_ms);
        let ring = self.params.ring_neighbours as usize;
        let args = args.trim().trim_matches('"');
        if args == "traffic" {
            let mut out = String::from("{\"self\":");
            push_quoted(&mut out, self.view.self_addr());
            self.traffic.push_json(&mut out);
            out.push('}');
            return out;
        }
        crate::state::query(
            &self.view,
            self.removals,
            self.penalty,
            self.left,
            args,
            now,
            ring,
        )
    }

    fn leave(&mut self, host: &mut dyn Host) {
        if self.left {
            return;
        }
        self.left = true;
        // One incarnation on, so the leave outranks everything said before it.
        let own = self.view.own();
        self.view.raise_own(own);
        let note = Note {
            state: State::Left,
            labels: None,
            ..self.view.own_note()
        };
        let message = wire::encode(&Message::Rumors(vec![note]));
        let members: Vec<String> = self.members(State::is_member);
        let targets = hearsay_guest::random::sample(&members, LEAVE_DIRECT_MAX, host);
        host.log(
            Level::Info,
            &format!("leaving: told {} of {} members", targets.len(), members.len()),
        );
        for peer in targets {
            host.send(&peer, &message);
        }
    }

    fn export_state(&self) -> Option<Vec<u8>> {
        Some(state::export(&self.view))
    }

    fn import_state(&mut self, state: &[u8], host: &mut dyn Host) -> bool {
        let now = host.now_ms();
        if !state::import(&mut self.view, state, now) {
            host.log(
                Level::Warn,
                "previous membership state was malformed; starting fresh",
            );
            return false;
        }
        // The core passes gossip only between nodes on the same deployment: until the
        // others swap too, their silence says nothing.
        self.quiet_until = now.saturating_add(self.params.swap_grace_ms);
        self.watching.clear();
        // Not a joiner: the view came with the state, so no catch-ups (six diffs a node
        // after every update otherwise).
        if self.view.member_count() > 0 {
            self.ticks_joined = CATCH_UP_AFTER_SWAP;
        }
        true
    }
}

impl Membership {
    /// Runs `f` with a host that counts what it sends into `traffic`.
    fn counted(&mut self, host: &mut dyn Host, f: impl FnOnce(&mut Self, &mut dyn Host)) {
        let mut traffic = std::mem::take(&mut self.traffic);
        f(
            self,
            &mut Counting {
                inner: host,
                traffic: &mut traffic,
            },
        );
        self.traffic = traffic;
    }

    /// A tick: beats, suspicions, removals, asks; what it sends is counted by [`Membership::tick`].
    fn on_tick(&mut self, now_ms: u64, host: &mut dyn Host) {
        if self.left {
            return;
        }
        self.now_ms = now_ms;
        self.ticks += 1;
        let stalled = self.forgive_own_stall(now_ms);
        self.judge_own_health(now_ms, stalled);
        self.flood_budget = self.params.fanout * FLOODS_PER_TICK;
        self.iam_budget = IAM_PER_TICK;
        let mut changes = Vec::new();
        let p = &self.params;
        let failed = self.view.expire(
            now_ms,
            p.quorum as usize,
            p.remove_after_ms,
            p.forget_after_ms,
            &mut changes,
        );
        for note in failed {
            self.rumors.push(note);
        }
        self.watch(now_ms, &mut changes);
        if self.params.partial() {
            self.probe_silent(now_ms, host);
        }
        self.emit(&changes, host);
        self.ask_labels(now_ms, host);
        if let Some(asked) = self.waiting.take() {
            if asked.tries < PAGE_TRIES {
                self.ask(&asked.peer, asked.cursor, asked.diff, host);
                if let Some(waiting) = self.waiting.as_mut() {
                    waiting.tries = asked.tries + 1;
                }
            }
        }

        // Nothing below changes the view before the tick ends: one guess serves all.
        let size = self.size();
        for watcher in self.view.watchers(self.params.watchers as usize) {
            let beat = Message::Beat {
                incarnation: self.view.own(),
                digest: self.view.digest(),
                members: size,
                rumors: self.take_rumors(1),
            };
            host.send(&watcher, &wire::encode(&beat));
        }
        // The bootstrap peers are asked of the host only when needed: most ticks
        // don't, and the list is strings to copy and sort.
        self.ticks_joined = match self.view.member_count() {
            0 => 0,
            _ => self.ticks_joined + 1,
        };
        if self.params.partial() {
            self.find_place(now_ms, size, host);
        } else {
            self.catch_up(host);
        }
        // Rumors go to `fanout` random members every round they live, not only when
        // first heard: the beats carry them along the ring alone.
        self.pass_on(host);
        let size = size.max(self.heard_size);
        self.heard_size = 0;
        self.rumors.age(self.params.transmissions(size as usize));
        self.trim(now_ms);
    }

    /// One message heard: merged, answered, passed on.
    fn on_receive(&mut self, from: &str, payload: &[u8], host: &mut dyn Host) {
        let message = match wire::decode(payload) {
            Some(m) => m,
            None => {
                host.log(
                    Level::Debug,
                    &format!("ignored a malformed message from {}", from),
                );
                return;
            }
        };
        let now = host.now_ms();
        self.now_ms = self.now_ms.max(now);
        let mut changes = Vec::new();
        let news = self.handle(from, message, now, &mut changes, host);
        self.emit(&changes, host);
        if news && !self.left {
            self.pass_on(host);
        }
        self.trim(now);
    }

    /// Full views: a node that just stopped being alone diffs its view with a
    /// bootstrap peer and random members a few times; a node alone asks bootstrap
    /// peers; one that counts a bootstrap peer out asks it now and then.
    fn catch_up(&mut self, host: &mut dyn Host) {
        if MEMBER_CATCH_UP_TICKS.contains(&self.ticks_joined) {
            if let Some(peer) = self.view.random_member(host.random_u64()).map(String::from) {
                self.ask(&peer, String::new(), true, host);
            }
        }
        if CATCH_UP_TICKS.contains(&self.ticks_joined) {
            // A bootstrap peer: every node that starts asks one, so in a cluster that
            // starts at once they know everyone first.
            let peer = match hearsay_guest::random::sample(&self.bootstrap_peers(host), 1, host).pop() {
                Some(peer) => Some(peer),
                None => self.view.random_member(host.random_u64()).map(String::from),
            };
            // A diff: by now most arcs hold what the peer holds, and only the rest
            // comes (a whole cluster starting at once sent every node ~5 whole views).
            if let Some(peer) = peer {
                self.ask(&peer, String::new(), true, host);
            }
        }
        if self.view.member_count() == 0 {
            // Alone (just started, or cut off): ask bootstrap peers for their view.
            // Each learns of this node first-hand; the pages go on with the last
            // asked alone (see `Message::Page`).
            for peer in
                hearsay_guest::random::sample(&self.bootstrap_peers(host), self.params.fanout as usize, host)
            {
                self.ask(&peer, String::new(), false, host);
            }
        } else if host.random_u64() % REJOIN_ONE_IN == 0 {
            // A diff: if the peer lives on the other side of a healed partition, what
            // differs comes; if it merely missed being counted, little does.
            if let Some(peer) = self.absent_bootstrap_peer(host) {
                self.ask(&peer, String::new(), true, host);
            }
        }
    }

    /// One message, decoded: its news merged, answered if it asks. Whether it was
    /// news to pass on.
    fn handle(
        &mut self,
        from: &str,
        message: Message,
        now: u64,
        changes: &mut Vec<Change>,
        host: &mut dyn Host,
    ) -> bool {
        let mut news = false;
        match message {
            Message::Beat {
                incarnation,
                digest,
                members,
                rumors,
            } => {
                self.heard_size = self.heard_size.max(members);
                self.tell_if_removed(from, incarnation, host);
                if let Some(watch) = self.watching.get_mut(from) {
                    *watch = (now, true);
                }
                // The beat says its sender lives at this incarnation: a refutation
                // reaches its watchers this way too.
                let known = self.view.get(from).map_or(false, |m| m.state.is_member());
                let alive = Note {
                    addr: from.to_string(),
                    incarnation,
                    state: State::Alive,
                    by: None,
                    labels: None,
                };
                if self.view.merge(&alive, now, changes) == Merged::News && known {
                    self.rumors.push(alive);
                    news = true;
                }
                news |= self.hear(&rumors, now, changes);
                if !self.params.partial() {
                    self.compare(from, digest, now, host);
                }
                if self.view.unlabeled().contains(from) && !self.asked.contains_key(from) {
                    self.who(from, now, host);
                }
            }
            Message::Who => {
                if !self.left && self.iam_budget > 0 {
                    self.iam_budget -= 1;
                    host.send(from, &wire::encode(&Message::Iam(self.view.own_note())));
                }
            }
            // First-hand, so only about its sender (never this node): anything else is
            // forged.
            Message::Iam(note) if note.addr == from => {
                self.view.merge(&note, now, changes);
            }
            Message::Iam(_) => {
                host.log(
                    Level::Debug,
                    &format!("ignored an iam from {} about another node", from),
                );
            }
            Message::Rumors(notes) => news = self.hear(&notes, now, changes),
            Message::Sync { cursor, asker } => {
                self.tell_if_removed(from, asker.incarnation, host);
                news = self.first_hand(asker, now, changes);
                self.answer(from, &cursor, None, host);
            }
            Message::Diff { cursor, arcs, asker } => {
                self.tell_if_removed(from, asker.incarnation, host);
                news = self.first_hand(asker, now, changes);
                self.answer(from, &cursor, Some(&arcs), host);
            }
            Message::Page { next, notes } => {
                let diff = match &self.waiting {
                    Some(asked) if asked.peer == from => {
                        let diff = asked.diff;
                        self.waiting = None;
                        Some(diff)
                    }
                    _ => None,
                };
                for note in &notes {
                    if self.view.merge(note, now, changes) == Merged::Refuted {
                        self.rumors.push(self.view.own_note());
                        news = true;
                    }
                }
                // One transfer at a time: the next page is asked of the peer waited
                // for, and a page from anyone else (a node alone asks several) ends
                // there, its members merged.
                if let (false, Some(diff), false) = (next.is_empty(), diff, self.left) {
                    self.ask(from, next, diff, host);
                }
            }
            Message::Near { point, asker, notes } => {
                self.tell_if_removed(from, asker.incarnation, host);
                news = self.first_hand(asker, now, changes);
                news |= self.merge_nearest(&notes, now, changes);
                if !self.left {
                    let notes = self
                        .view
                        .nearest(point, self.params.ring_neighbours.max(1) as usize, from);
                    host.send(from, &wire::encode(&Message::Nearest { point, notes }));
                }
            }
            Message::Nearest { point, notes } => {
                news = self.nearest_heard(from, point, &notes, now, changes, host)
            }
        }
        news
    }
    /// A tick much later than usual means this node did not run (an overloaded host,
    /// a paused VM), and the beats sent to it meanwhile are still waiting to be read:
    /// the silence of the nodes it watches over that time is its own, so it is not
    /// counted against them, nor against the suspected, whose refutations may be
    /// waiting too (Lifeguard's lesson: a slow node's failure detector is the one that
    /// misfires). Its own watchers may still suspect it, rightly; it refutes.
    fn forgive_own_stall(&mut self, now: u64) -> bool {
        let gap = now.saturating_sub(self.last_tick_ms);
        let mut stalled_now = false;
        if self.last_tick_ms > 0 && gap > 0 {
            if self.round_ms > 0 && gap > STALL_ROUNDS * self.round_ms {
                stalled_now = true;
                let stalled = gap - self.round_ms;
                for (last, _) in self.watching.values_mut() {
                    *last = last.saturating_add(stalled).min(now);
                }
                self.view.postpone_suspicions(stalled, now);
            } else {
                // A moving average of the gaps on time, so one late tick does not
                // become the norm.
                self.round_ms = match self.round_ms {
                    0 => gap,
                    r => (r * 7 + gap) / 8,
                };
            }
        }
        self.last_tick_ms = now;
        stalled_now
    }

    /// Updates `penalty`: up by one if this node refuted something said of it since
    /// its last tick or stalled, down by one per quiet [`PENALTY_FALLS_AFTER`] ×
    /// `remove_after_ms`.
    fn judge_own_health(&mut self, now: u64, stalled: bool) {
        let own = self.view.own();
        let refuted = own > self.own_at_tick && self.own_at_tick != Heartbeat::default();
        self.own_at_tick = own;
        if refuted || stalled {
            self.penalty = (self.penalty + 1).min(MAX_PENALTY);
            self.penalty_since_ms = now;
        } else if self.penalty > 0
            && now.saturating_sub(self.penalty_since_ms) >= self.params.remove_after_ms * PENALTY_FALLS_AFTER
        {
            self.penalty -= 1;
            self.penalty_since_ms = now;
        }
    }

    /// Starts watching the members before this node on the ring, stops watching the
    /// others, and suspects the watched that have been silent too long.
    fn watch(&mut self, now: u64, changes: &mut Vec<Change>) {
        let watched = self.view.watched(self.params.watchers as usize);
        self.watching.retain(|addr, _| watched.contains(addr));
        for addr in watched {
            self.watching.entry(addr).or_insert((now, false));
        }
        // A node that has not beaten to this one since the watch began may not count
        // it as a watcher yet (their views differ while nodes join): its silence
        // counts only after `remove_after_ms`, by when views have met. Within the
        // swap grace it does not count at all (it may not run this version yet); one
        // that has beaten since the swap runs it, and its silence counts as usual —
        // a crash right after an update waited out the whole grace (200 s at 1,000
        // agents) before.
        let grace = now < self.quiet_until;
        let beaten = self.params.beat_timeout_ms * (1 + self.penalty);
        let never = self.params.remove_after_ms.max(beaten);
        let silent: Vec<String> = self
            .watching
            .iter()
            .filter(|(_, (last, heard))| match (*heard, grace) {
                (true, _) => now.saturating_sub(*last) > beaten,
                (false, true) => false,
                (false, false) => now.saturating_sub(*last) > never,
            })
            .map(|(addr, _)| addr.clone())
            .collect();
        for addr in silent {
            let member = match self.view.get(&addr) {
                Some(m) => m,
                None => continue,
            };
            let me = self.view.self_addr().to_string();
            let suspected_by_me = member.state == State::Suspected && member.suspecters.contains(&me);
            if !member.state.is_member() || suspected_by_me {
                continue;
            }
            let note = Note {
                addr: addr.clone(),
                incarnation: member.incarnation,
                state: State::Suspected,
                by: Some(me),
                labels: None,
            };
            if self.view.merge(&note, now, changes) == Merged::News {
                self.rumors.push(note);
            }
        }
    }

    /// Merges rumors heard; whether any was news (to pass on).
    fn hear(&mut self, notes: &[Note], now: u64, changes: &mut Vec<Change>) -> bool {
        let mut news = false;
        for note in notes {
            if self.dropped_before(note) {
                continue;
            }
            match self.view.merge(note, now, changes) {
                Merged::News => {
                    self.rumors.push(note.clone());
                    news = true;
                }
                Merged::Refuted => {
                    self.rumors.push(self.view.own_note());
                    news = true;
                }
                Merged::Stale => {}
            }
        }
        news
    }

    /// A beat's digest against this view: differing twice in a row starts a sync
    /// with its sender, at most one per `sync_interval_ms`.
    fn compare(&mut self, from: &str, digest: u64, now: u64, host: &mut dyn Host) {
        if digest == self.view.digest() {
            self.mismatches.remove(from);
            return;
        }
        let count = self.mismatches.entry(from.to_string()).or_insert(0);
        *count += 1;
        if *count >= MISMATCHED_BEATS && now.saturating_sub(self.last_sync_ms) >= self.params.sync_interval_ms
        {
            self.mismatches.remove(from);
            self.last_sync_ms = now;
            self.ask(from, String::new(), true, host);
        }
    }

    /// Asks members whose labels this node lacks for their own note: those not asked
    /// within `sync_interval_ms`, at most [`WHO_PER_TICK`].
    fn ask_labels(&mut self, now: u64, host: &mut dyn Host) {
        let unlabeled = self.view.unlabeled();
        self.asked.retain(|addr, _| unlabeled.contains(addr.as_str()));
        let again = self.params.sync_interval_ms;
        let due: Vec<String> = unlabeled
            .iter()
            .filter(|addr| {
                self.asked
                    .get(&***addr)
                    .map_or(true, |t| now.saturating_sub(*t) >= again)
            })
            .take(WHO_PER_TICK)
            .map(|addr| addr.to_string())
            .collect();
        for addr in due {
            self.who(&addr, now, host);
        }
    }

    /// Asks `peer` for its own note.
    fn who(&mut self, peer: &str, now: u64, host: &mut dyn Host) {
        self.asked.insert(peer.to_string(), now);
        host.send(peer, &wire::encode(&Message::Who));
    }

    /// A node this view holds as failed (or left) at `incarnation` or later spoke: it
    /// lives, and missed its removal's rumor, or it would have refuted it. It is told
    /// (SWIM's refutation needs the accused to hear the accusation): otherwise its
    /// beats, at the incarnation it was removed at, lose to the removal everywhere,
    /// and it stays out of every view until the removal is forgotten, its bootstrap
    /// role (if any) drawing every node's rejoin asks meanwhile.
    fn tell_if_removed(&self, from: &str, incarnation: Heartbeat, host: &mut dyn Host) {
        let member = match self.view.get(from) {
            Some(member) => member,
            None => return,
        };
        if member.state.is_member() || member.incarnation < incarnation {
            return;
        }
        let note = Note {
            addr: from.to_string(),
            incarnation: member.incarnation,
            state: member.state,
            by: None,
            labels: None,
        };
        host.send(from, &wire::encode(&Message::Rumors(vec![note])));
    }

    /// A sync's or a diff's asker, first-hand news (a join): merged and passed on as
    /// a rumor if new. Whether it was.
    fn first_hand(&mut self, asker: Note, now: u64, changes: &mut Vec<Change>) -> bool {
        // With partial views a join is not spread: only the nodes near the joiner
        // keep it, and they hear of it as it finds its place.
        if !self.left && self.view.merge(&asker, now, changes) == Merged::News && !self.params.partial() {
            self.rumors.push(asker);
            return true;
        }
        false
    }

    /// Asks `peer` for the page of its view after `cursor` — only of the arcs whose
    /// digests differ from this view's if `diff` — telling it about this node.
    fn ask(&mut self, peer: &str, cursor: String, diff: bool, host: &mut dyn Host) {
        let asker = self.view.own_note();
        let message = if diff {
            let arcs = (self.view.known() / MEMBERS_PER_ARC)
                .next_power_of_two()
                .min(view::RANGES);
            Message::Diff {
                cursor: cursor.clone(),
                arcs: self.view.arc_digests(arcs),
                asker,
            }
        } else {
            Message::Sync {
                cursor: cursor.clone(),
                asker,
            }
        };
        host.send(peer, &wire::encode(&message));
        self.waiting = Some(Asked {
            peer: peer.to_string(),
            cursor,
            tries: 1,
            diff,
        });
    }

    /// Answers a sync (`theirs` is `None`: the whole view) or a diff (the asker's
    /// digests of equal arcs of the ring: only those that differ here): the notes
    /// after `cursor` that fit, and where to go on.
    fn answer(&mut self, to: &str, cursor: &str, theirs: Option<&[u64]>, host: &mut dyn Host) {
        let count = theirs.map_or(1, <[u64]>::len);
        let mine = self.view.arc_digests(count);
        let first = if cursor.is_empty() {
            0
        } else {
            view::arc_of(view::hash(cursor.as_bytes()), count)
        };
        let room = self.params.max_message_bytes as usize - wire::HEADER_MAX - wire::MAX_ADDR_LEN;
        let mut used = 0;
        let mut notes = Vec::new();
        let mut next = String::new();
        'arcs: for arc in first..count {
            if theirs.map_or(false, |theirs| theirs[arc] == mine[arc]) {
                continue;
            }
            let below = (arc + 1 < count).then(|| view::arc_start(arc + 1, count));
            for note in self.view.notes_within(cursor, view::arc_start(arc, count), below) {
                let len = wire::note_len(&note);
                if used + len > room {
                    next = notes.last().map_or_else(String::new, |n: &Note| n.addr.clone());
                    break 'arcs;
                }
                used += len;
                notes.push(note);
            }
        }
        host.send(to, &wire::encode(&Message::Page { next, notes }));
    }

    /// Rumors for one more message, sent `copies` times, as many as fit.
    fn take_rumors(&mut self, copies: u32) -> Vec<Note> {
        let room = self.params.max_message_bytes as usize - wire::HEADER_MAX;
        self.rumors.take(room, copies)
    }

    /// Passes rumors on to `fanout` random members, within this tick's allowance.
    fn pass_on(&mut self, host: &mut dyn Host) {
        if self.flood_budget == 0 || self.rumors.is_empty() {
            return;
        }
        let mut targets: Vec<String> = Vec::new();
        for _ in 0..self.params.fanout * 3 {
            if targets.len() as u64 == self.params.fanout.min(self.flood_budget) {
                break;
            }
            if let Some(addr) = self.view.random_member(host.random_u64()) {
                if !targets.iter().any(|t| t == addr) {
                    targets.push(addr.to_string());
                }
            }
        }
        if targets.is_empty() {
            return;
        }
        let message = wire::encode(&Message::Rumors(self.take_rumors(targets.len() as u32)));
        for target in targets {
            self.flood_budget = self.flood_budget.saturating_sub(1);
            host.send(&target, &message);
        }
    }

    /// Publishes each change as an event (`{"addr":…,"labels":{…}}`) and counts
    /// removals.
    fn emit(&mut self, changes: &[Change], host: &mut dyn Host) {
        for change in changes {
            if let Change::Failed(addr) = change {
                self.removals += 1;
                host.log(Level::Info, &format!("removed {}", addr));
            }
            if let Change::Left(addr) = change {
                host.log(Level::Info, &format!("{} left", addr));
            }

            let mut data = String::from("{\"addr\":");
            push_quoted(&mut data, change.addr());
            data.push_str(",\"labels\":");
            self.view
                .get(change.addr())
                .and_then(|m| m.labels.clone())
                .unwrap_or_default()
                .push_json(&mut data);
            data.push('}');
            host.emit(change.kind(), data.as_bytes());
        }
    }

    /// Addresses of the members (or tombstones) in a state `which` accepts.
    fn members(&self, which: fn(State) -> bool) -> Vec<String> {
        self.view
            .members()
            .filter(|(_, m)| which(m.state))
            .map(|(a, _)| a.to_string())
            .collect()
    }

    fn bootstrap_peers(&self, host: &mut dyn Host) -> Vec<String> {
        heartbeat::bootstrap_peers(host, self.view.self_addr())
    }

    /// A random bootstrap peer this view does not count as a member, if any: asked
    /// now and then, so partitions heal once links come back.
    fn absent_bootstrap_peer(&self, host: &mut dyn Host) -> Option<String> {
        let absent: Vec<String> = self
            .bootstrap_peers(host)
            .into_iter()
            .filter(|p| self.view.get(p).map_or(true, |m| !m.state.is_member()))
            .collect();
        hearsay_guest::random::sample(&absent, 1, host).pop()
    }

    /// How many nodes this one takes the cluster to hold: its view's members, or with
    /// partial views a guess from its neighbours' spread (see `partial`).
    fn size(&self) -> u64 {
        match self.params.ring_neighbours {
            0 => self.view.member_count() as u64 + 1,
            k => partial::estimated_size(&self.view, k as usize),
        }
    }

    /// Partial views: a rumor about a member this view dropped while the rumor was
    /// still being passed on, that the member as dropped outranks (an older
    /// incarnation, or the same one alive): a suspicion overtaken by its refutation
    /// would otherwise be news again where the refutation came first.
    fn dropped_before(&self, note: &Note) -> bool {
        // The map first: empty with full views, it spares every rumor a view lookup.
        self.dropped.get(&note.addr).map_or(false, |(incarnation, _)| {
            note.incarnation < *incarnation
                || (note.incarnation == *incarnation && note.state == State::Alive)
        }) && self.view.get(&note.addr).is_none()
    }

    /// Partial views: each tick, a node alone asks bootstrap peers near itself; one
    /// whose neighbours changed lately (or each [`STABILISE_EVERY`] ticks once they
    /// settle) asks its successor or predecessor near itself and looks a random
    /// finger up; now and then it asks a bootstrap peer it does not hold, so
    /// partitions heal. `size`: the cluster's size as this node guesses it.
    fn find_place(&mut self, now: u64, size: u64, host: &mut dyn Host) {
        let ticks = self.ticks;
        self.near_waiting
            .retain(|asked| ticks.saturating_sub(asked.tick) <= NEAR_TICKS);
        self.dropped
            .retain(|_, (_, at)| now.saturating_sub(*at) < self.params.forget_after_ms);
        let k = self.params.ring_neighbours as usize;
        let me = self.view.self_hash();
        if self.view.member_count() == 0 {
            for peer in
                hearsay_guest::random::sample(&self.bootstrap_peers(host), self.params.fanout as usize, host)
            {
                self.near(&peer, me, false, host);
            }
            return;
        }
        let successors = self.view.watchers(k);
        let predecessors = self.view.watched(k);
        let neighbours: Vec<String> = successors.iter().chain(&predecessors).cloned().collect();
        self.settled = match neighbours == self.neighbours {
            true => self.settled + 1,
            false => 0,
        };
        self.tell_neighbours(&neighbours, host);
        self.neighbours = neighbours;
        let forming = self.settled < FORMING_TICKS;
        if forming || ticks % STABILISE_EVERY == 0 {
            // Settled: the successor or the predecessor in turn (Chord's stabilisation);
            // while forming, any of the neighbours (T-Man's pick among the nearest),
            // told this node's members nearest them.
            let (turn, pick) = match forming {
                true => (ticks, (host.random_u64() % k as u64) as usize),
                false => (ticks / STABILISE_EVERY, 0),
            };
            let neighbour = match turn % 2 {
                0 => successors.get(pick).or(successors.first()),
                _ => predecessors.get(pick).or(predecessors.first()),
            };
            if let Some(peer) = neighbour.cloned() {
                self.near(&peer, me, false, host);
            }
        }
        // Forming, finger lookups and lookups of its own place come each
        // FINGER_EVERY_FORMING ticks, in turn; settled, far less often.
        let every = |settled: u64| if forming { FINGER_EVERY_FORMING } else { settled };
        if ticks % every(FINGER_EVERY) == 0 {
            // A finger among those a cluster of this size has members in.
            let lowest = size.max(2).leading_zeros().min(63);
            let band = lowest + (host.random_u64() % (64 - lowest) as u64) as u32;
            let point = partial::finger_point(&self.view, band);
            if let Some(peer) = self.view.member_before(point).map(|(_, a)| a.to_string()) {
                self.near(&peer, point, false, host);
            }
        }
        // Its own place looked up from a random member, as a joiner does in Chord:
        // exchanges with neighbours cannot mend two chains of nodes interleaved on
        // the ring, each taking the other's members for strangers.
        if ticks % every(ROUTE_EVERY) == FINGER_EVERY_FORMING / 2 {
            if let Some(peer) = self.view.random_member(host.random_u64()).map(String::from) {
                self.near(&peer, me, true, host);
            }
        }
        let rejoin_one_in = REJOIN_ONE_IN.max(size / 8);
        if host.random_u64() % rejoin_one_in == 0 {
            if let Some(peer) = self.absent_bootstrap_peer(host) {
                self.near(&peer, me, false, host);
            }
        }
    }

    /// Partial views: a member or two new among this node's ring neighbours (a join,
    /// or a gap filled) are told at once to all of them: each learns of it from here
    /// instead of by stabilisation, one neighbour a round (a cluster forming, where
    /// many change at once, is left to the exchanges).
    fn tell_neighbours(&mut self, neighbours: &[String], host: &mut dyn Host) {
        if self.neighbours.is_empty() {
            return;
        }
        let fresh: Vec<Note> = neighbours
            .iter()
            .filter(|a| !self.neighbours.contains(a))
            .filter_map(|a| self.view.note_of(a))
            .collect();
        if fresh.is_empty() || fresh.len() > TELL_AT_MOST {
            return;
        }
        let message = wire::encode(&Message::Nearest {
            point: self.view.self_hash(),
            notes: fresh.clone(),
        });
        for peer in neighbours.iter().filter(|a| !fresh.iter().any(|n| &n.addr == *a)) {
            host.send(peer, &message);
        }
    }

    /// Partial views: asks `peer` for its members nearest ring point `point`.
    fn near(&mut self, peer: &str, point: u64, route: bool, host: &mut dyn Host) {
        if self.near_waiting.len() >= NEAR_WAITING_MAX {
            self.near_waiting.remove(0);
        }
        self.near_waiting.push(NearAsked {
            peer: peer.to_string(),
            point,
            tick: self.ticks,
            route,
        });
        let asker = self.view.own_note();
        let k = self.params.ring_neighbours as usize;
        // While its neighbours change, a node asking near itself tells the asked its
        // members nearest them (T-Man's exchange); its own note is in `asker`.
        let mut notes = Vec::new();
        if point == self.view.self_hash() && self.settled < FORMING_TICKS {
            notes = self.view.nearest(view::hash(peer.as_bytes()), k, peer);
            notes.retain(|n| n.addr != asker.addr);
        }
        host.send(peer, &wire::encode(&Message::Near { point, asker, notes }));
    }

    /// An answer to a `near`: its members merged, and if it was asked for and names
    /// a member nearer before the point than any this view held, that one is asked
    /// next (Chord's lookup: each step about halves the distance left). Whether a
    /// refutation is news.
    fn nearest_heard(
        &mut self,
        from: &str,
        point: u64,
        notes: &[Note],
        now: u64,
        changes: &mut Vec<Change>,
        host: &mut dyn Host,
    ) -> bool {
        // A sign of life, as a beat is (see `probe_silent`).
        if let Some(watch) = self.watching.get_mut(from) {
            *watch = (now, true);
        }
        let asked = self
            .near_waiting
            .iter()
            .position(|a| a.peer == from && a.point == point)
            .map(|i| self.near_waiting.remove(i));
        // Followed only if asked: nearer than the answerer, and (unless routed from
        // afar) than what this view held before the answer.
        let than = asked.as_ref().map(|a| {
            let held = match a.route {
                true => u64::MAX,
                false => self
                    .view
                    .member_before(point)
                    .map_or(u64::MAX, |(hash, _)| point.wrapping_sub(hash)),
            };
            held.min(point.wrapping_sub(view::hash(from.as_bytes())))
        });
        let news = self.merge_nearest(notes, now, changes);
        if let (Some(asked), Some(than), false) = (asked, than, self.left) {
            let me = self.view.self_addr();
            let candidates = notes
                .iter()
                .filter(|n| n.state.is_member() && n.addr != me && n.addr != from)
                .map(|n| (view::hash(n.addr.as_bytes()), n.addr.as_str()));
            if let Some(next) = partial::nearer_before(point, than, candidates).map(String::from) {
                self.near(&next, point, asked.route, host);
            }
        }
        news
    }

    /// Members named in a `near` or its answer, merged (not spread: only the nodes
    /// near them keep them). Whether a refutation of this node is news.
    fn merge_nearest(&mut self, notes: &[Note], now: u64, changes: &mut Vec<Change>) -> bool {
        let mut news = false;
        let k = self.params.ring_neighbours as usize;
        for note in notes.iter().filter(|n| n.state.is_member()) {
            let held = self.view.get(&note.addr).is_some() || note.addr == self.view.self_addr();
            if !held && !partial::wanted(&self.view, k, view::hash(note.addr.as_bytes())) {
                continue;
            }
            if self.view.merge(note, now, changes) == Merged::Refuted {
                self.rumors.push(self.view.own_note());
                news = true;
            }
        }
        news
    }

    /// Partial views: a watched node silent for half the beat timeout is asked near
    /// this node before it is suspected. Its answer is a sign of life, and names the
    /// members between it and this node that it beats to instead (views that differ
    /// while a large cluster forms would otherwise end in suspicions, each a rumor to
    /// every node); a node that has stopped does not answer, and is suspected on time.
    fn probe_silent(&mut self, now: u64, host: &mut dyn Host) {
        let half = self.params.beat_timeout_ms * (1 + self.penalty) / 2;
        let silent: Vec<String> = self
            .watching
            .iter()
            .filter(|(_, (last, _))| now.saturating_sub(*last) > half)
            .map(|(addr, _)| addr.clone())
            .collect();
        self.probed.retain(|addr, _| silent.contains(addr));
        let me = self.view.self_hash();
        for addr in silent {
            if self
                .probed
                .get(&addr)
                .map_or(true, |at| now.saturating_sub(*at) > half)
            {
                self.probed.insert(addr.clone(), now);
                self.near(&addr, me, false, host);
            }
        }
    }

    /// Partial views: drops what the view need not keep, once it grew since the
    /// last trim; a member dropped while a rumor about it waits is remembered.
    fn trim(&mut self, now: u64) {
        if !self.params.partial() || self.view.known() <= self.trimmed_at {
            self.trimmed_at = self.trimmed_at.min(self.view.known());
            return;
        }
        for addr in partial::surplus(&self.view, self.params.ring_neighbours as usize) {
            if let Some(incarnation) = self.view.drop_member(&addr) {
                if self.rumors.has(&addr) && self.dropped.len() < DROPPED_MAX {
                    self.dropped.insert(addr, (incarnation, now));
                }
            }
        }
        self.trimmed_at = self.view.known();
    }
}
