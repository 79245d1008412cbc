//! The stand-in module: the simplest gossip a module can do — every round, send a
//! small payload to `fanout` peers chosen uniformly from the whole cluster — so the
//! core's piggyback path carries deployments exactly as it would under a real module.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use hearsay_core::{Millis, PeerAddr};

use crate::addr::addr_of;
use crate::module::{Sends, SimModule};

/// One node's stand-in module instance.
#[derive(Debug, Clone)]
pub struct StandIn {
    me: usize,
    nodes: usize,
    fanout: usize,
    round: u64,
    /// Payloads received by this instance.
    pub received: u64,
}

impl StandIn {
    /// The instance on node `me` of a cluster of `nodes`.
    pub fn new(me: usize, nodes: usize, fanout: usize) -> Self {
        StandIn {
            me,
            nodes,
            fanout,
            round: 0,
            received: 0,
        }
    }
}

impl SimModule for StandIn {
    fn tick(&mut self, _now: Millis, rng: &mut ChaCha8Rng) -> Sends {
        if self.nodes < 2 {
            return Vec::new();
        }
        self.round += 1;
        let payload = [self.round.to_le_bytes(), (self.me as u64).to_le_bytes()].concat();
        (0..self.fanout)
            .map(|_| {
                let mut peer = rng.gen_range(0..self.nodes - 1);
                if peer >= self.me {
                    peer += 1;
                }
                (addr_of(peer), payload.clone())
            })
            .collect()
    }

    fn receive(&mut self, _now: Millis, _from: PeerAddr, _payload: &[u8], _rng: &mut ChaCha8Rng) -> Sends {
        self.received += 1;
        Vec::new()
    }

    fn query(&mut self, _now: Millis, _args: &str, _rng: &mut ChaCha8Rng) -> String {
        format!("{{\"round\":{},\"received\":{}}}", self.round, self.received)
    }
}
