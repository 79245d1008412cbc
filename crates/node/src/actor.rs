//! The actor: the one task that owns the [`Core`]. Everything that happens to a node —
//! a gossip batch, a finished download, what the modules did, an API command, a
//! timer — arrives on one of its queues ([`crate::inbox`]), taken in order of priority,
//! is handed to the core, and the core's outputs are carried out by [`Actor::apply`]:
//! the same `match` over [`Output`] as the simulator's. Module instances run in the
//! module task ([`crate::module_task`]), never here, so no module can keep the
//! core from its own work.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hearsay_core::{
    CodeVersion, Configuration, Core, Deployment, Input, Millis, ModuleName, Output, PeerAddr,
};
use tokio::time::MissedTickBehavior;

use crate::counters::NodeCounters;
use crate::datadir::DataDir;
use crate::error::StoreError;
use crate::inbox::{Event, Inbox, Queues};
use crate::module_task::{Control, ModuleTask};
use crate::peer_client::PeerClient;
use crate::sender::{Outgoing, SenderHandle};
use crate::store::CodeStore;
use crate::{fetcher, now_ms};

/// What the actor is built from.
pub(crate) struct ActorParts {
    pub core: Core,
    pub modules: ModuleTask,
    pub store: CodeStore,
    pub data: DataDir,
    pub sender: SenderHandle,
    pub inbox: Inbox,
    pub client: PeerClient,
    pub counters: Arc<NodeCounters>,
    pub rendezvous: Vec<PeerAddr>,
    pub api_addr: SocketAddr,
    pub interval: Duration,
    pub security: crate::api_types::SecurityReport,
}

/// The owner of a node's core.
pub(crate) struct Actor {
    pub(crate) core: Core,
    pub(crate) modules: ModuleTask,
    pub(crate) store: CodeStore,
    data: DataDir,
    sender: SenderHandle,
    inbox: Inbox,
    client: PeerClient,
    pub(crate) counters: Arc<NodeCounters>,
    pub(crate) rendezvous: Vec<PeerAddr>,
    pub(crate) api_addr: SocketAddr,
    interval: Duration,
    /// When each module's configured deployment was adopted here.
    pub(crate) adopted_at: BTreeMap<ModuleName, (hearsay_core::DeploymentNumber, Millis)>,
    /// When each module's running instance was loaded.
    pub(crate) running_since: BTreeMap<ModuleName, (hearsay_core::DeploymentNumber, Millis)>,
    /// What protects this node, for status.
    pub(crate) security: crate::api_types::SecurityReport,
    /// A configuration (and what last ran) the disk refused, to write again.
    unpersisted: Option<(Configuration, Vec<Deployment>)>,
    persist_failing: bool,
}

impl Actor {
    pub(crate) fn new(p: ActorParts) -> Self {
        Actor {
            core: p.core,
            modules: p.modules,
            store: p.store,
            data: p.data,
            sender: p.sender,
            inbox: p.inbox,
            client: p.client,
            counters: p.counters,
            rendezvous: p.rendezvous,
            api_addr: p.api_addr,
            interval: p.interval,
            adopted_at: BTreeMap::new(),
            running_since: BTreeMap::new(),
            security: p.security,
            unpersisted: None,
            persist_failing: false,
        }
    }

    /// Runs until the API queue closes: the queues in order of priority, module rounds
    /// every interval, core ticks at its `poll_timeout`.
    pub(crate) async fn run(mut self, mut q: Queues) {
        let mut rounds = tokio::time::interval(self.interval);
        rounds.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let wait = self.core.poll_timeout().saturating_sub(now_ms()).clamp(1, 1000);
            tokio::select! {
                biased;
                call = q.api.recv() => match call {
                    Some(call) => self.api(call),
                    None => break,
                },
                Some(event) = q.events.recv() => self.event(event),
                _ = tokio::time::sleep(Duration::from_millis(wait)) => self.feed(Input::Tick),
                Some(batch) = q.core_gossip.recv() => self.gossip(batch),
                _ = rounds.tick() => self.round(),
                Some(inputs) = q.module_results.recv() => {
                    for input in inputs {
                        self.feed(input);
                    }
                }
                Some(batch) = q.module_gossip.recv() => self.gossip(batch),
            }
            // Whatever the core delivered while handling that goes to the modules as
            // one batch.
            self.modules.flush();
        }
    }

    fn gossip(&mut self, envelopes: Vec<Vec<u8>>) {
        for bytes in envelopes {
            self.feed(Input::Receive { bytes });
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Fetched { version, from, bytes } => self.feed(match bytes {
                Some(bytes) => Input::CodeFetched { version, bytes },
                None => Input::CodeFetchFailed { version, from },
            }),
            Event::Unreachable(peer) => self.feed(Input::PeerUnreachable { peer }),
        }
    }

    /// One gossip round: every module ticks (in the module task), then the core.
    fn round(&mut self) {
        self.modules.control(Control::Tick(now_ms()));
        self.feed(Input::Tick);
        self.retry_persist();
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
            let follow_up: Vec<Input> = match output {
                Output::Send { to, bytes, class } => {
                    self.sender.send(Outgoing { to, bytes }, class);
                    Vec::new()
                }
                Output::Deliver {
                    module,
                    number,
                    from,
                    payload,
                } => {
                    self.modules.deliver(module, number, from, payload);
                    Vec::new()
                }
                Output::FetchCode { version, from } => {
                    let (client, counters, events) = (
                        self.client.clone(),
                        self.counters.clone(),
                        self.inbox.events.clone(),
                    );
                    fetcher::spawn(client, counters, events, version, from);
                    Vec::new()
                }
                Output::StoreCode { version, bytes } => match self.store_code(&version, &bytes) {
                    Ok(()) => Vec::new(),
                    // The core forgets it holds the code and fetches it again later;
                    // what runs keeps running.
                    Err(_) => vec![Input::CodeStoreFailed { version }],
                },
                Output::Load { deployment } => {
                    self.modules.control(Control::Load(deployment));
                    Vec::new()
                }
                Output::Unload { module } => {
                    tracing::info!(%module, "module stopped");
                    self.running_since.remove(&module);
                    self.modules.control(Control::Unload(module));
                    Vec::new()
                }
                Output::Persist { configuration, ran } => {
                    self.persist(now, configuration, ran);
                    Vec::new()
                }
            };
            for input in follow_up {
                self.observe(&input, now);
                work.extend(self.timed_core(now, input));
            }
        }
        for warning in self.core.take_warnings() {
            tracing::warn!("{warning}");
        }
    }

    /// `Core::handle`, its time counted: the core's CPU, next to the modules'.
    fn timed_core(&mut self, now: Millis, input: Input) -> Vec<Output> {
        let started = Instant::now();
        let outputs = self.core.handle(now, input);
        self.counters.core_ns.add(started.elapsed().as_nanos() as u64);
        outputs
    }

    /// Writes code to the store unless it is there already; a failure (a full disk)
    /// is logged and counted.
    pub(crate) fn store_code(&self, version: &CodeVersion, bytes: &[u8]) -> Result<(), StoreError> {
        if self.store.contains(version) {
            return Ok(());
        }
        self.store.write(version, bytes).inspect_err(|e| {
            self.counters.store_failures.inc();
            tracing::error!(version = %version.short(), "cannot store code: {e}");
        })
    }

    fn persist(&mut self, now: Millis, configuration: Configuration, ran: Vec<Deployment>) {
        for d in configuration.iter() {
            if self.adopted_at.get(&d.module).map(|(n, _)| *n) != Some(d.number) {
                self.adopted_at.insert(d.module.clone(), (d.number, now));
                let version = d.version.map_or_else(|| "stopped".to_string(), |v| v.short());
                tracing::info!(module = %d.module, version, number = %d.number, "adopted deployment");
            }
        }
        self.unpersisted = Some((configuration, ran));
        self.retry_persist();
    }

    /// Writes what is waiting to be persisted; kept for the next round if the disk
    /// refuses (full), so it is written once space returns.
    fn retry_persist(&mut self) {
        let Some((configuration, ran)) = &self.unpersisted else {
            return;
        };
        match self.data.persist(configuration, ran) {
            Ok(()) => {
                self.counters.persists.inc();
                if self.persist_failing {
                    tracing::info!("the configuration is persisted again");
                }
                self.persist_failing = false;
                self.unpersisted = None;
            }
            Err(e) => {
                self.counters.persist_failures.inc();
                if !self.persist_failing {
                    tracing::error!("cannot persist the configuration (retrying every round): {e}");
                }
                self.persist_failing = true;
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
}
