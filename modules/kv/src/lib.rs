//! kv: keyed state owned by the nodes that write it, as a hearsay module (module ABI
//! v2) — what chitchat's node states and Consul's catalog on Serf are used for:
//! service discovery (each node registers `service/web = host:port`, clients watch
//! `service/`) and small shared state.
//!
//! Every node owns the keys it writes; every node holds a replica of every writer's
//! keys (a node that writes nothing is in no replica: a cluster's readers cost
//! nothing). Each tick a node starts a scuttlebutt exchange with `fanout` random peers
//! of its partial view ([`peers`]) (Syn: its digest → SynAck: what it lacks and the
//! peer's digest → Ack: what the peer lacks), every message within `max_message`
//! bytes, so a large state converges over several rounds. A change is also pushed at
//! once to `push_fanout` peers, and each node that learns it from a push passes it on
//! once, so a new key reaches a cluster in a few hops rather than a few rounds. Merge
//! rules, deletes, restarts and liveness: [`store`].
//!
//! # Commands, queries, events
//!
//! Commands (JSON): `{"op":"set","key":K,"value":V}` (optional `"ttl_ms":N`: the
//! key is deleted that long after), `{"op":"delete","key":K}`. Keys are 1–256 bytes,
//! values at most 4 KiB.
//!
//! Queries (text): `get KEY` (every live node's value of KEY), `list PREFIX` (every
//! live key starting with PREFIX; `list` for all), `nodes` (every node known — the
//! writers and this node — with its liveness and watermark), and an empty query for
//! counters (`writers`: live writers known; `peers`: the view's size).
//!
//! Events: `key.set` `{"node","key","value"}` when a key's value is new here, and
//! `key.removed` `{"node","key","reason"}` (reason `deleted`, `dead`: its writer
//! stopped, or `restarted`: its writer came back as a new instance without it). Each
//! change is one event on every node.
//!
//! # Layout
//!
//! - [`store`]: the replicas, digests, deltas and the merge rules.
//! - [`peers`]: whom a node gossips with.
//! - [`wire`]: the messages and their total decoder.
//! - [`params`]: the module's tuning.
//! - this file: gossip rounds, pushes, commands, queries, events, hot swap.

#![warn(missing_docs)]

pub mod keys;
pub mod params;
pub mod peers;
pub mod state;
pub mod store;
pub mod wire;

use hearsay_guest::json::{self, push_quoted, Value};
use hearsay_guest::{export_module_v2, random, Host, Level, Module};
use params::Params;
use peers::PeerView;
use std::collections::{BTreeMap, BTreeSet};
use store::{Change, DigestEntry, Entry, NodeDelta, NodeState, Store};
use wire::Msg;

/// Most entries a `list` answer holds.
const MAX_LIST: usize = 20_000;
/// Writes a push carries at most: the new one and those just before it.
const PUSH_WINDOW: u64 = 8;
/// Exchanges a node starts again per tick with peers that had more to send.
const MAX_FOLLOWUPS: usize = 4;
/// Most nodes asked for by name at once (see [`Kv::wanted`]).
const MAX_WANTED: usize = 64;

/// The kv module.
pub struct Kv {
    params: Params,
    me: String,
    now: u64,
    store: Store,
    /// Whom this node gossips with.
    peers: PeerView,
    /// Nodes a peer's digest named that this node lacks (or knows an older generation
    /// of): the next digest names them — unknown ones as generation 0, "all of it,
    /// please". A digest too large for a message is a sample, and a peer answers
    /// only for the nodes a digest names, so this is how a node learns of nodes in a
    /// cluster whose digests are sampled.
    wanted: BTreeSet<String>,
    /// Payloads sent and received, malformed payloads ignored, pushes sent.
    sent: u64,
    received: u64,
    malformed: u64,
    pushes: u64,
    /// Pushes (writes and news passed on) sent since the last tick; past
    /// `pushes_per_tick`, news waits for anti-entropy, which carries many writes per
    /// message: a burst of writes costs a few full messages, not fanout × N each.
    pushes_this_tick: usize,
    /// Pushes not sent for that reason.
    pushes_skipped: u64,
    /// Writers the last digest named, and writers known then: heartbeats travel in
    /// digests, so where digests are sampled they arrive that much less often.
    digest_cover: (usize, usize),
    /// Exchanges started again since the last tick because a peer had more to send
    /// than one message holds (scuttlebutt's flow control: a node far behind catches
    /// up in a few ticks, not one message per tick).
    followups_this_tick: usize,
}

export_module_v2!(Kv);

fn error(what: &str) -> String {
    let mut out = String::from("{\"error\":");
    push_quoted(&mut out, what);
    out.push('}');
    out
}

impl Module for Kv {
    fn init(params: &str, host: &mut dyn Host) -> Result<Self, String> {
        let params = Params::parse(params)?;
        let me = host.self_addr();
        if me.is_empty() || me.len() > wire::MAX_ADDR {
            return Err(format!("self address must be 1 to {} bytes", wire::MAX_ADDR));
        }
        let now = host.now_ms();
        let mut store = Store::default();
        // A new instance is a new generation: its start time, and randomness in case
        // two start within the same millisecond.
        // (Never 0: a digest's generation 0 asks for everything.)
        let generation = now.saturating_mul(1000) + host.random_u64() % 1000 + 1;
        store.nodes.insert(me.clone(), NodeState::new(generation, 1, now));
        let peers = PeerView::new(&me);
        Ok(Kv {
            params,
            me,
            now,
            store,
            peers,
            wanted: BTreeSet::new(),
            sent: 0,
            received: 0,
            malformed: 0,
            pushes: 0,
            pushes_this_tick: 0,
            pushes_skipped: 0,
            digest_cover: (1, 1),
            followups_this_tick: 0,
        })
    }

    fn tick(&mut self, now_ms: u64, host: &mut dyn Host) {
        self.now = now_ms.max(self.now);
        self.pushes_this_tick = 0;
        self.followups_this_tick = 0;
        let now = self.now;
        {
            let own = self.own_mut();
            own.heartbeat += 1;
            own.heard_at = now;
        }
        let mut changes = Vec::new();
        let expired: Vec<String> = self
            .own()
            .keys
            .iter()
            .filter(|(_, e)| e.value.is_some() && e.expires_at != 0 && e.expires_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            let delta = self.write(&key, None, 0, &mut changes);
            self.push(vec![delta], None, host);
        }
        self.collect_tombstones();
        self.peers.expire(now, self.params.dead_after_ms);
        let dead_after = self.dead_after();
        self.store.check_liveness(
            &self.me,
            now,
            dead_after,
            self.params.forget_after_ms.max(dead_after),
            &mut changes,
        );
        emit(&changes, host);
        let bytes = wire::encode(&self.syn(host));
        let mut peers = self.peers(self.params.fanout, None, host);
        if let Some(seed) = self.seed_peer(&peers, host) {
            peers.push(seed);
        }
        for peer in peers {
            host.send(&peer, &bytes);
            self.sent += 1;
        }
    }

    fn receive(&mut self, from: &str, payload: &[u8], host: &mut dyn Host) {
        self.received += 1;
        let msg = match wire::decode(payload) {
            Some(m) => m,
            None => {
                self.malformed += 1;
                host.log(Level::Debug, &format!("malformed kv message from {}", from));
                return;
            }
        };
        let mut changes = Vec::new();
        self.peers.heard_from(from, self.now, host);
        match msg {
            Msg::Syn {
                complete,
                digest,
                peers,
            } => {
                for p in &peers {
                    self.peers.named(p, self.now, host);
                }
                self.store.note_heartbeats(&digest, self.now);
                self.want(&digest);
                let (mine_complete, mine) = self.digest(self.params.max_message / 2, host);
                let used: usize = mine.iter().map(wire::digest_entry_size).sum();
                let budget = self.params.max_message - 16 - used;
                let deltas = self.deltas_for(&digest, complete, budget, host);
                let peers = self.peers.sample(peers::SAMPLE, host);
                self.reply(
                    from,
                    &Msg::SynAck {
                        complete: mine_complete,
                        digest: mine,
                        peers,
                        deltas,
                    },
                    host,
                );
            }
            Msg::SynAck {
                complete,
                digest,
                peers,
                deltas,
            } => {
                for p in &peers {
                    self.peers.named(p, self.now, host);
                }
                // Most of a full message: the peer likely had more than fitted.
                let full = payload.len() > self.params.max_message * 3 / 4;
                self.apply(&deltas, &mut changes);
                self.store.note_heartbeats(&digest, self.now);
                self.want(&digest);
                let deltas = self.deltas_for(&digest, complete, self.params.max_message - 16, host);
                if !deltas.is_empty() {
                    self.reply(from, &Msg::Ack { deltas }, host);
                }
                if full && self.followups_this_tick < MAX_FOLLOWUPS {
                    self.followups_this_tick += 1;
                    let syn = self.syn(host);
                    self.reply(from, &syn, host);
                }
            }
            Msg::Ack { deltas } => {
                self.apply(&deltas, &mut changes);
            }
            Msg::Push { deltas } => {
                let news = self.apply(&deltas, &mut changes);
                if !news.is_empty() {
                    self.push(news, Some(from), host);
                }
            }
        }
        emit(&changes, host);
    }

    fn query(&mut self, args: &str, _host: &mut dyn Host) -> String {
        let args = args.trim_start();
        if let Some(key) = args.strip_prefix("get ") {
            return self.get(key);
        }
        if args == "list" {
            return self.list("");
        }
        if let Some(prefix) = args.strip_prefix("list ") {
            return self.list(prefix);
        }
        if args.trim() == "nodes" {
            return self.nodes();
        }
        let live_nodes = self.store.nodes.values().filter(|s| s.alive).count();
        let keys: usize = self
            .store
            .nodes
            .values()
            .filter(|s| s.alive)
            .map(|s| s.live().count())
            .sum();
        let mut out = String::from("{\"self\":");
        push_quoted(&mut out, &self.me);
        out.push_str(&format!(
            ",\"generation\":{},\"nodes\":{},\"alive\":{},\"writers\":{},\"peers\":{},\"keys\":{},\"own_keys\":{},\"watermark\":{},\"sent\":{},\"received\":{},\"malformed\":{},\"pushes\":{},\"pushes_skipped\":{},\"dead_after_ms\":{}}}",
            self.own().generation,
            self.store.nodes.len(),
            live_nodes,
            self.store.nodes.values().filter(|s| s.alive && s.has_written()).count(),
            self.peers.len(),
            keys,
            self.own().live().count(),
            self.own().watermark,
            self.sent,
            self.received,
            self.malformed,
            self.pushes,
            self.pushes_skipped,
            self.dead_after()
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
        let mut changes = Vec::new();
        let answer = match doc.get("op").and_then(Value::as_str).unwrap_or("") {
            "set" => {
                let value = match doc.get("value").and_then(Value::as_str) {
                    Some(v) if v.len() <= wire::MAX_VALUE => v.to_string(),
                    _ => return error("\"value\" must be a string of at most 4096 bytes"),
                };
                let ttl = match doc.get("ttl_ms") {
                    None => 0,
                    Some(v) => match v.as_u64() {
                        Some(n) if n > 0 => n,
                        _ => return error("\"ttl_ms\" must be a positive integer"),
                    },
                };
                let expires = if ttl > 0 { self.now.saturating_add(ttl) } else { 0 };
                let delta = self.write(&key, Some(value), expires, &mut changes);
                let version = delta.to;
                self.push(vec![delta], None, host);
                format!("{{\"version\":{}}}", version)
            }
            "delete" => {
                let exists = self.own().keys.get(&key).map_or(false, |e| e.value.is_some());
                if exists {
                    let delta = self.write(&key, None, 0, &mut changes);
                    self.push(vec![delta], None, host);
                }
                format!("{{\"deleted\":{}}}", exists)
            }
            _ => return error("\"op\" must be \"set\" or \"delete\""),
        };
        emit(&changes, host);
        answer
    }

    fn export_state(&self) -> Option<Vec<u8>> {
        Some(state::encode(&self.store))
    }

    fn import_state(&mut self, bytes: &[u8], host: &mut dyn Host) -> bool {
        match state::decode(bytes) {
            Some(store) if store.nodes.contains_key(&self.me) => {
                self.store = store;
                true
            }
            _ => {
                host.log(
                    Level::Warn,
                    "kv: the previous version's state is unreadable; starting fresh",
                );
                false
            }
        }
    }
}

impl Kv {
    fn own(&self) -> &NodeState {
        self.store.nodes.get(&self.me).expect("own state")
    }

    fn own_mut(&mut self) -> &mut NodeState {
        self.store.nodes.get_mut(&self.me).expect("own state")
    }

    /// Writes `key` here (None: deletes it) as the next version; the delta to push.
    fn write(
        &mut self,
        key: &str,
        value: Option<String>,
        expires_at: u64,
        changes: &mut Vec<Change>,
    ) -> NodeDelta {
        let now = self.now;
        let me = self.me.clone();
        let own = self.own_mut();
        let before = own.keys.get(key).and_then(|e| e.value.clone());
        own.watermark += 1;
        let version = own.watermark;
        own.keys.insert(
            key.to_string(),
            Entry {
                value: value.clone(),
                version,
                deleted_at: if value.is_none() { now } else { 0 },
                expires_at,
            },
        );
        if before != value {
            changes.push(Change {
                node: me.clone(),
                key: key.to_string(),
                value: value.clone(),
                reason: if value.is_none() { "deleted" } else { "" },
            });
        }
        // The push carries the writer's last few writes too (within a quarter of a
        // message), so a replica a write or two behind — one that missed the push
        // before, in a burst — can still apply it.
        let budget = self.params.max_message / 4;
        let own = self.own();
        let mut from = version.saturating_sub(PUSH_WINDOW);
        let mut writes: Vec<(String, u64, Option<String>)> = own
            .writes_above(from)
            .into_iter()
            .map(|(k, e)| (k.clone(), e.version, e.value.clone()))
            .collect();
        let size = |w: &(String, u64, Option<String>)| {
            store::WRITE_OVERHEAD + w.0.len() + w.2.as_ref().map_or(0, |v| v.len())
        };
        let mut used: usize = writes.iter().map(size).sum();
        while used > budget && writes.len() > 1 {
            let dropped = writes.remove(0);
            used -= size(&dropped);
            from = dropped.1;
        }
        NodeDelta {
            node: me,
            generation: own.generation,
            heartbeat: own.heartbeat,
            gc_version: own.gc_version,
            reset: false,
            from,
            to: version,
            writes,
        }
    }

    /// Drops this node's tombstones older than `tombstone_ms`, giving every entry that
    /// stays a new version above the old watermark (see [`store`]).
    fn collect_tombstones(&mut self) {
        let now = self.now;
        let keep_for = self.params.tombstone_ms;
        let own = self.own_mut();
        let old = |e: &Entry| e.value.is_none() && now.saturating_sub(e.deleted_at) >= keep_for;
        if !own.keys.values().any(old) {
            return;
        }
        own.keys.retain(|_, e| !old(e));
        own.gc_version = own.watermark;
        let mut stay: Vec<(String, u64)> = own.keys.iter().map(|(k, e)| (k.clone(), e.version)).collect();
        stay.sort_by_key(|(_, v)| *v);
        for (key, _) in stay {
            own.watermark += 1;
            let version = own.watermark;
            if let Some(e) = own.keys.get_mut(&key) {
                e.version = version;
            }
        }
    }

    /// How long a writer's heartbeat may stand still before it counts as dead:
    /// `dead_after_ms`, times writers known / writers a digest holds when digests are
    /// sampled (at most 16×). A digest names a writer, and so passes its heartbeat on,
    /// that much less often: at 10,000 simulated nodes with 2,000 writers (a third of
    /// them per digest) some of the 20 million (node, writer) pairs always went 10 s
    /// without news, so nearly every node counted some live writer dead at any moment
    /// and the keys never converged.
    fn dead_after(&self) -> u64 {
        let (named, known) = self.digest_cover;
        let scale = (known as u64 * 1000 / named.max(1) as u64).clamp(1000, 16_000);
        self.params.dead_after_ms.saturating_mul(scale) / 1000
    }

    /// Notes the nodes of a peer's digest this node lacks, or knows an older
    /// generation of.
    fn want(&mut self, digest: &[DigestEntry]) {
        for d in digest {
            if self.wanted.len() >= MAX_WANTED {
                return;
            }
            let behind = match self.store.nodes.get(&d.node) {
                Some(s) => s.generation < d.generation,
                None => {
                    d.node != self.me
                        && d.generation > 0
                        && !self.store.is_forgotten(&d.node, d.generation, d.heartbeat)
                }
            };
            if behind {
                self.wanted.insert(d.node.clone());
            }
        }
    }

    /// This node's digest within `budget` bytes: every node when it fits, else a
    /// random sample (and `false`); the wanted nodes first, named once.
    fn digest(&mut self, budget: usize, host: &mut dyn Host) -> (bool, Vec<DigestEntry>) {
        let wanted = std::mem::take(&mut self.wanted);
        let mut front: Vec<DigestEntry> = wanted
            .iter()
            .filter(|n| !self.store.nodes.contains_key(*n))
            .map(|node| DigestEntry {
                node: node.clone(),
                generation: 0,
                heartbeat: 0,
                watermark: 0,
            })
            .collect();
        let mut rest = Vec::new();
        for d in self.store.digest() {
            if wanted.contains(&d.node) {
                front.push(d);
            } else {
                rest.push(d);
            }
        }
        let size: usize = front.iter().chain(&rest).map(wire::digest_entry_size).sum();
        let complete = size <= budget;
        if !complete {
            random::shuffle(&mut rest, host);
        }
        front.append(&mut rest);
        let known = front.len();
        let mut used = 0;
        front.retain(|d| {
            used += wire::digest_entry_size(d);
            used <= budget
        });
        self.digest_cover = (front.len(), known);
        (complete, front)
    }

    /// An exchange's opening: this node's digest, in a whole message.
    fn syn(&mut self, host: &mut dyn Host) -> Msg {
        let peers = self.peers.sample(peers::SAMPLE, host);
        let budget = self.params.max_message - 16 - peers.iter().map(|p| p.len() + 2).sum::<usize>();
        let (complete, digest) = self.digest(budget, host);
        Msg::Syn {
            complete,
            digest,
            peers,
        }
    }

    /// What a peer with `digest` lacks, nodes in random order, within `budget` bytes.
    fn deltas_for(
        &self,
        digest: &[DigestEntry],
        complete: bool,
        budget: usize,
        host: &mut dyn Host,
    ) -> Vec<NodeDelta> {
        let mut order: Vec<&str> = self.store.nodes.keys().map(|k| k.as_str()).collect();
        random::shuffle(&mut order, host);
        self.store.deltas_for(digest, complete, &order, budget)
    }

    /// Applies deltas; returns those that brought news here.
    fn apply(&mut self, deltas: &[NodeDelta], changes: &mut Vec<Change>) -> Vec<NodeDelta> {
        let mut news = Vec::new();
        for d in deltas {
            if self.store.apply(&self.me, d, self.now, changes) {
                news.push(d.clone());
            }
        }
        news
    }

    /// Up to `n` random peers of the view (bootstrap peers too when it holds fewer),
    /// never this node or `except`.
    fn peers(&self, n: usize, except: Option<&str>, host: &mut dyn Host) -> Vec<String> {
        let ok = |a: &str| a != self.me && Some(a) != except;
        let mut live: Vec<String> = self.peers.addrs().into_iter().filter(|a| ok(a)).collect();
        if live.len() < n {
            for b in host.bootstrap_peers() {
                if ok(&b) && !live.contains(&b) {
                    live.push(b);
                }
            }
        }
        random::sample(&live, n, host)
    }

    /// Now and then a bootstrap peer besides `chosen` (as chitchat's seed nodes): with
    /// probability bootstrap peers / (nodes known + 1), so a cluster that formed as
    /// islands — nodes that met through different peers first — always joins up.
    fn seed_peer(&self, chosen: &[String], host: &mut dyn Host) -> Option<String> {
        let seeds: Vec<String> = host
            .bootstrap_peers()
            .into_iter()
            .filter(|b| *b != self.me && !chosen.contains(b))
            .collect();
        if seeds.is_empty() {
            return None;
        }
        // The cluster's size as this node can tell: its view, or the writers it knows
        // when they are more (a view is at most 32).
        let writers = self
            .store
            .nodes
            .values()
            .filter(|s| s.alive && s.has_written())
            .count();
        if random::below(self.peers.len().max(writers) + 1, host) >= seeds.len() {
            return None;
        }
        let at = random::below(seeds.len(), host);
        Some(seeds[at].clone())
    }

    /// Pushes `deltas` to `push_fanout` random peers (not back to `from`).
    fn push(&mut self, deltas: Vec<NodeDelta>, from: Option<&str>, host: &mut dyn Host) {
        if self.params.push_fanout == 0 {
            return;
        }
        if self.pushes_this_tick >= self.params.pushes_per_tick {
            self.pushes_skipped += 1;
            return;
        }
        self.pushes_this_tick += 1;
        let bytes = wire::encode(&Msg::Push { deltas });
        if bytes.len() > self.params.max_message {
            return;
        }
        for peer in self.peers(self.params.push_fanout, from, host) {
            host.send(&peer, &bytes);
            self.sent += 1;
            self.pushes += 1;
        }
    }

    fn reply(&mut self, to: &str, msg: &Msg, host: &mut dyn Host) {
        host.send(to, &wire::encode(msg));
        self.sent += 1;
    }

    fn get(&self, key: &str) -> String {
        let mut out = String::from("{\"key\":");
        push_quoted(&mut out, key);
        out.push_str(",\"values\":[");
        let mut first = true;
        for (node, s) in self.store.nodes.iter().filter(|(_, s)| s.alive) {
            if let Some(Entry {
                value: Some(v),
                version,
                ..
            }) = s.keys.get(key)
            {
                if !first {
                    out.push(',');
                }
                first = false;
                push_entry(&mut out, node, None, v, *version);
            }
        }
        out.push_str("]}");
        out
    }

    fn list(&self, prefix: &str) -> String {
        let mut out = String::from("{\"prefix\":");
        push_quoted(&mut out, prefix);
        out.push_str(",\"keys\":[");
        let mut n = 0;
        let mut truncated = false;
        // Keys in order, then writers: the entries of one key side by side.
        let mut all: BTreeMap<(&String, &String), (&String, u64)> = BTreeMap::new();
        for (node, s) in self.store.nodes.iter().filter(|(_, s)| s.alive) {
            for (key, e) in s.keys.from(prefix) {
                if !key.starts_with(prefix) {
                    break;
                }
                if let Some(v) = &e.value {
                    all.insert((key, node), (v, e.version));
                }
            }
        }
        for ((key, node), (value, version)) in all {
            if n == MAX_LIST {
                truncated = true;
                break;
            }
            if n > 0 {
                out.push(',');
            }
            n += 1;
            push_entry(&mut out, node, Some(key), value, version);
        }
        out.push_str(&format!("],\"count\":{},\"truncated\":{}}}", n, truncated));
        out
    }

    fn nodes(&self) -> String {
        let mut out = String::from("{\"nodes\":[");
        for (i, (node, s)) in self.store.nodes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"node\":");
            push_quoted(&mut out, node);
            out.push_str(&format!(
                ",\"alive\":{},\"generation\":{},\"heartbeat\":{},\"watermark\":{},\"gc_version\":{},\"keys\":{},\"heard_ms_ago\":{}}}",
                s.alive,
                s.generation,
                s.heartbeat,
                s.watermark,
                s.gc_version,
                s.live().count(),
                self.now.saturating_sub(s.heard_at)
            ));
        }
        out.push_str("]}");
        out
    }
}

fn push_entry(out: &mut String, node: &str, key: Option<&str>, value: &str, version: u64) {
    out.push_str("{\"node\":");
    push_quoted(out, node);
    if let Some(key) = key {
        out.push_str(",\"key\":");
        push_quoted(out, key);
    }
    out.push_str(",\"value\":");
    push_quoted(out, value);
    out.push_str(&format!(",\"version\":{}}}", version));
}

/// One event per change.
fn emit(changes: &[Change], host: &mut dyn Host) {
    for c in changes {
        let mut data = String::from("{\"node\":");
        push_quoted(&mut data, &c.node);
        data.push_str(",\"key\":");
        push_quoted(&mut data, &c.key);
        match &c.value {
            Some(v) => {
                data.push_str(",\"value\":");
                push_quoted(&mut data, v);
                data.push('}');
                host.emit("key.set", data.as_bytes());
            }
            None => {
                data.push_str(",\"reason\":");
                push_quoted(&mut data, c.reason);
                data.push('}');
                host.emit("key.removed", data.as_bytes());
            }
        }
    }
}
