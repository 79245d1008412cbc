//! kelips: a one-hop lookup service as a hearsay module (module ABI v2), after Kelips
//! (Gupta, Birman, Linga, Demers and van Renesse, IPTPS 2003), which Birman's lecture
//! presents as the gossip answer to DHTs.
//!
//! Nodes fall into `groups` affinity groups by the hash of their address (about √N of
//! them, so each holds about √N nodes). A node knows every member of its own group and
//! `contacts` nodes in each other group — O(√N) entries — by gossip of heartbeats
//! ([`view`]). A key belongs to the group its hash names; its tuple (value, version,
//! home node) is replicated at every member of that group by gossip ([`tuples`]):
//! pushed at once when written, and repaired by anti-entropy on summaries. So a get
//! or a put is one request to a contact in the key's group, answered straight back
//! (zero hops when the key is in the node's own group); when that contact does not
//! answer in `lookup_timeout_ms` it is dropped and another is tried, then the request
//! goes through a member of the node's own group, which passes it to one of its
//! contacts (two hops).
//!
//! Values are small (1 KiB at most): they travel inside the tuples, so every member of
//! a group can answer for every key of it; the home node is the member that accepted
//! the write. When a node knows nobody in a key's group it writes through the next
//! group it knows (a hinted tuple); a node holding a hinted tuple hands it to the
//! key's group as soon as it knows a contact there, and drops it a few ticks later.
//! Changing `groups` is deploying new params: on the hot swap, tuples that now belong
//! to another group are hinted tuples and move the same way.
//!
//! # Commands, queries, events
//!
//! Commands (JSON): `{"op":"get","key":K}`, `{"op":"put","key":K,"value":V}`,
//! `{"op":"delete","key":K}`. The answer is the outcome when this node could answer
//! (`{"id":N,"done":true,"status":...}`), else `{"id":N,"done":false}` and the outcome
//! comes later as a `result` event and from the query `result N`. An outcome is
//! `{"id","op","key","status","value","version","home","hops"}` with status `found`,
//! `not_found`, `stored` or `failed`.
//!
//! Queries (text): an empty query for counters and the size of the state (`entries`:
//! members + contacts + tuples held), `result N`, `local KEY` (the tuple held here, if
//! any) and `view` (members and contacts).
//!
//! # Layout
//!
//! - [`hash`]: groups and fingerprints; [`params`]: tuning; [`wire`]: messages.
//! - [`view`]: members and contacts; [`tuples`]: the replicated tuples;
//!   [`requests`]: requests on their way and outcomes.
//! - this file: gossip rounds, requests and their routing, commands, queries, hot swap.

#![warn(missing_docs)]

pub mod hash;
pub mod params;
pub mod requests;
pub mod tuples;
pub mod view;
pub mod wire;

use hash::group_of;
use hearsay_guest::json::{self, push_quoted, Value};
use hearsay_guest::{export_module_v2, random, Host, Level, Module};
use params::Params;
use requests::{Outcome, Pending, Requests};
use std::collections::BTreeMap;
use tuples::Tuples;
use view::View;
use wire::{Entry, Item, Msg, Op, Status};

/// Entries of the other groups a gossip message carries (a sample).
const CONTACT_SAMPLE: usize = 8;
/// Members a message to another group carries (a sample).
const CROSS_SAMPLE: usize = 16;
/// Members a new tuple is pushed to, by the node that wrote it and by each that learns it.
const PUSH_FANOUT: usize = 3;
/// Pushes a node sends per tick at most; beyond, anti-entropy carries the news.
const PUSHES_PER_TICK: usize = 16;
/// News held back by the push cap at most (beyond, anti-entropy carries it).
const MAX_UNPUSHED: usize = 4096;
/// Legs a request may travel.
const MAX_HOPS: u64 = 3;
/// Times a node sends a request before giving up.
const MAX_ATTEMPTS: u64 = 4;
/// Ticks a hinted tuple is handed to its group before it is dropped here.
const HANDOFF_TICKS: u32 = 5;
/// Every this many ticks a node missing contacts in some group asks for a welcome.
const REFILL_TICKS: u64 = 10;

/// The kelips module.
pub struct Kelips {
    params: Params,
    me: String,
    generation: u64,
    heartbeat: u64,
    now: u64,
    view: View,
    tuples: Tuples,
    requests: Requests,
    /// Hinted tuples being handed to their group: ticks handed so far.
    handoffs: BTreeMap<String, u32>,
    /// Hinted tuples handed off and dropped here: their version and when, so that
    /// members still holding them do not sync them back (kept `tombstone_ms`).
    handed: BTreeMap<String, (u64, u64)>,
    /// Whether this node's tuples have matched a member's once (or it has known no
    /// member for `dead_after_ms` since it started: it is alone in its group): until
    /// then it passes gets and writes of its own group to a member.
    synced: bool,
    /// When this instance started.
    started_at: u64,
    pushes_this_tick: usize,
    /// News held back by the push cap, pushed next tick.
    unpushed: Vec<Item>,
    /// Payloads sent and received, malformed ones ignored, requests answered here and
    /// passed on.
    sent: u64,
    received: u64,
    malformed: u64,
    served: u64,
    forwarded: u64,
}

export_module_v2!(Kelips);

fn error(what: &str) -> String {
    let mut out = String::from("{\"error\":");
    push_quoted(&mut out, what);
    out.push('}');
    out
}

impl Module for Kelips {
    fn init(params: &str, host: &mut dyn Host) -> Result<Self, String> {
        let params = Params::parse(params)?;
        let me = host.self_addr();
        if me.is_empty() || me.len() > wire::MAX_ADDR {
            return Err(format!("self address must be 1 to {} bytes", wire::MAX_ADDR));
        }
        let now = host.now_ms();
        Ok(Kelips {
            view: View::new(&me, params.groups, params.contacts),
            params,
            // A new instance is a new generation (never 0, which no entry has).
            generation: now.saturating_mul(1000) + host.random_u64() % 1000 + 1,
            heartbeat: 0,
            me,
            now,
            tuples: Tuples::default(),
            requests: Requests::default(),
            handoffs: BTreeMap::new(),
            handed: BTreeMap::new(),
            synced: false,
            started_at: now,
            pushes_this_tick: 0,
            unpushed: Vec::new(),
            sent: 0,
            received: 0,
            malformed: 0,
            served: 0,
            forwarded: 0,
        })
    }

    fn tick(&mut self, now_ms: u64, host: &mut dyn Host) {
        self.now = now_ms.max(self.now);
        self.heartbeat += 1;
        self.pushes_this_tick = 0;
        self.view.expire(self.now, self.params.dead_after_ms);
        self.tuples.collect(self.now, self.params.tombstone_ms);
        let waited = self.now.saturating_sub(self.started_at) >= self.params.dead_after_ms;
        if self.view.members.is_empty() && waited {
            self.synced = true;
        }
        self.retry(host);
        if self.view.known() == 0 {
            let join = wire::encode(&Msg::Gossip {
                flags: wire::JOIN,
                summary_hash: None,
                entries: vec![self.own_entry()],
            });
            for peer in host.bootstrap_peers() {
                if peer != self.me {
                    self.send(&peer, &join, host);
                }
            }
            return;
        }
        self.gossip(host);
        self.flush(host);
        self.hand_off(host);
    }

    fn receive(&mut self, from: &str, payload: &[u8], host: &mut dyn Host) {
        self.received += 1;
        let msg = match wire::decode(payload) {
            Some(m) => m,
            None => {
                self.malformed += 1;
                host.log(Level::Debug, &format!("malformed kelips message from {}", from));
                return;
            }
        };
        match msg {
            Msg::Gossip {
                flags,
                summary_hash,
                entries,
            } => {
                for e in &entries {
                    self.view.merge(e, e.addr == from, self.now);
                }
                if flags & wire::JOIN != 0 {
                    let welcome = self.welcome(host);
                    self.send(from, &welcome, host);
                }
                let member = group_of(from, self.params.groups) == self.view.my_group;
                match summary_hash {
                    Some(h) if member && h == self.tuples.summary_hash() => self.synced = true,
                    Some(_) if member => {
                        // Replicas differ: the summary, to find where.
                        let ask = wire::encode(&Msg::Sync {
                            summary: self.tuples.summary().to_vec(),
                            items: Vec::new(),
                        });
                        self.send(from, &ask, host);
                    }
                    _ => {}
                }
            }
            Msg::Sync { summary, items } => {
                self.merge_all(&items);
                let diff = self.tuples.differing(&summary);
                if diff.is_empty() {
                    self.synced = true;
                    return;
                }
                if items.is_empty() {
                    // A summary alone: this node's tuples where they differ, and its
                    // summary, so the other side answers with what this one lacks.
                    self.answer_summary(from, diff, host);
                    return;
                }
                let mine: Vec<Item> = self
                    .tuples
                    .in_buckets(&diff, self.params.max_message, self.now)
                    .into_iter()
                    .filter(|i| !items.iter().any(|t| same_tuple(t, i)))
                    .collect();
                if !mine.is_empty() {
                    let ack = wire::encode(&Msg::SyncAck {
                        items: fit(mine, self.params.max_message - 16),
                    });
                    self.send(from, &ack, host);
                }
            }
            Msg::SyncAck { items } => {
                self.merge_all(&items);
            }
            Msg::Push { items } => {
                let news = self.merge_all(&items);
                if !news.is_empty() {
                    self.push(news, Some(from), host);
                }
            }
            Msg::Request {
                id,
                origin,
                op,
                key,
                value,
                hops,
                relay,
            } => self.serve(id, &origin, op, &key, value, hops, relay, host),
            Msg::Reply {
                id,
                status,
                hops,
                key,
                item,
            } => {
                self.view.touch(from, self.now);
                let pending = match self.requests.pending.remove(&id) {
                    Some(p) if p.key == key => p,
                    Some(p) => {
                        self.requests.pending.insert(id, p);
                        return;
                    }
                    None => return,
                };
                let wasted = pending.attempts.saturating_sub(1);
                let outcome = outcome(id, &pending, status, item.as_ref(), hops + wasted);
                self.finish(outcome, host);
            }
        }
    }

    fn query(&mut self, args: &str, _host: &mut dyn Host) -> String {
        let args = args.trim();
        if let Some(id) = args.strip_prefix("result ") {
            let id = match id.trim().parse::<u64>() {
                Ok(id) => id,
                Err(_) => return error("usage: result ID"),
            };
            if self.requests.pending.contains_key(&id) {
                return format!("{{\"id\":{},\"done\":false}}", id);
            }
            return match self.requests.outcome(id) {
                Some(o) => outcome_json(o, true),
                None => error("no such request (or too old)"),
            };
        }
        if let Some(key) = args.strip_prefix("local ") {
            let mut out = String::from("{\"key\":");
            push_quoted(&mut out, key);
            if let Some(t) = self.tuples.map.get(key) {
                out.push_str(",\"value\":");
                match &t.value {
                    Some(v) => push_quoted(&mut out, v),
                    None => out.push_str("null"),
                }
                out.push_str(&format!(",\"version\":{},\"home\":", t.version));
                push_quoted(&mut out, &t.home);
            }
            out.push('}');
            return out;
        }
        if args == "view" {
            return self.view_json();
        }
        let r = &self.requests;
        let mut out = String::from("{\"self\":");
        push_quoted(&mut out, &self.me);
        let contacts = self.view.known() - self.view.members.len();
        out.push_str(&format!(
            ",\"group\":{},\"groups\":{},\"members\":{},\"contacts\":{},\"groups_covered\":{},\"tuples\":{},\"live_tuples\":{},\"hinted\":{},\"entries\":{},\"synced\":{},\"pending\":{},\"found\":{},\"not_found\":{},\"stored\":{},\"failed\":{},\"hops\":{},\"served\":{},\"forwarded\":{},\"sent\":{},\"received\":{},\"malformed\":{}}}",
            self.view.my_group,
            self.params.groups,
            self.view.members.len(),
            contacts,
            self.view.groups_covered(),
            self.tuples.map.len(),
            self.tuples.live(),
            self.tuples.hinted(self.view.my_group, self.params.groups).len(),
            self.view.known() + self.tuples.map.len(),
            self.synced,
            r.pending.len(),
            r.found,
            r.not_found,
            r.stored,
            r.failed,
            r.hops,
            self.served,
            self.forwarded,
            self.sent,
            self.received,
            self.malformed
        ));
        out
    }

    fn command(&mut self, args: &str, host: &mut dyn Host) -> String {
        self.now = host.now_ms().max(self.now);
        let doc = match json::parse(args) {
            Ok(d) => d,
            Err(e) => return error(&format!("args must be JSON: {}", e)),
        };
        let key = match doc.get("key").and_then(Value::as_str) {
            Some(k) if !k.is_empty() && k.len() <= wire::MAX_KEY => k.to_string(),
            _ => return error("\"key\" must be a string of 1 to 256 bytes"),
        };
        let (op, value) = match doc.get("op").and_then(Value::as_str).unwrap_or("") {
            "get" => (Op::Get, None),
            "delete" => (Op::Delete, None),
            "put" => match doc.get("value").and_then(Value::as_str) {
                Some(v) if v.len() <= wire::MAX_VALUE => (Op::Put, Some(v.to_string())),
                _ => return error("\"value\" must be a string of at most 1024 bytes"),
            },
            _ => return error("\"op\" must be \"get\", \"put\" or \"delete\""),
        };
        let id = self.requests.next_id();
        let group = self.route_group(&key);
        let pending = Pending {
            op,
            key,
            value,
            group,
            tried: Vec::new(),
            attempts: 0,
            waiting: Vec::new(),
            sent_at: self.now,
            created_at: self.now,
        };
        if group == self.view.my_group {
            if let Some(outcome) = self.local(id, &pending, host) {
                let answer = outcome_json(&outcome, true);
                self.finish(outcome, host);
                return answer;
            }
        }
        // Sent now, or when this node knows someone to ask (see `retry`).
        self.requests.pending.insert(id, pending);
        self.send_request(id, host);
        format!("{{\"id\":{},\"done\":false}}", id)
    }

    fn export_state(&self) -> Option<Vec<u8>> {
        let items: Vec<Item> = self
            .tuples
            .map
            .keys()
            .filter_map(|k| self.tuples.item(k, self.now))
            .collect();
        let mut entries = self.view.member_entries();
        entries.extend(self.view.contact_entries());
        let tuples = wire::encode(&Msg::Push { items });
        let view = wire::encode(&Msg::Gossip {
            flags: 0,
            summary_hash: None,
            entries,
        });
        let mut out = Vec::with_capacity(tuples.len() + view.len() + 10);
        hearsay_guest::codec::put_varint(&mut out, tuples.len() as u64);
        out.extend_from_slice(&tuples);
        out.extend_from_slice(&view);
        Some(out)
    }

    fn import_state(&mut self, bytes: &[u8], host: &mut dyn Host) -> bool {
        let mut r = hearsay_guest::codec::Reader::new(bytes);
        let parts = r
            .varint()
            .and_then(|n| r.take(n as usize))
            .and_then(wire::decode)
            .zip(r.take(r.remaining()).and_then(wire::decode));
        match parts {
            Some((Msg::Push { items }, Msg::Gossip { entries, .. })) => {
                for e in &entries {
                    self.view.merge(e, false, self.now);
                }
                self.merge_all(&items);
                self.synced = true;
                true
            }
            _ => {
                host.log(
                    Level::Warn,
                    "kelips: the previous version's state is unreadable; starting fresh",
                );
                false
            }
        }
    }
}

impl Kelips {
    fn own_entry(&self) -> Entry {
        Entry {
            addr: self.me.clone(),
            generation: self.generation,
            heartbeat: self.heartbeat,
        }
    }

    fn send(&mut self, to: &str, bytes: &[u8], host: &mut dyn Host) {
        host.send(to, bytes);
        self.sent += 1;
    }

    /// One round: heartbeats (and a hash of the tuple summary) to `fanout` members, a sample of
    /// this group to one contact of another group, and now and then a request for a
    /// welcome when some group has no contact here.
    fn gossip(&mut self, host: &mut dyn Host) {
        let budget = self.params.max_message / 2;
        let mut members = self.view.member_entries();
        let mut entries = vec![self.own_entry()];
        if fits(&entries, &members, budget) {
            entries.extend(members.iter().cloned());
        } else {
            random::shuffle(&mut members, host);
            push_within(&mut entries, members.iter().cloned(), budget);
        }
        let contacts = self.view.contact_entries();
        entries.extend(random::sample(&contacts, CONTACT_SAMPLE, host));
        let names: Vec<String> = self.view.members.keys().cloned().collect();
        let targets = random::sample(&names, self.params.fanout, host);
        if !targets.is_empty() {
            let bytes = wire::encode(&Msg::Gossip {
                flags: 0,
                summary_hash: Some(self.tuples.summary_hash()),
                entries,
            });
            for peer in targets {
                self.send(&peer, &bytes, host);
            }
        }
        let groups: Vec<u32> = self.view.contacts.keys().cloned().collect();
        if groups.is_empty() {
            return;
        }
        let group = groups[random::below(groups.len(), host)];
        let peers = self.view.of_group(group);
        let peer = peers[random::below(peers.len(), host)].clone();
        let mut cross = vec![self.own_entry()];
        cross.extend(random::sample(&self.view.member_entries(), CROSS_SAMPLE, host));
        let missing = self.view.groups_covered() + 1 < self.params.groups as usize;
        let flags = if missing && self.heartbeat % REFILL_TICKS == 0 {
            wire::JOIN
        } else {
            0
        };
        let bytes = wire::encode(&Msg::Gossip {
            flags,
            summary_hash: None,
            entries: cross,
        });
        self.send(&peer, &bytes, host);
    }

    /// The answer to a join: this node, its members and its contacts (what fits).
    fn welcome(&self, host: &mut dyn Host) -> Vec<u8> {
        let mut entries = vec![self.own_entry()];
        let mut rest = self.view.contact_entries();
        let mut members = self.view.member_entries();
        random::shuffle(&mut members, host);
        rest.extend(members);
        push_within(&mut entries, rest.into_iter(), self.params.max_message - 64);
        wire::encode(&Msg::Gossip {
            flags: wire::WELCOME,
            summary_hash: None,
            entries,
        })
    }

    /// Answers a member's summary that differs (`diff`: the buckets): this node's
    /// tuples there (buckets in random order, as many tuples as fit) and its summary.
    fn answer_summary(&mut self, from: &str, mut diff: Vec<usize>, host: &mut dyn Host) {
        random::shuffle(&mut diff, host);
        let budget = self.params.max_message - 16 - wire::BUCKETS * 4;
        let items = self.tuples.in_buckets(&diff, budget, self.now);
        let bytes = wire::encode(&Msg::Sync {
            summary: self.tuples.summary().to_vec(),
            items,
        });
        self.send(from, &bytes, host);
    }

    /// Takes in tuples; those that were news here.
    fn merge_all(&mut self, items: &[Item]) -> Vec<Item> {
        let (now, keep) = (self.now, self.params.tombstone_ms);
        let handed = &self.handed;
        let tuples = &mut self.tuples;
        items
            .iter()
            .filter(|i| handed.get(&i.key).map_or(true, |(v, _)| i.version > *v))
            .filter(|i| tuples.merge(i, now, keep))
            .cloned()
            .collect()
    }

    /// Pushes tuples to a few members (never back to `from`).
    fn push(&mut self, items: Vec<Item>, from: Option<&str>, host: &mut dyn Host) {
        if self.pushes_this_tick >= PUSHES_PER_TICK {
            // Past the cap, news waits for the next tick, where it goes out in one
            // message (see `flush`).
            for item in items {
                if self.unpushed.len() < MAX_UNPUSHED {
                    self.unpushed.push(item);
                }
            }
            return;
        }
        self.pushes_this_tick += 1;
        let names: Vec<String> = self
            .view
            .members
            .keys()
            .filter(|a| Some(a.as_str()) != from)
            .cloned()
            .collect();
        let bytes = wire::encode(&Msg::Push {
            items: fit(items, self.params.max_message - 16),
        });
        for peer in random::sample(&names, PUSH_FANOUT, host) {
            self.send(&peer, &bytes, host);
        }
    }

    /// Pushes the news held back last tick, in as few messages as it fits in (what
    /// does not fit in `PUSHES_PER_TICK` messages waits again).
    fn flush(&mut self, host: &mut dyn Host) {
        let mut items = std::mem::take(&mut self.unpushed);
        items.retain(|i| {
            self.tuples
                .map
                .get(&i.key)
                .map_or(false, |t| t.version == i.version && t.home == i.home)
        });
        while !items.is_empty() && self.pushes_this_tick < PUSHES_PER_TICK {
            let batch = fit(items.clone(), self.params.max_message - 16);
            let n = batch.len().max(1);
            items.drain(..n.min(items.len()));
            self.push(batch, None, host);
        }
        self.unpushed = items;
    }

    /// Hands hinted tuples to a contact of their group, a few ticks each, then
    /// drops them here.
    fn hand_off(&mut self, host: &mut dyn Host) {
        let (now, keep) = (self.now, self.params.tombstone_ms);
        self.handed.retain(|_, (_, at)| now.saturating_sub(*at) < keep);
        let hinted = self.tuples.hinted(self.view.my_group, self.params.groups);
        self.handoffs.retain(|k, _| hinted.contains(k));
        let mut by_group: BTreeMap<u32, Vec<Item>> = BTreeMap::new();
        for key in hinted {
            let group = group_of(&key, self.params.groups);
            if self.view.of_group(group).is_empty() {
                continue;
            }
            let ticks = self.handoffs.entry(key.clone()).or_insert(0);
            *ticks += 1;
            if *ticks > HANDOFF_TICKS {
                if let Some(t) = self.tuples.map.get(&key) {
                    self.handed.insert(key.clone(), (t.version, self.now));
                }
                self.tuples.forget(&key);
                self.handoffs.remove(&key);
                continue;
            }
            if let Some(item) = self.tuples.item(&key, self.now) {
                by_group.entry(group).or_default().push(item);
            }
        }
        for (group, items) in by_group {
            let peers = self.view.of_group(group);
            let peer = peers[random::below(peers.len(), host)].clone();
            let bytes = wire::encode(&Msg::Push {
                items: fit(items, self.params.max_message - 16),
            });
            self.send(&peer, &bytes, host);
        }
    }

    /// The group a request for `key` goes to: the key's group, or when this node
    /// knows nobody there, the next group it knows someone in (its own included).
    fn route_group(&self, key: &str) -> u32 {
        let groups = self.params.groups;
        let home = group_of(key, groups);
        (0..groups)
            .map(|i| (home + i) % groups)
            .find(|&g| g == self.view.my_group || !self.view.of_group(g).is_empty())
            .unwrap_or(self.view.my_group)
    }

    /// Answers a request of this node's own group here, when it can: a get when the
    /// key is held, anything once this node is synced.
    fn local(&mut self, id: u64, p: &Pending, host: &mut dyn Host) -> Option<Outcome> {
        match p.op {
            Op::Get => match self.tuples.get(&p.key) {
                Some(_) => Some(self.found(id, p, 0)),
                None if self.synced => Some(outcome(id, p, Status::NotFound, None, 0)),
                None => None,
            },
            Op::Put | Op::Delete if self.synced => Some(self.write(id, p, 0, host)),
            _ => None,
        }
    }

    fn found(&self, id: u64, p: &Pending, hops: u64) -> Outcome {
        let item = self.tuples.item(&p.key, self.now);
        outcome(id, p, Status::Found, item.as_ref(), hops)
    }

    /// Writes a tuple here as its home node and pushes it to the group.
    fn write(&mut self, id: u64, p: &Pending, hops: u64, host: &mut dyn Host) -> Outcome {
        let item = Item {
            key: p.key.clone(),
            version: self.tuples.next_version(&p.key),
            home: self.me.clone(),
            value: if p.op == Op::Put { p.value.clone() } else { None },
            age_ms: 0,
        };
        self.tuples.merge(&item, self.now, self.params.tombstone_ms);
        self.push(vec![item.clone()], None, host);
        outcome(id, p, Status::Stored, Some(&item), hops)
    }

    /// Sends pending request `id` again, to nodes not tried yet: the first time to
    /// one contact of its group (a member when it is this node's group), a retry to two
    /// at once — contacts first, then members of this node's group, which pass it on;
    /// whether there was anyone to send it to.
    fn send_request(&mut self, id: u64, host: &mut dyn Host) -> bool {
        let p = match self.requests.pending.get(&id) {
            Some(p) => p.clone(),
            None => return false,
        };
        let untried = |peers: Vec<String>, host: &mut dyn Host| -> Vec<String> {
            let mut left: Vec<String> = peers.into_iter().filter(|a| !p.tried.contains(a)).collect();
            random::shuffle(&mut left, host);
            left
        };
        let direct = untried(self.view.of_group(p.group), host);
        let mut peers: Vec<(String, bool)> = direct.into_iter().map(|a| (a, false)).collect();
        if p.group != self.view.my_group {
            // Relays may be asked again: a silent relay most likely passed the request
            // to a stale contact, and it passes each one to another at random.
            let mut relays = self.view.of_group(self.view.my_group);
            random::shuffle(&mut relays, host);
            peers.extend(relays.into_iter().map(|a| (a, true)));
        }
        peers.truncate(if p.attempts == 0 { 1 } else { 2 });
        if peers.is_empty() {
            return false;
        }
        for (to, relay) in &peers {
            let bytes = wire::encode(&Msg::Request {
                id,
                origin: self.me.clone(),
                op: p.op,
                key: p.key.clone(),
                value: p.value.clone(),
                hops: 1,
                relay: *relay,
            });
            self.send(to, &bytes, host);
        }
        // Only nodes asked directly are suspected when nothing comes back.
        let direct: Vec<String> = peers.into_iter().filter(|(_, r)| !r).map(|(a, _)| a).collect();
        if let Some(p) = self.requests.pending.get_mut(&id) {
            p.tried.extend(direct.iter().cloned());
            p.waiting = direct;
            p.attempts += 1;
            p.sent_at = self.now;
        }
        true
    }

    /// Requests not answered in time: the nodes asked are dropped as stale and the
    /// request goes elsewhere, or fails after `MAX_ATTEMPTS`.
    fn retry(&mut self, host: &mut dyn Host) {
        let timeout = self.params.lookup_timeout_ms;
        let late: Vec<u64> = self
            .requests
            .pending
            .iter()
            .filter(|(_, p)| self.now.saturating_sub(p.sent_at) >= timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            let (stale, attempts) = {
                let p = &self.requests.pending[&id];
                (p.waiting.clone(), p.attempts)
            };
            // A request of this node's own group that waited for it to sync.
            let p = self.requests.pending[&id].clone();
            if p.group == self.view.my_group && attempts == 0 {
                if let Some(outcome) = self.local(id, &p, host) {
                    self.requests.pending.remove(&id);
                    self.finish(outcome, host);
                    continue;
                }
            }
            for addr in stale {
                self.view.suspect(&addr, self.now);
            }
            let waited = self.now.saturating_sub(self.requests.pending[&id].created_at);
            let sent = attempts < MAX_ATTEMPTS && self.send_request(id, host);
            if !sent && (attempts > 0 || waited >= timeout * MAX_ATTEMPTS) {
                let p = self.requests.pending.remove(&id).expect("pending");
                self.finish(failed(id, &p), host);
            }
        }
    }

    /// A request from another node: answered here when the key's group is this
    /// node's (or this node knows nobody of it and the request is not a relay), else
    /// passed to a contact there.
    #[allow(clippy::too_many_arguments)]
    fn serve(
        &mut self,
        id: u64,
        origin: &str,
        op: Op,
        key: &str,
        value: Option<String>,
        hops: u64,
        relay: bool,
        host: &mut dyn Host,
    ) {
        let p = Pending {
            op,
            key: key.to_string(),
            value,
            group: group_of(key, self.params.groups),
            tried: Vec::new(),
            attempts: 0,
            waiting: Vec::new(),
            sent_at: self.now,
            created_at: self.now,
        };
        let mine = p.group == self.view.my_group;
        let contacts = self.view.of_group(p.group);
        let unsure = mine && !self.synced && (op != Op::Get || self.tuples.get(key).is_none());
        if unsure && (self.view.members.is_empty() || hops >= MAX_HOPS) {
            // Just started and nobody of its group to ask: no answer beats a wrong
            // one (a "not found", a write under too low a version); the origin
            // tries another node.
            return;
        }
        let stuck = relay && !mine && (contacts.is_empty() || hops >= MAX_HOPS);
        if stuck && (op != Op::Get || self.tuples.get(key).is_none()) {
            // A relay with nobody to pass it to answers only a get it holds the key
            // of; else the origin tries elsewhere.
            return;
        }
        let pass_to = if !mine && !contacts.is_empty() && hops < MAX_HOPS {
            Some(contacts)
        } else if unsure {
            Some(self.view.of_group(self.view.my_group))
        } else {
            None
        };
        if let Some(peers) = pass_to {
            // A relay passes it to two contacts at once: the origin turned to it
            // because a contact there was stale.
            let bytes = wire::encode(&Msg::Request {
                id,
                origin: origin.to_string(),
                op,
                key: key.to_string(),
                value: p.value.clone(),
                hops: hops + 1,
                relay: false,
            });
            self.forwarded += 1;
            for to in random::sample(&peers, if relay { 2 } else { 1 }, host) {
                self.send(&to, &bytes, host);
            }
            return;
        }
        self.served += 1;
        let reply = match op {
            Op::Get => match self.tuples.item(key, self.now) {
                Some(item) if item.value.is_some() => Msg::Reply {
                    id,
                    status: Status::Found,
                    hops,
                    key: key.to_string(),
                    item: Some(item),
                },
                _ => Msg::Reply {
                    id,
                    status: Status::NotFound,
                    hops,
                    key: key.to_string(),
                    item: None,
                },
            },
            Op::Put | Op::Delete => {
                self.write(0, &p, hops, host);
                Msg::Reply {
                    id,
                    status: Status::Stored,
                    hops,
                    key: key.to_string(),
                    item: self.tuples.item(key, self.now),
                }
            }
        };
        let bytes = wire::encode(&reply);
        self.send(origin, &bytes, host);
    }

    /// Records an outcome and announces it.
    fn finish(&mut self, outcome: Outcome, host: &mut dyn Host) {
        host.emit("result", outcome_json(&outcome, true).as_bytes());
        self.requests.finish(outcome);
    }

    fn view_json(&self) -> String {
        let list = |out: &mut String, entries: Vec<Entry>| {
            out.push('[');
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_quoted(out, &e.addr);
            }
            out.push(']');
        };
        let mut out = format!("{{\"group\":{},\"members\":", self.view.my_group);
        list(&mut out, self.view.member_entries());
        out.push_str(",\"contacts\":{");
        for (i, (group, table)) in self.view.contacts.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!("\"{}\":", group));
            list(
                &mut out,
                table
                    .keys()
                    .map(|a| Entry {
                        addr: a.clone(),
                        generation: 0,
                        heartbeat: 0,
                    })
                    .collect(),
            );
        }
        out.push_str("}}");
        out
    }
}

/// Whether `a` and `b` are the same version of a tuple.
fn same_tuple(a: &Item, b: &Item) -> bool {
    a.key == b.key && a.version == b.version && a.home == b.home
}

/// Whether `head` and all of `rest` fit in `budget` bytes.
fn fits(head: &[Entry], rest: &[Entry], budget: usize) -> bool {
    head.iter().chain(rest).map(wire::entry_size).sum::<usize>() <= budget
}

/// Appends entries of `more` while the whole stays within `budget` bytes.
fn push_within(entries: &mut Vec<Entry>, more: impl Iterator<Item = Entry>, budget: usize) {
    let mut used: usize = entries.iter().map(wire::entry_size).sum();
    for e in more {
        used += wire::entry_size(&e);
        if used > budget {
            return;
        }
        entries.push(e);
    }
}

/// The first of `items` that fit in `budget` bytes.
fn fit(mut items: Vec<Item>, budget: usize) -> Vec<Item> {
    let mut used = 0;
    items.retain(|i| {
        used += wire::item_size(i);
        used <= budget
    });
    items
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Get => "get",
        Op::Put => "put",
        Op::Delete => "delete",
    }
}

fn outcome(id: u64, p: &Pending, status: Status, item: Option<&Item>, hops: u64) -> Outcome {
    let live = item.filter(|i| i.value.is_some() || status == Status::Stored);
    let status = match (status, live) {
        (Status::Stored, _) => "stored",
        (Status::Found, Some(_)) => "found",
        _ => "not_found",
    };
    Outcome {
        id,
        op: p.op,
        key: p.key.clone(),
        status,
        value: live.and_then(|i| i.value.clone()),
        version: live.map_or(0, |i| i.version),
        home: live.map_or(String::new(), |i| i.home.clone()),
        hops,
    }
}

fn failed(id: u64, p: &Pending) -> Outcome {
    Outcome {
        id,
        op: p.op,
        key: p.key.clone(),
        status: "failed",
        value: None,
        version: 0,
        home: String::new(),
        hops: p.attempts,
    }
}

fn outcome_json(o: &Outcome, done: bool) -> String {
    let mut out = format!(
        "{{\"id\":{},\"done\":{},\"op\":\"{}\",\"key\":",
        o.id,
        done,
        op_name(o.op)
    );
    push_quoted(&mut out, &o.key);
    out.push_str(&format!(",\"status\":\"{}\",\"value\":", o.status));
    match &o.value {
        Some(v) => push_quoted(&mut out, v),
        None => out.push_str("null"),
    }
    out.push_str(&format!(",\"version\":{},\"home\":", o.version));
    push_quoted(&mut out, &o.home);
    out.push_str(&format!(",\"hops\":{}}}", o.hops));
    out
}
