//! The simulated world: N nodes, each a real [`Core`] in the shared [`Driver`] loop
//! with the modules it hosts and its disk, a lossy network and one event queue, all
//! driven by virtual time and one seed. What an output does here is
//! [`crate::effects`]; this file is the event loop and the operations a scenario
//! performs (deploy, roll back, crash, restart, kill modules, partition).

use std::collections::BTreeSet;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use hearsay_core::{
    BudgetOverrides, CodeVersion, CommandError, Configuration, Core, CoreInit, DeploySpec, Deployment,
    DeploymentNumber, Driver, Input, Millis, ModuleName, NodeId, Settings,
};
use hearsay_guest::Factory;
use hearsay_runtime::{Limits, Runtime};

use crate::addr::addr_of;
use crate::codebase::Codebase;
use crate::effects::{SimEffects, SimStats, Tracking, World};
use crate::modules::NodeModules;
use crate::network::{Network, NetworkModel};
use crate::node::{Disk, SimNode};
use crate::queue::{Event, Queue};
use crate::standin::StandIn;

/// The name of the stand-in module.
pub const STANDIN: &str = "standin";
/// Virtual time at which a simulation starts (so deployment numbers look like times).
pub const EPOCH_MS: Millis = 1_700_000_000_000;

/// A module every node runs from the start.
#[derive(Clone)]
pub struct ModuleSpec {
    /// Its name.
    pub name: ModuleName,
    /// Its code (what crosses the network and, without a native build, what runs).
    pub code: Vec<u8>,
    /// A native build of the same source, run instead of the wasm.
    pub native: Option<Factory>,
    /// Its params.
    pub params: String,
    /// What it may consume, where it differs from the node's defaults.
    pub budget: BudgetOverrides,
}

impl std::fmt::Debug for ModuleSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ModuleSpec({}, {} B, native: {})",
            self.name,
            self.code.len(),
            self.native.is_some()
        )
    }
}

impl ModuleSpec {
    /// The stand-in, version `n`: `size` bytes of code drawn from `seed`.
    pub fn standin(seed: u64, n: u64, size: usize, nodes: usize, fanout: usize) -> Self {
        ModuleSpec {
            name: ModuleName::new(STANDIN).expect("valid name"),
            code: standin_code(seed, n, size),
            native: Some(hearsay_guest::factory::<StandIn>()),
            params: format!("{{\"nodes\":{nodes},\"fanout\":{fanout},\"version\":{n}}}"),
            budget: BudgetOverrides::none(),
        }
    }
}

/// Deterministic code bytes for version `n` of the stand-in.
pub fn standin_code(seed: u64, n: u64, size: usize) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut code = vec![0u8; size.max(8)];
    rng.fill(&mut code[..]);
    code
}

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
    /// Size of each stand-in version's code.
    pub code_size: usize,
    /// The modules every node runs from the start; `None`: the stand-in, version 1.
    pub modules: Option<Vec<ModuleSpec>>,
    /// Node `i`'s labels as a JSON object (`--label` of an agent), e.g. its zone, at
    /// index `i`; a node past the end has none.
    pub labels: Vec<String>,
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
            modules: None,
            labels: Vec::new(),
        }
    }
}

/// The simulated world.
pub struct Sim {
    /// What is simulated.
    pub cfg: SimConfig,
    /// Virtual time.
    pub now: Millis,
    /// The nodes.
    pub nodes: Vec<SimNode>,
    /// Everything else: network, queue, code, stores, totals.
    pub world: World,
    runtime: Arc<Runtime>,
    settings: Settings,
}

impl Sim {
    /// A cluster where every node runs the configured modules.
    pub fn new(cfg: SimConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let specs = cfg.modules.clone().unwrap_or_else(|| {
            vec![ModuleSpec::standin(
                cfg.seed,
                1,
                cfg.code_size,
                cfg.nodes,
                cfg.fanout,
            )]
        });
        let mut codebase = Codebase::default();
        let mut initial = Vec::new();
        for spec in specs {
            let version = match spec.native {
                Some(factory) => codebase.add_native(spec.code, factory),
                None => codebase.add(spec.code),
            };
            let mut d = Deployment::new(
                spec.name,
                Some(version),
                DeploymentNumber {
                    time_ms: EPOCH_MS - 1000,
                    origin: NodeId(1),
                },
            );
            d.params = spec.params;
            d.budget = spec.budget;
            initial.push(d);
        }
        let code: BTreeSet<CodeVersion> = initial.iter().filter_map(|d| d.version).collect();
        let initial = Configuration::from(initial);
        let mut settings = cfg.core.clone();
        settings.rendezvous = (0..cfg.rendezvous.min(cfg.nodes)).map(addr_of).collect();
        // One engine for every node: each version is compiled once.
        let runtime = Arc::new(Runtime::new(Limits::default()).expect("a wasm runtime"));
        let mut sim = Sim {
            world: World {
                net: Network::new(cfg.network.clone(), cfg.nodes),
                queue: Queue::default(),
                rng: ChaCha8Rng::seed_from_u64(rng.gen()),
                codebase,
                stores: vec![code.clone(); cfg.nodes],
                alive: vec![true; cfg.nodes],
                live: cfg.nodes,
                stats: SimStats::default(),
                tracking: Tracking::default(),
            },
            now: EPOCH_MS,
            nodes: Vec::with_capacity(cfg.nodes),
            runtime,
            settings,
            cfg,
        };
        for i in 0..sim.cfg.nodes {
            let disk = Disk {
                configuration: initial.clone(),
                ran: Vec::new(),
            };
            let node = sim.boot(i, disk, rng.gen());
            sim.nodes.push(node);
            sim.schedule_wake(i);
        }
        sim
    }

    /// A node started from its disk: a new core, no module instances yet (its first
    /// wake loads what is configured), a random phase for its module rounds.
    fn boot(&mut self, i: usize, disk: Disk, seed: u64) -> SimNode {
        let core = Core::new(CoreInit {
            id: NodeId(i as u64 + 1),
            addr: addr_of(i),
            settings: self.settings.clone(),
            configuration: disk.configuration.clone(),
            code: self.world.stores[i].clone(),
            ran: disk.ran.clone(),
            seed,
        });
        let phase = self.world.rng.gen_range(0..self.cfg.gossip_interval_ms.max(1));
        let driver = Driver::new(core, self.cfg.gossip_interval_ms, self.now + phase);
        let mut modules = NodeModules::new(
            addr_of(i),
            self.settings.rendezvous.clone(),
            self.runtime.clone(),
            seed.rotate_left(7),
        );
        if let Some(labels) = self.cfg.labels.get(i) {
            modules.set_labels(labels.clone());
        }
        SimNode {
            driver,
            modules,
            disk,
            wake_at: None,
            max_loaded: Default::default(),
            reached_at: None,
        }
    }

    /// True when node `i` is up.
    pub fn alive(&self, i: usize) -> bool {
        self.world.alive[i]
    }

    /// Totals beyond the cores' metrics.
    pub fn stats(&self) -> &SimStats {
        &self.world.stats
    }

    /// Runs events until virtual time `until` (inclusive).
    pub fn run_until(&mut self, until: Millis) {
        while self.world.queue.peek_time().is_some_and(|t| t <= until) {
            let (at, event) = self.world.queue.pop().expect("peeked");
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
        self.run_while(max_rounds, |sim| !sim.converged())
    }

    /// Runs while `going` holds, for at most `max_rounds`; false when time ran out.
    pub fn run_while(&mut self, max_rounds: u64, going: impl Fn(&Sim) -> bool) -> bool {
        let deadline = self.now + max_rounds * self.cfg.gossip_interval_ms;
        while going(self) {
            match self.world.queue.peek_time() {
                Some(t) if t <= deadline => {
                    let (at, event) = self.world.queue.pop().expect("peeked");
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
        self.world.tracking.reached >= self.world.live
    }

    /// Deploys `code` (run natively by `native`, if given) as `module` at `node`, and
    /// starts tracking its spread.
    pub fn deploy(
        &mut self,
        node: usize,
        module: &ModuleName,
        code: Vec<u8>,
        native: Option<Factory>,
        spec: impl Into<DeploySpec>,
    ) -> Result<Deployment, CommandError> {
        match native {
            Some(factory) => self.world.codebase.add_native(code.clone(), factory),
            None => self.world.codebase.add(code.clone()),
        };
        let now = self.now;
        let (deployment, outputs) =
            self.nodes[node]
                .driver
                .core_mut()
                .deploy(now, module.clone(), code, spec)?;
        self.track(&deployment);
        self.apply(node, outputs);
        Ok(deployment)
    }

    /// Deploys version `n` of the stand-in at `node`.
    pub fn deploy_standin(&mut self, node: usize, n: u64) -> Deployment {
        let spec = ModuleSpec::standin(
            self.cfg.seed,
            n,
            self.cfg.code_size,
            self.cfg.nodes,
            self.cfg.fanout,
        );
        self.deploy(node, &spec.name, spec.code, spec.native, spec.params)
            .expect("a valid deployment")
    }

    /// Rolls `module` back at `node` (to the version the current one replaced).
    pub fn rollback(&mut self, node: usize, module: &ModuleName) -> Result<Deployment, CommandError> {
        let now = self.now;
        let (deployment, outputs) = self.nodes[node]
            .driver
            .core_mut()
            .rollback(now, module.clone(), None)?;
        self.track(&deployment);
        self.apply(node, outputs);
        Ok(deployment)
    }

    /// Follows `deployment` from now on.
    pub fn track(&mut self, deployment: &Deployment) {
        self.world.tracking = Tracking {
            tracked: Some((deployment.module.clone(), deployment.number)),
            reached: 0,
        };
        for n in &mut self.nodes {
            n.reached_at = None;
        }
    }

    /// Kills every module instance (as a trap would); with `silent`, new instances
    /// stay silent too, so only the core's own gossip is left.
    pub fn kill_modules(&mut self, silent: bool) {
        for i in 0..self.nodes.len() {
            if !self.world.alive[i] {
                continue;
            }
            self.nodes[i].modules.silent = silent;
            let failures = self.nodes[i].modules.kill_all("killed by the scenario");
            for input in failures {
                self.input(i, input);
            }
        }
    }

    /// Crashes a node: it stops processing anything, keeping only its disk.
    pub fn crash(&mut self, node: usize) {
        if !std::mem::replace(&mut self.world.alive[node], false) {
            return;
        }
        self.world.live -= 1;
        if self.nodes[node].reached_at.is_some() {
            self.world.tracking.reached -= 1;
        }
    }

    /// Restarts a crashed node from its disk: its persisted configuration, what last
    /// ran and its code store.
    pub fn restart(&mut self, node: usize) {
        if self.world.alive[node] {
            return;
        }
        let disk = self.nodes[node].disk.clone();
        let seed = self.world.rng.gen();
        let mut fresh = self.boot(node, disk, seed);
        fresh.max_loaded = std::mem::take(&mut self.nodes[node].max_loaded);
        self.nodes[node] = fresh;
        self.world.alive[node] = true;
        self.world.live += 1;
        self.schedule_wake(node);
    }

    /// When the last live node loaded the tracked deployment.
    pub fn last_reached(&self) -> Option<Millis> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| self.world.alive[*i])
            .map(|(_, n)| n.reached_at)
            .try_fold(0, |acc, r| r.map(|r| acc.max(r)))
    }

    fn process(&mut self, event: Event) {
        self.world.stats.events += 1;
        match event {
            Event::Arrive { to, bytes } => self.input(to, Input::Receive { bytes }),
            Event::Wake { node } => {
                if self.world.alive[node] && self.nodes[node].wake_at == Some(self.now) {
                    self.nodes[node].wake_at = None;
                    let now = self.now;
                    self.with_effects(node, |driver, fx| driver.wake(now, fx));
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

    /// Hands one input to a live node and carries out what follows.
    pub fn input(&mut self, node: usize, input: Input) {
        if !self.world.alive[node] {
            return;
        }
        let now = self.now;
        self.with_effects(node, |driver, fx| driver.handle(now, input, fx));
    }

    /// Carries out a command's outputs at `node`.
    fn apply(&mut self, node: usize, outputs: Vec<hearsay_core::Output>) {
        let now = self.now;
        self.with_effects(node, |driver, fx| driver.apply(now, outputs, fx));
    }

    /// Runs `f` on a node's driver with its effects, then schedules its next wake-up.
    fn with_effects(&mut self, node: usize, f: impl FnOnce(&mut Driver, &mut SimEffects<'_>)) {
        let n = &mut self.nodes[node];
        let mut fx = SimEffects {
            node,
            modules: &mut n.modules,
            disk: &mut n.disk,
            max_loaded: &mut n.max_loaded,
            reached_at: &mut n.reached_at,
            world: &mut self.world,
        };
        f(&mut n.driver, &mut fx);
        self.schedule_wake(node);
    }

    fn schedule_wake(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        let at = n.driver.next_wake().max(self.now + 1);
        if n.wake_at.is_none_or(|w| at < w) {
            n.wake_at = Some(at);
            self.world.queue.push(at, Event::Wake { node });
        }
    }

    /// A node's answer to a module's query, if the node is up and runs the module.
    pub fn query(&mut self, node: usize, module: &ModuleName, args: &str) -> Option<String> {
        if !self.world.alive[node] {
            return None;
        }
        self.nodes[node].modules.query(self.now, module, args)
    }

    /// A node's answer to a module's command (ABI v2), if the node is up and runs the
    /// module.
    pub fn command(&mut self, node: usize, module: &ModuleName, args: &str) -> Option<String> {
        if !self.world.alive[node] {
            return None;
        }
        let (answer, inputs) = self.nodes[node].modules.command(self.now, module, args);
        for input in inputs {
            self.input(node, input);
        }
        answer
    }

    /// The core of node `i`.
    pub fn core(&self, i: usize) -> &Core {
        self.nodes[i].driver.core()
    }

    /// Totals of every core's counters.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for n in &self.nodes {
            let m = n.driver.core().metrics();
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

impl Totals {
    /// Bytes one of `nodes` nodes sent per round, on average over `rounds` rounds
    /// (these totals being what they sent in that time, e.g. `after - before`).
    pub fn bytes_per_node_round(&self, nodes: usize, rounds: u64) -> f64 {
        self.bytes as f64 / node_rounds(nodes, rounds)
    }

    /// Envelopes one of `nodes` nodes sent per round, on average over `rounds` rounds.
    pub fn messages_per_node_round(&self, nodes: usize, rounds: u64) -> f64 {
        self.messages as f64 / node_rounds(nodes, rounds)
    }
}

/// `nodes × rounds`, at least 1: what per-node-round averages divide by.
pub fn node_rounds(nodes: usize, rounds: u64) -> f64 {
    (nodes as u64 * rounds).max(1) as f64
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
