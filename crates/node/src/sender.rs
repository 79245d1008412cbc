//! Outgoing gossip: envelopes queued per peer and sent as batches (`POST /gossip`),
//! one request in flight per peer. While a request is in flight, envelopes for that
//! peer accumulate and go together in the next one, so a slow peer gets fewer, larger
//! requests and a stopped one costs a bounded queue, never unbounded memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use hearsay_core::PeerAddr;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;

use crate::batch::{self, MAX_BATCH_BYTES, MAX_BATCH_ENVELOPES};
use crate::counters::NodeCounters;
use crate::peer_client::PeerClient;

/// Envelopes waiting for the sender, all peers together.
pub(crate) const SEND_QUEUE: usize = 8192;
/// Bytes waiting for one peer; beyond it the oldest envelopes are dropped (gossip is
/// fire-and-forget: newer state supersedes older).
const MAX_PEER_PENDING_BYTES: usize = MAX_BATCH_BYTES;
/// Peers with queued envelopes at once.
const MAX_PEERS: usize = 4096;

/// One encoded envelope for one peer.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub to: PeerAddr,
    pub bytes: Vec<u8>,
}

#[derive(Default)]
struct PeerQueue {
    pending: VecDeque<Vec<u8>>,
    pending_bytes: usize,
    in_flight: bool,
}

/// Starts the sender task; envelopes go in through the returned channel.
/// `loss`: the fraction of batches dropped on purpose (`--gossip-loss`, to measure
/// the protocols under loss with real agents); 0 in production.
pub(crate) fn spawn(client: PeerClient, counters: Arc<NodeCounters>, loss: f64) -> mpsc::Sender<Outgoing> {
    let (tx, rx) = mpsc::channel(SEND_QUEUE);
    tokio::spawn(run(rx, client, counters, loss));
    tx
}

async fn run(mut rx: mpsc::Receiver<Outgoing>, client: PeerClient, counters: Arc<NodeCounters>, loss: f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(crate::fsutil::random_u64());
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<PeerAddr>();
    let mut peers: HashMap<PeerAddr, PeerQueue> = HashMap::new();
    loop {
        tokio::select! {
            msg = rx.recv() => {
                let Some(first) = msg else { break };
                enqueue(&mut peers, first, &counters);
                // Take the whole burst (a tick's worth of sends) before sending, so
                // the first request to each peer already carries everything.
                while let Ok(more) = rx.try_recv() {
                    enqueue(&mut peers, more, &counters);
                }
            }
            Some(peer) = done_rx.recv() => {
                if let Some(q) = peers.get_mut(&peer) {
                    q.in_flight = false;
                    if q.pending.is_empty() {
                        peers.remove(&peer);
                    }
                }
            }
        }
        for (peer, q) in peers.iter_mut() {
            if !q.in_flight && !q.pending.is_empty() {
                q.in_flight = true;
                let (body, count) = take_batch(q);
                if loss > 0.0 && rng.gen_bool(loss) {
                    q.in_flight = false;
                    counters.injected_losses.inc();
                    counters.envelopes_lost.add("injected", count as u64);
                    continue;
                }
                let (client, counters, done) = (client.clone(), counters.clone(), done_tx.clone());
                let peer = *peer;
                tokio::spawn(async move {
                    post(&client, peer, body, count, &counters).await;
                    let _ = done.send(peer);
                });
            }
        }
        // Peers whose batch was dropped on purpose and have nothing left.
        peers.retain(|_, q| q.in_flight || !q.pending.is_empty());
    }
}

fn enqueue(peers: &mut HashMap<PeerAddr, PeerQueue>, out: Outgoing, counters: &NodeCounters) {
    if !peers.contains_key(&out.to) && peers.len() >= MAX_PEERS {
        counters.envelopes_lost.inc("too_many_peers");
        return;
    }
    let q = peers.entry(out.to).or_default();
    q.pending_bytes += batch::framed_len(&out.bytes);
    q.pending.push_back(out.bytes);
    while q.pending_bytes > MAX_PEER_PENDING_BYTES && q.pending.len() > 1 {
        if let Some(old) = q.pending.pop_front() {
            q.pending_bytes -= batch::framed_len(&old);
            counters.envelopes_lost.inc("queue_full");
        }
    }
}

/// The oldest pending envelopes that fit in one batch.
fn take_batch(q: &mut PeerQueue) -> (Vec<u8>, usize) {
    let mut body = Vec::new();
    let mut count = 0;
    while let Some(next) = q.pending.front() {
        let fits = body.len() + batch::framed_len(next) <= MAX_BATCH_BYTES;
        if count == MAX_BATCH_ENVELOPES || (count > 0 && !fits) {
            break;
        }
        let next = q.pending.pop_front().unwrap_or_default();
        q.pending_bytes -= batch::framed_len(&next);
        batch::push(&mut body, &next);
        count += 1;
    }
    (body, count)
}

async fn post(client: &PeerClient, peer: PeerAddr, body: Vec<u8>, count: usize, counters: &NodeCounters) {
    let result = client
        .http
        .post(client.url(peer, "/gossip"))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await;
    let failure = match result {
        Ok(r) if r.status().is_success() => None,
        Ok(_) => Some("status"),
        Err(e) if e.is_connect() => Some("connect"),
        Err(e) if e.is_timeout() => Some("timeout"),
        Err(_) => Some("other"),
    };
    match failure {
        None => counters.gossip_batches_out.inc(),
        Some(reason) => {
            tracing::debug!(%peer, reason, envelopes = count, "gossip batch not delivered");
            counters.gossip_send_failures.inc(reason);
            counters.envelopes_lost.add("send_failed", count as u64);
        }
    }
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
            enqueue(&mut peers, Outgoing { to: peer, bytes }, &counters);
        }
        let q = peers.get_mut(&peer).unwrap();
        assert_eq!(q.pending.len(), 3);
        assert_eq!(q.pending[0][0], 3);
        assert_eq!(counters.envelopes_lost.snapshot()["queue_full"], 3);
        let (body, count) = take_batch(q);
        assert_eq!(count, 3);
        assert_eq!(batch::decode(&body).unwrap().len(), 3);
        assert!(q.pending.is_empty() && q.pending_bytes == 0);
    }
}
