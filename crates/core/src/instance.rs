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

/// The core's record of one module's instance.
#[derive(Debug, Clone, Default)]
pub(crate) struct Instance {
    /// The deployment whose instance is loaded, if any.
    pub running: Option<DeploymentNumber>,
    /// Set when the running instance failed (and was dropped by the driver).
    pub failed: Option<String>,
    /// A load asked of the driver and not yet answered.
    pub loading: Option<DeploymentNumber>,
    /// The newest deployment that failed to load, and why. Not retried: the same code
    /// would fail the same way; a new deployment is the fix.
    pub load_failed: Option<(DeploymentNumber, String)>,
    /// When the running instance failed, or the configured deployment failed to load.
    pub failed_at: Option<Millis>,
    /// A deployment whose automatic rollback this node could not make, and why.
    pub rollback_refused: Option<(DeploymentNumber, String)>,
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
        if instance.running == Some(number)
            || instance.loading == Some(number)
            || instance.load_failed.as_ref().is_some_and(|(n, _)| *n == number)
        {
            return;
        }
        match version {
            None => {
                if instance.running.take().is_some() || instance.loading.take().is_some() {
                    self.out.push(Output::Unload {
                        module: module.clone(),
                    });
                    self.out.push(Output::Event(Event::Stopped {
                        module: module.clone(),
                    }));
                }
                instance.failed = None;
                instance.failed_at = None;
                instance.running = None;
            }
            Some(version) if self.code.contains(&version) => {
                instance.loading = Some(number);
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
                    .filter(|r| r.number < number && r.version.is_some_and(|v| self.code.contains(&v)))
                    .cloned();
                if let Some(last) = fallback {
                    if instance.running.is_none() && instance.loading.is_none() {
                        instance.loading = Some(last.number);
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
        if instance.running.is_some_and(|r| r > number) {
            return; // a late answer for an older load: never move back
        }
        if instance.loading == Some(number) {
            instance.loading = None;
        }
        let started = instance.running != Some(number);
        instance.running = Some(number);
        instance.failed = None;
        instance.failed_at = None;
        if instance.load_failed.as_ref().is_some_and(|(n, _)| *n <= number) {
            instance.load_failed = None;
        }
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
        let instance = self.instances.entry(module.clone()).or_default();
        if instance.loading == Some(number) {
            instance.loading = None;
        }
        let version = self
            .config
            .get(&module)
            .filter(|d| d.number == number)
            .and_then(|d| d.version);
        if version.is_some_and(|v| !self.code.contains(&v)) {
            // The code is gone from the store (it could not be written): no verdict on
            // the code. It is fetched again, and loaded when it is here.
            self.reconcile(&module);
            return;
        }
        self.metrics.load_failures += 1;
        instance.load_failed = Some((number, reason.clone()));
        instance.failed_at = Some(self.now);
        self.emit(Event::LoadFailed {
            module: module.clone(),
            number,
            reason,
        });
        self.reconcile(&module);
    }

    pub(crate) fn module_failed(&mut self, module: ModuleName, number: DeploymentNumber, reason: String) {
        let instance = self.instances.entry(module.clone()).or_default();
        if instance.running == Some(number) && instance.failed.is_none() {
            self.metrics.module_failures += 1;
            instance.failed = Some(reason.clone());
            instance.failed_at = Some(self.now);
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
        instance.running == Some(number) && instance.failed.is_none() && !self.superseded(module, instance)
    }

    /// A newer deployment is configured and hasn't failed to load.
    fn superseded(&self, module: &ModuleName, instance: &Instance) -> bool {
        let Some(wanted) = self.config.number(module) else {
            return false;
        };
        instance.running.is_some_and(|r| r < wanted)
            && instance.load_failed.as_ref().is_none_or(|(n, _)| *n != wanted)
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
        let Some(running) = self.instances.get(&module).and_then(|i| i.running) else {
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
                let state = self.state_of(d, &instance);
                ModuleStatus {
                    deployment: d.clone(),
                    running: instance.running,
                    state,
                    auto_rollback: self.auto_rollback_status(d),
                }
            })
            .collect()
    }

    fn state_of(&self, d: &Deployment, instance: &Instance) -> ModuleState {
        let Some(version) = d.version else {
            return ModuleState::Stopped;
        };
        if let Some((n, reason)) = &instance.load_failed {
            if *n == d.number {
                return ModuleState::LoadFailed {
                    reason: reason.clone(),
                };
            }
        }
        if instance.running == Some(d.number) {
            return match &instance.failed {
                Some(reason) => ModuleState::Failed {
                    reason: reason.clone(),
                },
                None => ModuleState::Running,
            };
        }
        if self.has_code(&version) {
            ModuleState::Loading
        } else {
            ModuleState::Fetching
        }
    }

    /// The deployment running for a module, if its instance is alive.
    pub fn running(&self, module: &ModuleName) -> Option<DeploymentNumber> {
        let instance = self.instances.get(module)?;
        instance.failed.is_none().then_some(instance.running).flatten()
    }

    /// The code version of the deployment running for a module.
    pub fn running_version(&self, module: &ModuleName) -> Option<CodeVersion> {
        let d = self.config.get(module)?;
        (self.running(module) == Some(d.number))
            .then_some(d.version)
            .flatten()
    }
}
