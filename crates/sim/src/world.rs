//! The simulated world: N nodes, each a real [`Core`] with its stand-in module and
//! code store, a lossy network and one event queue, all driven by virtual time and one
//! seed. `apply` is the simulator's side of the driver contract — the same `match` over
//! [`Output`] that the daemon runs.

use std::collections::{HashMap, VecDeque};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use hearsay_core::{
    CodeVersion, Configuration, Core, CoreInit, Deployment, DeploymentNumber, Input, Millis, ModuleName,
    NodeId, Output, Settings,
};

use crate::addr::{addr_of, node_of};
use crate::module::{Guest, ModuleKind, Sends, SimModule};
use crate::network::{Network, NetworkModel};
use crate::queue::{Event, Queue};
use crate::standin::StandIn;

/// The name of the stand-in module every simulated node runs.
pub const MODULE: &str = "standin";
/// Virtual time at which a simulation starts (so deployment numbers look like times).
pub const EPOCH_MS: Millis = 1_700_000_000_000;
/// How long a download from an unreachable peer takes to fail (a connect timeout).
const UNREACHABLE_FETCH_MS: Millis = 1000;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of nodes.
    pub nodes: usize,
    /// Seed of every random choice in the run.
    pub seed: u64,
    /// Peers each stand-in module sends to per round.
    pub fanout: usize,
    /// Module gossip interval (one round).
    pub gossip_interval_ms: Millis,
    /// How many of the first nodes are rendezvous nodes.
    pub rendezvous: usize,
    /// The network's behaviour.
    pub network: NetworkModel,
    /// Core tunables (rendezvous list filled in by the simulator).
    pub core: Settings,
    /// Size of each module version's code.
    pub code_size: usize,
    /// The module every node runs.
    pub module: ModuleKind,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 100,
            seed: 1,
            fanout: 3,
            gossip_interval_ms: 200,
            rendezvous: 3,
            network: NetworkModel::default(),
            core: Settings {
                max_hints: 32,
                ..Settings::default()
            },
            code_size: 64 * 1024,
            module: ModuleKind::StandIn,
        }
    }
}

/// One simulated node.
pub struct SimNode {
    /// Its core.
    pub core: Core,
    /// Its module instance, when one is loaded (and alive).
    pub module: Option<Box<dyn SimModule>>,
    /// False once crashed.
    pub alive: bool,
    /// Code versions in its store.
    store: Vec<CodeVersion>,
    /// The rendezvous nodes: its modules' bootstrap peers.
    core_rendezvous: Vec<hearsay_core::PeerAddr>,
    /// The pending core wake-up (a stale one in the queue is ignored).
    wake_at: Option<Millis>,
    /// The highest deployment this node ever loaded.
    pub max_loaded: Option<DeploymentNumber>,
    /// When it first loaded the tracked deployment.
    pub reached_at: Option<Millis>,
}

/// Totals the simulator keeps beyond the cores' own metrics.
#[derive(Debug, Clone, Default)]
pub struct SimStats {
    /// Loads of a deployment lower than one the node had already loaded. Must stay 0.
    pub regressions: u64,
    /// Module payloads delivered.
    pub delivered: u64,
    /// Configuration writes.
    pub persists: u64,
    /// Events processed.
    pub events: u64,
    /// Bytes of code downloaded.
    pub code_bytes: u64,
}

/// The simulated world.
pub struct Sim {
    /// What is simulated.
    pub cfg: SimConfig,
    /// Virtual time.
    pub now: Millis,
    /// The nodes.
    pub nodes: Vec<SimNode>,
    /// The network.
    pub net: Network,
    queue: Queue,
    rng: ChaCha8Rng,
    code: HashMap<CodeVersion, Vec<u8>>,
    /// Extra totals.
    pub stats: SimStats,
    /// When set, loaded modules get no instance: they are silent, as if dead.
    pub modules_dead: bool,
    /// The deployment whose spread is tracked.
    tracked: Option<DeploymentNumber>,
    reached: usize,
    alive: usize,
    module: ModuleName,
}

impl Sim {
    /// A cluster where every node runs version 1 of the stand-in module.
    pub fn new(cfg: SimConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let module = ModuleName::new(MODULE).expect("valid name");
        let v1 = Self::make_code(&cfg, 1);
        let version = CodeVersion::of(&v1);
        let initial = Configuration::from(vec![Deployment {
            module: module.clone(),
            version: Some(version),
            number: DeploymentNumber {
                time_ms: EPOCH_MS - 1000,
                origin: NodeId(1),
            },
            params: String::new(),
            previous: None,
            budget: Default::default(),
            auto_rollback_ms: None,
            signature: None,
        }]);
        let mut settings = cfg.core.clone();
        settings.rendezvous = (0..cfg.rendezvous.min(cfg.nodes)).map(addr_of).collect();
        let nodes = (0..cfg.nodes)
            .map(|i| SimNode {
                core: Core::new(CoreInit {
                    id: NodeId(i as u64 + 1),
                    addr: addr_of(i),
                    settings: settings.clone(),
                    configuration: initial.clone(),
                    code: [version].into_iter().collect(),
                    ran: Vec::new(),
                    seed: rng.gen(),
                }),
                module: None,
                alive: true,
                store: vec![version],
                core_rendezvous: settings.rendezvous.clone(),
                wake_at: None,
                max_loaded: None,
                reached_at: None,
            })
            .collect();
        let mut sim = Sim {
            net: Network::new(cfg.network.clone(), cfg.nodes),
            now: EPOCH_MS,
            nodes,
            queue: Queue::default(),
            rng,
            code: HashMap::from([(version, v1)]),
            stats: SimStats::default(),
            modules_dead: false,
            tracked: None,
            reached: 0,
            alive: cfg.nodes,
            module,
            cfg,
        };
        for i in 0..sim.cfg.nodes {
            let phase = sim.rng.gen_range(0..sim.cfg.gossip_interval_ms.max(1));
            sim.queue.push(sim.now + phase, Event::ModuleTick { node: i });
            sim.nodes[i].wake_at = Some(sim.now);
            sim.queue.push(sim.now, Event::CoreWake { node: i });
        }
        sim
    }

    /// Deterministic code bytes for version `n` of the stand-in.
    pub fn make_code(cfg: &SimConfig, n: u64) -> Vec<u8> {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut code = vec![0u8; cfg.code_size.max(8)];
        rng.fill(&mut code[..]);
        code
    }

    /// The module every node runs.
    pub fn module(&self) -> &ModuleName {
        &self.module
    }

    /// Runs events until virtual time `until` (inclusive).
    pub fn run_until(&mut self, until: Millis) {
        while self.queue.peek_time().is_some_and(|t| t <= until) {
            let (at, event) = self.queue.pop().expect("peeked");
            self.now = at;
            self.process(event);
        }
        self.now = self.now.max(until);
    }

    /// Runs `rounds` gossip intervals.
    pub fn run_rounds(&mut self, rounds: u64) {
        let until = self.now + rounds * self.cfg.gossip_interval_ms;
        self.run_until(until);
    }

    /// Runs until every live node has loaded the tracked deployment, or `max_rounds`
    /// pass. Returns true on convergence.
    pub fn run_until_converged(&mut self, max_rounds: u64) -> bool {
        let deadline = self.now + max_rounds * self.cfg.gossip_interval_ms;
        while !self.converged() {
            match self.queue.peek_time() {
                Some(t) if t <= deadline => {
                    let (at, event) = self.queue.pop().expect("peeked");
                    self.now = at;
                    self.process(event);
                }
                _ => return false,
            }
        }
        true
    }

    /// True when every live node has loaded the tracked deployment.
    pub fn converged(&self) -> bool {
        self.reached >= self.alive
    }

    /// Deploys version `n` of the stand-in at `node` and starts tracking its spread.
    pub fn deploy(&mut self, node: usize, n: u64) -> Deployment {
        let code = Self::make_code(&self.cfg, n);
        let module = self.module.clone();
        let (deployment, outputs) = self.nodes[node]
            .core
            .deploy(self.now, module, code, format!("{{\"version\":{n}}}"))
            .expect("valid deployment");
        self.track(deployment.number);
        self.apply(node, outputs);
        deployment
    }

    /// Rolls the module back at `node` (to the previous version).
    pub fn rollback(&mut self, node: usize) -> Deployment {
        let module = self.module.clone();
        let (deployment, outputs) = self.nodes[node]
            .core
            .rollback(self.now, module, None)
            .expect("previous version known");
        self.track(deployment.number);
        self.apply(node, outputs);
        deployment
    }

    fn track(&mut self, number: DeploymentNumber) {
        self.tracked = Some(number);
        self.reached = 0;
        for n in &mut self.nodes {
            n.reached_at = None;
        }
    }

    /// Kills every module instance (as a trap would) and keeps new ones silent.
    pub fn kill_modules(&mut self) {
        self.modules_dead = true;
        let module = self.module.clone();
        for i in 0..self.nodes.len() {
            self.nodes[i].module = None;
            if let Some(number) = self.nodes[i].core.running(&module) {
                let outputs = self.nodes[i].core.handle(
                    self.now,
                    Input::ModuleFailed {
                        module: module.clone(),
                        number,
                        reason: "killed by the scenario".into(),
                    },
                );
                self.apply(i, outputs);
            }
        }
    }

    /// Crashes a node: it stops processing anything.
    pub fn crash(&mut self, node: usize) {
        if std::mem::replace(&mut self.nodes[node].alive, false) {
            self.alive -= 1;
            if self.nodes[node].reached_at.is_some() {
                self.reached -= 1;
            }
        }
    }

    /// When the last live node loaded the tracked deployment.
    pub fn last_reached(&self) -> Option<Millis> {
        self.nodes
            .iter()
            .filter(|n| n.alive)
            .map(|n| n.reached_at)
            .try_fold(0, |acc, r| r.map(|r| acc.max(r)))
    }

    fn process(&mut self, event: Event) {
        self.stats.events += 1;
        match event {
            Event::Arrive { to, bytes } => self.input(to, Input::Receive { bytes }),
            Event::ModuleTick { node } => {
                if !self.nodes[node].alive {
                    return;
                }
                let sends = match self.nodes[node].module.as_mut() {
                    Some(m) => m.tick(self.now, &mut self.rng),
                    None => Vec::new(),
                };
                for input in self.sends_to_inputs(sends) {
                    self.input(node, input);
                }
                let next = self.now + self.cfg.gossip_interval_ms;
                self.queue.push(next, Event::ModuleTick { node });
            }
            Event::CoreWake { node } => {
                if self.nodes[node].wake_at == Some(self.now) {
                    self.nodes[node].wake_at = None;
                    self.input(node, Input::Tick);
                }
            }
            Event::FetchDone {
                node,
                version,
                from,
                bytes,
            } => {
                let input = match bytes {
                    Some(bytes) => Input::CodeFetched { version, bytes },
                    None => Input::CodeFetchFailed {
                        version,
                        from: addr_of(from),
                    },
                };
                self.input(node, input);
            }
        }
    }

    /// Hands one input to a live node's core and carries out what follows.
    fn input(&mut self, node: usize, input: Input) {
        if !self.nodes[node].alive {
            return;
        }
        let outputs = self.nodes[node].core.handle(self.now, input);
        self.apply(node, outputs);
    }

    /// Carries out a core's outputs, feeding back the inputs they cause (load results).
    fn apply(&mut self, node: usize, outputs: Vec<Output>) {
        let mut work: VecDeque<Output> = outputs.into();
        while let Some(output) = work.pop_front() {
            let follow_up: Vec<Input> = match output {
                Output::Send { to, bytes, .. } => {
                    if let Some(peer) = node_of(to).filter(|p| *p < self.nodes.len()) {
                        for delay in self.net.transmit(node, peer, &mut self.rng) {
                            let arrive = Event::Arrive {
                                to: peer,
                                bytes: bytes.clone(),
                            };
                            self.queue.push(self.now + delay, arrive);
                        }
                    }
                    Vec::new()
                }
                Output::Deliver { from, payload, .. } => {
                    self.stats.delivered += 1;
                    let sends = match self.nodes[node].module.as_mut() {
                        Some(m) => m.receive(self.now, from, &payload, &mut self.rng),
                        None => Vec::new(),
                    };
                    self.sends_to_inputs(sends)
                }
                Output::FetchCode { version, from } => {
                    self.fetch(node, version, from);
                    Vec::new()
                }
                Output::StoreCode { version, bytes } => {
                    self.nodes[node].store.push(version);
                    self.code.entry(version).or_insert(bytes);
                    Vec::new()
                }
                Output::Load { deployment } => self.load(node, deployment),
                Output::Unload { .. } => {
                    self.nodes[node].module = None;
                    Vec::new()
                }
                Output::Persist { .. } => {
                    self.stats.persists += 1;
                    Vec::new()
                }
            };
            for input in follow_up {
                work.extend(self.nodes[node].core.handle(self.now, input));
            }
        }
        self.schedule_wake(node);
    }

    /// Swaps in a new module instance for a deployment (the old one is dropped: the
    /// simulator does not model state handover); checks the node never moves back to a
    /// lower deployment. The load result comes first, then the new instance's sends.
    fn load(&mut self, node: usize, deployment: Deployment) -> Vec<Input> {
        let n = &mut self.nodes[node];
        if n.max_loaded.is_some_and(|m| m > deployment.number) {
            self.stats.regressions += 1;
        }
        n.max_loaded = n.max_loaded.max(Some(deployment.number));
        if self.tracked == Some(deployment.number) && n.reached_at.is_none() {
            n.reached_at = Some(self.now);
            self.reached += 1;
        }
        let (module, sends): (Option<Box<dyn SimModule>>, Sends) = match &self.cfg.module {
            _ if self.modules_dead => (None, Vec::new()),
            ModuleKind::StandIn => (
                Some(Box::new(StandIn::new(node, self.cfg.nodes, self.cfg.fanout))),
                Vec::new(),
            ),
            ModuleKind::Guest { factory, params } => {
                let bootstrap = &self.nodes[node].core_rendezvous;
                match Guest::start(
                    *factory,
                    params,
                    addr_of(node),
                    bootstrap,
                    self.now,
                    &mut self.rng,
                ) {
                    Ok((guest, sends)) => (Some(Box::new(guest)), sends),
                    Err(reason) => {
                        return vec![Input::LoadFailed {
                            module: deployment.module,
                            number: deployment.number,
                            reason,
                        }]
                    }
                }
            }
        };
        self.nodes[node].module = module;
        let mut inputs = vec![Input::Loaded {
            module: deployment.module,
            number: deployment.number,
        }];
        inputs.extend(self.sends_to_inputs(sends));
        inputs
    }

    /// A module's sends as core inputs.
    fn sends_to_inputs(&self, sends: Sends) -> Vec<Input> {
        sends
            .into_iter()
            .map(|(to, payload)| Input::ModuleSend {
                module: self.module.clone(),
                to,
                payload,
            })
            .collect()
    }

    /// A node's module query, if it runs one.
    pub fn query(&mut self, node: usize, args: &str) -> Option<String> {
        let now = self.now;
        let n = &mut self.nodes[node];
        if !n.alive {
            return None;
        }
        n.module.as_mut().map(|m| m.query(now, args, &mut self.rng))
    }

    /// A code download over the network: succeeds only from a live, reachable peer that
    /// stores the code.
    fn fetch(&mut self, node: usize, version: CodeVersion, from: hearsay_core::PeerAddr) {
        let peer = node_of(from).filter(|p| *p < self.nodes.len());
        let (delay, bytes, from) = match peer {
            Some(p) if self.nodes[p].alive && self.net.connected(node, p) => {
                if self.nodes[p].store.contains(&version) {
                    let bytes = self.code[&version].clone();
                    self.stats.code_bytes += bytes.len() as u64;
                    (self.net.fetch_time(bytes.len(), &mut self.rng), Some(bytes), p)
                } else {
                    (self.net.fetch_time(0, &mut self.rng), None, p)
                }
            }
            Some(p) => (UNREACHABLE_FETCH_MS, None, p),
            None => return,
        };
        self.queue.push(
            self.now + delay,
            Event::FetchDone {
                node,
                version,
                from,
                bytes,
            },
        );
    }

    fn schedule_wake(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        let at = n.core.poll_timeout().max(self.now + 1);
        if n.wake_at.is_none_or(|w| at < w) {
            n.wake_at = Some(at);
            self.queue.push(at, Event::CoreWake { node });
        }
    }

    /// Totals of every core's counters.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for n in &self.nodes {
            let m = n.core.metrics();
            t.messages += m.envelopes_out;
            t.bytes += m.bytes_out;
            t.core_bytes += m.core_bytes_out;
            t.backup_exchanges += m.backup_exchanges;
            t.fetches += m.fetches_started;
            t.drops += m.drops.values().sum::<u64>();
        }
        t
    }
}

/// Sums of the cores' counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Envelopes sent.
    pub messages: u64,
    /// Bytes sent in envelopes.
    pub bytes: u64,
    /// Of those, the core's own bytes (headers and core messages).
    pub core_bytes: u64,
    /// Backup-gossip exchanges started.
    pub backup_exchanges: u64,
    /// Code downloads started.
    pub fetches: u64,
    /// Envelopes or records dropped, all reasons.
    pub drops: u64,
}

impl std::ops::Sub for Totals {
    type Output = Totals;
    fn sub(self, o: Totals) -> Totals {
        Totals {
            messages: self.messages - o.messages,
            bytes: self.bytes - o.bytes,
            core_bytes: self.core_bytes - o.core_bytes,
            backup_exchanges: self.backup_exchanges - o.backup_exchanges,
            fetches: self.fetches - o.fetches,
            drops: self.drops - o.drops,
        }
    }
}
