//! The simulator's [`Effects`]: what each of the core's outputs does in the simulated
//! world — envelopes onto the lossy network, payloads and loads to the node's modules,
//! downloads from a peer's store, code and configuration onto the node's disk, events
//! counted. The same `match` as the daemon's `NodeEffects`.

use std::collections::{BTreeMap, BTreeSet};

use rand_chacha::ChaCha8Rng;

use hearsay_core::{
    CodeVersion, DeploymentNumber, Effects, Event, Input, Millis, ModuleName, Output, PeerAddr,
};

use crate::addr::node_of;
use crate::codebase::Codebase;
use crate::modules::NodeModules;
use crate::network::Network;
use crate::node::Disk;
use crate::queue::{Event as SimEvent, Queue};

/// How long a download from an unreachable peer takes to fail (a connect timeout).
const UNREACHABLE_FETCH_MS: Millis = 1000;

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
    /// Module instances that failed (trap, fuel, budget, killed).
    pub failures: u64,
    /// Deployments a node could not start (code refused, start trapped).
    pub load_failures: u64,
    /// Deployments nodes rolled back under a policy.
    pub rollbacks: u64,
}

/// The deployment whose spread a run follows.
#[derive(Debug, Clone, Default)]
pub struct Tracking {
    /// The module and deployment.
    pub tracked: Option<(ModuleName, DeploymentNumber)>,
    /// Live nodes that have loaded it.
    pub reached: usize,
}

/// Everything in the world a node's outputs act on, besides the node itself.
pub struct World {
    /// The network.
    pub net: Network,
    pub(crate) queue: Queue,
    pub(crate) rng: ChaCha8Rng,
    /// The code of every version, and the native builds.
    pub codebase: Codebase,
    /// Each node's code store.
    pub(crate) stores: Vec<BTreeSet<CodeVersion>>,
    /// Which nodes are up.
    pub(crate) alive: Vec<bool>,
    /// How many (kept with `alive`: convergence is checked after every event).
    pub(crate) live: usize,
    /// Totals.
    pub stats: SimStats,
    /// What spreads.
    pub tracking: Tracking,
}

/// One node's outputs, carried out in the world.
pub(crate) struct SimEffects<'a> {
    pub node: usize,
    pub modules: &'a mut NodeModules,
    pub disk: &'a mut Disk,
    pub max_loaded: &'a mut BTreeMap<ModuleName, DeploymentNumber>,
    pub reached_at: &'a mut Option<Millis>,
    pub world: &'a mut World,
}

impl Effects for SimEffects<'_> {
    fn carry_out(&mut self, now: Millis, output: Output) -> Vec<Input> {
        let w = &mut *self.world;
        match output {
            Output::Send { to, bytes, .. } => {
                if let Some(peer) = node_of(to).filter(|p| *p < w.alive.len()) {
                    for delay in w.net.transmit(self.node, peer, &mut w.rng) {
                        let arrive = SimEvent::Arrive {
                            to: peer,
                            bytes: bytes.clone(),
                        };
                        w.queue.push(now + delay, arrive);
                    }
                }
            }
            Output::Deliver {
                module,
                number,
                from,
                payload,
            } => {
                w.stats.delivered += 1;
                return self.modules.deliver(now, &module, number, from, &payload);
            }
            Output::FetchCode { version, from } => self.fetch(now, version, from),
            Output::StoreCode { version, bytes } => {
                w.stores[self.node].insert(version);
                w.codebase.stored(version, bytes);
            }
            Output::Load { deployment } => {
                let inputs = self.modules.load(now, &deployment, &w.codebase);
                if matches!(inputs.first(), Some(Input::Loaded { .. })) {
                    self.loaded(now, &deployment.module, deployment.number);
                }
                return inputs;
            }
            Output::Unload { module } => self.modules.unload(&module),
            Output::Persist { configuration, ran } => {
                w.stats.persists += 1;
                *self.disk = Disk { configuration, ran };
            }
            Output::Event(event) => match event {
                Event::Failed { .. } => w.stats.failures += 1,
                Event::LoadFailed { .. } => w.stats.load_failures += 1,
                Event::RolledBack { .. } => w.stats.rollbacks += 1,
                _ => {}
            },
        }
        Vec::new()
    }

    fn tick_modules(&mut self, now: Millis) -> Vec<Input> {
        self.modules.tick(now)
    }
}

impl SimEffects<'_> {
    /// Notes a load: a node must never move back to a lower deployment, and the
    /// tracked one's spread is counted.
    fn loaded(&mut self, now: Millis, module: &ModuleName, number: DeploymentNumber) {
        let w = &mut *self.world;
        let highest = self.max_loaded.entry(module.clone()).or_insert(number);
        if *highest > number {
            w.stats.regressions += 1;
        }
        *highest = (*highest).max(number);
        let tracked = w
            .tracking
            .tracked
            .as_ref()
            .is_some_and(|(m, n)| m == module && *n == number);
        if tracked && self.reached_at.is_none() {
            *self.reached_at = Some(now);
            w.tracking.reached += 1;
        }
    }

    /// A code download over the network: succeeds only from a live, reachable peer
    /// that stores the code.
    fn fetch(&mut self, now: Millis, version: CodeVersion, from: PeerAddr) {
        let w = &mut *self.world;
        let Some(peer) = node_of(from).filter(|p| *p < w.alive.len()) else {
            return;
        };
        let reachable = w.alive[peer] && w.net.connected(self.node, peer);
        let (delay, bytes) = if !reachable {
            (UNREACHABLE_FETCH_MS, None)
        } else if w.stores[peer].contains(&version) {
            let bytes = w.codebase.bytes(&version).map(|b| b.to_vec());
            let len = bytes.as_ref().map_or(0, Vec::len);
            w.stats.code_bytes += len as u64;
            (w.net.fetch_time(len, &mut w.rng), bytes)
        } else {
            (w.net.fetch_time(0, &mut w.rng), None)
        };
        w.queue.push(
            now + delay,
            SimEvent::FetchDone {
                node: self.node,
                version,
                from: peer,
                bytes,
            },
        );
    }
}
