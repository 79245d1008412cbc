//! HyParView peer sampling (Leitão, Pereira, Rodrigues, DSN 2007) for one overlay:
//! a small *active* view (the peers messages travel over) and a larger *passive* view
//! (replacements). A newcomer joins through a contact, whose `ForwardJoin` random walk
//! places it in other nodes' active and passive views; periodic shuffles refresh the
//! passive views; an active peer that fails is replaced from the passive view.
//!
//! The paper detects failures by TCP connections breaking. hearsay modules send
//! datagrams through the core, so here an active peer is failed when nothing has been
//! heard from it for `fail_after_ms`; peers that are sent nothing else get a
//! heartbeat every `heartbeat_ms`. Everything is a state machine: calls in, messages
//! out (`out`), neighbour changes out (`ups`, `downs`) for the broadcast layer.

use crate::wire::Msg;
use hearsay_guest::Host;

/// Tuning of one overlay's views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewParams {
    /// Active view size (the paper: fanout + 1).
    pub active: usize,
    /// Passive view size.
    pub passive: usize,
    /// Active random walk length (ForwardJoin's and Shuffle's TTL).
    pub arwl: u8,
    /// Passive random walk length: at this TTL a ForwardJoin also fills the passive view.
    pub prwl: u8,
    /// Active peers in a shuffle sample.
    pub shuffle_active: usize,
    /// Passive peers in a shuffle sample.
    pub shuffle_passive: usize,
    /// Time between shuffles.
    pub shuffle_ms: u64,
    /// An active peer silent this long is failed.
    pub fail_after_ms: u64,
    /// Heartbeat to active peers sent nothing for this long.
    pub heartbeat_ms: u64,
    /// A Neighbor or Join request unanswered this long is given up.
    pub request_timeout_ms: u64,
}

impl Default for ViewParams {
    fn default() -> Self {
        ViewParams {
            active: 5,
            passive: 30,
            arwl: 6,
            prwl: 3,
            shuffle_active: 3,
            shuffle_passive: 4,
            shuffle_ms: 10_000,
            fail_after_ms: 1_500,
            heartbeat_ms: 500,
            request_timeout_ms: 1_000,
        }
    }
}

#[derive(Debug, Clone)]
struct Active {
    addr: String,
    heard_ms: u64,
    sent_ms: u64,
}

/// One node's views in one overlay.
#[derive(Debug, Clone)]
pub struct HyParView {
    params: ViewParams,
    me: String,
    active: Vec<Active>,
    passive: Vec<String>,
    /// A Neighbor (or Join) request in flight: to whom, since when.
    pending: Option<(String, u64)>,
    last_shuffle_ms: u64,
    /// Peers a full view keeps when it makes room (see [`HyParView::protect`]).
    protected: Vec<String>,
    /// Peers a full view would rather keep when it makes room: the broadcast tree's
    /// eager links (dropping one cuts the tree until a graft mends it).
    preferred: Vec<String>,
    /// Messages to send.
    pub out: Vec<(String, Msg)>,
    /// Peers that became active.
    pub ups: Vec<String>,
    /// Peers that stopped being active.
    pub downs: Vec<String>,
    /// The view settled (see [`HyParView::settle`]).
    settled: bool,
    /// The request in flight is a `Bridge`: a link it wins is taken, full or not.
    bridging: bool,
}

use hearsay_guest::random::below;
pub use hearsay_guest::random::sample;

impl HyParView {
    /// Empty views for node `me`.
    pub fn new(me: String, params: ViewParams, now_ms: u64) -> HyParView {
        HyParView {
            params,
            me,
            active: Vec::new(),
            passive: Vec::new(),
            pending: None,
            protected: Vec::new(),
            preferred: Vec::new(),
            last_shuffle_ms: now_ms,
            out: Vec::new(),
            ups: Vec::new(),
            downs: Vec::new(),
            settled: false,
            bridging: false,
        }
    }

    /// Tells the view whether it has settled (the overlay formed a while ago). A
    /// settled full view whose peers are all heard from declines a link its own
    /// request won after it filled: taking it would push out a random peer, which then
    /// asks elsewhere, and so on — at 10,000 simulated nodes ~20 links a second changed
    /// that way with no fault, each a cut in some publisher's tree. An unsettled one
    /// takes it (right after a mass failure a view full of the dead needs every link).
    pub fn settle(&mut self, settled: bool) {
        self.settled = settled;
    }

    /// Whether the active view is full.
    pub fn is_full(&self) -> bool {
        self.active.len() >= self.params.active
    }

    /// The active peers.
    pub fn active(&self) -> Vec<String> {
        self.active.iter().map(|a| a.addr.clone()).collect()
    }

    /// The passive peers.
    pub fn passive(&self) -> &[String] {
        &self.passive
    }

    /// Whether `addr` is an active peer.
    pub fn is_active(&self, addr: &str) -> bool {
        self.active.iter().any(|a| a.addr == addr)
    }

    /// Notes that something was sent to `to` (no heartbeat needed for a while).
    pub fn note_sent(&mut self, to: &str, now_ms: u64) {
        if let Some(a) = self.active.iter_mut().find(|a| a.addr == to) {
            a.sent_ms = now_ms;
        }
    }

    /// Sends `msg` to `to`, noting the time for heartbeats.
    fn send(&mut self, to: &str, msg: Msg, now_ms: u64) {
        self.note_sent(to, now_ms);
        self.out.push((to.to_string(), msg));
    }

    /// Sends `msg` to every active peer.
    pub fn send_to_active(&mut self, msg: &Msg, now_ms: u64) {
        for a in self.active() {
            self.send(&a, msg.clone(), now_ms);
        }
    }

    /// Asks `contact` to let this node in (when it knows nobody in the overlay).
    pub fn join(&mut self, contact: &str, now_ms: u64) {
        if contact == self.me {
            return;
        }
        self.pending = Some((contact.to_string(), now_ms));
        self.send(contact, Msg::Join, now_ms);
    }

    /// Whether a Join or Neighbor request is in flight.
    pub fn is_asking(&self, now_ms: u64) -> bool {
        match &self.pending {
            Some((_, since)) => now_ms.saturating_sub(*since) < self.params.request_timeout_ms,
            None => false,
        }
    }

    /// Makes `addr` active (dropping a random active peer to the passive view if the
    /// view is full). No-op for this node or a peer already active.
    fn add_active(&mut self, addr: &str, now_ms: u64, host: &mut dyn Host) {
        if addr == self.me || self.is_active(addr) {
            return;
        }
        if self.is_full() {
            let droppable: Vec<usize> = (0..self.active.len())
                .filter(|&i| !self.protected.contains(&self.active[i].addr))
                .collect();
            let spare: Vec<usize> = droppable
                .iter()
                .copied()
                .filter(|&i| !self.preferred.contains(&self.active[i].addr))
                .collect();
            let i = match (spare.len(), droppable.len()) {
                (0, 0) => below(self.active.len(), host),
                (0, n) => droppable[below(n, host)],
                (n, _) => spare[below(n, host)],
            };
            let dropped = self.active.remove(i).addr;
            self.send(&dropped, Msg::Disconnect, now_ms);
            self.downs.push(dropped.clone());
            self.add_passive(&dropped, host);
        }
        self.passive.retain(|p| p != addr);
        self.active.push(Active {
            addr: addr.to_string(),
            heard_ms: now_ms,
            sent_ms: 0,
        });
        self.ups.push(addr.to_string());
    }

    fn add_passive(&mut self, addr: &str, host: &mut dyn Host) {
        if addr == self.me || self.is_active(addr) || self.passive.iter().any(|p| p == addr) {
            return;
        }
        if self.passive.len() >= self.params.passive {
            let i = below(self.passive.len(), host);
            self.passive.remove(i);
        }
        self.passive.push(addr.to_string());
    }

    /// Candidates learned elsewhere (a topic's directory, the bootstrap list) for the
    /// passive view, while it is less than half full: what keeps a group of nodes that
    /// only know each other from staying an island.
    pub fn suggest(&mut self, candidates: &[String], host: &mut dyn Host) {
        for c in candidates {
            if self.passive.len() * 2 >= self.params.passive {
                break;
            }
            self.add_passive(c, host);
        }
    }

    /// Peers (the host's rendezvous nodes, for the base overlay) that a full view
    /// keeps when it makes room for a newcomer: every node joins through them at
    /// start, and without this their links to each other are the first to be pushed
    /// out by the crowd, leaving one island per rendezvous node.
    pub fn protect(&mut self, peers: &[String]) {
        self.protected = peers.to_vec();
    }

    /// Peers to keep rather than others when the view makes room (the tree's eager
    /// links).
    pub fn prefer(&mut self, peers: Vec<String>) {
        self.preferred = peers;
    }

    /// A node known to be in the overlay, for the passive view (replacing a random
    /// one when it is full).
    pub fn consider(&mut self, addr: &str, host: &mut dyn Host) {
        self.add_passive(addr, host);
    }

    /// Asks `addr`, not active yet, to become a neighbour if it has room (a link that
    /// may bridge two islands); at most one request in flight. An unsettled view's
    /// way (a settled one sends a [`HyParView::bridge`]).
    /// `high`: the request is granted even by a full view (which drops a random peer
    /// for it), so two islands whose views are all full still get bridged.
    pub fn reach_out(&mut self, addr: &str, high: bool, now_ms: u64) {
        if addr == self.me || self.is_active(addr) || self.pending.is_some() {
            return;
        }
        self.pending = Some((addr.to_string(), now_ms));
        self.send(addr, Msg::Neighbor { high }, now_ms);
    }

    /// Asks `addr`, not active yet, to become a neighbour if the two are apart (see
    /// [`crate::overlay::Overlay::receive`]), or if this view has room and `addr`'s
    /// too: `recent` are the messages this node delivered lately. How a settled view
    /// bridges islands (a small one's views never fill) without changing links
    /// inside one. At most one request in flight.
    pub fn bridge(&mut self, addr: &str, recent: Vec<u64>, now_ms: u64) {
        if addr == self.me || self.is_active(addr) || self.pending.is_some() {
            return;
        }
        self.pending = Some((addr.to_string(), now_ms));
        self.bridging = true;
        let room = !self.is_full();
        self.send(addr, Msg::Bridge { room, recent }, now_ms);
    }

    /// `from` asks to become an active peer: granted with `high` (a full view drops a
    /// random peer for it), if it is one already, or if there is room and `room` says
    /// room is enough; the answer goes back.
    pub fn neighbor_request(&mut self, from: &str, high: bool, room: bool, now_ms: u64, host: &mut dyn Host) {
        let accepted = high || self.is_active(from) || (room && self.active.len() < self.params.active);
        if accepted {
            self.add_active(from, now_ms, host);
        } else {
            self.add_passive(from, host);
        }
        self.send(from, Msg::NeighborReply { accepted }, now_ms);
    }

    /// Drops `addr` from the active view (to the passive view unless it failed).
    fn remove_active(&mut self, addr: &str, failed: bool, host: &mut dyn Host) {
        let before = self.active.len();
        self.active.retain(|a| a.addr != addr);
        if self.active.len() < before {
            self.downs.push(addr.to_string());
            if !failed {
                self.add_passive(addr, host);
            }
        }
    }

    /// A message from `from` arrived: whatever it is, `from` is alive.
    pub fn heard(&mut self, from: &str, now_ms: u64) {
        if let Some(a) = self.active.iter_mut().find(|a| a.addr == from) {
            a.heard_ms = now_ms;
        }
    }

    /// Handles a membership message of this overlay. Returns false for messages that
    /// are not HyParView's (the caller handles them).
    pub fn receive(&mut self, from: &str, msg: &Msg, now_ms: u64, host: &mut dyn Host) -> bool {
        if from == self.me {
            return true;
        }
        self.heard(from, now_ms);
        match msg {
            Msg::Join => {
                self.add_active(from, now_ms, host);
                self.send(from, Msg::NeighborReply { accepted: true }, now_ms);
                let ttl = self.params.arwl;
                for peer in self.active() {
                    if peer != from {
                        self.send(
                            &peer,
                            Msg::ForwardJoin {
                                node: from.to_string(),
                                ttl,
                            },
                            now_ms,
                        );
                    }
                }
            }
            Msg::ForwardJoin { node, ttl } => {
                if node == &self.me {
                    return true;
                }
                if *ttl == 0 || self.active.len() <= 1 {
                    if !self.is_active(node) {
                        self.add_active(node, now_ms, host);
                        self.send(node, Msg::Neighbor { high: true }, now_ms);
                    }
                } else {
                    if *ttl == self.params.prwl {
                        self.add_passive(node, host);
                    }
                    let others: Vec<String> = self
                        .active()
                        .into_iter()
                        .filter(|a| a != from && a != node)
                        .collect();
                    match sample(&others, 1, host).pop() {
                        Some(next) => self.send(
                            &next,
                            Msg::ForwardJoin {
                                node: node.clone(),
                                ttl: ttl - 1,
                            },
                            now_ms,
                        ),
                        None => {
                            if !self.is_active(node) {
                                self.add_active(node, now_ms, host);
                                self.send(node, Msg::Neighbor { high: true }, now_ms);
                            }
                        }
                    }
                }
            }
            Msg::Neighbor { high } => self.neighbor_request(from, *high, true, now_ms, host),
            Msg::NeighborReply { accepted } => {
                let asked = self.pending.as_ref().map_or(false, |(p, _)| p == from);
                let bridged = asked && self.bridging && *accepted;
                if asked {
                    self.pending = None;
                    self.bridging = false;
                }
                let healthy = self
                    .active
                    .iter()
                    .all(|a| now_ms.saturating_sub(a.heard_ms) < self.params.fail_after_ms / 2);
                if *accepted && !bridged && self.settled && self.is_full() && healthy && !self.is_active(from)
                {
                    self.send(from, Msg::Disconnect, now_ms);
                    self.add_passive(from, host);
                } else if *accepted {
                    self.add_active(from, now_ms, host);
                } else if asked {
                    self.add_passive(from, host);
                }
            }
            Msg::Disconnect => self.remove_active(from, false, host),
            Msg::Shuffle { origin, ttl, nodes } => {
                if origin == &self.me {
                    return true;
                }
                let others: Vec<String> = self
                    .active()
                    .into_iter()
                    .filter(|a| a != from && a != origin)
                    .collect();
                if *ttl > 1 && !others.is_empty() {
                    let next = sample(&others, 1, host).pop().unwrap_or_default();
                    self.send(
                        &next,
                        Msg::Shuffle {
                            origin: origin.clone(),
                            ttl: ttl - 1,
                            nodes: nodes.clone(),
                        },
                        now_ms,
                    );
                } else {
                    let reply = sample(&self.passive.clone(), nodes.len(), host);
                    self.send(origin, Msg::ShuffleReply { nodes: reply }, now_ms);
                    self.add_passive(origin, host);
                    for n in nodes {
                        self.add_passive(n, host);
                    }
                }
            }
            Msg::ShuffleReply { nodes } => {
                for n in nodes {
                    self.add_passive(n, host);
                }
            }
            Msg::Heartbeat => {
                // A link only the sender believes in (our Disconnect was lost): it
                // hears so, instead of waiting for pushes that never come.
                if !self.is_active(from) {
                    self.send(from, Msg::Disconnect, now_ms);
                }
            }
            _ => return false,
        }
        true
    }

    /// Time passed: fail silent peers, replace missing ones from the passive view,
    /// shuffle, and heartbeat peers sent nothing lately.
    pub fn tick(&mut self, now_ms: u64, host: &mut dyn Host) {
        let silent: Vec<String> = self
            .active
            .iter()
            .filter(|a| now_ms.saturating_sub(a.heard_ms) >= self.params.fail_after_ms)
            .map(|a| a.addr.clone())
            .collect();
        for addr in silent {
            self.remove_active(&addr, true, host);
        }
        if let Some((peer, since)) = self.pending.clone() {
            if now_ms.saturating_sub(since) >= self.params.request_timeout_ms {
                // No answer: presumed dead, forgotten.
                self.pending = None;
                self.bridging = false;
                self.passive.retain(|p| *p != peer);
            }
        }
        if self.active.len() < self.params.active && self.pending.is_none() {
            if let Some(peer) = sample(&self.passive.clone(), 1, host).pop() {
                // Below half its size a view asks to be let in even where the view is
                // full (the paper asks so only when it is empty): otherwise two nodes
                // that joined each other at once stay a pair of their own for good.
                let high = self.active.len() * 2 < self.params.active;
                self.pending = Some((peer.clone(), now_ms));
                self.send(&peer, Msg::Neighbor { high }, now_ms);
            }
        }
        if now_ms.saturating_sub(self.last_shuffle_ms) >= self.params.shuffle_ms && !self.active.is_empty() {
            self.last_shuffle_ms = now_ms;
            let mut nodes = vec![self.me.clone()];
            nodes.extend(sample(&self.active(), self.params.shuffle_active, host));
            nodes.extend(sample(&self.passive.clone(), self.params.shuffle_passive, host));
            if let Some(to) = sample(&self.active(), 1, host).pop() {
                let origin = self.me.clone();
                let ttl = self.params.arwl;
                self.send(&to, Msg::Shuffle { origin, ttl, nodes }, now_ms);
            }
        }
        let quiet: Vec<String> = self
            .active
            .iter()
            .filter(|a| now_ms.saturating_sub(a.sent_ms) >= self.params.heartbeat_ms)
            .map(|a| a.addr.clone())
            .collect();
        for addr in quiet {
            self.send(&addr, Msg::Heartbeat, now_ms);
        }
    }

    /// Leaves the overlay: a Disconnect to every active peer.
    pub fn leave(&mut self, now_ms: u64) {
        for a in self.active() {
            self.send(&a, Msg::Disconnect, now_ms);
            self.downs.push(a);
        }
        self.active.clear();
    }
}
