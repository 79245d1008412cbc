//! Module instances as the core sees them: which deployment runs, which one is being
//! loaded, which failed and why — and the reconcile step that moves each module toward
//! its configured deployment (fetch the code, load it, or unload a stopped module).

use serde::Serialize;

use crate::deployment::{CodeVersion, Deployment, DeploymentNumber, Millis};
use crate::envelope::Body;
use crate::event::Event;
use crate::ids::{ModuleName, PeerAddr};
use crate::io::Output;
use crate::metrics::DropReason;
use crate::node::Core;

/// The core's record of one module's instance. Its fields change only through the
/// methods below, which keep its rules: a late answer never moves it back to an older
/// deployment, a failure counts only for the deployment that runs, and a load that
/// failed is not retried (the same code would fail the same way).
#[derive(Debug, Clone, Default)]
pub(crate) struct Instance {
    /// The deployment whose instance is loaded, if any.
    running: Option<DeploymentNumber>,
    /// Set when the running instance failed (and was dropped by the driver).
    failed: Option<String>,
    /// A load asked of the driver and not yet answered.
    loading: Option<DeploymentNumber>,
    /// The newest deployment that failed to load, and why.
    load_failed: Option<(DeploymentNumber, String)>,
    /// When the running instance failed, or the configured deployment failed to load.
    failed_at: Option<Millis>,
    /// A deployment whose automatic rollback this node could not make, and why.
    rollback_refused: Option<(DeploymentNumber, String)>,
}

impl Instance {
    /// Nothing to do for deployment `number`: it runs, is loading, or failed to load.
    fn settled_on(&self, number: DeploymentNumber) -> bool {
        self.running == Some(number)
            || self.loading == Some(number)
            || self.load_failed.as_ref().is_some_and(|(n, _)| *n == number)
    }

    /// The module stopped: nothing runs or loads any more, nothing has failed. True if
    /// something ran or was loading (the driver must unload it).
    fn stop(&mut self) -> bool {
        let was_running = self.running.take().is_some();
        let was_loading = self.loading.take().is_some();
        self.failed = None;
        self.failed_at = None;
        was_running || was_loading
    }

    /// Neither running nor loading anything.
    fn idle(&self) -> bool {
        self.running.is_none() && self.loading.is_none()
    }

    /// The driver was asked to load `number`.
    fn start_loading(&mut self, number: DeploymentNumber) {
        self.loading = Some(number);
    }

    /// `number` was loaded: `None` for a late answer about an older deployment than the
    /// one running (ignored), else whether it newly started.
    fn loaded(&mut self, number: DeploymentNumber) -> Option<bool> {
        if self.running.is_some_and(|r| r > number) {
            return None;
        }
        if self.loading == Some(number) {
            self.loading = None;
        }
        let started = self.running != Some(number);
        self.running = Some(number);
        self.failed = None;
        self.failed_at = None;
        if self.load_failed.as_ref().is_some_and(|(n, _)| *n <= number) {
            self.load_failed = None;
        }
        Some(started)
    }

    /// The load of `number` ended without a verdict on its code.
    fn loading_ended(&mut self, number: DeploymentNumber) {
        if self.loading == Some(number) {
            self.loading = None;
        }
    }

    /// The load of `number` failed: not retried.
    fn load_failed(&mut self, number: DeploymentNumber, reason: String, now: Millis) {
        self.loading_ended(number);
        self.load_failed = Some((number, reason));
        self.failed_at = Some(now);
    }

    /// The instance of `number` failed; true if that is news (it ran and hadn't).
    fn failed(&mut self, number: DeploymentNumber, reason: &str, now: Millis) -> bool {
        if self.running != Some(number) || self.failed.is_some() {
            return false;
        }
        self.failed = Some(reason.to_string());
        self.failed_at = Some(now);
        true
    }

    /// The deployment loaded, failed or not.
    fn loaded_number(&self) -> Option<DeploymentNumber> {
        self.running
    }

    /// The deployment running, if its instance is alive.
    fn alive(&self) -> Option<DeploymentNumber> {
        self.failed.is_none().then_some(self.running).flatten()
    }

    /// A newer deployment (`wanted`) is configured and hasn't failed to load.
    fn superseded_by(&self, wanted: DeploymentNumber) -> bool {
        self.running.is_some_and(|r| r < wanted)
            && self.load_failed.as_ref().is_none_or(|(n, _)| *n != wanted)
    }

    /// Since when deployment `number` has been failed here (its instance failed, or
    /// it failed to load).
    pub(crate) fn failing_since(&self, number: DeploymentNumber) -> Option<Millis> {
        let failed_running = self.running == Some(number) && self.failed.is_some();
        let failed_loading = self.load_failed.as_ref().is_some_and(|(n, _)| *n == number);
        (failed_running || failed_loading)
            .then_some(self.failed_at)
            .flatten()
    }

    /// Why the instance failed or its load did.
    pub(crate) fn failure(&self) -> Option<String> {
        self.failed
            .clone()
            .or_else(|| self.load_failed.as_ref().map(|(_, r)| r.clone()))
    }

    /// Why this node could not roll deployment `number` back, if it tried.
    pub(crate) fn rollback_refused(&self, number: DeploymentNumber) -> Option<&str> {
        self.rollback_refused
            .as_ref()
            .filter(|(n, _)| *n == number)
            .map(|(_, why)| why.as_str())
    }

    /// This node could not roll deployment `number` back.
    pub(crate) fn refuse_rollback(&mut self, number: DeploymentNumber, why: String) {
        self.rollback_refused = Some((number, why));
    }

    /// What the module is doing for its configured deployment `d`.
    fn state(&self, d: &Deployment, has_code: bool) -> ModuleState {
        if d.version.is_none() {
            return ModuleState::Stopped;
        }
        if let Some((n, reason)) = &self.load_failed {
            if *n == d.number {
                return ModuleState::LoadFailed {
                    reason: reason.clone(),
                };
            }
        }
        if self.running == Some(d.number) {
            return match &self.failed {
                Some(reason) => ModuleState::Failed {
                    reason: reason.clone(),
                },
                None => ModuleState::Running,
            };
        }
        if has_code {
            ModuleState::Loading
        } else {
            ModuleState::Fetching
        }
    }
}

/// What a module is doing on this node, for status and the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ModuleState {
    /// The configured deployment runs.
    Running,
    /// Waiting for the configured deployment's code.
    Fetching,
    /// The code is here; the driver is loading it.
    Loading,
    /// The running instance failed.
    Failed {
        /// Why.
        reason: String,
    },
    /// The configured deployment could not be loaded; the previous one (if any) runs on.
    LoadFailed {
        /// Why.
        reason: String,
    },
    /// A deployment stopped the module.
    Stopped,
}

/// A module's configured deployment and what runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleStatus {
    /// The configured (winning) deployment.
    pub deployment: Deployment,
    /// The deployment whose instance is loaded, if any.
    pub running: Option<DeploymentNumber>,
    /// What it is doing.
    #[serde(flatten)]
    pub state: ModuleState,
    /// Its automatic rollback policy, if the deployment has one.
    pub auto_rollback: Option<crate::rollback_policy::AutoRollbackStatus>,
}

impl Core {
    /// Moves a module toward its configured deployment. Level-triggered: safe to call
    /// at any time, does nothing when there is nothing to do.
    pub(crate) fn reconcile(&mut self, module: &ModuleName) {
        let Some(wanted) = self.config.get(module) else {
            return;
        };
        let (number, version) = (wanted.number, wanted.version);
        let instance = self.instances.entry(module.clone()).or_default();
        if instance.settled_on(number) {
            return;
        }
        match version {
            None => {
                if instance.stop() {
                    self.out.push(Output::Unload {
                        module: module.clone(),
                    });
                    self.out.push(Output::Event(Event::Stopped {
                        module: module.clone(),
                    }));
                }
            }
            Some(version) if self.code.holds(&version) => {
                instance.start_loading(number);
                let deployment = wanted.clone();
                self.metrics.loads += 1;
                self.out.push(Output::Load { deployment });
            }
            Some(version) => {
                // Until the code is here, run what last ran here (after a restart, with
                // the code lost or the disk full): it answers queries, and, being
                // superseded, it is muted — it never gossips with the new version.
                let fallback = self
                    .ran
                    .get(module)
                    .filter(|r| r.number < number && r.version.is_some_and(|v| self.code.holds(&v)))
                    .cloned();
                if let Some(last) = fallback {
                    if instance.idle() {
                        instance.start_loading(last.number);
                        self.metrics.loads += 1;
                        self.out.push(Output::Load { deployment: last });
                    }
                }
                self.want_code(version)
            }
        }
    }

    pub(crate) fn loaded(&mut self, module: ModuleName, number: DeploymentNumber) {
        let instance = self.instances.entry(module.clone()).or_default();
        let Some(started) = instance.loaded(number) else {
            return; // a late answer for an older load: never move back
        };
        if started {
            self.emit(Event::Started {
                module: module.clone(),
                number,
            });
        }
        let configured = self.config.get(&module).filter(|d| d.number == number).cloned();
        if let Some(d) = configured {
            if self.ran.get(&module) != Some(&d) {
                self.ran.insert(module.clone(), d);
                self.persist();
            }
        }
        self.reconcile(&module);
    }

    pub(crate) fn load_failed(&mut self, module: ModuleName, number: DeploymentNumber, reason: String) {
        let now = self.now;
        let instance = self.instances.entry(module.clone()).or_default();
        let version = self
            .config
            .get(&module)
            .filter(|d| d.number == number)
            .and_then(|d| d.version);
        if version.is_some_and(|v| !self.code.holds(&v)) {
            // The code is gone from the store (it could not be written): no verdict on
            // the code. It is fetched again, and loaded when it is here.
            instance.loading_ended(number);
            self.reconcile(&module);
            return;
        }
        self.metrics.load_failures += 1;
        instance.load_failed(number, reason.clone(), now);
        self.emit(Event::LoadFailed {
            module: module.clone(),
            number,
            reason,
        });
        self.reconcile(&module);
    }

    pub(crate) fn module_failed(&mut self, module: ModuleName, number: DeploymentNumber, reason: String) {
        let now = self.now;
        let instance = self.instances.entry(module.clone()).or_default();
        if instance.failed(number, &reason, now) {
            self.metrics.module_failures += 1;
            self.emit(Event::Failed {
                module,
                number,
                reason,
            });
        }
    }

    /// True when payloads tagged `number` go to the module's instance: it runs that
    /// deployment, hasn't failed, and no newer deployment that could replace it is known.
    /// A superseded instance is muted from the moment the news arrives — in the S3 story,
    /// poisoned state stops spreading before the fix has even been downloaded.
    pub(crate) fn deliverable(&self, module: &ModuleName, number: DeploymentNumber) -> bool {
        let Some(instance) = self.instances.get(module) else {
            return false;
        };
        instance.alive() == Some(number)
            && !self
                .config
                .number(module)
                .is_some_and(|wanted| instance.superseded_by(wanted))
    }

    /// A module's send: wrapped in an envelope tagged with its instance's deployment.
    /// A superseded instance's sends carry only news of its replacement (a summary), so
    /// its target still learns of the new deployment but never sees the old payload.
    pub(crate) fn module_send(&mut self, module: ModuleName, to: PeerAddr, payload: Vec<u8>) {
        if to == self.addr {
            return;
        }
        // `to` is not a hint yet: a module may name addresses where nobody listens.
        // It becomes one when an envelope arrives from it.
        let Some(running) = self.instances.get(&module).and_then(Instance::loaded_number) else {
            self.metrics.drop(DropReason::ModuleNotRunning);
            return;
        };
        if self.deliverable(&module, running) {
            self.send(
                to,
                Body::Module {
                    module,
                    number: running,
                    payload,
                },
            );
        } else {
            self.metrics.drop(DropReason::SupersededSend);
            self.send_summary(to);
        }
    }

    /// Every module's configured deployment and state.
    pub fn status(&self) -> Vec<ModuleStatus> {
        self.config
            .iter()
            .map(|d| {
                let instance = self.instances.get(&d.module).cloned().unwrap_or_default();
                let state = instance.state(d, d.version.is_some_and(|v| self.has_code(&v)));
                ModuleStatus {
                    deployment: d.clone(),
                    running: instance.loaded_number(),
                    state,
                    auto_rollback: self.auto_rollback_status(d),
                }
            })
            .collect()
    }

    /// Every configured deployment runs here (a stopped module counts as done):
    /// nothing for backup gossip to hurry for.
    pub(crate) fn all_running(&self) -> bool {
        self.config
            .iter()
            .all(|d| d.version.is_none() || self.running(&d.module) == Some(d.number))
    }

    /// The deployment running for a module, if its instance is alive.
    pub fn running(&self, module: &ModuleName) -> Option<DeploymentNumber> {
        self.instances.get(module)?.alive()
    }

    /// The code version of the deployment running for a module.
    pub fn running_version(&self, module: &ModuleName) -> Option<CodeVersion> {
        let d = self.config.get(module)?;
        (self.running(module) == Some(d.number))
            .then_some(d.version)
            .flatten()
    }
}
