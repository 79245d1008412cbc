//! A [`Host`] for a module's native tests: it records sends in an outbox, tells the
//! time it is given, draws seeded randomness (splitmix64), keeps what is emitted,
//! answers the labels it is given, and can stand in for the runtime's flood limit.
//! [`Cluster`] runs many of them in a loop: nodes in a Vec, messages in a queue,
//! virtual time, seeded loss and partitions.

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
    /// What `node_info` answers (a JSON object); empty means `{}`.
    pub node_info: String,
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
    fn node_info(&self) -> String {
        if self.node_info.is_empty() {
            "{}".to_string()
        } else {
            self.node_info.clone()
        }
    }
}

/// A node of a [`Cluster`].
pub struct TestNode {
    /// Its host: address, clock, randomness, outbox, events.
    pub host: TestHost,
    /// Its instance; None while crashed.
    pub module: Option<Box<dyn crate::DynModule>>,
}

/// A deterministic cluster for a module's native tests: nodes in a Vec, messages in a
/// queue delivered until the network is quiet, virtual time in ticks, seeded
/// randomness and loss. Every figure it gives is in rounds and counts, never wall time.
pub struct Cluster {
    /// The nodes, node `i` at [`Cluster::addr`]`(i)`.
    pub nodes: Vec<TestNode>,
    /// Virtual time, ms.
    pub now: u64,
    /// Virtual time per round, ms.
    pub tick_ms: u64,
    /// Drop one message in this many (0: none).
    pub drop_one_in: u64,
    /// Messages carried (dropped ones included) and their bytes.
    pub messages: u64,
    /// Bytes of the messages carried.
    pub bytes: u64,
    /// The largest message carried.
    pub max_message: usize,
    /// Nodes cut off from the rest: every message to or from them is lost.
    pub isolated: std::collections::BTreeSet<usize>,
    /// Nodes stalled (an overloaded host): they neither tick nor read until
    /// [`Cluster::resume`], and what is sent to them waits.
    pub stalled: std::collections::BTreeSet<usize>,
    /// Messages waiting for a stalled node: (from, to, payload).
    held: Vec<(String, usize, Vec<u8>)>,
    params: String,
    factory: crate::Factory,
    rng: u64,
    seed: u64,
}

impl Cluster {
    /// `n` nodes running `factory`'s module with `params`, all bootstrapping through
    /// nodes 0 and 1, at time 1,000 ms with 100 ms ticks.
    pub fn new(n: usize, factory: crate::Factory, params: &str, seed: u64) -> Cluster {
        let mut c = Cluster {
            nodes: Vec::new(),
            now: 1_000,
            tick_ms: 100,
            drop_one_in: 0,
            messages: 0,
            bytes: 0,
            max_message: 0,
            isolated: std::collections::BTreeSet::new(),
            stalled: std::collections::BTreeSet::new(),
            held: Vec::new(),
            params: params.to_string(),
            factory,
            rng: seed,
            seed,
        };
        for _ in 0..n {
            c.add();
        }
        c
    }

    /// Node `i`'s address.
    pub fn addr(i: usize) -> String {
        format!("10.9.{}.{}:7000", i / 250, i % 250 + 1)
    }

    /// The index of the node at `addr`.
    pub fn index(&self, addr: &str) -> Option<usize> {
        let (x, y) = addr
            .strip_prefix("10.9.")?
            .strip_suffix(":7000")?
            .split_once('.')?;
        let i = x.parse::<usize>().ok()? * 250 + y.parse::<usize>().ok()?.checked_sub(1)?;
        (i < self.nodes.len()).then_some(i)
    }

    /// Adds and starts one more node; its index.
    pub fn add(&mut self) -> usize {
        let i = self.nodes.len();
        let host = TestHost::new(
            Cluster::addr(i),
            vec![Cluster::addr(0), Cluster::addr(1)],
            self.seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        self.nodes.push(TestNode { host, module: None });
        self.start(i);
        i
    }

    /// Starts node `i` afresh (a new instance: a restart after a crash).
    pub fn start(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.host.now = self.now;
        node.host.outbox.clear();
        node.module = Some((self.factory)(&self.params, &mut node.host).expect("init"));
        self.deliver_all();
    }

    /// Node `i` stops at once, its pending messages lost.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].module = None;
        self.nodes[i].host.outbox.clear();
    }

    /// Node `i` swaps to a new instance of `factory` with the old one's state (a hot
    /// swap); returns whether the new one took it.
    pub fn swap(&mut self, i: usize, factory: crate::Factory, params: &str) -> bool {
        let node = &mut self.nodes[i];
        let old = node.module.take().expect("running");
        let mut new = factory(params, &mut node.host).expect("init");
        let took = match old.export_state() {
            Some(state) => new.import_state(&state, &mut node.host),
            None => false,
        };
        node.module = Some(new);
        took
    }

    /// Delivers every queued message, and what they cause, until the network is quiet.
    pub fn deliver_all(&mut self) {
        let mut queue = std::collections::VecDeque::new();
        for node in &mut self.nodes {
            for (to, bytes) in node.host.outbox.drain(..) {
                queue.push_back((node.host.addr.clone(), to, bytes));
            }
        }
        while let Some((from, to, bytes)) = queue.pop_front() {
            self.messages += 1;
            self.bytes += bytes.len() as u64;
            self.max_message = self.max_message.max(bytes.len());
            if self.drop_one_in > 0 && splitmix(&mut self.rng) % self.drop_one_in == 0 {
                continue;
            }
            let i = match self.index(&to) {
                Some(i) => i,
                None => continue,
            };
            let cut =
                self.isolated.contains(&i) || self.index(&from).map_or(false, |f| self.isolated.contains(&f));
            if cut {
                continue;
            }
            if self.stalled.contains(&i) {
                self.held.push((from, i, bytes));
                continue;
            }
            let node = &mut self.nodes[i];
            node.host.now = self.now;
            if let Some(m) = node.module.as_mut() {
                m.receive(&from, &bytes, &mut node.host);
            }
            for (to, bytes) in node.host.outbox.drain(..) {
                queue.push_back((node.host.addr.clone(), to, bytes));
            }
        }
    }

    /// One tick at every running node (stalled ones excepted), then delivery until
    /// quiet.
    pub fn round(&mut self) {
        self.now += self.tick_ms;
        for (i, node) in self.nodes.iter_mut().enumerate() {
            if self.stalled.contains(&i) {
                continue;
            }
            node.host.now = self.now;
            if let Some(m) = node.module.as_mut() {
                m.tick(self.now, &mut node.host);
            }
        }
        self.deliver_all();
    }

    /// Node `i` runs again after a stall, as an overloaded host's agent does: its
    /// overdue tick first, then what waited for it, then delivery until quiet.
    pub fn resume(&mut self, i: usize) {
        self.stalled.remove(&i);
        let node = &mut self.nodes[i];
        node.host.now = self.now;
        if let Some(m) = node.module.as_mut() {
            m.tick(self.now, &mut node.host);
        }
        let held = std::mem::take(&mut self.held);
        for (from, to, bytes) in held {
            if to != i {
                self.held.push((from, to, bytes));
                continue;
            }
            let node = &mut self.nodes[i];
            if let Some(m) = node.module.as_mut() {
                m.receive(&from, &bytes, &mut node.host);
            }
        }
        self.deliver_all();
    }

    /// `n` rounds.
    pub fn rounds(&mut self, n: usize) {
        for _ in 0..n {
            self.round();
        }
    }

    /// Rounds until `done` holds (checked before each), at most `max`; how many ran,
    /// or None if it never held.
    pub fn rounds_until(&mut self, max: usize, mut done: impl FnMut(&mut Cluster) -> bool) -> Option<usize> {
        for n in 0..=max {
            if done(self) {
                return Some(n);
            }
            if n < max {
                self.round();
            }
        }
        None
    }

    /// A command at node `i` (then delivery until quiet); its answer.
    pub fn command(&mut self, i: usize, args: &str) -> String {
        let node = &mut self.nodes[i];
        node.host.now = self.now;
        let answer = node
            .module
            .as_mut()
            .expect("running")
            .command(args, &mut node.host);
        self.deliver_all();
        answer
    }

    /// A query at node `i`; its answer.
    pub fn query(&mut self, i: usize, args: &str) -> String {
        let node = &mut self.nodes[i];
        node.module.as_mut().expect("running").query(args, &mut node.host)
    }

    /// The events node `i` emitted since last asked: (kind, data as text).
    pub fn events(&mut self, i: usize) -> Vec<(String, String)> {
        self.nodes[i]
            .host
            .events
            .drain(..)
            .map(|(kind, data)| (kind, String::from_utf8_lossy(&data).into_owned()))
            .collect()
    }
}
