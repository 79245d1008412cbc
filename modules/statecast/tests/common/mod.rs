//! A tiny deterministic driver for the statecast tests: nodes in a Vec, messages in a
//! queue, virtual time in 100 ms ticks, seeded randomness. Modules run natively
//! through `hearsay_guest::factory`, as the simulator runs them; any node may run
//! any variant, and `swap` hot-swaps one the way the runtime does (export, init,
//! import).

#![allow(dead_code)]

use hearsay_guest::json::{self, Value};
pub use hearsay_guest::testing::TestHost as NodeHost;
use hearsay_guest::{factory, DynModule, Factory};
use statecast::engine::wire;
use statecast::{Fixed, Poison, Record, Statecast};
use std::collections::VecDeque;

pub const TICK_MS: u64 = 100;

pub fn fixed() -> Factory {
    factory::<Statecast<Fixed>>()
}

pub fn poison() -> Factory {
    factory::<Statecast<Poison>>()
}

pub fn addr(i: usize) -> String {
    format!("10.0.{}.{}:7000", i / 250, i % 250 + 1)
}

/// What a node's query answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub addr: String,
    pub version: u64,
    pub value: u64,
    pub poisoned: bool,
    pub peers: u64,
}

pub fn parse_view(answer: &str) -> View {
    let doc = json::parse(answer).expect("query answers JSON");
    let num = |k: &str| doc.get(k).and_then(Value::as_u64).expect(k);
    View {
        addr: doc.get("self").and_then(Value::as_str).expect("self").to_string(),
        version: num("version"),
        value: num("value"),
        poisoned: doc.get("poisoned").and_then(Value::as_bool).expect("poisoned"),
        peers: num("peers"),
    }
}

pub struct Node {
    pub host: NodeHost,
    pub module: Box<dyn DynModule>,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    pub now: u64,
}

impl Cluster {
    /// `n` nodes running `code`, all bootstrapping through nodes 0, 1 and 2.
    pub fn new(n: usize, code: Factory, params: &str, seed: u64) -> Cluster {
        let bootstrap: Vec<String> = (0..n.min(3)).map(addr).collect();
        let nodes = (0..n)
            .map(|i| {
                let mut host = NodeHost::new(
                    addr(i),
                    bootstrap.clone(),
                    seed ^ (i as u64 + 1).wrapping_mul(0x1234_5678_9abc_def1),
                );
                let module = code(params, &mut host).expect("init");
                Node { host, module }
            })
            .collect();
        Cluster { nodes, now: 0 }
    }

    /// Hot-swaps node `i` to `code`: export, init, import. Returns import's answer.
    pub fn swap(&mut self, i: usize, code: Factory, params: &str) -> bool {
        let node = &mut self.nodes[i];
        let state = node.module.export_state();
        let mut module = code(params, &mut node.host).expect("init");
        let accepted = match state {
            Some(s) => module.import_state(&s, &mut node.host),
            None => false,
        };
        node.module = module;
        accepted
    }

    fn index(&self, a: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.host.addr == a)
    }

    /// One tick everywhere, then delivery until the network is quiet.
    pub fn round(&mut self) {
        self.now += TICK_MS;
        let now = self.now;
        let mut queue = VecDeque::new();
        for node in &mut self.nodes {
            node.host.now = now;
            node.module.tick(now, &mut node.host);
            for (to, bytes) in node.host.outbox.drain(..) {
                queue.push_back((node.host.addr.clone(), to, bytes));
            }
        }
        while let Some((from, to, bytes)) = queue.pop_front() {
            if let Some(i) = self.index(&to) {
                for (me, reply) in self.deliver(i, &from, &bytes) {
                    queue.push_back((me, from.clone(), reply));
                }
            }
        }
    }

    /// Delivers one payload to node `i`; returns its replies (all to `from`) as
    /// (node `i`'s address, payload) pairs.
    pub fn deliver(&mut self, i: usize, from: &str, bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let node = &mut self.nodes[i];
        node.module.receive(from, bytes, &mut node.host);
        let me = node.host.addr.clone();
        node.host
            .outbox
            .drain(..)
            .map(|(to, b)| {
                assert_eq!(to, from, "a module only replies to its sender");
                (me.clone(), b)
            })
            .collect()
    }

    pub fn query(&mut self, i: usize, args: &str) -> String {
        let node = &mut self.nodes[i];
        node.module.query(args, &mut node.host)
    }

    pub fn command(&mut self, i: usize, args: &str) -> String {
        let node = &mut self.nodes[i];
        node.module.command(args, &mut node.host)
    }

    pub fn view(&mut self, i: usize) -> View {
        parse_view(&self.query(i, ""))
    }

    pub fn views(&mut self) -> Vec<View> {
        (0..self.nodes.len()).map(|i| self.view(i)).collect()
    }

    pub fn poisoned(&mut self) -> usize {
        self.views().iter().filter(|v| v.poisoned).count()
    }

    /// Rounds until every node holds `(version, value)`; the number of rounds taken.
    pub fn converge_on(&mut self, version: u64, value: u64, max_rounds: usize) -> usize {
        for r in 1..=max_rounds {
            self.round();
            if self
                .views()
                .iter()
                .all(|v| v.version == version && v.value == value)
            {
                return r;
            }
        }
        panic!(
            "no convergence on ({}, {}) in {} rounds: {:?}",
            version,
            value,
            max_rounds,
            self.views()
        );
    }
}

/// A push-pull message carrying `record`, as a peer would send it.
pub fn message(record: Record) -> Vec<u8> {
    wire::encode_message(true, &record, &[])
}

/// The record the poison variant makes out of `held`.
pub fn poisoned_from(held: Record) -> Record {
    Record {
        version: held.version + statecast::engine::POISON_BUMP,
        value: held.value ^ statecast::engine::POISON_BIT,
        check: held.check,
    }
}
