//! A [`Host`] for a module's native tests: it records sends in an outbox, tells the
//! time it is given, draws seeded randomness (splitmix64), keeps what is emitted,
//! answers the labels it is given, and can stand in for the runtime's flood limit.
//! Drivers that run modules in a loop (nodes in a Vec, messages in a queue) build on
//! it.

use crate::host::{Host, Level};

/// splitmix64: small, seeded, good enough for tests.
pub fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A node's host in a test.
#[derive(Debug, Clone, Default)]
pub struct TestHost {
    /// This node's address.
    pub addr: String,
    /// The time `now_ms` answers; the driver moves it.
    pub now: u64,
    /// The splitmix64 state behind `random_u64`.
    pub rng: u64,
    /// What `bootstrap_peers` answers.
    pub bootstrap: Vec<String>,
    /// Every send, in order; the driver drains it.
    pub outbox: Vec<(String, Vec<u8>)>,
    /// Sends allowed before `send` panics (a native stand-in for the flood limit).
    pub send_cap: Option<usize>,
    /// Sends made so far.
    pub sent: usize,
    /// What `labels` answers (a JSON object); empty means `{}`.
    pub labels: String,
    /// Every `emit`, in order: (kind, data).
    pub events: Vec<(String, Vec<u8>)>,
}

impl TestHost {
    /// A host at `addr` with these bootstrap peers and randomness seed, at time 0.
    pub fn new(addr: String, bootstrap: Vec<String>, seed: u64) -> TestHost {
        TestHost {
            addr,
            rng: seed,
            bootstrap,
            ..TestHost::default()
        }
    }
}

impl Host for TestHost {
    fn send(&mut self, to: &str, payload: &[u8]) {
        if let Some(cap) = self.send_cap {
            if self.sent >= cap {
                panic!("flood: more than {} sends", cap);
            }
        }
        self.sent += 1;
        self.outbox.push((to.to_string(), payload.to_vec()));
    }
    fn now_ms(&self) -> u64 {
        self.now
    }
    fn random_u64(&mut self) -> u64 {
        splitmix(&mut self.rng)
    }
    fn log(&mut self, _level: Level, _msg: &str) {}
    fn bootstrap_peers(&self) -> Vec<String> {
        self.bootstrap.clone()
    }
    fn self_addr(&self) -> String {
        self.addr.clone()
    }
    fn emit(&mut self, kind: &str, data: &[u8]) {
        self.events.push((kind.to_string(), data.to_vec()));
    }
    fn labels(&self) -> String {
        if self.labels.is_empty() {
            "{}".to_string()
        } else {
            self.labels.clone()
        }
    }
}
