//! The simulated network: per-message latency drawn from a range (so messages
//! reorder), loss, duplication, and partitions between groups of nodes. Every envelope
//! that crosses it is a real encoded envelope; nothing is passed by reference.

use rand::Rng;

use hearsay_core::Millis;

/// How the network misbehaves.
#[derive(Debug, Clone)]
pub struct NetworkModel {
    /// Fastest one-way delivery.
    pub latency_min_ms: Millis,
    /// Slowest one-way delivery.
    pub latency_max_ms: Millis,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a delivered message arrives twice.
    pub duplicate: f64,
    /// Code download throughput, bytes per millisecond.
    pub bytes_per_ms: u64,
}

impl Default for NetworkModel {
    fn default() -> Self {
        NetworkModel {
            latency_min_ms: 1,
            latency_max_ms: 10,
            loss: 0.0,
            duplicate: 0.0,
            bytes_per_ms: 100_000,
        }
    }
}

/// The network's state: the model plus which partition group each node is in.
#[derive(Debug, Clone)]
pub struct Network {
    /// How it misbehaves.
    pub model: NetworkModel,
    groups: Vec<u32>,
}

impl Network {
    /// `nodes` nodes, all in one group.
    pub fn new(model: NetworkModel, nodes: usize) -> Self {
        Network {
            model,
            groups: vec![0; nodes],
        }
    }

    /// Puts `nodes` into partition group `group`; only nodes of one group can talk.
    pub fn partition(&mut self, nodes: impl IntoIterator<Item = usize>, group: u32) {
        for n in nodes {
            self.groups[n] = group;
        }
    }

    /// Everyone back in group 0.
    pub fn heal(&mut self) {
        self.groups.iter_mut().for_each(|g| *g = 0);
    }

    /// True when `a` and `b` can reach each other.
    pub fn connected(&self, a: usize, b: usize) -> bool {
        self.groups[a] == self.groups[b]
    }

    /// One-way latency of one message.
    pub fn latency(&self, rng: &mut impl Rng) -> Millis {
        rng.gen_range(self.model.latency_min_ms..=self.model.latency_max_ms.max(self.model.latency_min_ms))
    }

    /// Delays after which copies of a message from `a` arrive at `b`: none when lost or
    /// partitioned, two when duplicated.
    pub fn transmit(&self, a: usize, b: usize, rng: &mut impl Rng) -> Vec<Millis> {
        if !self.connected(a, b) || rng.gen_bool(self.model.loss) {
            return Vec::new();
        }
        let mut copies = vec![self.latency(rng)];
        if rng.gen_bool(self.model.duplicate) {
            copies.push(self.latency(rng));
        }
        copies
    }

    /// Time to download `bytes` of code: a round trip plus transfer.
    pub fn fetch_time(&self, bytes: usize, rng: &mut impl Rng) -> Millis {
        self.latency(rng) + self.latency(rng) + bytes as u64 / self.model.bytes_per_ms.max(1)
    }
}
