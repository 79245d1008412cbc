//! Plumtree epidemic broadcast trees (Leitão, Pereira, Rodrigues, SRDS 2007) over one
//! overlay's active view: a message is pushed in full to *eager* peers and announced
//! (`IHave`, batched per tick) to *lazy* ones. A duplicate makes its sender lazy
//! (`Prune`), so the eager links settle into a spanning tree; an announced message
//! that does not arrive in time is asked for (`Graft`), which also repairs the tree.
//!
//! Seen ids are remembered for `seen_ms` (bounded by `max_seen`), payloads for
//! `cache_ms` so a graft can be served. Calls in, messages out (`out`), deliveries
//! out (`delivered`).
//!
//! **Own trees.** One tree shared by every publisher is the paper's; it is built by
//! the first arrivals of whoever published first, so a message from elsewhere travels
//! up and down it (60 hops where the overlay's shortest is 12, at 10,000 simulated
//! nodes), and the paper's optimisation (§3.8) makes it thrash when the publishers
//! differ. A node that publishes again therefore sends its messages as `own`: they
//! travel a tree of that origin alone, kept by every node as the set of its active
//! peers that are eager *for that origin* (the others are lazy). Its first own
//! message makes that set every active peer everywhere — a flood, pruned into the tree
//! of first arrivals from that origin — and later ones follow that tree; a link made
//! later is lazy in it until a graft needs it (else every new link would cost a
//! duplicate in every tree: 0.73 RMR after a mass failure); prunes, grafts and the
//! optimisation of one origin's tree leave the others alone. A one-off publisher's
//! message takes the shared tree and costs no flood. Each node keeps the own trees of
//! the `own_trees` origins it saw most recently; a forgotten one floods from there
//! once more.

use crate::wire::Msg;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Tuning of the broadcast layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeParams {
    /// An announced message missing this long is grafted from its first announcer.
    pub graft_after_ms: u64,
    /// ... and from the next announcer this long after each graft.
    pub graft_retry_ms: u64,
    /// Message ids are remembered this long (duplicates recognised).
    pub seen_ms: u64,
    /// Most ids remembered.
    pub max_seen: usize,
    /// Payloads are kept this long for grafts.
    pub cache_ms: u64,
    /// The tree optimisation (the paper's §3.8): a message announced by a lazy peer
    /// this many hops closer to its origin than the eager path it came along swaps
    /// the two links. 0: off, the default. With messages from many publishers the
    /// swaps for one publisher lengthen another's paths, and swaps made at once cut
    /// the tree: at 200 simulated nodes (1–10 ms latency) 3 gave a last hop of 14
    /// instead of 31 but ~38 swaps and 1.3 grafts per message, and the slowest
    /// subscriber of the median message heard it after 466 ms instead of 146 ms.
    /// Own trees have a threshold of their own, below.
    pub optimize_hops: u32,
    /// The same optimisation in own trees: one origin's swaps touch no other tree, so
    /// it does not thrash there. 0: off.
    pub own_optimize_hops: u32,
    /// Own trees (see the module doc) kept, the most recently used; 0: every message
    /// takes the shared tree.
    pub own_trees: usize,
    /// A node publishes along its own tree only once its overlay is this old. Versions
    /// before own trees drop their messages (an unknown kind), so this waits out the
    /// spread of the deployment that brought them (about a second at 100 agents).
    pub own_after_ms: u64,
}

impl Default for TreeParams {
    fn default() -> Self {
        TreeParams {
            graft_after_ms: 300,
            graft_retry_ms: 200,
            seen_ms: 60_000,
            max_seen: 8192,
            cache_ms: 10_000,
            optimize_hops: 0,
            own_optimize_hops: 1,
            own_trees: 64,
            own_after_ms: 30_000,
        }
    }
}

/// A message delivered here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its id.
    pub id: u64,
    /// Hops it travelled from its origin (0: published here).
    pub hops: u32,
    /// The node that published it.
    pub origin: String,
    /// The payload.
    pub data: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Cached {
    round: u32,
    origin: String,
    data: Vec<u8>,
    at_ms: u64,
    /// The eager peer it came from (None: published here, or from outside).
    from: Option<String>,
    /// It travels its origin's own tree.
    own: bool,
}

/// One origin's own tree here: which active peers are eager for it (the others are
/// lazy, so a link made after the tree is a lazy one until a graft needs it).
#[derive(Debug, Clone, Default)]
struct OwnTree {
    eager: BTreeSet<String>,
    used_ms: u64,
}

/// A `Graft` for this id asks only for the link (the tree optimisation), no message.
pub const LINK_ONLY: u64 = 0;

/// Grafts sent for one missing message before it is given up.
const MAX_GRAFTS: u32 = 8;

/// Messages seen this recently are announced again, each tick, to one peer in turn:
/// the paper assumes TCP links, where a push or an IHave is never lost; over hearsay's
/// datagrams a node whose every copy and announcement of a message was lost still
/// hears of it this way, and grafts it.
const DIGEST_MS: u64 = 2_000;
/// A `Bridge` lists messages delivered between this long ago...
const APART_WINDOW_MS: u64 = 20_000;
/// ... and this long ago: younger ones may still be on their way to the other node.
const APART_GRACE_MS: u64 = 3_000;
/// The other node's deliveries are compared within the window narrowed by this much
/// at both ends (a message reaches two nodes of one overlay at different times).
const APART_SLACK_MS: u64 = 3_000;

#[derive(Debug, Clone)]
struct Missing {
    announcers: VecDeque<(String, u32)>,
    due_ms: u64,
    grafts: u32,
}

/// One node's broadcast state in one overlay.
#[derive(Debug, Clone, Default)]
pub struct Plumtree {
    params: TreeParams,
    eager: BTreeSet<String>,
    lazy: BTreeSet<String>,
    /// id → (when first seen, hops it had travelled); `seen_order` keeps the order
    /// for expiry.
    seen: BTreeMap<u64, (u64, u32)>,
    seen_order: VecDeque<(u64, u64)>,
    cache: BTreeMap<u64, Cached>,
    missing: BTreeMap<u64, Missing>,
    /// IHave announcements waiting for the next flush, per peer.
    lazy_queue: BTreeMap<String, Vec<(u64, u32)>>,
    /// Messages to send.
    pub out: Vec<(String, Msg)>,
    /// Messages delivered.
    pub delivered: Vec<Delivery>,
    /// Full payload messages sent (for the redundancy figure).
    pub gossip_sent: u64,
    /// Duplicates received.
    pub duplicates: u64,
    /// Grafts sent.
    pub grafts: u64,
    /// Links swapped by the tree optimisation.
    pub swaps: u64,
    /// Active links made or dropped (the view's churn).
    pub link_changes: u64,
    /// Whose turn it is for the digest of recent messages.
    digest_turn: usize,
    /// Own trees, by origin.
    trees: BTreeMap<String, OwnTree>,
    /// Messages published here (from the second on, they take this node's own tree).
    published: u64,
    /// When this overlay was made here.
    since_ms: u64,
}

impl Plumtree {
    /// No peers, nothing seen, at `now_ms`.
    pub fn new(params: TreeParams, now_ms: u64) -> Plumtree {
        Plumtree {
            params,
            since_ms: now_ms,
            ..Plumtree::default()
        }
    }

    /// A peer became active: eager until a duplicate says otherwise. It is told (lazily)
    /// of every message still cached here, so what was published while the views were
    /// broken — a publisher cut off by a mass failure — still reaches everyone once
    /// they are repaired.
    pub fn neighbor_up(&mut self, peer: &str) {
        self.link_changes += 1;
        self.lazy.remove(peer);
        self.eager.insert(peer.to_string());
        let recent: Vec<(u64, u32)> = self
            .cache
            .iter()
            .map(|(id, c)| (*id, c.round.saturating_add(1)))
            .collect();
        if !recent.is_empty() {
            self.lazy_queue
                .entry(peer.to_string())
                .or_default()
                .extend(recent);
        }
    }

    /// A peer is no longer active.
    pub fn neighbor_down(&mut self, peer: &str) {
        self.link_changes += 1;
        self.eager.remove(peer);
        self.lazy.remove(peer);
        self.lazy_queue.remove(peer);
        for t in self.trees.values_mut() {
            t.eager.remove(peer);
        }
        for m in self.missing.values_mut() {
            m.announcers.retain(|(p, _)| p != peer);
        }
    }

    /// The eager peers.
    pub fn eager_peers(&self) -> Vec<String> {
        self.eager.iter().cloned().collect()
    }

    /// Eager and lazy peer counts (of the shared tree).
    pub fn links(&self) -> (usize, usize) {
        (self.eager.len(), self.lazy.len())
    }

    /// Own trees kept here.
    pub fn own_trees(&self) -> usize {
        self.trees.len()
    }

    /// `origin`'s own tree, made (every active peer eager: the first message floods)
    /// if there is none; the least recently used one is forgotten beyond `own_trees`.
    fn tree(&mut self, origin: &str, now_ms: u64) -> &mut OwnTree {
        if !self.trees.contains_key(origin) && self.trees.len() >= self.params.own_trees.max(1) {
            let oldest = self
                .trees
                .iter()
                .min_by_key(|(_, t)| t.used_ms)
                .map(|(o, _)| o.clone());
            if let Some(o) = oldest {
                self.trees.remove(&o);
            }
        }
        if !self.trees.contains_key(origin) {
            let eager = self.eager.iter().chain(self.lazy.iter()).cloned().collect();
            self.trees.insert(
                origin.to_string(),
                OwnTree {
                    eager,
                    used_ms: now_ms,
                },
            );
        }
        let t = self.trees.get_mut(origin).expect("inserted above");
        t.used_ms = t.used_ms.max(now_ms);
        t
    }

    /// Makes `peer` eager (`eager`) or lazy in `origin`'s own tree (`Some`) or in the
    /// shared one.
    fn set_link(&mut self, own: Option<&str>, peer: &str, eager: bool, now_ms: u64) {
        match own {
            Some(origin) => {
                let t = self.tree(origin, now_ms);
                if eager {
                    t.eager.insert(peer.to_string());
                } else {
                    t.eager.remove(peer);
                }
            }
            None if eager => {
                self.lazy.remove(peer);
                self.eager.insert(peer.to_string());
            }
            None => {
                if self.eager.remove(peer) {
                    self.lazy.insert(peer.to_string());
                }
            }
        }
    }

    /// Whether `peer` is an eager link in `origin`'s own tree (`Some`) or in the
    /// shared one.
    fn is_eager(&self, own: Option<&str>, peer: &str) -> bool {
        match own {
            Some(origin) => {
                self.is_peer(peer) && self.trees.get(origin).map_or(true, |t| t.eager.contains(peer))
            }
            None => self.eager.contains(peer),
        }
    }

    /// Whether message `id` was seen here.
    pub fn has_seen(&self, id: u64) -> bool {
        self.seen.contains_key(&id)
    }

    /// When message `id` was delivered here (host ms) and the hops it had travelled,
    /// if it was.
    pub fn delivery(&self, id: u64) -> Option<(u64, u32)> {
        self.seen.get(&id).copied()
    }

    fn is_peer(&self, p: &str) -> bool {
        self.eager.contains(p) || self.lazy.contains(p)
    }

    #[allow(clippy::too_many_arguments)]
    fn remember(
        &mut self,
        id: u64,
        round: u32,
        origin: &str,
        data: &[u8],
        now_ms: u64,
        from: Option<&str>,
        own: bool,
    ) {
        self.seen.insert(id, (now_ms, round));
        self.seen_order.push_back((id, now_ms));
        self.cache.insert(
            id,
            Cached {
                round,
                origin: origin.to_string(),
                data: data.to_vec(),
                at_ms: now_ms,
                from: from.map(String::from),
                own,
            },
        );
        self.missing.remove(&id);
    }

    /// Publishes `data` as message `id` (chosen by the caller, unique): delivered
    /// here, pushed to eager peers, announced to lazy ones. From the second message
    /// published here on, along this node's own tree (with `own_trees` on).
    pub fn broadcast(&mut self, id: u64, origin: &str, data: Vec<u8>, now_ms: u64) {
        if self.has_seen(id) {
            return;
        }
        let own = self.params.own_trees > 0
            && self.published > 0
            && now_ms >= self.since_ms.saturating_add(self.params.own_after_ms);
        self.published += 1;
        if own {
            self.tree(origin, now_ms);
        }
        self.remember(id, 0, origin, &data, now_ms, None, own);
        self.delivered.push(Delivery {
            id,
            hops: 0,
            origin: origin.to_string(),
            data: data.clone(),
        });
        self.forward(id, 0, origin, &data, None, own);
    }

    fn forward(&mut self, id: u64, round: u32, origin: &str, data: &[u8], except: Option<&str>, own: bool) {
        let next = round.saturating_add(1);
        let peers: Vec<String> = self.eager.iter().chain(self.lazy.iter()).cloned().collect();
        for p in peers {
            if Some(p.as_str()) == except {
                continue;
            }
            if self.is_eager(own.then_some(origin), &p) {
                self.gossip_sent += 1;
                self.out.push((
                    p,
                    Msg::Gossip {
                        id,
                        round: next,
                        origin: origin.to_string(),
                        data: data.to_vec(),
                        own,
                    },
                ));
            } else {
                self.lazy_queue.entry(p).or_default().push((id, next));
            }
        }
    }

    /// Handles a broadcast message from `from`. Returns false for messages that are
    /// not Plumtree's. A `Gossip` from a node that is not a peer (a publisher outside
    /// the overlay) is delivered and spread, without touching the links.
    pub fn receive(&mut self, from: &str, msg: &Msg, now_ms: u64) -> bool {
        match msg {
            Msg::Gossip {
                id,
                round,
                origin,
                data,
                own,
            } => {
                let own = *own && self.params.own_trees > 0;
                let tree = if own { Some(origin.as_str()) } else { None };
                if !self.has_seen(*id) {
                    let peer = if self.is_peer(from) { Some(from) } else { None };
                    if own {
                        self.tree(origin, now_ms);
                    }
                    self.remember(*id, *round, origin, data, now_ms, peer, own);
                    self.delivered.push(Delivery {
                        id: *id,
                        hops: *round,
                        origin: origin.clone(),
                        data: data.clone(),
                    });
                    self.forward(*id, *round, origin, data, Some(from), own);
                    if self.is_peer(from) {
                        self.set_link(tree, from, true, now_ms);
                    }
                } else {
                    self.duplicates += 1;
                    // A push means the sender has this node eager, whatever this node
                    // has it as: a link eager on one side only would push a duplicate
                    // every message without ever being pruned.
                    if self.is_eager(tree, from) || (own && self.is_peer(from)) {
                        self.set_link(tree, from, false, now_ms);
                        let origin = tree.map(String::from);
                        self.out.push((from.to_string(), Msg::Prune { origin }));
                    }
                }
            }
            Msg::IHave { ids } => {
                if !self.is_peer(from) {
                    return true;
                }
                for (id, round) in ids {
                    if self.has_seen(*id) {
                        self.optimize(*id, *round, from, now_ms);
                        continue;
                    }
                    let due = now_ms + self.params.graft_after_ms;
                    let m = self.missing.entry(*id).or_insert_with(|| Missing {
                        announcers: VecDeque::new(),
                        due_ms: due,
                        grafts: 0,
                    });
                    if m.announcers.len() < 8 && !m.announcers.iter().any(|(p, _)| p == from) {
                        m.announcers.push_back((from.to_string(), *round));
                    }
                }
            }
            Msg::Graft { id, round: _, origin } => {
                if !self.is_peer(from) {
                    return true;
                }
                if *id == LINK_ONLY {
                    let own = origin.as_deref().filter(|_| self.params.own_trees > 0);
                    self.set_link(own, from, true, now_ms);
                    return true;
                }
                match self.cache.get(id) {
                    Some(c) => {
                        let msg = Msg::Gossip {
                            id: *id,
                            round: c.round.saturating_add(1),
                            origin: c.origin.clone(),
                            data: c.data.clone(),
                            own: c.own,
                        };
                        let own = if c.own { Some(c.origin.clone()) } else { None };
                        self.set_link(own.as_deref(), from, true, now_ms);
                        self.gossip_sent += 1;
                        self.out.push((from.to_string(), msg));
                    }
                    None => self.set_link(None, from, true, now_ms),
                }
            }
            Msg::Prune { origin } => {
                if self.is_peer(from) {
                    let own = origin.as_deref().filter(|_| self.params.own_trees > 0);
                    if own.map_or(true, |o| self.trees.contains_key(o)) {
                        self.set_link(own, from, false, now_ms);
                    }
                }
            }
            _ => return false,
        }
        true
    }

    /// `from` announced message `id` at `round`; if that beats the eager path it came
    /// along by `OPTIMIZE_HOPS`, `from` becomes eager and that path's sender lazy.
    fn optimize(&mut self, id: u64, round: u32, from: &str, now_ms: u64) {
        let (received, sender, own) = match self.cache.get(&id) {
            Some(c) => (
                c.round,
                c.from.clone(),
                if c.own { Some(c.origin.clone()) } else { None },
            ),
            None => return,
        };
        let sender = match sender {
            Some(s) if s != from => s,
            _ => return,
        };
        let threshold = if own.is_some() {
            self.params.own_optimize_hops
        } else {
            self.params.optimize_hops
        };
        let swap = threshold > 0
            && received >= round.saturating_add(threshold)
            && self.is_peer(from)
            && !self.is_eager(own.as_deref(), from)
            && self.is_eager(own.as_deref(), &sender);
        if !swap {
            return;
        }
        self.swaps += 1;
        self.set_link(own.as_deref(), from, true, now_ms);
        self.out.push((
            from.to_string(),
            Msg::Graft {
                id: LINK_ONLY,
                round,
                origin: own.clone(),
            },
        ));
        self.set_link(own.as_deref(), &sender, false, now_ms);
        self.out.push((sender, Msg::Prune { origin: own }));
        if let Some(c) = self.cache.get_mut(&id) {
            c.from = Some(from.to_string());
            c.round = round;
        }
    }

    /// Time passed: graft what is overdue, flush announcements, expire old state.
    pub fn tick(&mut self, now_ms: u64) {
        let due: Vec<u64> = self
            .missing
            .iter()
            .filter(|(_, m)| m.due_ms <= now_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let next = self.missing.get_mut(&id).and_then(|m| {
                if m.grafts == 0 {
                    // The announcer closest to the origin first: the link a graft
                    // makes eager joins the tree there, not at the end of a long branch.
                    m.announcers.make_contiguous().sort_by_key(|(_, round)| *round);
                }
                m.grafts += 1;
                let next = m.announcers.pop_front();
                // The graft or its answer may be lost: the announcer goes to the back
                // of the queue, to be asked again after the others.
                if let Some(a) = &next {
                    m.announcers.push_back(a.clone());
                }
                next.filter(|_| m.grafts <= MAX_GRAFTS)
            });
            match next {
                Some((peer, round)) => {
                    // The shared tree's link now; which tree the message takes is
                    // known once it arrives, and the link is made eager there then.
                    self.lazy.remove(&peer);
                    self.eager.insert(peer.clone());
                    self.grafts += 1;
                    self.out.push((
                        peer,
                        Msg::Graft {
                            id,
                            round,
                            origin: None,
                        },
                    ));
                    if let Some(m) = self.missing.get_mut(&id) {
                        m.due_ms = now_ms + self.params.graft_retry_ms;
                    }
                }
                None => {
                    self.missing.remove(&id);
                }
            }
        }
        self.digest(now_ms);
        self.flush();
        while let Some(&(id, at)) = self.seen_order.front() {
            let old = now_ms.saturating_sub(at) >= self.params.seen_ms;
            if !old && self.seen_order.len() <= self.params.max_seen {
                break;
            }
            self.seen_order.pop_front();
            if self.seen.get(&id).map(|(t, _)| *t) == Some(at) {
                self.seen.remove(&id);
            }
        }
        let cache_ms = self.params.cache_ms;
        self.cache
            .retain(|_, c| now_ms.saturating_sub(c.at_ms) < cache_ms);
    }

    /// Ids of the messages delivered here between `APART_WINDOW_MS` and
    /// `APART_GRACE_MS` ago, newest first, at most `MAX_BRIDGE`: what a `Bridge` says.
    pub fn recent(&self, now_ms: u64) -> Vec<u64> {
        self.seen_order
            .iter()
            .rev()
            .filter(|(_, at)| now_ms.saturating_sub(*at) >= APART_GRACE_MS)
            .take_while(|(_, at)| now_ms.saturating_sub(*at) < APART_WINDOW_MS)
            .filter(|(id, at)| self.seen.get(id).map(|(t, _)| *t) == Some(*at))
            .map(|(id, _)| *id)
            .take(crate::wire::MAX_BRIDGE)
            .collect()
    }

    /// Whether a node whose `recent` deliveries are these is apart from this one (in
    /// another island of the overlay): it delivered a message this node never saw, or
    /// missed one this node delivered well inside its window. Only said when this
    /// node has been in the overlay for the whole window and still remembers it (a
    /// flood of messages could have pushed the ids out of `max_seen`).
    pub fn apart(&self, recent: &[u64], now_ms: u64) -> bool {
        let here_long_enough = now_ms.saturating_sub(self.since_ms) >= APART_WINDOW_MS;
        let remembers = self.seen_order.len() < self.params.max_seen
            || self
                .seen_order
                .front()
                .map_or(true, |(_, at)| now_ms.saturating_sub(*at) >= APART_WINDOW_MS);
        if !here_long_enough || !remembers {
            return false;
        }
        if recent.iter().any(|id| !self.has_seen(*id)) {
            return true;
        }
        if recent.len() >= crate::wire::MAX_BRIDGE {
            // A full list may stop short of the window: nothing to say about the rest.
            return false;
        }
        let (newest, oldest) = (
            APART_GRACE_MS + APART_SLACK_MS,
            APART_WINDOW_MS.saturating_sub(APART_SLACK_MS),
        );
        self.seen_order.iter().any(|(id, at)| {
            let age = now_ms.saturating_sub(*at);
            age >= newest && age < oldest && !recent.contains(id)
        })
    }

    /// Announces the messages seen in the last `DIGEST_MS` to the next peer in turn.
    fn digest(&mut self, now_ms: u64) {
        let recent: Vec<(u64, u32)> = self
            .seen_order
            .iter()
            .rev()
            .take_while(|(_, at)| now_ms.saturating_sub(*at) < DIGEST_MS)
            .filter_map(|(id, _)| self.seen.get(id).map(|(_, round)| (*id, round.saturating_add(1))))
            .take(crate::wire::MAX_IHAVE)
            .collect();
        let peers: Vec<String> = self.eager.iter().chain(self.lazy.iter()).cloned().collect();
        if recent.is_empty() || peers.is_empty() {
            return;
        }
        self.digest_turn = self.digest_turn.wrapping_add(1);
        let peer = peers[self.digest_turn % peers.len()].clone();
        let queue = self.lazy_queue.entry(peer).or_default();
        for item in recent {
            if !queue.contains(&item) {
                queue.push(item);
            }
        }
    }

    /// Sends the queued announcements, one IHave per peer.
    pub fn flush(&mut self) {
        for (peer, ids) in std::mem::take(&mut self.lazy_queue) {
            for chunk in ids.chunks(crate::wire::MAX_IHAVE) {
                self.out.push((peer.clone(), Msg::IHave { ids: chunk.to_vec() }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gossip(id: u64, origin: &str, own: bool) -> Msg {
        Msg::Gossip {
            id,
            round: 1,
            origin: origin.into(),
            data: vec![],
            own,
        }
    }

    fn pushed_to(t: &Plumtree, peer: &str, id: u64) -> bool {
        t.out
            .iter()
            .any(|(to, m)| to == peer && matches!(m, Msg::Gossip { id: i, .. } if *i == id))
    }

    #[test]
    fn a_repeat_publisher_takes_its_own_tree_once_the_overlay_is_old_enough() {
        let mut t = Plumtree::new(TreeParams::default(), 0);
        t.neighbor_up("b:1");
        t.broadcast(1, "a:1", b"x".to_vec(), 1_000);
        t.broadcast(2, "a:1", b"y".to_vec(), 2_000); // too early: the shared tree
        t.broadcast(3, "a:1", b"z".to_vec(), 31_000);
        let own: Vec<bool> = t
            .out
            .iter()
            .filter_map(|(_, m)| match m {
                Msg::Gossip { own, .. } => Some(*own),
                _ => None,
            })
            .collect();
        assert_eq!(own, vec![false, false, true]);
        assert_eq!(t.own_trees(), 1);
    }

    #[test]
    fn a_prune_in_one_origins_tree_leaves_the_others_alone() {
        let mut t = Plumtree::new(TreeParams::default(), 0);
        t.neighbor_up("b:1");
        t.neighbor_up("c:1");
        t.receive("b:1", &gossip(1, "o:1", true), 10);
        t.receive("c:1", &gossip(1, "o:1", true), 11);
        let prune = Msg::Prune {
            origin: Some("o:1".into()),
        };
        assert!(t.out.iter().any(|(to, m)| to == "c:1" && *m == prune));
        t.out.clear();
        // Another origin's tree, and the shared one, still push to c.
        t.receive("b:1", &gossip(2, "p:1", true), 20);
        t.receive("b:1", &gossip(4, "q:1", false), 21);
        assert!(pushed_to(&t, "c:1", 2) && pushed_to(&t, "c:1", 4));
        // o's next message is only announced to c.
        t.receive("b:1", &gossip(3, "o:1", true), 30);
        assert!(!pushed_to(&t, "c:1", 3));
        t.flush();
        assert!(t
            .out
            .iter()
            .any(|(to, m)| to == "c:1"
                && matches!(m, Msg::IHave { ids } if ids.iter().any(|(id, _)| *id == 3))));
    }

    #[test]
    fn own_trees_are_bounded_and_forget_the_least_recently_used() {
        let params = TreeParams {
            own_trees: 2,
            ..TreeParams::default()
        };
        let mut t = Plumtree::new(params, 0);
        t.neighbor_up("b:1");
        for (k, origin) in ["o:1", "p:1", "o:1", "q:1"].iter().enumerate() {
            t.receive("b:1", &gossip(k as u64 + 1, origin, true), 10 * k as u64);
        }
        assert_eq!(t.own_trees(), 2);
        assert!(t.trees.contains_key("o:1") && t.trees.contains_key("q:1"));
    }

    #[test]
    fn nodes_are_apart_when_one_delivered_what_the_other_never_saw() {
        let mut a = Plumtree::new(TreeParams::default(), 0);
        let mut b = Plumtree::new(TreeParams::default(), 0);
        for t in [&mut a, &mut b] {
            t.neighbor_up("x:1");
        }
        // Both got 1 and 2; only a got 3.
        for (id, at) in [(1, 30_000), (2, 31_000)] {
            a.receive("x:1", &gossip(id, "o:1", false), at);
            b.receive("x:1", &gossip(id, "o:1", false), at + 500);
        }
        a.receive("x:1", &gossip(3, "o:1", false), 32_000);
        let now = 40_000;
        assert_eq!(a.recent(now), vec![3, 2, 1]);
        assert_eq!(b.recent(now), vec![2, 1]);
        assert!(b.apart(&a.recent(now), now), "a delivered 3, which b never saw");
        assert!(a.apart(&b.recent(now), now), "b missed 3, which a delivered");
        assert!(!a.apart(&a.recent(now), now) && !b.apart(&b.recent(now), now));
        // Messages younger than the grace period are not listed (still on their way),
        // and a node in the overlay for less than the window says nothing.
        a.receive("x:1", &gossip(4, "o:1", false), 39_000);
        assert_eq!(a.recent(now), vec![3, 2, 1]);
        let young = Plumtree::new(TreeParams::default(), 30_000);
        assert!(!young.apart(&[99], now));
    }
}
