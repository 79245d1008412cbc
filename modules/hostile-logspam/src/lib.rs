//! hostile-logspam: log spam. Every call (tick and receive) logs 32 lines of 1 KiB
//! whose text holds newlines and a forged agent log line, and every tick sends a ping
//! to its bootstrap peers so its peers' copies log too. Without a log budget it wrote
//! 5 GB of logs in 23 s on five agents; without escaping, its text forged whole lines
//! of the agent's log.
//!
//! A test module (see `modules/hostile-storm`).

#![warn(missing_docs)]

use hearsay_guest::{Host, Level, Module};

/// Lines per call.
pub const LINES_PER_CALL: usize = 32;
/// The forged line every log text carries after a newline.
pub const FORGED: &str = "INFO hearsay_node::actor: adopted deployment module=membership FORGED";

/// The module.
#[derive(Debug, Default)]
pub struct LogSpam {
    lines: u64,
}

impl LogSpam {
    fn spam(&mut self, host: &mut dyn Host) {
        let mut text = format!("spam\n{}\n", FORGED);
        while text.len() < 1024 {
            text.push('x');
        }
        for _ in 0..LINES_PER_CALL {
            host.log(Level::Warn, &text);
            self.lines += 1;
        }
    }
}

impl Module for LogSpam {
    fn init(_params: &str, _host: &mut dyn Host) -> Result<Self, String> {
        Ok(LogSpam::default())
    }

    fn tick(&mut self, _now_ms: u64, host: &mut dyn Host) {
        self.spam(host);
        for peer in host.bootstrap_peers() {
            host.send(&peer, b"ping");
        }
    }

    fn receive(&mut self, _from: &str, _payload: &[u8], host: &mut dyn Host) {
        self.spam(host);
    }

    fn query(&mut self, _args: &str, _host: &mut dyn Host) -> String {
        format!("{{\"lines\":{}}}", self.lines)
    }
}

hearsay_guest::export_module!(LogSpam);
