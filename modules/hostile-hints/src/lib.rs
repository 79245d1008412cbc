//! hostile-hints: hint poison. Every tick it sends to 64 addresses where nobody
//! listens (127.0.0.1, ports counting down from 65535), and nothing else. When the
//! core took every address a module sent to as a membership hint, this filled its
//! hint slots with dead addresses, and a fix spread by backup gossip took 6–32 s
//! instead of under one.
//!
//! Params: `{"base_port": 65535}`.
//!
//! A test module (see `modules/hostile-storm`).

#![warn(missing_docs)]

use hearsay_guest::json::{self, Value};
use hearsay_guest::{Host, Module};

/// Dead addresses sent to per tick.
pub const ADDRESSES: u64 = 64;

/// The module.
#[derive(Debug, Default)]
pub struct Hints {
    base_port: u64,
    ticks: u64,
}

impl Module for Hints {
    fn init(params: &str, _host: &mut dyn Host) -> Result<Self, String> {
        let mut base_port = 65535;
        if !params.trim().is_empty() {
            if let Some(p) = json::parse(params)?.get("base_port").and_then(Value::as_u64) {
                base_port = p.clamp(ADDRESSES + 1, 65535);
            }
        }
        Ok(Hints { base_port, ticks: 0 })
    }

    fn tick(&mut self, _now_ms: u64, host: &mut dyn Host) {
        self.ticks += 1;
        for i in 0..ADDRESSES {
            let port = self.base_port - (self.ticks * 7 + i) % (ADDRESSES * 4);
            host.send(&format!("127.0.0.1:{}", port), b"are you there?");
        }
    }

    fn receive(&mut self, _from: &str, _payload: &[u8], _host: &mut dyn Host) {}

    fn query(&mut self, _args: &str, _host: &mut dyn Host) -> String {
        format!("{{\"ticks\":{}}}", self.ticks)
    }
}

hearsay_guest::export_module!(Hints);
