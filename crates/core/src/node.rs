//! [`Core`]: the state machine of one node's core. It owns the configuration, the
//! state of each module instance, code downloads, hints and backup gossip, and turns
//! [`Input`]s into [`Output`]s. The other `impl Core` blocks live beside it, one file
//! per concern (receive, instances, fetch, backup).

use std::collections::{BTreeMap, BTreeSet};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::backup::BackupGossip;
use crate::code_store::CodeStore;
use crate::configuration::{Configuration, Offer};
use crate::cooldown::Cooldown;
use crate::deployment::{CodeVersion, Deployment, DeploymentNumber, Millis, MAX_PARAMS_LEN};
use crate::envelope::{Body, Envelope, Seal};
use crate::event::Event;
use crate::hints::Hints;
use crate::ids::{ModuleName, NodeId, PeerAddr};
use crate::instance::Instance;
use crate::io::{CommandError, DeploySpec, Input, Output, Traffic};
use crate::metrics::{DropReason, Metrics};
use crate::peer_digests::PeerDigests;
use crate::receive_budget::ReceiveBudget;
use crate::rumor::Rumor;
use crate::settings::Settings;

/// What kind of answer a cooldown entry limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Reply {
    /// Our records, to a peer running older deployments.
    Records(PeerAddr, ModuleName),
    /// A request for records we lack (one per module, whoever we ask).
    Request(ModuleName),
    /// Our summary, to a peer whose digest differs.
    Summary(PeerAddr),
    /// Records/requests answering a peer's summary.
    SummaryAnswer(PeerAddr),
    /// Records answering a peer's request.
    RequestAnswer(PeerAddr),
}

/// Peers whose last digest the core remembers (compact envelopes go to them).
const PEER_DIGESTS: usize = 1024;
/// Modules outside the configuration whose highest number the core remembers:
/// strangers can name any number of modules, so these are bounded.
const MAX_UNKNOWN_MODULES: usize = 64;
/// Peers whose refused records are reported by name (the rest are only counted).
const MAX_REJECTED_SOURCES: usize = 256;

/// Everything a core needs to start.
#[derive(Debug, Clone)]
pub struct CoreInit {
    /// This node's persistent identity.
    pub id: NodeId,
    /// This node's gossip address, as peers reach it.
    pub addr: PeerAddr,
    /// Tunables.
    pub settings: Settings,
    /// The configuration restored from disk (empty at first start).
    pub configuration: Configuration,
    /// Code versions already in the local store.
    pub code: BTreeSet<CodeVersion>,
    /// The deployments that last ran here, per module (persisted with the
    /// configuration): a module whose configured code is missing runs its last one.
    pub ran: Vec<Deployment>,
    /// Seed of the core's only randomness (peer choice, jitter).
    pub seed: u64,
}

/// The core of one node.
///
/// Drive it like this: call [`Core::handle`] for every event, carry out the returned
/// outputs in order, and call `handle(now, Input::Tick)` no later than
/// [`Core::poll_timeout`]. Operators' commands go through [`Core::deploy`],
/// [`Core::rollback`] and [`Core::stop`]. `now` is always passed in; the core reads
/// no clock and draws randomness only from its seeded generator.
#[derive(Debug)]
pub struct Core {
    pub(crate) id: NodeId,
    pub(crate) addr: PeerAddr,
    pub(crate) settings: Settings,
    pub(crate) config: Configuration,
    /// The highest number heard of per module, records or piggyback tags alike, so a new
    /// local deployment beats even one we haven't fetched yet.
    pub(crate) highest_seen: BTreeMap<ModuleName, DeploymentNumber>,
    pub(crate) instances: BTreeMap<ModuleName, Instance>,
    pub(crate) code: CodeStore,
    pub(crate) hints: Hints,
    pub(crate) backup: BackupGossip,
    pub(crate) cooldown: Cooldown<Reply>,
    /// Peers' last configuration digests: who can take compact module envelopes.
    pub(crate) peer_digests: PeerDigests,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) metrics: Metrics,
    pub(crate) now: Millis,
    pub(crate) out: Vec<Output>,
    pub(crate) seal: Seal,
    /// What each peer may still deliver to each module this second.
    pub(crate) receive_budget: ReceiveBudget,
    /// News being pushed after a change.
    pub(crate) rumor: Rumor,
    /// Per module, the configured deployment that last ran here.
    pub(crate) ran: BTreeMap<ModuleName, Deployment>,
    /// Peers that sent records we refused: each is reported once.
    rejected_sources: BTreeSet<PeerAddr>,
}

impl Core {
    /// A core resuming `init.configuration`. Its first tick loads what is configured.
    ///
    /// Every restored record is checked again — limits and signatures — as if it came
    /// from the network: a configuration file edited by hand (or restored under other
    /// trusted keys) must not run code no trusted key deployed. Records that fail are
    /// dropped, counted and reported; the cluster's gossip brings the real ones.
    pub fn new(init: CoreInit) -> Self {
        let mut refusals = Vec::new();
        let trusted = |d: &Deployment| {
            d.check_limits()
                .map_err(|e| e.to_string())
                .and_then(|()| init.settings.trusted_keys.check(d).map_err(|e| e.to_string()))
        };
        let mut configuration = Configuration::new();
        let mut rejected_at_start = 0;
        for d in init.configuration.iter() {
            match trusted(d) {
                Ok(()) => {
                    configuration.offer(d.clone());
                }
                Err(why) => {
                    rejected_at_start += 1;
                    refusals.push(Output::Event(Event::DeploymentRefused {
                        module: d.module.clone(),
                        number: d.number,
                        from: None,
                        reason: why,
                    }));
                }
            }
        }
        let ran = init
            .ran
            .into_iter()
            .filter(|d| trusted(d).is_ok())
            .map(|d| (d.module.clone(), d))
            .collect();
        let highest_seen = configuration
            .iter()
            .map(|d| (d.module.clone(), d.number))
            .collect();
        let metrics = Metrics {
            rejected_at_start,
            ..Metrics::default()
        };
        Core {
            id: init.id,
            addr: init.addr,
            hints: Hints::new(init.settings.max_hints),
            backup: BackupGossip::new(init.settings.backup_interval_ms),
            cooldown: Cooldown::new(init.settings.reply_cooldown_ms),
            peer_digests: PeerDigests::new(PEER_DIGESTS),
            seal: init.settings.seal(),
            rejected_sources: BTreeSet::new(),
            ran,
            receive_budget: ReceiveBudget::default(),
            rumor: Rumor::default(),
            settings: init.settings,
            config: configuration,
            highest_seen,
            instances: BTreeMap::new(),
            code: CodeStore::new(init.code),
            rng: ChaCha8Rng::seed_from_u64(init.seed),
            metrics,
            now: 0,
            // Reported with the first outputs.
            out: refusals,
        }
    }

    /// Handles one event at time `now` and returns the effects to carry out, in order.
    pub fn handle(&mut self, now: Millis, input: Input) -> Vec<Output> {
        self.now = self.now.max(now);
        match input {
            Input::Receive { bytes } => self.receive(&bytes),
            Input::ModuleSend { module, to, payload } => self.module_send(module, to, payload),
            Input::Tick => self.tick(),
            Input::CodeFetched { version, bytes } => self.code_fetched(version, bytes),
            Input::CodeFetchFailed { version, from } => self.code_fetch_failed(version, from),
            Input::CodeStoreFailed { version } => self.code_store_failed(version),
            Input::PeerUnreachable { peer } => self.peer_unreachable(peer),
            Input::Loaded { module, number } => self.loaded(module, number),
            Input::LoadFailed {
                module,
                number,
                reason,
            } => self.load_failed(module, number, reason),
            Input::ModuleFailed {
                module,
                number,
                reason,
            } => self.module_failed(module, number, reason),
        }
        std::mem::take(&mut self.out)
    }

    /// The latest time by which the driver must call `handle(now, Input::Tick)`.
    pub fn poll_timeout(&self) -> Millis {
        self.code
            .wake_at(self.settings.fetch_timeout_ms)
            .into_iter()
            .chain(std::iter::once(self.backup.next_at(self.now)))
            .chain(self.rumor.next_at())
            .chain(self.next_rollback_at())
            .min()
            .unwrap_or(self.now)
    }

    /// Deploys new code for a module from this node: issues a deployment number higher
    /// than any seen for it, stores the code, loads it here, and lets gossip spread it.
    /// `spec` is the params (a `String` will do) or params, budget and rollback policy.
    pub fn deploy(
        &mut self,
        now: Millis,
        module: ModuleName,
        code: Vec<u8>,
        spec: impl Into<DeploySpec>,
    ) -> Result<(Deployment, Vec<Output>), CommandError> {
        let spec = spec.into();
        if spec.params.len() > MAX_PARAMS_LEN {
            return Err(CommandError::ParamsTooLong);
        }
        self.now = self.now.max(now);
        let version = CodeVersion::of(&code);
        if self.code.stored(version) {
            self.out.push(Output::StoreCode { version, bytes: code });
        }
        let deployment = self.issue(module, Some(version), spec)?;
        Ok((deployment, std::mem::take(&mut self.out)))
    }

    /// Rolls a module back: a *new* deployment (new, higher number) of older code —
    /// `to`, or the version the current deployment replaced. The code must be stored
    /// here.
    pub fn rollback(
        &mut self,
        now: Millis,
        module: ModuleName,
        to: Option<CodeVersion>,
    ) -> Result<(Deployment, Vec<Output>), CommandError> {
        self.now = self.now.max(now);
        let current = self
            .config
            .get(&module)
            .ok_or_else(|| CommandError::UnknownModule(module.clone()))?;
        let target = match to.or(current.previous) {
            Some(v) => v,
            None => return Err(CommandError::NoPrevious(module)),
        };
        if !self.code.holds(&target) {
            return Err(CommandError::CodeMissing(target));
        }
        // The budget stays; a rollback has no rollback policy of its own, so two
        // failing versions can't roll back into each other.
        let spec = DeploySpec {
            params: current.params.clone(),
            budget: current.budget.clone(),
            auto_rollback_ms: None,
        };
        let deployment = self.issue(module, Some(target), spec)?;
        Ok((deployment, std::mem::take(&mut self.out)))
    }

    /// Stops a module everywhere: a deployment with no code.
    pub fn stop(
        &mut self,
        now: Millis,
        module: ModuleName,
    ) -> Result<(Deployment, Vec<Output>), CommandError> {
        self.now = self.now.max(now);
        if self.config.get(&module).is_none() {
            return Err(CommandError::UnknownModule(module));
        }
        let deployment = self.issue(module, None, DeploySpec::default())?;
        Ok((deployment, std::mem::take(&mut self.out)))
    }

    /// Makes and adopts a new deployment originating here, signed with this node's key
    /// when it has one (and refused when it trusts keys but has none to sign with).
    pub(crate) fn issue(
        &mut self,
        module: ModuleName,
        version: Option<CodeVersion>,
        spec: DeploySpec,
    ) -> Result<Deployment, CommandError> {
        let previous = self.config.get(&module).and_then(|d| d.version);
        let mut deployment = Deployment {
            number: self.next_number(self.now, &module),
            module,
            version,
            params: spec.params,
            previous,
            budget: spec.budget,
            auto_rollback_ms: spec.auto_rollback_ms,
            signature: None,
        };
        match &self.settings.signing_key {
            Some(key) => crate::trust::sign(&mut deployment, key),
            None if !self.settings.trusted_keys.is_insecure() => return Err(CommandError::Unsigned),
            None => {}
        }
        self.settings.trusted_keys.check(&deployment)?;
        self.adopt(deployment.clone(), None);
        Ok(deployment)
    }

    /// The number a deployment of `module` made here now would get: above every number
    /// seen for it. An operator signing a record elsewhere asks for this first.
    pub fn next_number(&self, now: Millis, module: &ModuleName) -> DeploymentNumber {
        DeploymentNumber::next(now.max(self.now), self.highest_seen.get(module).copied(), self.id)
    }

    /// Deploys a record made and signed elsewhere (by an operator's key), with its code
    /// unless the code is already stored here. Its number must be above every number
    /// seen here for the module, so it is sure to win.
    pub fn deploy_record(
        &mut self,
        now: Millis,
        record: Deployment,
        code: Option<Vec<u8>>,
    ) -> Result<Vec<Output>, CommandError> {
        self.now = self.now.max(now);
        record.check_limits()?;
        if self.too_far_ahead(record.number) {
            return Err(CommandError::FutureNumber(
                record.number,
                self.settings.max_future_ms,
            ));
        }
        self.settings.trusted_keys.check(&record)?;
        if let Some(highest) = self.highest_seen.get(&record.module) {
            if record.number <= *highest {
                return Err(CommandError::StaleNumber(record.number, *highest));
            }
        }
        if let Some(version) = record.version {
            match &code {
                Some(bytes) if CodeVersion::of(bytes) != version => {
                    return Err(CommandError::CodeMismatch(version))
                }
                None if !self.code.holds(&version) => return Err(CommandError::CodeNotGiven(version)),
                _ => {}
            }
            let newly_stored = code.is_some() && self.code.stored(version);
            if let (true, Some(bytes)) = (newly_stored, code) {
                self.out.push(Output::StoreCode { version, bytes });
            }
        }
        self.adopt(record, None);
        Ok(std::mem::take(&mut self.out))
    }

    /// Replaces the rendezvous list (the driver resolved its names again).
    pub fn set_rendezvous(&mut self, rendezvous: Vec<PeerAddr>) {
        self.settings.rendezvous = rendezvous;
    }

    /// Replaces the set of trusted deployment keys (key rotation without a restart).
    pub fn set_trusted_keys(&mut self, keys: crate::trust::TrustedKeys) {
        self.settings.trusted_keys = keys;
        self.rejected_sources.clear();
    }

    /// Reports something that happened, as an output.
    pub(crate) fn emit(&mut self, event: Event) {
        self.out.push(Output::Event(event));
    }

    /// A peer the driver could not reach: no longer a hint (it may be an address a
    /// module made up, or a node that left).
    fn peer_unreachable(&mut self, peer: PeerAddr) {
        self.metrics.peers_unreachable += 1;
        if self.hints.as_slice().contains(&peer) {
            self.hints.remove(&peer);
            self.emit(Event::PeerUnreachable { peer });
        }
    }

    /// Offers a record to the configuration; on adoption, persists and reconciles.
    /// `source` is a peer that may hold the code.
    pub(crate) fn adopt(&mut self, deployment: Deployment, source: Option<PeerAddr>) {
        if deployment.check_limits().is_err() {
            self.metrics.drop(DropReason::BadRecord);
            return;
        }
        if self.too_far_ahead(deployment.number) {
            // Signed or not: no deployment could ever beat a number near the end of
            // time, so one would freeze its module for good.
            self.metrics.drop(DropReason::FutureNumber);
            let reason = format!(
                "more than {} ms ahead of this node's clock",
                self.settings.max_future_ms
            );
            self.report_refusal(&deployment, source, reason);
            return;
        }
        if let Err(e) = self.settings.trusted_keys.check(&deployment) {
            // Refused, counted, reported once per source — and never gossiped on,
            // since only adopted records are.
            self.metrics.drop(DropReason::Untrusted);
            self.report_refusal(&deployment, source, e.to_string());
            return;
        }
        let module = deployment.module.clone();
        let version = deployment.version;
        self.note_seen(&module, deployment.number);
        match self.config.offer(deployment.clone()) {
            Offer::Adopted(_) => {
                self.metrics.deployments_adopted += 1;
                self.emit(Event::DeploymentAdopted {
                    deployment,
                    from: source,
                });
                self.persist();
                if let (Some(version), Some(source)) = (version, source) {
                    self.add_code_source(version, source);
                }
                if version.is_none_or(|v| self.code.holds(&v)) {
                    // Otherwise the news is spread once its code is here.
                    self.spread(&module);
                }
                self.reconcile(&module);
            }
            Offer::Known => {
                if let (Some(version), Some(source)) = (version, source) {
                    self.add_code_source(version, source);
                }
            }
            Offer::Stale => {
                // The sender is behind (a push of news we have already replaced):
                // tell it what replaced it.
                let ours = self.config.get(&module).cloned();
                if let (Some(source), Some(ours)) = (source, ours) {
                    if self.cooldown.ready(Reply::Records(source, module), self.now) {
                        self.send(source, Body::Records(vec![ours]));
                    }
                }
            }
            Offer::Conflict => self.metrics.drop(DropReason::BadRecord),
        }
    }

    /// Reports a refused record once per source (the rest are only counted).
    fn report_refusal(&mut self, d: &Deployment, source: Option<PeerAddr>, reason: String) {
        let Some(source) = source else { return };
        if self.rejected_sources.len() < MAX_REJECTED_SOURCES && self.rejected_sources.insert(source) {
            self.emit(Event::DeploymentRefused {
                module: d.module.clone(),
                number: d.number,
                from: Some(source),
                reason,
            });
        }
    }

    /// True when `number` is further ahead of this node's clock than it accepts.
    pub(crate) fn too_far_ahead(&self, number: DeploymentNumber) -> bool {
        number.time_ms > self.now.saturating_add(self.settings.max_future_ms)
    }

    /// Remembers the highest number heard of for a module from a record this node
    /// adopted or checked.
    pub(crate) fn note_seen(&mut self, module: &ModuleName, number: DeploymentNumber) {
        if self.too_far_ahead(number) {
            return;
        }
        match self.highest_seen.get_mut(module) {
            Some(h) if *h >= number => {}
            Some(h) => *h = number,
            None => {
                let unknown = self.highest_seen.len().saturating_sub(self.config.len());
                if self.config.get(module).is_some() || unknown < MAX_UNKNOWN_MODULES {
                    self.highest_seen.insert(module.clone(), number);
                }
            }
        }
    }

    /// Remembers a number merely claimed by a peer (a module envelope's tag, a
    /// summary), so a deployment made here next beats even one not fetched yet. A node
    /// that trusts deployment keys takes numbers only from records it verified: an
    /// unsigned claim must not raise the number it issues next.
    pub(crate) fn note_claimed(&mut self, module: &ModuleName, number: DeploymentNumber) {
        if self.settings.trusted_keys.is_insecure() {
            self.note_seen(module, number);
        }
    }

    /// Asks the driver to write the configuration and what last ran.
    pub(crate) fn persist(&mut self) {
        self.out.push(Output::Persist {
            configuration: self.config.clone(),
            ran: self.ran.values().cloned().collect(),
        });
    }

    /// Runs due timers and reconciles every module.
    fn tick(&mut self) {
        self.cooldown.prune(self.now);
        self.receive_budget.prune(self.now);
        self.push_news();
        self.apply_rollback_policies();
        let modules: Vec<ModuleName> = self.config.iter().map(|d| d.module.clone()).collect();
        for module in &modules {
            self.reconcile(module);
        }
        self.drive_fetches();
        if self.backup.due(self.now, &mut self.rng) {
            self.backup_exchange();
        }
    }

    /// A module payload of the configured deployment, to a peer whose last envelope
    /// carried our digest, goes as a compact `Tagged` body; anything else as is.
    fn compact(&self, to: PeerAddr, body: Body) -> Body {
        match body {
            Body::Module {
                module,
                number,
                payload,
            } if self.peer_digests.holds(to, self.config.digest()) => {
                match self.config.tag_of(&module, number) {
                    Some(tag) => Body::Tagged { tag, payload },
                    None => Body::Module {
                        module,
                        number,
                        payload,
                    },
                }
            }
            other => other,
        }
    }

    /// Wraps a body in an envelope from this node and queues it for `to`.
    pub(crate) fn send(&mut self, to: PeerAddr, body: Body) {
        let body = self.compact(to, body);
        let class = match body {
            Body::Module { .. } | Body::Tagged { .. } => Traffic::Module,
            _ => Traffic::Core,
        };
        let payload_len = match &body {
            Body::Module { payload, .. } | Body::Tagged { payload, .. } => Some(payload.len()),
            _ => None,
        };
        let envelope = Envelope {
            sender_addr: self.addr,
            digest: self.config.digest(),
            body,
        };
        match envelope.encode(self.settings.max_envelope_bytes, &self.seal, self.now) {
            Ok(bytes) => {
                self.metrics.envelopes_out += 1;
                self.metrics.bytes_out += bytes.len() as u64;
                let payload = payload_len.unwrap_or(0);
                self.metrics.core_bytes_out += (bytes.len() - payload) as u64;
                if payload_len.is_some() {
                    self.metrics.module_envelopes_out += 1;
                    self.metrics.module_payload_bytes_out += payload as u64;
                    self.metrics.piggyback_bytes_out += (bytes.len() - payload) as u64;
                }
                self.out.push(Output::Send { to, bytes, class });
            }
            Err(e) => self.metrics.drop(e.into()),
        }
    }

    /// This node's identity.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This node's gossip address.
    pub fn addr(&self) -> PeerAddr {
        self.addr
    }

    /// The current configuration.
    pub fn configuration(&self) -> &Configuration {
        &self.config
    }

    /// Counters since start.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Addresses overheard so far (not counting rendezvous nodes).
    pub fn hints(&self) -> &[PeerAddr] {
        self.hints.as_slice()
    }

    /// The resolved budget of a module's configured deployment (the node's default
    /// budget for a module it doesn't know).
    pub fn budget_of(&self, module: &ModuleName) -> crate::budget::Budget {
        match self.config.get(module) {
            Some(d) => d.budget.resolve(&self.settings.budget),
            None => self.settings.budget,
        }
    }

    /// True when this version's code is in the local store.
    pub fn has_code(&self, version: &CodeVersion) -> bool {
        self.code.holds(version)
    }
}
