//! hostile-storm: an amplifying storm that stays inside every per-call limit. Every
//! tick it sends exactly 1,024 messages (the host's per-call cap) round-robin to its
//! bootstrap peers and every peer it has heard from; every message it receives it
//! answers with 1,024 more. Without budgets, five nodes running it take a machine
//! down, starve every other module and block their own fix.
//!
//! A test module: the first of the hostile modules (`modules/hostile-*`) that tests
//! and `hearsay-lab` use to check that a fix always gets through.

#![warn(missing_docs)]

use hearsay_guest::{Host, Module};

/// Messages per call: exactly the host's per-call limit.
pub const SENDS_PER_CALL: usize = 1024;
/// Most peers remembered.
const MAX_PEERS: usize = 64;

/// The module.
#[derive(Debug, Default)]
pub struct Storm {
    peers: Vec<String>,
    sent: u64,
}

impl Storm {
    fn storm(&mut self, first: Option<&str>, host: &mut dyn Host) {
        let mut targets: Vec<String> = host.bootstrap_peers();
        targets.extend(self.peers.iter().cloned());
        if let Some(first) = first {
            targets.insert(0, first.to_string());
        }
        if targets.is_empty() {
            return;
        }
        let payload = [0x5au8; 64];
        for i in 0..SENDS_PER_CALL {
            let to = &targets[i % targets.len()];
            host.send(to, &payload);
            self.sent += 1;
        }
    }
}

impl Module for Storm {
    fn init(_params: &str, _host: &mut dyn Host) -> Result<Self, String> {
        Ok(Storm::default())
    }

    fn tick(&mut self, _now_ms: u64, host: &mut dyn Host) {
        self.storm(None, host);
    }

    fn receive(&mut self, from: &str, _payload: &[u8], host: &mut dyn Host) {
        if !self.peers.iter().any(|p| p == from) && self.peers.len() < MAX_PEERS {
            self.peers.push(from.to_string());
        }
        self.storm(Some(from), host);
    }

    fn query(&mut self, _args: &str, _host: &mut dyn Host) -> String {
        format!("{{\"peers\":{},\"sent\":{}}}", self.peers.len(), self.sent)
    }
}

hearsay_guest::export_module!(Storm);
