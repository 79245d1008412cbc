//! The stand-in module: the simplest gossip a module can do — every round, send a
//! small payload to `fanout` peers chosen uniformly from the whole cluster — so the
//! core's piggyback path carries deployments exactly as it would under a real module.
//! A guest module like any other (linked natively), with params
//! `{"nodes": N, "fanout": F}`; it knows the cluster from the simulator's addressing.

use hearsay_guest::json::{self, Value};
use hearsay_guest::{Host, Module};

use crate::addr::{addr_of, node_of};

/// One node's stand-in instance.
#[derive(Debug, Clone)]
pub struct StandIn {
    me: usize,
    nodes: usize,
    fanout: usize,
    round: u64,
    /// Payloads received by this instance.
    pub received: u64,
}

impl Module for StandIn {
    fn init(params: &str, host: &mut dyn Host) -> Result<Self, String> {
        let doc = json::parse(params)?;
        let nodes = doc
            .get("nodes")
            .and_then(Value::as_u64)
            .ok_or("params need \"nodes\"")? as usize;
        let fanout = doc.get("fanout").and_then(Value::as_u64).unwrap_or(3) as usize;
        let me = host
            .self_addr()
            .parse()
            .ok()
            .and_then(node_of)
            .ok_or("the stand-in runs only on simulated addresses")?;
        Ok(StandIn {
            me,
            nodes,
            fanout,
            round: 0,
            received: 0,
        })
    }

    fn tick(&mut self, _now_ms: u64, host: &mut dyn Host) {
        if self.nodes < 2 {
            return;
        }
        self.round += 1;
        let payload = [self.round.to_le_bytes(), (self.me as u64).to_le_bytes()].concat();
        for _ in 0..self.fanout {
            let mut peer = (host.random_u64() % (self.nodes as u64 - 1)) as usize;
            if peer >= self.me {
                peer += 1;
            }
            host.send(&addr_of(peer).to_string(), &payload);
        }
    }

    fn receive(&mut self, _from: &str, _payload: &[u8], _host: &mut dyn Host) {
        self.received += 1;
    }

    fn query(&mut self, _args: &str, _host: &mut dyn Host) -> String {
        format!("{{\"round\":{},\"received\":{}}}", self.round, self.received)
    }
}
