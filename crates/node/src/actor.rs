//! The actor: the one task that owns the [`Core`] and the [`ModuleHost`]. Everything
//! that happens to a node — a gossip batch, a finished download or compile, an API
//! command, a timer — arrives here as a [`Msg`] or a tick, is handed to the core, and
//! the core's outputs are carried out by [`Actor::apply`]: the same `match` over
//! [`Output`] as the simulator's `World::apply`.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hearsay_core::{
    CodeVersion, Configuration, Core, Deployment, DeploymentNumber, Input, Millis, ModuleName, Output,
    PeerAddr,
};
use hearsay_runtime::{ModuleHost, Runtime};
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

use crate::api_error::ApiError;
use crate::api_types::StatusReport;
use crate::counters::NodeCounters;
use crate::datadir::DataDir;
use crate::metrics::MetricsSnapshot;
use crate::peer_client::PeerClient;
use crate::sender::Outgoing;
use crate::store::CodeStore;
use crate::{fetcher, now_ms};

/// Messages the actor waits for.
pub(crate) enum Msg {
    /// A batch of envelopes from `POST /gossip`.
    Gossip(Vec<Vec<u8>>),
    /// A code download finished (`None`: it failed).
    Fetched {
        version: CodeVersion,
        from: PeerAddr,
        bytes: Option<Vec<u8>>,
    },
    /// A deployment's code was read from the store and compiled (or not).
    Compiled {
        deployment: Deployment,
        result: Result<Vec<u8>, String>,
    },
    /// A management API request.
    Api(ApiCall),
}

/// A management API request, with where to send the answer.
pub(crate) enum ApiCall {
    Status(oneshot::Sender<StatusReport>),
    Metrics(oneshot::Sender<MetricsSnapshot>),
    Deploy {
        module: ModuleName,
        wasm: Vec<u8>,
        params: String,
        reply: oneshot::Sender<Result<Deployment, ApiError>>,
    },
    Rollback {
        module: ModuleName,
        to: Option<String>,
        reply: oneshot::Sender<Result<Deployment, ApiError>>,
    },
    Stop {
        module: ModuleName,
        reply: oneshot::Sender<Result<Deployment, ApiError>>,
    },
    Query {
        module: ModuleName,
        args: String,
        reply: oneshot::Sender<Result<String, ApiError>>,
    },
    /// The number a deployment made here now would get, and the current deployment:
    /// what an operator signs a record against.
    Next {
        module: ModuleName,
        reply: oneshot::Sender<crate::api_types::NextReport>,
    },
    /// A record signed elsewhere, with its code unless stored here.
    DeployRecord {
        record: Deployment,
        wasm: Option<Vec<u8>>,
        reply: oneshot::Sender<Result<Deployment, ApiError>>,
    },
}

/// What the actor is built from.
pub(crate) struct ActorParts {
    pub core: Core,
    pub host: ModuleHost,
    pub runtime: Arc<Runtime>,
    pub store: CodeStore,
    pub data: DataDir,
    pub outgoing: mpsc::Sender<Outgoing>,
    pub inbox: mpsc::Sender<Msg>,
    pub client: PeerClient,
    pub counters: Arc<NodeCounters>,
    pub rendezvous: Vec<PeerAddr>,
    pub api_addr: SocketAddr,
    pub interval: Duration,
    pub security: crate::api_types::SecurityReport,
}

/// The owner of a node's core and module instances.
pub(crate) struct Actor {
    pub(crate) core: Core,
    pub(crate) host: ModuleHost,
    runtime: Arc<Runtime>,
    pub(crate) store: CodeStore,
    data: DataDir,
    outgoing: mpsc::Sender<Outgoing>,
    inbox: mpsc::Sender<Msg>,
    client: PeerClient,
    pub(crate) counters: Arc<NodeCounters>,
    pub(crate) rendezvous: Vec<PeerAddr>,
    pub(crate) api_addr: SocketAddr,
    interval: Duration,
    /// The load asked for per module and not yet done; a compile that finishes for an
    /// older one is dropped, so the host never swaps back to superseded code.
    pending_loads: BTreeMap<ModuleName, DeploymentNumber>,
    /// When each module's configured deployment was adopted here.
    pub(crate) adopted_at: BTreeMap<ModuleName, (DeploymentNumber, Millis)>,
    /// When each module's running instance was loaded.
    pub(crate) running_since: BTreeMap<ModuleName, (DeploymentNumber, Millis)>,
    /// What protects this node, for status.
    pub(crate) security: crate::api_types::SecurityReport,
}

impl Actor {
    pub(crate) fn new(p: ActorParts) -> Self {
        Actor {
            core: p.core,
            host: p.host,
            runtime: p.runtime,
            store: p.store,
            data: p.data,
            outgoing: p.outgoing,
            inbox: p.inbox,
            client: p.client,
            counters: p.counters,
            rendezvous: p.rendezvous,
            api_addr: p.api_addr,
            interval: p.interval,
            pending_loads: BTreeMap::new(),
            adopted_at: BTreeMap::new(),
            running_since: BTreeMap::new(),
            security: p.security,
        }
    }

    /// Runs until the inbox closes: module rounds every interval, core ticks at its
    /// `poll_timeout`, messages as they come.
    pub(crate) async fn run(mut self, mut inbox: mpsc::Receiver<Msg>) {
        let mut rounds = tokio::time::interval(self.interval);
        rounds.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let wait = self.core.poll_timeout().saturating_sub(now_ms()).clamp(1, 1000);
            tokio::select! {
                msg = inbox.recv() => match msg {
                    Some(msg) => self.on_msg(msg),
                    None => break,
                },
                _ = rounds.tick() => self.round(),
                _ = tokio::time::sleep(Duration::from_millis(wait)) => self.feed(Input::Tick),
            }
        }
    }

    fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Gossip(envelopes) => {
                for bytes in envelopes {
                    self.feed(Input::Receive { bytes });
                }
            }
            Msg::Fetched { version, from, bytes } => self.feed(match bytes {
                Some(bytes) => Input::CodeFetched { version, bytes },
                None => Input::CodeFetchFailed { version, from },
            }),
            Msg::Compiled { deployment, result } => self.compiled(deployment, result),
            Msg::Api(call) => self.api(call),
        }
    }

    /// One gossip round: every module ticks, then the core.
    fn round(&mut self) {
        let started = Instant::now();
        let inputs = self.host.tick(now_ms());
        self.counters.module_ns.add(started.elapsed().as_nanos() as u64);
        for input in inputs {
            self.feed(input);
        }
        self.feed(Input::Tick);
    }

    /// Hands one input to the core and carries out what follows.
    pub(crate) fn feed(&mut self, input: Input) {
        let now = now_ms();
        self.observe(&input, now);
        let outputs = self.timed_core(now, input);
        self.apply(now, outputs);
    }

    /// Carries out the core's outputs in order; inputs they produce go back to the core
    /// and their outputs join the queue.
    pub(crate) fn apply(&mut self, now: Millis, outputs: Vec<Output>) {
        let mut work: VecDeque<Output> = outputs.into();
        while let Some(output) = work.pop_front() {
            let follow_up = match output {
                Output::Send { to, bytes } => {
                    if self.outgoing.try_send(Outgoing { to, bytes }).is_err() {
                        self.counters.envelopes_lost.inc("queue_full");
                    }
                    Vec::new()
                }
                Output::Deliver {
                    module,
                    from,
                    payload,
                } => {
                    let started = Instant::now();
                    let sends = self.host.deliver(now, &module, from, &payload);
                    self.counters.module_ns.add(started.elapsed().as_nanos() as u64);
                    sends
                }
                Output::FetchCode { version, from } => {
                    let (client, counters, inbox) =
                        (self.client.clone(), self.counters.clone(), self.inbox.clone());
                    fetcher::spawn(client, counters, inbox, version, from);
                    Vec::new()
                }
                Output::StoreCode { version, bytes } => {
                    if let Err(e) = self.store.write(&version, &bytes) {
                        self.counters.store_failures.inc();
                        tracing::error!(version = %version.short(), "cannot store code: {e}");
                    }
                    Vec::new()
                }
                Output::Load { deployment } => {
                    self.load(deployment);
                    Vec::new()
                }
                Output::Unload { module } => {
                    tracing::info!(%module, "module stopped");
                    self.pending_loads.remove(&module);
                    self.running_since.remove(&module);
                    self.host.unload(&module);
                    Vec::new()
                }
                Output::Persist { configuration } => {
                    self.persist(now, &configuration);
                    Vec::new()
                }
            };
            for input in follow_up {
                self.observe(&input, now);
                work.extend(self.timed_core(now, input));
            }
        }
        self.drain_logs();
    }

    /// `Core::handle`, its time counted: the core's CPU, next to the modules'.
    fn timed_core(&mut self, now: Millis, input: Input) -> Vec<Output> {
        let started = Instant::now();
        let outputs = self.core.handle(now, input);
        self.counters.core_ns.add(started.elapsed().as_nanos() as u64);
        outputs
    }

    /// Reads and compiles a deployment's code off the actor (compiling takes a few
    /// hundred ms, during which gossip goes on), then `compiled` swaps it in.
    fn load(&mut self, deployment: Deployment) {
        let Some(version) = deployment.version else {
            return;
        };
        self.pending_loads
            .insert(deployment.module.clone(), deployment.number);
        let (store, runtime, inbox) = (self.store.clone(), self.runtime.clone(), self.inbox.clone());
        tokio::task::spawn_blocking(move || {
            let result = store
                .read(&version)
                .map_err(|e| format!("code store: {e}"))
                .and_then(|wasm| runtime.compile(&wasm).map(|_| wasm).map_err(|e| e.to_string()));
            crate::release_memory();
            let _ = inbox.blocking_send(Msg::Compiled { deployment, result });
        });
    }

    fn compiled(&mut self, deployment: Deployment, result: Result<Vec<u8>, String>) {
        let module = deployment.module.clone();
        if self.pending_loads.get(&module) != Some(&deployment.number) {
            tracing::debug!(%module, number = %deployment.number, "dropping a superseded load");
            return;
        }
        self.pending_loads.remove(&module);
        let inputs = match result {
            Ok(wasm) => self.host.load(now_ms(), &deployment, &wasm),
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
        for input in inputs {
            self.feed(input);
        }
    }

    fn persist(&mut self, now: Millis, configuration: &Configuration) {
        for d in configuration.iter() {
            if self.adopted_at.get(&d.module).map(|(n, _)| *n) != Some(d.number) {
                self.adopted_at.insert(d.module.clone(), (d.number, now));
                let version = d.version.map_or_else(|| "stopped".to_string(), |v| v.short());
                tracing::info!(module = %d.module, version, number = %d.number, "adopted deployment");
            }
        }
        match self.data.persist(configuration) {
            Ok(()) => self.counters.persists.inc(),
            Err(e) => {
                self.counters.persist_failures.inc();
                tracing::error!("cannot persist the configuration: {e}");
            }
        }
    }

    /// Logs what the module host reports and remembers when instances started.
    fn observe(&mut self, input: &Input, now: Millis) {
        match input {
            Input::Loaded { module, number } => {
                self.running_since.insert(module.clone(), (*number, now));
                tracing::info!(%module, %number, "running");
            }
            Input::LoadFailed {
                module,
                number,
                reason,
            } => {
                tracing::warn!(%module, %number, "load failed: {reason}");
            }
            Input::ModuleFailed {
                module,
                number,
                reason,
            } => {
                tracing::warn!(%module, %number, "module failed: {reason}");
            }
            _ => {}
        }
    }

    fn drain_logs(&mut self) {
        for (module, line) in self.host.logs.drain(..) {
            match line.level {
                0 => tracing::error!(%module, "{}", line.text),
                1 => tracing::warn!(%module, "{}", line.text),
                2 => tracing::info!(%module, "{}", line.text),
                _ => tracing::debug!(%module, "{}", line.text),
            }
        }
        for warning in self.core.take_warnings() {
            tracing::warn!("{warning}");
        }
    }
}
