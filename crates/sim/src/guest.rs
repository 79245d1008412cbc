//! A guest module linked natively: the same source that builds to wasm, called
//! directly through `hearsay_guest::DynModule`, with a [`Host`] that answers from the
//! simulation (virtual time, a seeded generator, the node's addresses) and collects
//! its sends.

use rand::RngCore;
use rand_chacha::ChaCha8Rng;

use hearsay_core::{Millis, PeerAddr};
use hearsay_guest::{DynModule, Factory, Host, Level};

/// Sends a module made: `(to, payload)`.
pub type Sends = Vec<(PeerAddr, Vec<u8>)>;

/// What a guest module sees of its node in the simulator.
struct SimHost<'a> {
    now: Millis,
    rng: &'a mut ChaCha8Rng,
    self_addr: &'a str,
    bootstrap: &'a [String],
    about: &'a About,
    sends: Sends,
}

/// What a guest's host tells it of its node: labels, start, running modules.
#[derive(Debug, Clone)]
pub struct About {
    /// The node's labels, a JSON object.
    pub labels: String,
    /// When the node started (virtual time).
    pub started: Millis,
    /// The modules running on it, name → `{"deployment","version"}`, JSON.
    pub modules: String,
}

impl Default for About {
    fn default() -> Self {
        About {
            labels: "{}".to_string(),
            started: 0,
            modules: "{}".to_string(),
        }
    }
}

impl Host for SimHost<'_> {
    fn send(&mut self, to: &str, payload: &[u8]) {
        // An address the module made up is dropped, as the daemon drops it.
        if let Ok(to) = to.parse() {
            self.sends.push((to, payload.to_vec()));
        }
    }
    fn now_ms(&self) -> u64 {
        self.now
    }
    fn random_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
    fn log(&mut self, _level: Level, _msg: &str) {}
    fn bootstrap_peers(&self) -> Vec<String> {
        self.bootstrap.to_vec()
    }
    fn self_addr(&self) -> String {
        self.self_addr.to_string()
    }
    fn labels(&self) -> String {
        self.about.labels.clone()
    }
    fn node_info(&self) -> String {
        format!(
            "{{\"uptime_ms\":{},\"modules\":{}}}",
            self.now.saturating_sub(self.about.started),
            self.about.modules
        )
    }
}

/// A native guest module on one simulated node.
pub struct Guest {
    inner: Box<dyn DynModule>,
    self_addr: String,
    bootstrap: Vec<String>,
    /// What its host tells of the node (labels, running modules).
    pub about: About,
}

/// A host over a guest's own address and peers; a macro so the borrow of those
/// fields stays disjoint from the mutable borrow of the instance.
macro_rules! host {
    ($guest:expr, $now:expr, $rng:expr) => {
        SimHost {
            now: $now,
            rng: $rng,
            self_addr: &$guest.self_addr,
            bootstrap: &$guest.bootstrap,
            about: &$guest.about,
            sends: Vec::new(),
        }
    };
}

impl Guest {
    /// Starts an instance; returns it with the sends `init` made, or why it failed.
    pub fn start(
        factory: Factory,
        params: &str,
        self_addr: PeerAddr,
        bootstrap: &[PeerAddr],
        now: Millis,
        rng: &mut ChaCha8Rng,
        about: About,
    ) -> Result<(Guest, Sends), String> {
        let self_addr = self_addr.to_string();
        let bootstrap: Vec<String> = bootstrap.iter().map(ToString::to_string).collect();
        let mut host = SimHost {
            now,
            rng,
            self_addr: &self_addr,
            bootstrap: &bootstrap,
            about: &about,
            sends: Vec::new(),
        };
        let inner = factory(params, &mut host)?;
        let sends = host.sends;
        Ok((
            Guest {
                inner,
                self_addr,
                bootstrap,
                about,
            },
            sends,
        ))
    }

    /// One gossip round.
    pub fn tick(&mut self, now: Millis, rng: &mut ChaCha8Rng) -> Sends {
        let mut host = host!(self, now, rng);
        self.inner.tick(now, &mut host);
        host.sends
    }

    /// A payload from a peer.
    pub fn receive(&mut self, now: Millis, from: PeerAddr, payload: &[u8], rng: &mut ChaCha8Rng) -> Sends {
        let mut host = host!(self, now, rng);
        self.inner.receive(&from.to_string(), payload, &mut host);
        host.sends
    }

    /// The module's query (JSON).
    pub fn query(&mut self, now: Millis, args: &str, rng: &mut ChaCha8Rng) -> String {
        let mut host = host!(self, now, rng);
        self.inner.query(args, &mut host)
    }

    /// The module's command (ABI v2; JSON) and what it sent. Natively every module
    /// has one: the `Module` trait's default answers with an error.
    pub fn command(&mut self, now: Millis, args: &str, rng: &mut ChaCha8Rng) -> (String, Sends) {
        let mut host = host!(self, now, rng);
        let answer = self.inner.command(args, &mut host);
        (answer, host.sends)
    }

    /// The state it hands to its successor, if any.
    pub fn export_state(&self) -> Option<Vec<u8>> {
        self.inner.export_state()
    }

    /// Takes its predecessor's state; true when accepted.
    pub fn import_state(&mut self, state: &[u8], now: Millis, rng: &mut ChaCha8Rng) -> bool {
        let mut host = host!(self, now, rng);
        self.inner.import_state(state, &mut host)
    }
}
