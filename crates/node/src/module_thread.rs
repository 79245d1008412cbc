//! The module thread: a node's module instances run on a thread of their own, apart
//! from the actor that owns the core. However long a module's calls take, however
//! many payloads its peers send it, the core keeps gossiping configuration, fetching
//! code and answering the API on the other thread — the fix for a module is never
//! queued behind that module.
//!
//! The actor hands it control (ticks, loads, unloads, queries) and payloads; control
//! always goes first, and payloads wait in one bounded queue per module, served in
//! turn, so a module flooded by its peers can't starve another. What the instances do
//! comes back to the actor as core inputs.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hearsay_core::{Deployment, Input, Millis, ModuleName, PeerAddr};
use hearsay_runtime::{BudgetUsage, HostMetrics, ModuleHost, QueryError};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

use crate::counters::NodeCounters;
use crate::store::CodeStore;

/// Payloads in flight to the module thread, all modules together.
const DELIVERY_CHANNEL: usize = 4096;
/// Payloads waiting per module; beyond it new ones are dropped (and counted).
const PER_MODULE_QUEUE: usize = 512;

/// What the actor asks of the module thread besides payloads.
pub(crate) enum Control {
    /// A module round: tick every instance.
    Tick(Millis),
    /// Read the deployment's code from the store, compile it and swap it in.
    Load(Deployment),
    /// Drop a module's instance.
    Unload(ModuleName),
    /// A module's query, answered directly to the API.
    Query {
        module: ModuleName,
        args: String,
        reply: oneshot::Sender<Result<String, QueryError>>,
    },
}

/// A payload for a module.
pub(crate) struct Delivery {
    module: ModuleName,
    from: PeerAddr,
    payload: Vec<u8>,
}

/// What the module thread publishes for status and metrics without being asked.
#[derive(Default)]
struct Published {
    usage: BTreeMap<ModuleName, BudgetUsage>,
    metrics: HostMetrics,
}

/// The actor's handle on the module thread.
pub(crate) struct ModuleThread {
    control: mpsc::UnboundedSender<Control>,
    deliveries: mpsc::Sender<Delivery>,
    published: Arc<Mutex<Published>>,
    counters: Arc<NodeCounters>,
}

impl ModuleThread {
    /// Starts the thread with the node's module host; what the instances do goes to
    /// `results`.
    pub(crate) fn spawn(
        host: ModuleHost,
        store: CodeStore,
        results: mpsc::Sender<Vec<Input>>,
        counters: Arc<NodeCounters>,
    ) -> std::io::Result<Self> {
        let (control, control_rx) = mpsc::unbounded_channel();
        let (deliveries, deliveries_rx) = mpsc::channel(DELIVERY_CHANNEL);
        let published = Arc::new(Mutex::new(Published::default()));
        let worker = Worker {
            host,
            store,
            results,
            published: published.clone(),
            counters: counters.clone(),
            queues: BTreeMap::new(),
            turn: None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("modules".into())
            .spawn(move || runtime.block_on(worker.run(control_rx, deliveries_rx)))?;
        Ok(ModuleThread {
            control,
            deliveries,
            published,
            counters,
        })
    }

    /// Asks something of the module thread.
    pub(crate) fn control(&self, control: Control) {
        let _ = self.control.send(control);
    }

    /// Hands a payload to a module; dropped (and counted) when the thread is behind.
    pub(crate) fn deliver(&self, module: ModuleName, from: PeerAddr, payload: Vec<u8>) {
        let delivery = Delivery {
            module,
            from,
            payload,
        };
        if self.deliveries.try_send(delivery).is_err() {
            self.counters.envelopes_lost.inc("module_queue_full");
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

/// The module thread's side.
struct Worker {
    host: ModuleHost,
    store: CodeStore,
    results: mpsc::Sender<Vec<Input>>,
    published: Arc<Mutex<Published>>,
    counters: Arc<NodeCounters>,
    /// Payloads waiting, per module.
    queues: BTreeMap<ModuleName, VecDeque<Delivery>>,
    /// The module served last: the next payload comes from the one after it.
    turn: Option<ModuleName>,
}

impl Worker {
    async fn run(
        mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
        mut deliveries: mpsc::Receiver<Delivery>,
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
            while let Ok(d) = deliveries.try_recv() {
                self.enqueue(d);
            }
            if let Some(d) = self.next_delivery() {
                self.deliver(d).await;
                continue;
            }
            tokio::select! {
                biased;
                c = control.recv() => match c {
                    Some(c) => self.handle_controls(vec![c]).await,
                    None => return,
                },
                Some(d) = deliveries.recv() => self.enqueue(d),
            }
        }
    }

    fn enqueue(&mut self, d: Delivery) {
        let queue = self.queues.entry(d.module.clone()).or_default();
        if queue.len() >= PER_MODULE_QUEUE {
            self.counters.envelopes_lost.inc("module_queue_full");
            return;
        }
        queue.push_back(d);
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
        let inputs = self.host.deliver(crate::now_ms(), &d.module, d.from, &d.payload);
        self.counters.module_ns.add(started.elapsed().as_nanos() as u64);
        self.report(inputs).await;
    }

    async fn handle_controls(&mut self, controls: Vec<Control>) {
        // Of several ticks queued, one does (the module thread was behind); of several
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
    }

    async fn handle(&mut self, control: Control) {
        let started = Instant::now();
        let inputs = match control {
            Control::Tick(now) => self.host.tick(now),
            Control::Load(deployment) => self.load(&deployment),
            Control::Unload(module) => {
                self.host.unload(&module);
                self.queues.remove(&module);
                Vec::new()
            }
            Control::Query { module, args, reply } => {
                let (answer, inputs) = self.host.query(crate::now_ms(), &module, &args);
                let _ = reply.send(answer);
                inputs
            }
        };
        self.counters.module_ns.add(started.elapsed().as_nanos() as u64);
        self.report(inputs).await;
    }

    /// Reads the code and swaps it in; the result is the first input the core sees.
    fn load(&mut self, deployment: &Deployment) -> Vec<Input> {
        let Some(version) = deployment.version else {
            return Vec::new();
        };
        let inputs = match self.store.read(&version) {
            Ok(wasm) => self.host.load(crate::now_ms(), deployment, &wasm),
            Err(e) => {
                self.counters.store_failures.inc();
                vec![Input::LoadFailed {
                    module: deployment.module.clone(),
                    number: deployment.number,
                    reason: format!("code store: {e}"),
                }]
            }
        };
        crate::release_memory();
        inputs
    }

    /// Logs what the instances said and hands their inputs to the actor (waiting
    /// when it is behind: the modules slow down, never the core).
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
        if !inputs.is_empty() {
            let _ = self.results.send(inputs).await;
        }
    }

    fn publish(&mut self) {
        if let Ok(mut p) = self.published.lock() {
            p.usage = self.host.usage();
            p.metrics = self.host.metrics.clone();
        }
    }
}
