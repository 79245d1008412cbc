//! The daemon's [`Effects`]: what each of the core's outputs does on a real node —
//! envelopes to the sender, payloads, loads and ticks to the module host, downloads as
//! tasks, code to the store, the configuration to the persister, events to the
//! log. The simulator's `match` over the same outputs reads the same way.

use std::collections::BTreeMap;
use std::sync::Arc;

use hearsay_core::{
    CodeVersion, DeploymentNumber, Effects, Event, Input, Millis, ModuleName, Output, Severity,
};
use tokio::sync::mpsc;

use crate::counters::NodeCounters;
use crate::error::StoreError;
use crate::event_log::EventLog;
use crate::fetcher;
use crate::inbox;
use crate::modules::Modules;
use crate::peer_client::PeerClient;
use crate::persister::Persister;
use crate::sender::{Outgoing, SenderHandle};
use crate::store::CodeStore;

/// Everything a node's outputs act on.
pub(crate) struct NodeEffects {
    pub modules: Modules,
    pub store: CodeStore,
    /// Writes the configuration to the data directory, off the actor.
    pub persister: Persister,
    pub sender: SenderHandle,
    /// Where downloads report.
    pub events: mpsc::Sender<inbox::Event>,
    /// The node's event stream (`GET /v1/events`).
    pub event_log: Arc<EventLog>,
    pub client: PeerClient,
    pub counters: Arc<NodeCounters>,
    /// When each module's configured deployment was adopted here.
    pub adopted_at: BTreeMap<ModuleName, (DeploymentNumber, Millis)>,
    /// When each module's running instance started.
    pub running_since: BTreeMap<ModuleName, (DeploymentNumber, Millis)>,
}

impl NodeEffects {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        modules: Modules,
        store: CodeStore,
        persister: Persister,
        sender: SenderHandle,
        events: mpsc::Sender<inbox::Event>,
        client: PeerClient,
        counters: Arc<NodeCounters>,
        event_log: Arc<EventLog>,
    ) -> Self {
        NodeEffects {
            modules,
            store,
            persister,
            sender,
            events,
            event_log,
            client,
            counters,
            adopted_at: BTreeMap::new(),
            running_since: BTreeMap::new(),
        }
    }

    /// Writes code to the store unless it is there already — durably when it was
    /// deployed here, without waiting for the disk when fetched from a peer (see
    /// [`CodeStore::write_fetched`]); a failure (a full disk) is logged and counted.
    pub(crate) fn store_code(
        &self,
        version: &CodeVersion,
        bytes: &[u8],
        fetched: bool,
    ) -> Result<(), StoreError> {
        if self.store.contains(version) {
            return Ok(());
        }
        let written = if fetched {
            self.store.write_fetched(version, bytes)
        } else {
            self.store.write(version, bytes)
        };
        written.inspect_err(|e| {
            self.counters.store_failures.inc();
            tracing::error!(version = %version.short(), "cannot store code: {e}");
        })
    }

    /// Logs an event and keeps the times status reports.
    fn event(&mut self, now: Millis, event: Event) {
        match &event {
            Event::DeploymentAdopted { deployment, .. } => {
                self.adopted_at
                    .insert(deployment.module.clone(), (deployment.number, now));
            }
            Event::Started { module, number } => {
                self.running_since.insert(module.clone(), (*number, now));
            }
            Event::Stopped { module } => {
                self.running_since.remove(module);
            }
            _ => {}
        }
        match event.severity() {
            Severity::Info => tracing::info!("{event}"),
            Severity::Warn => tracing::warn!("{event}"),
        }
        self.event_log.publish(now, &event);
    }
}

impl Effects for NodeEffects {
    fn carry_out(&mut self, now: Millis, output: Output) -> Vec<Input> {
        match output {
            Output::Send { to, bytes, class } => self.sender.send(Outgoing { to, bytes }, class),
            Output::Deliver {
                module,
                number,
                from,
                payload,
            } => self.modules.deliver(module, number, from, payload),
            Output::FetchCode { version, from } => {
                let (client, counters, events) =
                    (self.client.clone(), self.counters.clone(), self.events.clone());
                fetcher::spawn(client, counters, events, version, from);
            }
            Output::StoreCode { version, bytes } => {
                // The core asks to store only code it fetched: deployed code was stored
                // (durably) before the core heard of it.
                if self.store_code(&version, &bytes, true).is_err() {
                    // The core forgets it holds the code and fetches it again later;
                    // what runs keeps running.
                    return vec![Input::CodeStoreFailed { version }];
                }
            }
            Output::Load { deployment } => self.modules.load(deployment),
            Output::Unload { module } => self.modules.unload(&module),
            Output::Persist { configuration, ran } => self.persister.persist(configuration, ran),
            Output::Event(event) => self.event(now, event),
        }
        Vec::new()
    }

    fn in_core(&mut self, step: impl FnOnce() -> Vec<Output>) -> Vec<Output> {
        let started = std::time::Instant::now();
        let outputs = step();
        self.counters.core_ns.add(started.elapsed().as_nanos() as u64);
        outputs
    }

    fn tick_modules(&mut self, now: Millis) -> Vec<Input> {
        self.modules.tick(now)
    }
}
