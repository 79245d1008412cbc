//! Automatic rollback, for what no peer has: a deployment whose policy says so
//! (`auto_rollback_ms`) and whose instance fails here — a trap, an endless loop, its
//! budget — and stays failed that long is rolled back by this node itself: a new
//! deployment of the version it replaced, with the same params and budget and no
//! policy of its own (so two bad versions can't roll back into each other forever).
//! Every node where it fails issues the same old code, so whichever of their numbers
//! is highest, the cluster converges on that code.

use serde::Serialize;

use crate::deployment::{CodeVersion, Deployment, Millis};
use crate::event::Event;
use crate::io::DeploySpec;
use crate::node::Core;

/// A module's rollback policy as status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoRollbackStatus {
    /// How long the deployment may stay failed here.
    pub after_ms: Millis,
    /// The version a rollback would deploy (the one this deployment replaced).
    pub to: Option<CodeVersion>,
    /// When this node will roll back, if the deployment is failed here now.
    pub due_at: Option<Millis>,
    /// Why this node could not roll back, if it tried.
    pub refused: Option<String>,
}

impl Core {
    /// Since when the configured deployment of `d.module` has been failed here (its
    /// instance failed, or it failed to load).
    fn failing_since(&self, d: &Deployment) -> Option<Millis> {
        self.instances.get(&d.module)?.failing_since(d.number)
    }

    /// When `d`'s policy will roll it back here, if it is failed and not refused.
    fn rollback_due(&self, d: &Deployment) -> Option<Millis> {
        let after = d.auto_rollback_ms?;
        if self
            .instances
            .get(&d.module)?
            .rollback_refused(d.number)
            .is_some()
        {
            return None;
        }
        Some(self.failing_since(d)?.saturating_add(after))
    }

    /// The earliest automatic rollback due, for `poll_timeout`.
    pub(crate) fn next_rollback_at(&self) -> Option<Millis> {
        self.config.iter().filter_map(|d| self.rollback_due(d)).min()
    }

    /// Rolls back every module whose policy's time has come.
    pub(crate) fn apply_rollback_policies(&mut self) {
        let due: Vec<Deployment> = self
            .config
            .iter()
            .filter(|d| self.rollback_due(d).is_some_and(|at| at <= self.now))
            .cloned()
            .collect();
        for d in due {
            self.auto_rollback(d);
        }
    }

    fn auto_rollback(&mut self, failed: Deployment) {
        let module = failed.module.clone();
        let reason = self
            .instances
            .get(&module)
            .and_then(|i| i.failure())
            .unwrap_or_default();
        let result = match failed.previous {
            None => Err("the deployment replaced no earlier version".to_string()),
            Some(previous) => {
                let spec = DeploySpec {
                    params: failed.params.clone(),
                    budget: failed.budget.clone(),
                    auto_rollback_ms: None,
                };
                self.issue(module.clone(), Some(previous), spec)
                    .map_err(|e| e.to_string())
            }
        };
        match result {
            Ok(rollback) => {
                self.metrics.auto_rollbacks += 1;
                self.emit(Event::RolledBack {
                    module,
                    failed: failed.number,
                    reason,
                    to: rollback,
                });
            }
            Err(why) => {
                if let Some(instance) = self.instances.get_mut(&module) {
                    instance.refuse_rollback(failed.number, why.clone());
                }
                self.emit(Event::RollbackRefused {
                    module,
                    failed: failed.number,
                    reason: why,
                });
            }
        }
    }

    /// The rollback policy of a configured deployment, for status.
    pub(crate) fn auto_rollback_status(&self, d: &Deployment) -> Option<AutoRollbackStatus> {
        let after_ms = d.auto_rollback_ms?;
        let refused = self
            .instances
            .get(&d.module)
            .and_then(|i| i.rollback_refused(d.number))
            .map(str::to_string);
        Some(AutoRollbackStatus {
            after_ms,
            to: d.previous,
            due_at: self.rollback_due(d),
            refused,
        })
    }
}
