//! A node's module instances, run by the actor at the lowest priority. Payloads from
//! peers wait in one bounded queue per module, served in turn, so a module flooded by
//! its peers can't starve another; the actor takes one payload at a time, and only
//! when none of its other queues (the API, the node's own events, the core's gossip,
//! timers) has anything: a fix or an operator's `GET /status` waits at most one call
//! into a module — which its fuel per call bounds (a hot swap's export and import,
//! which move a whole state, by a larger allowance) — and each module's budget bounds
//! how much of the node's time all its calls take. Ticks, loads, queries and commands
//! run at once when the core or the API asks. Compiling runs on a blocking thread and
//! reports back as one of the node's own events.
//!
//! Not a task of its own: with a hundred agents on two cores, handing each payload to
//! another task and its results back cost a tenth of an agent's CPU (two more
//! wake-ups and queue hand-offs per message), for no better priority.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use hearsay_core::{Deployment, DeploymentNumber, Input, Millis, ModuleName, PeerAddr};
use hearsay_runtime::runtime::Tier;
use hearsay_runtime::{BudgetUsage, HostMetrics, ModuleHost, QueryError, Runtime};
use tokio::sync::mpsc;

use crate::counters::NodeCounters;
use crate::event_log::EventLog;
use crate::inbox::Event;
use crate::store::CodeStore;

/// Payloads waiting per module; beyond it new ones are dropped (and counted).
const PER_MODULE_QUEUE: usize = 512;

/// A payload for a module's instance of one deployment.
struct Delivery {
    number: DeploymentNumber,
    from: PeerAddr,
    payload: Vec<u8>,
}

/// A deployment's code, read and compiled (or why not).
pub(crate) struct Compiled {
    deployment: Deployment,
    result: Result<Vec<u8>, String>,
}

/// The module host with its queues.
pub(crate) struct Modules {
    host: ModuleHost,
    runtime: Arc<Runtime>,
    store: CodeStore,
    /// Where compiles report back (the actor's event queue).
    events_in: mpsc::Sender<Event>,
    /// The load asked for per module and not yet done: a compile that finishes for an
    /// older one is dropped, so the host never swaps back to superseded code.
    pending_loads: BTreeMap<ModuleName, DeploymentNumber>,
    counters: Arc<NodeCounters>,
    /// Where the modules' own events go (`GET /v1/events`).
    events: Arc<EventLog>,
    /// Payloads waiting, per module.
    queues: BTreeMap<ModuleName, VecDeque<Delivery>>,
    /// The module served last: the next payload comes from the one after it.
    turn: Option<ModuleName>,
    /// When each module's instance moved onto optimised code, for the deployment.
    optimized_at: BTreeMap<ModuleName, (DeploymentNumber, u64)>,
}

impl Modules {
    /// The node's module host; finished compiles arrive on `events_in`.
    pub(crate) fn new(
        host: ModuleHost,
        runtime: Arc<Runtime>,
        store: CodeStore,
        events_in: mpsc::Sender<Event>,
        counters: Arc<NodeCounters>,
        events: Arc<EventLog>,
    ) -> Self {
        Modules {
            host,
            runtime,
            store,
            events_in,
            pending_loads: BTreeMap::new(),
            counters,
            events,
            queues: BTreeMap::new(),
            turn: None,
            optimized_at: BTreeMap::new(),
        }
    }

    /// Queues a payload for a module; dropped (and counted) when its queue is full.
    pub(crate) fn deliver(
        &mut self,
        module: ModuleName,
        number: DeploymentNumber,
        from: PeerAddr,
        payload: Vec<u8>,
    ) {
        let queue = self.queues.entry(module).or_default();
        if queue.len() >= PER_MODULE_QUEUE {
            self.counters.envelopes_lost.inc("module_queue_full");
            return;
        }
        queue.push_back(Delivery {
            number,
            from,
            payload,
        });
    }

    /// True while payloads wait.
    pub(crate) fn has_work(&self) -> bool {
        !self.queues.is_empty()
    }

    /// Hands the next waiting payload (modules taken in turn) to its instance; what
    /// the instance did, for the core.
    pub(crate) fn run_one(&mut self) -> Vec<Input> {
        let Some((module, d)) = self.next_delivery() else {
            return Vec::new();
        };
        let inputs = self.timed(|host| host.deliver(crate::now_ms(), &module, d.number, d.from, &d.payload));
        self.report(inputs)
    }

    /// The next payload, taking modules in turn.
    fn next_delivery(&mut self) -> Option<(ModuleName, Delivery)> {
        let after = self.turn.take();
        let module = self
            .queues
            .keys()
            .find(|m| after.as_ref().is_none_or(|a| *m > a))
            .or_else(|| self.queues.keys().next())?
            .clone();
        let queue = self.queues.get_mut(&module)?;
        let d = queue.pop_front();
        if queue.is_empty() {
            self.queues.remove(&module);
        }
        self.turn = Some(module.clone());
        d.map(|d| (module, d))
    }

    /// A module round: every instance's tick.
    pub(crate) fn tick(&mut self, now: Millis) -> Vec<Input> {
        let inputs = self.timed(|host| host.tick(now));
        self.report(inputs)
    }

    /// A module's query.
    pub(crate) fn query(
        &mut self,
        module: &ModuleName,
        args: &str,
    ) -> (Result<String, QueryError>, Vec<Input>) {
        let (answer, inputs) = self.timed(|host| host.query(crate::now_ms(), module, args));
        (answer, self.report(inputs))
    }

    /// A module's command (ABI v2).
    pub(crate) fn command(
        &mut self,
        module: &ModuleName,
        args: &str,
    ) -> (Result<String, QueryError>, Vec<Input>) {
        let (answer, inputs) = self.timed(|host| host.command(crate::now_ms(), module, args));
        (answer, self.report(inputs))
    }

    /// The node is leaving: every module's `hearsay_leave` (ABI v2).
    pub(crate) fn leave(&mut self) -> Vec<Input> {
        let inputs = self.timed(|host| host.leave(crate::now_ms()));
        self.report(inputs)
    }

    /// The modules' bootstrap peers changed (rendezvous names resolved anew).
    pub(crate) fn set_bootstrap(&mut self, peers: Vec<PeerAddr>) {
        self.host.set_bootstrap(peers);
    }

    /// Drops a module's instance and what waits for it.
    pub(crate) fn unload(&mut self, module: &ModuleName) {
        self.pending_loads.remove(module);
        self.host.unload(module);
        self.queues.remove(module);
    }

    /// Reads and compiles a deployment's code on a blocking thread (compiling takes a
    /// few hundred ms, during which modules and gossip go on); `swap` follows.
    pub(crate) fn load(&mut self, deployment: Deployment) {
        let Some(version) = deployment.version else {
            return;
        };
        self.pending_loads
            .insert(deployment.module.clone(), deployment.number);
        let (store, runtime, done) = (self.store.clone(), self.runtime.clone(), self.events_in.clone());
        tokio::task::spawn_blocking(move || {
            let mut baseline = false;
            let result = store
                .read(&version)
                .map_err(|e| format!("code store: {e}"))
                .and_then(|wasm| {
                    let code = runtime.compile(&wasm).map_err(|e| e.to_string())?;
                    baseline = code.tier == Tier::Baseline;
                    Ok(wasm)
                });
            crate::release_memory();
            let optimize = match (&result, baseline) {
                (Ok(wasm), true) => Some((deployment.clone(), wasm.clone())),
                _ => None,
            };
            // Waits for room rather than lose a load; fails only when the node stops.
            let _ = done.blocking_send(Event::Compiled(Compiled { deployment, result }));
            // The baseline code runs (and gossips the deployment on): now the
            // optimised code, which the instance moves onto when it is ready.
            if let Some((deployment, wasm)) = optimize {
                let result = runtime.optimize(&wasm).map(|_| wasm).map_err(|e| e.to_string());
                crate::release_memory();
                let _ = done.blocking_send(Event::Optimized(Compiled { deployment, result }));
            }
        });
    }

    /// Moves a module onto the optimised code of the deployment it runs
    /// ([`ModuleHost::optimize`]); a failed optimising compile leaves it on baseline code.
    pub(crate) fn optimize(&mut self, compiled: Compiled) -> Vec<Input> {
        let Compiled { deployment, result } = compiled;
        let inputs = match result {
            Ok(wasm) => {
                let inputs = self.timed(|host| host.optimize(crate::now_ms(), &deployment, &wasm));
                if self.host.tier(&deployment.module) == Some(Tier::Optimized) {
                    self.optimized_at
                        .insert(deployment.module.clone(), (deployment.number, crate::now_ms()));
                }
                inputs
            }
            Err(reason) => {
                tracing::warn!(module = %deployment.module, "optimising its code failed, the baseline code runs on: {reason}");
                Vec::new()
            }
        };
        self.report(inputs)
    }

    /// Swaps compiled code in; the result is the first input the core sees.
    pub(crate) fn swap(&mut self, compiled: Compiled) -> Vec<Input> {
        let Compiled { deployment, result } = compiled;
        let module = deployment.module.clone();
        if self.pending_loads.get(&module) != Some(&deployment.number) {
            tracing::debug!(%module, number = %deployment.number, "dropping a superseded load");
            return Vec::new();
        }
        self.pending_loads.remove(&module);
        let inputs = match result {
            Ok(wasm) => self.timed(|host| host.load(crate::now_ms(), &deployment, &wasm)),
            Err(reason) => {
                if reason.starts_with("code store") {
                    self.counters.store_failures.inc();
                }
                vec![Input::LoadFailed {
                    module,
                    number: deployment.number,
                    reason,
                }]
            }
        };
        self.report(inputs)
    }

    /// Which compiler made a module's running code, and when it moved onto optimised
    /// code if it started on baseline code.
    pub(crate) fn tier(&self, module: &ModuleName) -> (Option<Tier>, Option<u64>) {
        let Some((number, _)) = self.host.instance(module) else {
            return (None, None);
        };
        let at = self
            .optimized_at
            .get(module)
            .filter(|(n, _)| *n == number)
            .map(|(_, at)| *at);
        (self.host.tier(module), at)
    }

    /// What each module's instance consumed.
    pub(crate) fn usage(&self) -> BTreeMap<ModuleName, BudgetUsage> {
        self.host.usage()
    }

    /// The module host's counters.
    pub(crate) fn metrics(&self) -> HostMetrics {
        self.host.metrics.clone()
    }

    /// Runs a call into the host, counting its time as the modules'.
    fn timed<T>(&mut self, call: impl FnOnce(&mut ModuleHost) -> T) -> T {
        let started = Instant::now();
        let result = call(&mut self.host);
        self.counters.module_ns.add(started.elapsed().as_nanos() as u64);
        result
    }

    /// Logs what the instances said and publishes their events; their inputs go on to
    /// the core.
    fn report(&mut self, inputs: Vec<Input>) -> Vec<Input> {
        for (module, line) in self.host.logs.drain(..) {
            // The runtime escaped control characters and limited the rate.
            match line.level {
                0 => tracing::error!(%module, "{}", line.text),
                1 => tracing::warn!(%module, "{}", line.text),
                2 => tracing::info!(%module, "{}", line.text),
                _ => tracing::debug!(%module, "{}", line.text),
            }
        }
        for (module, event) in self.host.events.drain(..) {
            self.events.publish_module(crate::now_ms(), &module, &event);
        }
        inputs
    }
}
