//! The stand-in module: the simplest gossip a module can do — every round, send a
//! small payload to `fanout` peers chosen uniformly from the whole cluster — so the
//! core's piggyback path carries deployments exactly as it would under a real module.
//! A dead stand-in sends nothing (a trapped, looping or silent module).

use rand::Rng;

use hearsay_core::PeerAddr;

use crate::addr::addr_of;

/// One node's stand-in module instance.
#[derive(Debug, Clone)]
pub struct StandIn {
    me: usize,
    nodes: usize,
    fanout: usize,
    dead: bool,
    round: u64,
    /// Payloads received by this instance.
    pub received: u64,
}

impl StandIn {
    /// The instance on node `me` of a cluster of `nodes`.
    pub fn new(me: usize, nodes: usize, fanout: usize, dead: bool) -> Self {
        StandIn {
            me,
            nodes,
            fanout,
            dead,
            round: 0,
            received: 0,
        }
    }

    /// One gossip round: the sends it makes.
    pub fn tick(&mut self, rng: &mut impl Rng) -> Vec<(PeerAddr, Vec<u8>)> {
        if self.dead || self.nodes < 2 {
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

    /// A payload arrived.
    pub fn receive(&mut self, _payload: &[u8]) {
        self.received += 1;
    }
}
