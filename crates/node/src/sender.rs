//! Outgoing gossip: envelopes queued per peer and sent as batches (`POST /gossip`),
//! one request in flight per peer. While a request is in flight, envelopes for that
//! peer accumulate and go together in the next one, so a slow peer gets fewer, larger
//! requests and a stopped one costs a bounded queue, never unbounded memory.
//!
//! The core's own envelopes (summaries, records, requests) and modules' payloads are
//! kept apart all the way: separate channels from the actor, separate queues per peer
//! with their own byte caps, and each batch starts with the core's. A module sending
//! as fast as it can fills and drops only its own queue; a fix still leaves in the
//! very next batch.
//!
//! A peer that refuses the connection is reported to the actor once per failure, so
//! the core stops counting on it (an address a module made up, a node that left).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use hearsay_core::{PeerAddr, Traffic};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;

use crate::batch::{self, MAX_BATCH_BYTES, MAX_BATCH_ENVELOPES};
use crate::counters::NodeCounters;
use crate::inbox::Event;
use crate::peer_client::PeerClient;

/// Module envelopes waiting for the sender, all peers together.
pub(crate) const SEND_QUEUE: usize = 8192;
/// The core's envelopes waiting for the sender.
const CORE_SEND_QUEUE: usize = 4096;
/// Module bytes waiting for one peer; beyond it the oldest envelopes are dropped
/// (gossip is fire-and-forget: newer state supersedes older).
const MAX_PEER_MODULE_BYTES: usize = MAX_BATCH_BYTES;
/// The core's bytes waiting for one peer: its messages are small, and a peer that
/// doesn't take them for this long is not taking anything.
const MAX_PEER_CORE_BYTES: usize = 1 << 20;
/// Peers with queued envelopes at once.
const MAX_PEERS: usize = 4096;

/// One encoded envelope for one peer.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub to: PeerAddr,
    pub bytes: Vec<u8>,
}

/// The actor's side of the sender.
pub(crate) struct SenderHandle {
    core: mpsc::Sender<Outgoing>,
    module: mpsc::Sender<Outgoing>,
    counters: Arc<NodeCounters>,
}

impl SenderHandle {
    /// Queues an envelope in its class's channel; counted as lost when that is full.
    pub(crate) fn send(&self, out: Outgoing, class: Traffic) {
        let channel = match class {
            Traffic::Core => &self.core,
            Traffic::Module => &self.module,
        };
        if channel.try_send(out).is_err() {
            self.counters.envelopes_lost.inc(match class {
                Traffic::Core => "core_queue_full",
                Traffic::Module => "queue_full",
            });
        }
    }
}

/// One class of a peer's waiting envelopes.
#[derive(Default)]
struct Lane {
    pending: VecDeque<Vec<u8>>,
    bytes: usize,
}

impl Lane {
    /// Appends, dropping the oldest while over `cap` (the newest is always kept).
    fn push(&mut self, bytes: Vec<u8>, cap: usize, counters: &NodeCounters, lost: &'static str) {
        self.bytes += batch::framed_len(&bytes);
        self.pending.push_back(bytes);
        while self.bytes > cap && self.pending.len() > 1 {
            if let Some(old) = self.pending.pop_front() {
                self.bytes -= batch::framed_len(&old);
                counters.envelopes_lost.inc(lost);
            }
        }
    }

    /// Moves the oldest envelopes that fit into `body`.
    fn fill(&mut self, body: &mut Vec<u8>, count: &mut usize) {
        while let Some(next) = self.pending.front() {
            let fits = body.len() + batch::framed_len(next) <= MAX_BATCH_BYTES;
            if *count == MAX_BATCH_ENVELOPES || (*count > 0 && !fits) {
                break;
            }
            let next = self.pending.pop_front().unwrap_or_default();
            self.bytes -= batch::framed_len(&next);
            batch::push(body, &next);
            *count += 1;
        }
    }
}

#[derive(Default)]
struct PeerQueue {
    core: Lane,
    module: Lane,
    in_flight: bool,
}

impl PeerQueue {
    fn is_empty(&self) -> bool {
        self.core.pending.is_empty() && self.module.pending.is_empty()
    }
}

/// What the sender does to its own batches on purpose, to measure the protocols with
/// real agents as across a real network (this kernel has no netem): all zero in
/// production.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Impairment {
    /// The fraction of batches dropped (`--gossip-loss`).
    pub loss: f64,
    /// Each batch leaves this many ms late (`--gossip-delay-ms`)…
    pub delay_ms: u64,
    /// …give or take up to this many, uniformly (`--gossip-jitter-ms`).
    pub jitter_ms: u64,
}

impl Impairment {
    /// How long to hold the next batch.
    fn delay(&self, rng: &mut ChaCha8Rng) -> Option<Duration> {
        if self.delay_ms == 0 {
            return None;
        }
        let jitter = self.jitter_ms.min(self.delay_ms) as i64;
        let ms = self.delay_ms as i64 + rng.gen_range(-jitter..=jitter);
        Some(Duration::from_millis(ms as u64))
    }
}

/// Starts the sender task. Unreachable peers are reported on `events`.
pub(crate) fn spawn(
    client: PeerClient,
    counters: Arc<NodeCounters>,
    events: mpsc::Sender<Event>,
    impair: Impairment,
) -> SenderHandle {
    let (core, core_rx) = mpsc::channel(CORE_SEND_QUEUE);
    let (module, module_rx) = mpsc::channel(SEND_QUEUE);
    tokio::spawn(run(core_rx, module_rx, client, counters.clone(), events, impair));
    SenderHandle {
        core,
        module,
        counters,
    }
}

async fn run(
    mut core_rx: mpsc::Receiver<Outgoing>,
    mut module_rx: mpsc::Receiver<Outgoing>,
    client: PeerClient,
    counters: Arc<NodeCounters>,
    events: mpsc::Sender<Event>,
    impair: Impairment,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(crate::fsutil::random_u64());
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<PeerAddr>();
    let mut peers: HashMap<PeerAddr, PeerQueue> = HashMap::new();
    // Each peer's gossip URL, parsed once (formatting and parsing it per request was
    // a visible share of an idle agent's CPU); forgotten all at once when too many.
    let mut urls: HashMap<PeerAddr, reqwest::Url> = HashMap::new();
    loop {
        tokio::select! {
            biased;
            msg = core_rx.recv() => {
                let Some(first) = msg else { break };
                enqueue(&mut peers, first, Traffic::Core, &counters);
            }
            Some(first) = module_rx.recv() => enqueue(&mut peers, first, Traffic::Module, &counters),
            Some(peer) = done_rx.recv() => {
                if let Some(q) = peers.get_mut(&peer) {
                    q.in_flight = false;
                    if q.is_empty() {
                        peers.remove(&peer);
                    }
                }
            }
        }
        // Take the whole burst (a tick's worth of sends) before sending, so the first
        // request to each peer already carries everything.
        while let Ok(more) = core_rx.try_recv() {
            enqueue(&mut peers, more, Traffic::Core, &counters);
        }
        while let Ok(more) = module_rx.try_recv() {
            enqueue(&mut peers, more, Traffic::Module, &counters);
        }
        for (peer, q) in peers.iter_mut() {
            if !q.in_flight && !q.is_empty() {
                q.in_flight = true;
                let (body, count) = take_batch(q);
                if impair.loss > 0.0 && rng.gen_bool(impair.loss) {
                    q.in_flight = false;
                    counters.injected_losses.inc();
                    counters.envelopes_lost.add("injected", count as u64);
                    continue;
                }
                let peer = *peer;
                if urls.len() >= MAX_PEERS && !urls.contains_key(&peer) {
                    urls.clear();
                }
                let url = match urls.get(&peer) {
                    Some(url) => url.clone(),
                    None => match client.parsed_url(peer, "/gossip") {
                        Some(url) => urls.entry(peer).or_insert(url).clone(),
                        None => {
                            // No socket address makes an invalid URL; counted if one did.
                            q.in_flight = false;
                            counters.gossip_send_failures.inc("other");
                            counters.envelopes_lost.add("send_failed", count as u64);
                            continue;
                        }
                    },
                };
                let (client, counters, done, events) =
                    (client.clone(), counters.clone(), done_tx.clone(), events.clone());
                let delay = impair.delay(&mut rng);
                tokio::spawn(async move {
                    if let Some(delay) = delay {
                        tokio::time::sleep(delay).await;
                    }
                    if !post(&client, (peer, url), body, count, &counters).await {
                        let _ = events.try_send(Event::Unreachable(peer));
                    }
                    let _ = done.send(peer);
                });
            }
        }
        // Peers whose batch was dropped on purpose and have nothing left.
        peers.retain(|_, q| q.in_flight || !q.is_empty());
    }
}

fn enqueue(peers: &mut HashMap<PeerAddr, PeerQueue>, out: Outgoing, class: Traffic, counters: &NodeCounters) {
    if !peers.contains_key(&out.to) && peers.len() >= MAX_PEERS {
        counters.envelopes_lost.inc("too_many_peers");
        return;
    }
    let q = peers.entry(out.to).or_default();
    match class {
        Traffic::Core => q
            .core
            .push(out.bytes, MAX_PEER_CORE_BYTES, counters, "core_queue_full"),
        Traffic::Module => q
            .module
            .push(out.bytes, MAX_PEER_MODULE_BYTES, counters, "queue_full"),
    }
}

/// The oldest pending envelopes that fit in one batch, the core's first.
fn take_batch(q: &mut PeerQueue) -> (Vec<u8>, usize) {
    let mut body = Vec::new();
    let mut count = 0;
    q.core.fill(&mut body, &mut count);
    q.module.fill(&mut body, &mut count);
    (body, count)
}

/// Posts a batch to a peer at its gossip URL; false when the peer could not be reached at all.
async fn post(
    client: &PeerClient,
    (peer, url): (PeerAddr, reqwest::Url),
    body: Vec<u8>,
    count: usize,
    counters: &NodeCounters,
) -> bool {
    // No content type: the listener takes any body at /gossip as a batch, and an idle
    // exchange is mostly headers (BENCHMARKS.md, "Idle agents").
    let result = client.http.post(url).body(body).send().await;
    let failure = match &result {
        Ok(r) if r.status().is_success() => None,
        Ok(_) => Some("status"),
        Err(e) if e.is_timeout() => Some("timeout"),
        Err(e) if e.is_connect() && !mentions_tls(e) => Some("connect"),
        Err(e) => {
            // A TLS mismatch (this node or the peer set up without the cluster's TLS,
            // another CA) or a peer that doesn't speak HTTP: said in the log, rarely.
            let n = counters.gossip_send_failures.get("other") + 1;
            if n.is_power_of_two() {
                tracing::warn!(%peer, failures = n, "gossip could not be sent: {}", chain(e));
            }
            Some("other")
        }
    };
    match failure {
        None => counters.gossip_batches_out.inc(),
        Some(reason) => {
            tracing::debug!(%peer, reason, envelopes = count, "gossip batch not delivered");
            counters.gossip_send_failures.inc(reason);
            counters.envelopes_lost.add("send_failed", count as u64);
        }
    }
    failure != Some("connect")
}

/// The error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// True when the error comes from TLS (a handshake the peer refused or botched).
fn mentions_tls(e: &reqwest::Error) -> bool {
    let text = chain(e).to_ascii_lowercase();
    [
        "tls",
        "certificate",
        "handshake",
        "invalidcontenttype",
        "corrupt message",
    ]
    .iter()
    .any(|w| text.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_the_oldest_and_batches_respect_the_cap() {
        let counters = NodeCounters::default();
        let mut peers = HashMap::new();
        let peer: PeerAddr = "127.0.0.1:1".parse().unwrap();
        let big = vec![0u8; 1 << 20];
        for i in 0..6u8 {
            let mut bytes = big.clone();
            bytes[0] = i;
            enqueue(
                &mut peers,
                Outgoing { to: peer, bytes },
                Traffic::Module,
                &counters,
            );
        }
        let q = peers.get_mut(&peer).unwrap();
        assert_eq!(q.module.pending.len(), 3);
        assert_eq!(q.module.pending[0][0], 3);
        assert_eq!(counters.envelopes_lost.snapshot()["queue_full"], 3);
        let (body, count) = take_batch(q);
        assert_eq!(count, 3);
        assert_eq!(batch::decode(&body).unwrap().len(), 3);
        assert!(q.is_empty() && q.module.bytes == 0);
    }

    #[test]
    fn the_cores_envelopes_survive_a_module_flood_and_go_first() {
        let counters = NodeCounters::default();
        let mut peers = HashMap::new();
        let peer: PeerAddr = "127.0.0.1:1".parse().unwrap();
        enqueue(
            &mut peers,
            Outgoing {
                to: peer,
                bytes: b"fix".to_vec(),
            },
            Traffic::Core,
            &counters,
        );
        for _ in 0..10_000 {
            let bytes = vec![7u8; 4096];
            enqueue(
                &mut peers,
                Outgoing { to: peer, bytes },
                Traffic::Module,
                &counters,
            );
        }
        let q = peers.get_mut(&peer).unwrap();
        let (body, count) = take_batch(q);
        let envelopes = batch::decode(&body).unwrap();
        assert_eq!(envelopes[0], b"fix", "the core's envelope leads the batch");
        assert!(count > 1 && body.len() <= MAX_BATCH_BYTES);
        assert!(counters.envelopes_lost.snapshot()["queue_full"] > 0);
        assert!(!counters.envelopes_lost.snapshot().contains_key("core_queue_full"));
    }
}
