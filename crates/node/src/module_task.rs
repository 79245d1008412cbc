//! The module task: a node's module instances run in a task of their own, apart from
//! the actor that owns the core. However many payloads its peers send a module, the
//! core keeps gossiping configuration, fetching code and answering the API: the task
//! yields after every call into a module, so the actor (whose queues put the API and
//! the core's own gossip first) waits at most one call — which its fuel per call
//! bounds — and the module's budget bounds how much of the node's time all its calls
//! take. Compiling runs on a blocking thread. The fix for a module is never queued
//! behind that module.
//!
//! It is a task on the agent's thread, not a thread: with a hundred agents on two
//! cores, handing every message to another thread and back cost more CPU than the
//! message itself (waking threads), for no better latency.
//!
//! The actor hands it control (ticks, loads, unloads, queries) and payloads; control
//! always goes first, and payloads wait in one bounded queue per module, served in
//! turn, so a module flooded by its peers can't starve another. What the instances do
//! comes back to the actor as core inputs, in batches.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hearsay_core::{Deployment, DeploymentNumber, Input, Millis, ModuleName, PeerAddr};
use hearsay_runtime::{BudgetUsage, HostMetrics, ModuleHost, QueryError, Runtime};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

use crate::counters::NodeCounters;
use crate::event_log::EventLog;
use crate::store::CodeStore;

/// Batches of payloads in flight to the module task.
const DELIVERY_CHANNEL: usize = 256;
/// Most payloads in one batch to the module task.
const MAX_BATCH: usize = 1024;
/// Payloads waiting per module; beyond it new ones are dropped (and counted).
const PER_MODULE_QUEUE: usize = 512;

/// What the actor asks of the module task besides payloads.
pub(crate) enum Control {
    /// A module round: tick every instance.
    Tick(Millis),
    /// Read the deployment's code from the store, compile it (on a blocking thread)
    /// and swap it in.
    Load(Deployment),
    /// Drop a module's instance.
    Unload(ModuleName),
    /// A module's query, answered directly to the API.
    Query {
        module: ModuleName,
        args: String,
        reply: oneshot::Sender<Result<String, QueryError>>,
    },
    /// The node is leaving: every module's `hearsay_leave` (ABI v2); `done` once what
    /// they sent is with the actor.
    Leave(oneshot::Sender<()>),
    /// A module's command (ABI v2), answered directly to the API.
    Command {
        module: ModuleName,
        args: String,
        reply: oneshot::Sender<Result<String, QueryError>>,
    },
    /// The modules' bootstrap peers changed (rendezvous names resolved anew).
    Bootstrap(Vec<hearsay_core::PeerAddr>),
}

/// A payload for a module's instance of one deployment.
pub(crate) struct Delivery {
    module: ModuleName,
    number: DeploymentNumber,
    from: PeerAddr,
    payload: Vec<u8>,
}

/// What the module task publishes for status and metrics without being asked.
#[derive(Default)]
struct Published {
    usage: BTreeMap<ModuleName, BudgetUsage>,
    metrics: HostMetrics,
}

/// The actor's handle on the module task. Payloads are handed over in batches (one
/// per gossip batch the actor takes in), and the module task hands back what the
/// instances did in batches too: with a hundred agents on two cores, waking a task
/// per message costs more than the message.
pub(crate) struct ModuleTask {
    control: mpsc::UnboundedSender<Control>,
    deliveries: mpsc::Sender<Vec<Delivery>>,
    batch: Vec<Delivery>,
    published: Arc<Mutex<Published>>,
    counters: Arc<NodeCounters>,
}

impl ModuleTask {
    /// Starts the task with the node's module host; what the instances do goes to
    /// `results`.
    pub(crate) fn spawn(
        host: ModuleHost,
        runtime: Arc<Runtime>,
        store: CodeStore,
        results: mpsc::Sender<Vec<Input>>,
        counters: Arc<NodeCounters>,
        events: Arc<EventLog>,
    ) -> Self {
        let (control, control_rx) = mpsc::unbounded_channel();
        let (deliveries, deliveries_rx) = mpsc::channel(DELIVERY_CHANNEL);
        let (compiled, compiled_rx) = mpsc::unbounded_channel();
        let published = Arc::new(Mutex::new(Published::default()));
        let worker = Worker {
            host,
            runtime,
            store,
            to_actor: results,
            compiled,
            pending_loads: BTreeMap::new(),
            published: published.clone(),
            counters: counters.clone(),
            events,
            queues: BTreeMap::new(),
            turn: None,
            results: Vec::new(),
        };
        tokio::spawn(worker.run(control_rx, deliveries_rx, compiled_rx));
        ModuleTask {
            control,
            deliveries,
            batch: Vec::new(),
            published,
            counters,
        }
    }

    /// Asks something of the module task (payloads batched so far go first).
    pub(crate) fn control(&mut self, control: Control) {
        self.flush();
        let _ = self.control.send(control);
    }

    /// Queues a payload for a module; it leaves with the batch at the next `flush`.
    pub(crate) fn deliver(
        &mut self,
        module: ModuleName,
        number: DeploymentNumber,
        from: PeerAddr,
        payload: Vec<u8>,
    ) {
        self.batch.push(Delivery {
            module,
            number,
            from,
            payload,
        });
        if self.batch.len() >= MAX_BATCH {
            self.flush();
        }
    }

    /// Hands the payloads queued so far to the module task, as one batch; dropped
    /// (and counted) when the task is behind.
    pub(crate) fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let count = batch.len() as u64;
        if self.deliveries.try_send(batch).is_err() {
            self.counters.envelopes_lost.add("module_queue_full", count);
        }
    }

    /// What each module's instance consumed, as last published.
    pub(crate) fn usage(&self) -> BTreeMap<ModuleName, BudgetUsage> {
        self.published.lock().map(|p| p.usage.clone()).unwrap_or_default()
    }

    /// The module host's counters, as last published.
    pub(crate) fn metrics(&self) -> HostMetrics {
        self.published
            .lock()
            .map(|p| p.metrics.clone())
            .unwrap_or_default()
    }
}

/// A deployment's code, read and compiled (or why not).
struct Compiled {
    deployment: Deployment,
    result: Result<Vec<u8>, String>,
}

/// The module task's side.
struct Worker {
    host: ModuleHost,
    runtime: Arc<Runtime>,
    store: CodeStore,
    to_actor: mpsc::Sender<Vec<Input>>,
    /// Where compiles report back.
    compiled: mpsc::UnboundedSender<Compiled>,
    /// The load asked for per module and not yet done: a compile that finishes for an
    /// older one is dropped, so the host never swaps back to superseded code.
    pending_loads: BTreeMap<ModuleName, DeploymentNumber>,
    published: Arc<Mutex<Published>>,
    counters: Arc<NodeCounters>,
    /// Where the modules' own events go (`GET /v1/events`).
    events: Arc<EventLog>,
    /// Payloads waiting, per module.
    queues: BTreeMap<ModuleName, VecDeque<Delivery>>,
    /// The module served last: the next payload comes from the one after it.
    turn: Option<ModuleName>,
    /// What the instances did, not yet handed to the actor.
    results: Vec<Input>,
}

impl Worker {
    async fn run(
        mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
        mut deliveries: mpsc::Receiver<Vec<Delivery>>,
        mut compiled: mpsc::UnboundedReceiver<Compiled>,
    ) {
        loop {
            // Control first, all of it.
            let mut pending = Vec::new();
            loop {
                match control.try_recv() {
                    Ok(c) => pending.push(c),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            if !pending.is_empty() {
                self.handle_controls(pending).await;
                continue;
            }
            if let Ok(c) = compiled.try_recv() {
                self.swap(c).await;
                continue;
            }
            while let Ok(batch) = deliveries.try_recv() {
                self.enqueue(batch);
            }
            if let Some(d) = self.next_delivery() {
                self.deliver(d).await;
                continue;
            }
            // Nothing left to do: what the instances did goes to the actor at once.
            self.send_results().await;
            tokio::select! {
                biased;
                c = control.recv() => match c {
                    Some(c) => self.handle_controls(vec![c]).await,
                    None => return,
                },
                Some(c) = compiled.recv() => self.swap(c).await,
                Some(batch) = deliveries.recv() => self.enqueue(batch),
            }
        }
    }

    fn enqueue(&mut self, batch: Vec<Delivery>) {
        for d in batch {
            let queue = self.queues.entry(d.module.clone()).or_default();
            if queue.len() >= PER_MODULE_QUEUE {
                self.counters.envelopes_lost.inc("module_queue_full");
                continue;
            }
            queue.push_back(d);
        }
    }

    /// The next payload, taking modules in turn.
    fn next_delivery(&mut self) -> Option<Delivery> {
        let after = self.turn.clone();
        let module = self
            .queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(m, _)| m)
            .find(|m| after.as_ref().is_none_or(|a| *m > a))
            .or_else(|| self.queues.iter().find(|(_, q)| !q.is_empty()).map(|(m, _)| m))?
            .clone();
        let queue = self.queues.get_mut(&module)?;
        let d = queue.pop_front();
        if queue.is_empty() {
            self.queues.remove(&module);
        }
        self.turn = Some(module);
        d
    }

    async fn deliver(&mut self, d: Delivery) {
        let started = Instant::now();
        let inputs = self
            .host
            .deliver(crate::now_ms(), &d.module, d.number, d.from, &d.payload);
        self.counters.module_ns.add(started.elapsed().as_nanos() as u64);
        self.report(inputs).await;
        // Let the actor (and the listeners) run between any two calls into modules.
        tokio::task::yield_now().await;
    }

    async fn handle_controls(&mut self, controls: Vec<Control>) {
        // Of several ticks queued, one does (the module task was behind); of several
        // loads of one module, the last (the others are superseded already).
        let last_tick = controls.iter().rposition(|c| matches!(c, Control::Tick(_)));
        let last_load = |module: &ModuleName, at: usize| {
            controls[at + 1..]
                .iter()
                .any(|c| matches!(c, Control::Load(d) if d.module == *module))
        };
        let superseded: Vec<bool> = controls
            .iter()
            .enumerate()
            .map(|(i, c)| match c {
                Control::Tick(_) => Some(i) != last_tick,
                Control::Load(d) => last_load(&d.module, i),
                _ => false,
            })
            .collect();
        for (control, superseded) in controls.into_iter().zip(superseded) {
            if !superseded {
                self.handle(control).await;
            }
        }
        self.publish();
        self.send_results().await;
    }

    async fn handle(&mut self, control: Control) {
        let started = Instant::now();
        if let Control::Leave(done) = control {
            let inputs = self.host.leave(crate::now_ms());
            self.report(inputs).await;
            let _ = done.send(());
            return;
        }
        let inputs = match control {
            Control::Leave(_) => Vec::new(),
            Control::Tick(now) => self.host.tick(now),
            Control::Load(deployment) => {
                self.compile(deployment);
                Vec::new()
            }
            Control::Unload(module) => {
                self.pending_loads.remove(&module);
                self.host.unload(&module);
                self.queues.remove(&module);
                Vec::new()
            }
            Control::Query { module, args, reply } => {
                let (answer, inputs) = self.host.query(crate::now_ms(), &module, &args);
                let _ = reply.send(answer);
                inputs
            }
            Control::Command { module, args, reply } => {
                let (answer, inputs) = self.host.command(crate::now_ms(), &module, &args);
                let _ = reply.send(answer);
                inputs
            }
            Control::Bootstrap(peers) => {
                self.host.set_bootstrap(peers);
                Vec::new()
            }
        };
        self.counters.module_ns.add(started.elapsed().as_nanos() as u64);
        self.report(inputs).await;
    }

    /// Reads and compiles a deployment's code on a blocking thread (compiling takes a
    /// few hundred ms, during which modules and gossip go on); `swap` follows.
    fn compile(&mut self, deployment: Deployment) {
        let Some(version) = deployment.version else {
            return;
        };
        self.pending_loads
            .insert(deployment.module.clone(), deployment.number);
        let (store, runtime, done) = (self.store.clone(), self.runtime.clone(), self.compiled.clone());
        tokio::task::spawn_blocking(move || {
            let result = store
                .read(&version)
                .map_err(|e| format!("code store: {e}"))
                .and_then(|wasm| runtime.compile(&wasm).map(|_| wasm).map_err(|e| e.to_string()));
            crate::release_memory();
            let _ = done.send(Compiled { deployment, result });
        });
    }

    /// Swaps compiled code in; the result is the first input the core sees.
    async fn swap(&mut self, compiled: Compiled) {
        let Compiled { deployment, result } = compiled;
        let module = deployment.module.clone();
        if self.pending_loads.get(&module) != Some(&deployment.number) {
            tracing::debug!(%module, number = %deployment.number, "dropping a superseded load");
            return;
        }
        self.pending_loads.remove(&module);
        let inputs = match result {
            Ok(wasm) => self.host.load(crate::now_ms(), &deployment, &wasm),
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
        self.publish();
        self.report(inputs).await;
        self.send_results().await;
    }

    /// Logs what the instances said and gathers their inputs for the actor.
    async fn report(&mut self, inputs: Vec<Input>) {
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
        // The actor is on this thread: handing it what a call did at once costs no
        // wake-up, and a module's replies must not wait for its queue to drain.
        self.results.extend(inputs);
        self.send_results().await;
    }

    /// Hands what the instances did to the actor, in one batch (waiting when it is
    /// behind: the modules slow down, never the core).
    async fn send_results(&mut self) {
        if !self.results.is_empty() {
            let _ = self.to_actor.send(std::mem::take(&mut self.results)).await;
        }
    }

    fn publish(&mut self) {
        if let Ok(mut p) = self.published.lock() {
            p.usage = self.host.usage();
            p.metrics = self.host.metrics.clone();
        }
    }
}
