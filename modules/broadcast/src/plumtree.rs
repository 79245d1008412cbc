//! Plumtree epidemic broadcast trees (Leitão, Pereira, Rodrigues, SRDS 2007) over one
//! overlay's active view: a message is pushed in full to *eager* peers and announced
//! (`IHave`, batched per tick) to *lazy* ones. A duplicate makes its sender lazy
//! (`Prune`), so the eager links settle into a spanning tree; an announced message
//! that does not arrive in time is asked for (`Graft`), which also repairs the tree.
//!
//! Seen ids are remembered for `seen_ms` (bounded by `max_seen`), payloads for
//! `cache_ms` so a graft can be served. Calls in, messages out (`out`), deliveries
//! out (`delivered`).

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
    pub optimize_hops: u32,
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
    /// Whose turn it is for the digest of recent messages.
    digest_turn: usize,
}

impl Plumtree {
    /// No peers, nothing seen.
    pub fn new(params: TreeParams) -> Plumtree {
        Plumtree {
            params,
            ..Plumtree::default()
        }
    }

    /// A peer became active: eager until a duplicate says otherwise. It is told (lazily)
    /// of every message still cached here, so what was published while the views were
    /// broken — a publisher cut off by a mass failure — still reaches everyone once
    /// they are repaired.
    pub fn neighbor_up(&mut self, peer: &str) {
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
        self.eager.remove(peer);
        self.lazy.remove(peer);
        self.lazy_queue.remove(peer);
        for m in self.missing.values_mut() {
            m.announcers.retain(|(p, _)| p != peer);
        }
    }

    /// The eager peers.
    pub fn eager_peers(&self) -> Vec<String> {
        self.eager.iter().cloned().collect()
    }

    /// Eager and lazy peer counts.
    pub fn links(&self) -> (usize, usize) {
        (self.eager.len(), self.lazy.len())
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

    fn remember(&mut self, id: u64, round: u32, origin: &str, data: &[u8], now_ms: u64, from: Option<&str>) {
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
            },
        );
        self.missing.remove(&id);
    }

    /// Publishes `data` as message `id` (chosen by the caller, unique): delivered
    /// here, pushed to eager peers, announced to lazy ones.
    pub fn broadcast(&mut self, id: u64, origin: &str, data: Vec<u8>, now_ms: u64) {
        if self.has_seen(id) {
            return;
        }
        self.remember(id, 0, origin, &data, now_ms, None);
        self.delivered.push(Delivery {
            id,
            hops: 0,
            origin: origin.to_string(),
            data: data.clone(),
        });
        self.forward(id, 0, origin, &data, None);
    }

    fn forward(&mut self, id: u64, round: u32, origin: &str, data: &[u8], except: Option<&str>) {
        let next = round.saturating_add(1);
        for p in self.eager.clone() {
            if Some(p.as_str()) != except {
                self.gossip_sent += 1;
                self.out.push((
                    p,
                    Msg::Gossip {
                        id,
                        round: next,
                        origin: origin.to_string(),
                        data: data.to_vec(),
                    },
                ));
            }
        }
        for p in self.lazy.clone() {
            if Some(p.as_str()) != except {
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
            } => {
                if !self.has_seen(*id) {
                    let peer = if self.is_peer(from) { Some(from) } else { None };
                    self.remember(*id, *round, origin, data, now_ms, peer);
                    self.delivered.push(Delivery {
                        id: *id,
                        hops: *round,
                        origin: origin.clone(),
                        data: data.clone(),
                    });
                    self.forward(*id, *round, origin, data, Some(from));
                    if self.is_peer(from) {
                        self.lazy.remove(from);
                        self.eager.insert(from.to_string());
                    }
                } else {
                    self.duplicates += 1;
                    if self.eager.remove(from) {
                        self.lazy.insert(from.to_string());
                        self.out.push((from.to_string(), Msg::Prune));
                    }
                }
            }
            Msg::IHave { ids } => {
                if !self.is_peer(from) {
                    return true;
                }
                for (id, round) in ids {
                    if self.has_seen(*id) {
                        self.optimize(*id, *round, from);
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
            Msg::Graft { id, round: _ } => {
                if !self.is_peer(from) {
                    return true;
                }
                self.lazy.remove(from);
                self.eager.insert(from.to_string());
                if *id == LINK_ONLY {
                    return true;
                }
                if let Some(c) = self.cache.get(id) {
                    self.gossip_sent += 1;
                    self.out.push((
                        from.to_string(),
                        Msg::Gossip {
                            id: *id,
                            round: c.round.saturating_add(1),
                            origin: c.origin.clone(),
                            data: c.data.clone(),
                        },
                    ));
                }
            }
            Msg::Prune => {
                if self.eager.remove(from) {
                    self.lazy.insert(from.to_string());
                }
            }
            _ => return false,
        }
        true
    }

    /// `from` announced message `id` at `round`; if that beats the eager path it came
    /// along by `OPTIMIZE_HOPS`, `from` becomes eager and that path's sender lazy.
    fn optimize(&mut self, id: u64, round: u32, from: &str) {
        let (received, sender) = match self.cache.get(&id) {
            Some(c) => (c.round, c.from.clone()),
            None => return,
        };
        let sender = match sender {
            Some(s) if s != from && self.eager.contains(&s) => s,
            _ => return,
        };
        let threshold = self.params.optimize_hops;
        if threshold > 0 && received >= round.saturating_add(threshold) && self.lazy.contains(from) {
            self.swaps += 1;
            self.lazy.remove(from);
            self.eager.insert(from.to_string());
            self.out
                .push((from.to_string(), Msg::Graft { id: LINK_ONLY, round }));
            self.eager.remove(&sender);
            self.lazy.insert(sender.clone());
            self.out.push((sender, Msg::Prune));
            if let Some(c) = self.cache.get_mut(&id) {
                c.from = Some(from.to_string());
                c.round = round;
            }
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
                    self.lazy.remove(&peer);
                    self.eager.insert(peer.clone());
                    self.grafts += 1;
                    self.out.push((peer, Msg::Graft { id, round }));
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
