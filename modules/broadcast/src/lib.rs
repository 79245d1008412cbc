//! broadcast: publish/subscribe over HyParView + Plumtree, one overlay per topic, as
//! a hearsay module (module ABI v2).
//!
//! Every node running the module is in the *base* overlay (topic `""`), joined
//! through the host's bootstrap peers. A node that subscribes to topic `t` joins `t`'s
//! own overlay — HyParView views and a Plumtree among `t`'s subscribers only
//! (gossiperl's "multiple overlays") — through a subscriber it knows of. Every node
//! keeps a small directory of subscribers per topic. A node subscribing while it knows
//! fewer than 5 subscribers of the topic announces itself over the base overlay's tree
//! (every directory learns it), after a random wait of up to 4 s and only if it still
//! knows fewer then: the first subscribers of a topic do, the rest of a popular topic's
//! don't — even when all subscribe at once — so announcements cost a few broadcasts
//! per topic, not one per subscriber. A node whose directory has none for `t` sends a `FindTopic` random
//! walk over the base overlay, which the first subscriber on its way (or a node that
//! knows one) answers; subscribers walk now and then too, so the directories keep
//! sampling the topic's members and bridge its overlay if it ever splits. A
//! subscriber alone for `announce_ms` announces itself again. A message published at a subscriber is broadcast in its topic's overlay;
//! one published elsewhere is handed to two known subscribers, which broadcast it
//! under the same id (delivered once, whichever arrives first).
//!
//! # Layout
//!
//! - [`wire`]: the messages and their total decoder.
//! - [`hyparview`]: peer sampling (active and passive views) of one overlay.
//! - [`plumtree`]: the broadcast tree of one overlay.
//! - [`overlay`]: the two kept in step.
//! - [`params`]: the module's tuning.
//! - this file: topics, the directory, commands, events and queries.
//!
//! # Commands, events, queries
//!
//! Commands (JSON): `{"op":"subscribe","topic":"a"}`, `{"op":"unsubscribe","topic":"a"}`,
//! `{"op":"publish","topic":"a","message":"text"}` (answers `{"id":"…"}`). Topics are
//! 1–64 bytes; messages at most 16 KiB. Each message delivered to a subscriber is an
//! event of kind `message`: `{"topic","id","hops","origin","message"}`. Query: the
//! topics subscribed here with their views and counters, the base overlay, and how many
//! subscribers the directory knows per topic; `seen ID`: whether message `ID` was
//! delivered here, after how many hops and when (what the simulator and the bench
//! measure with).

#![warn(missing_docs)]

pub mod hyparview;
pub mod overlay;
pub mod params;
pub mod plumtree;
pub mod wire;

use hearsay_guest::json::{self, push_quoted, Value};
use hearsay_guest::{export_module_v2, Host, Level, Module};
use overlay::Overlay;
use params::Params;
use plumtree::TreeParams;
use std::collections::BTreeMap;
use wire::Msg;

/// Hops a FindTopic walk takes at most.
const FIND_TTL: u8 = 8;
/// A subscriber a FindTopic walk meets answers only once the walk has taken this many
/// hops (a node with no link in the topic takes the first it meets): the answers are
/// then random subscribers rather than the asker's neighbours, so nodes that all
/// subscribe at once link into one random graph, not into islands of neighbours.
const FIND_MIN_HOPS: u8 = 3;
/// A topic without a contact asks again this often.
const FIND_EVERY_MS: u64 = 1_000;
/// Subscribers the directory keeps per topic.
const DIRECTORY_PER_TOPIC: usize = 16;
/// A node subscribing while its directory knows fewer subscribers of the topic than
/// this announces itself to the cluster. Few: the directories fill further from
/// FindTopic walks, and every announcement is a broadcast to every node. When 2,000
/// simulated nodes subscribed at once, 8 here (with a 2 s wait) let ~600 of them
/// announce — the base tree, cut by concurrent prunes, spread them too slowly to
/// silence the rest — and `hearsay sim pubsub` took 74 s and 490 MB; 5 with a 4 s
/// wait, 31 s and 116 MB (3 left too few for the topic overlays to settle: more
/// redundancy in the native tests).
const ANNOUNCE_BELOW: usize = 5;
/// A subscription that is to be announced waits a random time below this first, and
/// is announced only if the directory still knows too few subscribers then: when a
/// whole cluster subscribes at once (an application started everywhere), the first
/// announcements fill every directory and silence the rest, instead of every
/// subscriber flooding the cluster — N broadcasts of N messages each.
const ANNOUNCE_JITTER_MS: u64 = 4_000;
/// How long a new subscription looks for random subscribers to fill its active view.
const FILL_MS: u64 = 30_000;
/// Known subscribers a message published outside its topic is handed to.
const HANDOFF_TO: usize = 2;
/// Publishes waiting for a contact, per topic.
const MAX_WAITING: usize = 256;
/// One tick in this many, a node asks a random known member of each overlay to be a
/// neighbour: islands (a group whose views only hold each other, e.g. formed while
/// joins were lost or while the base overlay was split) get bridged.
const REACH_OUT_ONE_IN: u64 = 32;
/// One reach-out in this many is granted even by a full view (a random link of the
/// asked node makes room): islands whose views are all full still merge, while the
/// overlay's links change rarely enough (once in ~50 s per node at 200 ms ticks) for
/// the broadcast trees to stay settled.
const HIGH_REACH_ONE_IN: u64 = 32;
/// A subscription is settled this long after it was made. From then on its reach-outs
/// are `Bridge`s (`HyParView::bridge`) instead of plain requests, granted between
/// islands that carried different messages or between views that both have room (see
/// overlay.rs), never just because they were asked: each granted high request replaces
/// a link of the asked node, a cut in every tree through it. At
/// 1,000 simulated nodes the rate above replaced 4.5 links a second; one in 512 of
/// them still made ~22 link changes per message at 10,000 nodes, a last delivery hop
/// of 16 where the trees gave 11. A quiet island (no message yet) whose views are full
/// stays one until a message is published on either side: the first Bridge after that
/// joins them, and the new links announce what the caches hold (`cache_ms`).
const SETTLED_MS: u64 = 30_000;

/// A message published here for a topic this node does not subscribe to, waiting for
/// a subscriber to hand it to.
#[derive(Debug, Clone)]
struct Waiting {
    id: u64,
    data: Vec<u8>,
    since_ms: u64,
}

/// The module.
#[derive(Debug, Clone)]
pub struct Broadcast {
    params: Params,
    me: String,
    now_ms: u64,
    base: Overlay,
    topics: BTreeMap<String, Overlay>,
    /// topic → subscriber → when last heard announcing it.
    directory: BTreeMap<String, BTreeMap<String, u64>>,
    /// topic → when a FindTopic walk last went out.
    finding: BTreeMap<String, u64>,
    waiting: BTreeMap<String, Vec<Waiting>>,
    /// topic → (when subscribed here, when last announced).
    lonely_since: BTreeMap<String, (u64, Option<u64>)>,
    /// topic → when it was subscribed here.
    subscribed_at: BTreeMap<String, u64>,
    /// topic → when its subscription is to be announced, if still needed then.
    announce_due: BTreeMap<String, u64>,
    published: u64,
    delivered: u64,
    events_sent: u64,
}

export_module_v2!(Broadcast);

fn valid_topic(t: &str) -> bool {
    !t.is_empty() && t.len() <= wire::MAX_TOPIC
}

/// An announcement on the base overlay: `kind (1 subscribe, 0 unsubscribe), topic`.
fn announcement(subscribe: bool, topic: &str) -> Vec<u8> {
    let mut out = vec![subscribe as u8];
    out.extend_from_slice(topic.as_bytes());
    out
}

impl Module for Broadcast {
    fn init(params: &str, host: &mut dyn Host) -> Result<Self, String> {
        let params = Params::parse(params)?;
        let me = host.self_addr();
        if me.is_empty() || me.len() > wire::MAX_ADDR {
            return Err(format!("self address must be 1 to {} bytes", wire::MAX_ADDR));
        }
        let now_ms = host.now_ms();
        Ok(Broadcast {
            // Announcements come from ever other nodes: the shared tree serves them.
            base: Overlay::new(
                &me,
                params.view,
                TreeParams {
                    own_trees: 0,
                    ..params.tree
                },
                now_ms,
            ),
            params,
            me,
            now_ms,
            topics: BTreeMap::new(),
            directory: BTreeMap::new(),
            finding: BTreeMap::new(),
            waiting: BTreeMap::new(),
            lonely_since: BTreeMap::new(),
            announce_due: BTreeMap::new(),
            subscribed_at: BTreeMap::new(),
            published: 0,
            delivered: 0,
            events_sent: 0,
        })
    }

    fn tick(&mut self, now_ms: u64, host: &mut dyn Host) {
        self.now_ms = now_ms;
        // The rendezvous list once per tick: this node's own address in it makes this
        // a rendezvous node; the others are the bootstrap peers.
        let (mine, bootstrap): (Vec<String>, Vec<String>) =
            host.bootstrap_peers().into_iter().partition(|p| *p == self.me);
        let rendezvous = !mine.is_empty();
        if self.base.view.active().is_empty() && !self.base.view.is_asking(now_ms) {
            if let Some(contact) = hyparview::sample(&bootstrap, 1, host).pop() {
                self.base.view.join(&contact, now_ms);
            }
        }
        self.base.view.protect(&bootstrap);
        // A rendezvous node keeps a link to another one, and now and then adds one to
        // a random other (every node joins through them; one that was joined before
        // it joined anyone would otherwise head an island of its own, and pairs of
        // them islands of two). Those links are kept when the view makes room, so
        // the rendezvous nodes end up one connected backbone.
        let active = self.base.view.active();
        let linked = active.iter().any(|a| bootstrap.contains(a));
        let now_and_then = host.random_u64() % REACH_OUT_ONE_IN == 0;
        if rendezvous && (!linked || now_and_then) && !self.base.view.is_asking(now_ms) {
            let others: Vec<String> = bootstrap
                .iter()
                .filter(|b| !active.contains(b))
                .cloned()
                .collect();
            if let Some(peer) = hyparview::sample(&others, 1, host).pop() {
                self.base.view.reach_out(&peer, true, now_ms);
            }
        }
        self.base
            .view
            .suggest(&hyparview::sample(&bootstrap, 2, host), host);
        if host.random_u64() % REACH_OUT_ONE_IN == 0 {
            if let Some(peer) = hyparview::sample(&bootstrap, 1, host).pop() {
                self.base
                    .view
                    .reach_out(&peer, host.random_u64() % HIGH_REACH_ONE_IN == 0, now_ms);
            }
        }
        self.base.tick(now_ms, host);
        let topics: Vec<String> = self.topics.keys().cloned().collect();
        for topic in &topics {
            let lonely = self.topics[topic].view.active().is_empty();
            let asking = self.topics[topic].view.is_asking(now_ms);
            if lonely && !asking {
                match self.contacts(topic, 1, host).pop() {
                    Some(contact) => self.topics.get_mut(topic).unwrap().view.join(&contact, now_ms),
                    None => self.find(topic, now_ms, host),
                }
            }
            let known = self.contacts(topic, 3, host);
            let reach = host.random_u64() % REACH_OUT_ONE_IN == 0;
            // For its first FILL_MS a subscription walks (at most once a second) while
            // its active view has room and its passive view few candidates to fill it.
            let view = &self.topics[topic].view;
            let filling = self
                .subscribed_at
                .get(topic)
                .map_or(false, |at| now_ms.saturating_sub(*at) < FILL_MS);
            let room = filling
                && view.active().len() < self.params.view.active
                && view.passive().len() < self.params.view.active;
            if (reach || room) && !lonely {
                // A random walk over the base overlay finds a random subscriber (whose
                // island, if the topic's overlay is split, is likely another), for the
                // directory and the next reach-out.
                self.find(topic, now_ms, host);
            }
            let settled = self
                .subscribed_at
                .get(topic)
                .map_or(true, |at| now_ms.saturating_sub(*at) >= SETTLED_MS);
            let o = self.topics.get_mut(topic).unwrap();
            o.view.settle(settled);
            o.view.suggest(&known, host);
            if reach && !lonely {
                if let Some(peer) = known.first() {
                    if settled {
                        let recent = o.tree.recent(now_ms);
                        o.view.bridge(peer, recent, now_ms);
                    } else {
                        let high = host.random_u64() % HIGH_REACH_ONE_IN == 0;
                        o.view.reach_out(peer, high, now_ms);
                    }
                }
            }
            o.tick(now_ms, host);
        }
        let due: Vec<String> = self
            .announce_due
            .iter()
            .filter(|(_, at)| **at <= now_ms)
            .map(|(t, _)| t.clone())
            .collect();
        for topic in due {
            self.announce_due.remove(&topic);
            let known = self.directory.get(&topic).map_or(0, |s| s.len());
            if self.topics.contains_key(&topic) && known < ANNOUNCE_BELOW {
                self.announce(true, &topic, host);
                if let Some(entry) = self.lonely_since.get_mut(&topic) {
                    entry.1 = Some(now_ms);
                }
            }
        }
        for topic in &topics {
            let linked = !self.topics[topic].view.active().is_empty();
            let (since, last) = *self.lonely_since.entry(topic.clone()).or_insert((now_ms, None));
            if linked {
                self.lonely_since.insert(topic.clone(), (now_ms, last));
                continue;
            }
            let due = match last {
                None => now_ms.saturating_sub(since) >= self.params.announce_ms,
                Some(at) => now_ms.saturating_sub(at) >= self.params.announce_ms,
            };
            if due {
                self.lonely_since.insert(topic.clone(), (since, Some(now_ms)));
                self.announce(true, topic, host);
            }
        }
        self.hand_off_waiting(host);
        self.flush(host);
    }

    fn receive(&mut self, from: &str, payload: &[u8], host: &mut dyn Host) {
        let (topic, msg) = match wire::decode(payload) {
            Some(m) => m,
            None => {
                host.log(
                    Level::Debug,
                    &format!("ignored a malformed message from {}", from),
                );
                return;
            }
        };
        let now = host.now_ms().max(self.now_ms);
        match &msg {
            Msg::FindTopic { origin, ttl } => {
                self.on_find(&topic, origin, *ttl, from, host);
            }
            Msg::TopicContact => {
                self.learn(&topic, from, now);
                if let Some(o) = self.topics.get_mut(&topic) {
                    if o.view.active().is_empty() && !o.view.is_asking(now) {
                        o.view.join(from, now);
                    } else {
                        // A random subscriber: a candidate for the next free slot of
                        // the active view.
                        o.view.consider(from, host);
                    }
                }
            }
            _ if topic.is_empty() => self.base.receive(from, &msg, now, host),
            _ => {
                if matches!(msg, Msg::Disconnect) {
                    // A directory entry that turned out not to subscribe (any more).
                    let lonely = self.topics.get(&topic).map_or(true, |o| !o.view.is_active(from));
                    if lonely {
                        if let Some(subs) = self.directory.get_mut(&topic) {
                            subs.remove(from);
                        }
                    }
                }
                if let Some(o) = self.topics.get_mut(&topic) {
                    o.receive(from, &msg, now, host);
                } else if matches!(msg, Msg::Join | Msg::Neighbor { .. } | Msg::ForwardJoin { .. }) {
                    // Not (or no longer) a subscriber: the asker learns it at once.
                    self.send(from, &topic, &Msg::Disconnect, host);
                }
            }
        }
        self.flush(host);
    }

    fn query(&mut self, args: &str, _host: &mut dyn Host) -> String {
        if let Some(id) = args.trim().strip_prefix("seen ") {
            return self.seen(id.trim());
        }
        let mut out = String::from("{\"self\":");
        push_quoted(&mut out, &self.me);
        let sent: u64 = self.topics.values().map(|o| o.tree.gossip_sent).sum();
        out.push_str(&format!(
            ",\"published\":{},\"delivered\":{},\"payloads_sent\":{},\"base\":",
            self.published, self.delivered, sent
        ));
        push_overlay(&mut out, &self.base);
        out.push_str(",\"topics\":{");
        for (i, (topic, o)) in self.topics.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_quoted(&mut out, topic);
            out.push(':');
            push_overlay(&mut out, o);
        }
        out.push_str("},\"directory\":{");
        for (i, (topic, subs)) in self.directory.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_quoted(&mut out, topic);
            out.push_str(&format!(":{}", subs.len()));
        }
        out.push_str("}}");
        out
    }

    fn command(&mut self, args: &str, host: &mut dyn Host) -> String {
        // Between ticks: a publish is stamped with the time it happens, not the last
        // tick's.
        self.now_ms = host.now_ms().max(self.now_ms);
        let doc = match json::parse(args) {
            Ok(d) => d,
            Err(e) => return error(&format!("args must be JSON: {}", e)),
        };
        let op = doc.get("op").and_then(Value::as_str).unwrap_or("");
        let topic = doc.get("topic").and_then(Value::as_str).unwrap_or("").to_string();
        if !valid_topic(&topic) {
            return error("topic must be 1 to 64 bytes");
        }
        let answer = match op {
            "subscribe" => {
                self.subscribe(&topic, host);
                self.subscriptions()
            }
            "unsubscribe" => {
                self.unsubscribe(&topic, host);
                self.subscriptions()
            }
            "publish" => {
                let message = match doc.get("message").and_then(Value::as_str) {
                    Some(m) => m,
                    None => return error("publish needs \"message\", a string"),
                };
                if message.len() > wire::MAX_DATA {
                    return error("message over 16 KiB");
                }
                let id = self.publish(&topic, message.as_bytes().to_vec(), host);
                format!("{{\"id\":\"{:016x}\"}}", id)
            }
            _ => return error("op must be subscribe, unsubscribe or publish"),
        };
        self.flush(host);
        answer
    }

    fn leave(&mut self, host: &mut dyn Host) {
        let now = self.now_ms;
        for o in self.topics.values_mut() {
            o.view.leave(now);
        }
        self.base.view.leave(now);
        self.flush(host);
    }

    fn export_state(&self) -> Option<Vec<u8>> {
        // The subscriptions; the views rebuild from the directory within a round.
        let mut out = vec![1u8];
        for topic in self.topics.keys() {
            out.extend_from_slice(topic.as_bytes());
            out.push(b'\n');
        }
        Some(out)
    }

    fn import_state(&mut self, state: &[u8], host: &mut dyn Host) -> bool {
        if state.first() != Some(&1) {
            return false;
        }
        let text = match std::str::from_utf8(&state[1..]) {
            Ok(t) => t,
            Err(_) => return false,
        };
        for topic in text.split('\n').filter(|t| valid_topic(t)) {
            self.subscribe(topic, host);
        }
        true
    }
}

fn error(what: &str) -> String {
    let mut out = String::from("{\"error\":");
    push_quoted(&mut out, what);
    out.push('}');
    out
}

fn push_overlay(out: &mut String, o: &Overlay) {
    let (eager, lazy) = o.tree.links();
    out.push_str("{\"active\":[");
    for (i, a) in o.view.active().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_quoted(out, a);
    }
    out.push_str(&format!(
        "],\"passive\":{},\"eager\":{},\"lazy\":{},\"own_trees\":{},\"duplicates\":{},\"grafts\":{},\"swaps\":{},\"link_changes\":{}}}",
        o.view.passive().len(),
        eager,
        lazy,
        o.tree.own_trees(),
        o.tree.duplicates,
        o.tree.grafts,
        o.tree.swaps,
        o.tree.link_changes
    ));
}

impl Broadcast {
    /// Query `seen ID`: whether a topic overlay here delivered message `ID` (16 hex
    /// digits), after how many hops, and when (the host's clock, ms).
    fn seen(&self, id: &str) -> String {
        let id = match u64::from_str_radix(id, 16) {
            Ok(id) => id,
            Err(_) => return error("seen: expected a message id (16 hex digits)"),
        };
        match self.topics.values().find_map(|o| o.tree.delivery(id)) {
            Some((at_ms, hops)) => format!("{{\"seen\":true,\"hops\":{},\"at_ms\":{}}}", hops, at_ms),
            None => "{\"seen\":false,\"hops\":null,\"at_ms\":null}".to_string(),
        }
    }

    fn subscriptions(&self) -> String {
        let mut out = String::from("{\"subscribed\":[");
        for (i, t) in self.topics.keys().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_quoted(&mut out, t);
        }
        out.push_str("]}");
        out
    }

    /// Joins `topic`'s overlay (through a known subscriber, or once one is found)
    /// and tells the cluster.
    pub fn subscribe(&mut self, topic: &str, host: &mut dyn Host) {
        if self.topics.contains_key(topic) {
            return;
        }
        let mut o = Overlay::new(&self.me, self.params.view, self.params.tree, self.now_ms);
        if let Some(contact) = self.contacts(topic, 1, host).pop() {
            o.view.join(&contact, self.now_ms);
        }
        self.topics.insert(topic.to_string(), o);
        // While few subscribers of the topic are known here, the cluster hears of this
        // one: the first subscribers of a topic announce themselves, so every node's
        // directory holds a few; the rest of a popular topic's subscribers don't.
        let known = self.directory.get(topic).map_or(0, |s| s.len());
        if known < ANNOUNCE_BELOW {
            let due = self.now_ms + host.random_u64() % ANNOUNCE_JITTER_MS;
            self.announce_due.insert(topic.to_string(), due);
        }
        self.lonely_since.insert(topic.to_string(), (self.now_ms, None));
        self.subscribed_at.insert(topic.to_string(), self.now_ms);
    }

    /// Leaves `topic`'s overlay and tells the cluster.
    pub fn unsubscribe(&mut self, topic: &str, host: &mut dyn Host) {
        if let Some(mut o) = self.topics.remove(topic) {
            o.view.leave(self.now_ms);
            for (to, msg) in o.take_out(self.now_ms) {
                self.send(&to, topic, &msg, host);
            }
            self.announce_due.remove(topic);
            self.subscribed_at.remove(topic);
            // Only an announced subscription is taken back the same way.
            if let Some((_, Some(_))) = self.lonely_since.remove(topic) {
                self.announce(false, topic, host);
            }
        }
    }

    /// Publishes `data` on `topic`: broadcast in its overlay if subscribed here, else
    /// handed to known subscribers (or kept until one is known). Returns the id.
    pub fn publish(&mut self, topic: &str, data: Vec<u8>, host: &mut dyn Host) -> u64 {
        let id = host.random_u64().max(1); // 0 is plumtree::LINK_ONLY
        self.published += 1;
        let now = self.now_ms;
        let me = self.me.clone();
        if let Some(o) = self.topics.get_mut(topic) {
            o.tree.broadcast(id, &me, data, now);
        } else {
            let queue = self.waiting.entry(topic.to_string()).or_default();
            if queue.len() < MAX_WAITING {
                queue.push(Waiting {
                    id,
                    data,
                    since_ms: now,
                });
            }
            self.hand_off_waiting(host);
        }
        id
    }

    /// Hands waiting publishes to known subscribers of their topics; asks for
    /// subscribers of topics without any. Given up after a minute.
    fn hand_off_waiting(&mut self, host: &mut dyn Host) {
        let topics: Vec<String> = self.waiting.keys().cloned().collect();
        for topic in topics {
            let contacts = self.contacts(&topic, HANDOFF_TO, host);
            if contacts.is_empty() {
                let now = self.now_ms;
                if let Some(q) = self.waiting.get_mut(&topic) {
                    q.retain(|w| now.saturating_sub(w.since_ms) < 60_000);
                }
                self.find(&topic, now, host);
                continue;
            }
            for w in self.waiting.remove(&topic).unwrap_or_default() {
                let msg = Msg::Gossip {
                    id: w.id,
                    round: 0,
                    origin: self.me.clone(),
                    data: w.data,
                    // Its entry points vary: a tree rooted here would not be one tree.
                    own: false,
                };
                for c in &contacts {
                    self.send(c, &topic, &msg, host);
                }
            }
        }
        self.waiting.retain(|_, q| !q.is_empty());
    }

    /// Up to `k` random known subscribers of `topic` (never this node).
    fn contacts(&self, topic: &str, k: usize, host: &mut dyn Host) -> Vec<String> {
        let known: Vec<String> = self
            .directory
            .get(topic)
            .map(|s| s.keys().filter(|a| **a != self.me).cloned().collect())
            .unwrap_or_default();
        hyparview::sample(&known, k, host)
    }

    fn learn(&mut self, topic: &str, subscriber: &str, now: u64) {
        if !valid_topic(topic) || subscriber == self.me {
            return;
        }
        let subs = self.directory.entry(topic.to_string()).or_default();
        if subs.len() >= DIRECTORY_PER_TOPIC && !subs.contains_key(subscriber) {
            // Full: the longest silent one makes room.
            if let Some(oldest) = subs.iter().min_by_key(|(_, t)| **t).map(|(a, _)| a.clone()) {
                subs.remove(&oldest);
            }
        }
        subs.insert(subscriber.to_string(), now);
    }

    /// A FindTopic walk for `topic`, at most once a second.
    fn find(&mut self, topic: &str, now: u64, host: &mut dyn Host) {
        let last = self.finding.get(topic).copied();
        if last.map_or(false, |t| now.saturating_sub(t) < FIND_EVERY_MS) {
            return;
        }
        self.finding.insert(topic.to_string(), now);
        if let Some(peer) = hyparview::sample(&self.base.view.active(), 1, host).pop() {
            let msg = Msg::FindTopic {
                origin: self.me.clone(),
                ttl: FIND_TTL,
            };
            self.send(&peer, topic, &msg, host);
        }
    }

    fn on_find(&mut self, topic: &str, origin: &str, ttl: u8, from: &str, host: &mut dyn Host) {
        if origin == self.me || !valid_topic(topic) {
            return;
        }
        let subscribed = self.topics.contains_key(topic);
        let walked = FIND_TTL.saturating_sub(ttl);
        if subscribed && (walked >= FIND_MIN_HOPS || ttl == 0) {
            self.send(origin, topic, &Msg::TopicContact, host);
            return;
        }
        if ttl == 0 {
            return;
        }
        let next = match self.contacts(topic, 1, host).pop() {
            Some(c) => Some(c),
            None => {
                let others: Vec<String> = self
                    .base
                    .view
                    .active()
                    .into_iter()
                    .filter(|a| a != from && a != origin)
                    .collect();
                hyparview::sample(&others, 1, host).pop()
            }
        };
        if let Some(next) = next {
            let msg = Msg::FindTopic {
                origin: origin.to_string(),
                ttl: ttl - 1,
            };
            self.send(&next, topic, &msg, host);
        }
    }

    fn announce(&mut self, subscribe: bool, topic: &str, host: &mut dyn Host) {
        let id = host.random_u64().max(1);
        let me = self.me.clone();
        self.base
            .tree
            .broadcast(id, &me, announcement(subscribe, topic), self.now_ms);
    }

    fn send(&mut self, to: &str, topic: &str, msg: &Msg, host: &mut dyn Host) {
        host.send(to, &wire::encode(topic, msg));
    }

    /// Sends what every overlay has to send, and acts on what was delivered.
    fn flush(&mut self, host: &mut dyn Host) {
        let now = self.now_ms;
        for d in std::mem::take(&mut self.base.tree.delivered) {
            if d.origin == self.me || d.data.is_empty() {
                continue;
            }
            let subscribe = d.data[0] == 1;
            let topic = String::from_utf8_lossy(&d.data[1..]).into_owned();
            if subscribe {
                self.learn(&topic, &d.origin, now);
            } else if let Some(subs) = self.directory.get_mut(&topic) {
                subs.remove(&d.origin);
            }
        }
        for (to, msg) in self.base.take_out(now) {
            host.send(&to, &wire::encode("", &msg));
        }
        let topics: Vec<String> = self.topics.keys().cloned().collect();
        for topic in topics {
            let (delivered, out) = {
                let o = self.topics.get_mut(&topic).unwrap();
                (std::mem::take(&mut o.tree.delivered), o.take_out(now))
            };
            for d in delivered {
                self.delivered += 1;
                let mut data = String::from("{\"topic\":");
                push_quoted(&mut data, &topic);
                data.push_str(&format!(
                    ",\"id\":\"{:016x}\",\"hops\":{},\"origin\":",
                    d.id, d.hops
                ));
                push_quoted(&mut data, &d.origin);
                data.push_str(",\"message\":");
                push_quoted(&mut data, &String::from_utf8_lossy(&d.data));
                data.push('}');
                self.events_sent += 1;
                host.emit("message", data.as_bytes());
            }
            for (to, msg) in out {
                host.send(&to, &wire::encode(&topic, &msg));
            }
        }
    }
}
