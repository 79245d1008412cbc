//! The actor's side of the management API: operators' commands go to the core
//! (`deploy`, `rollback`, `stop`), queries and commands to the module host, and status and
//! metrics are read from both.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use hearsay_core::{CodeVersion, Deployment, ModuleName, Output};

use crate::actor::Actor;
use crate::api_error::ApiError;
use crate::api_types::{ModuleReport, PeersReport, StatusReport};
use crate::error_kind::ErrorKind;
use crate::inbox::ApiCall;
use crate::metrics::MetricsSnapshot;
use crate::now_ms;

/// Shortest prefix of a code version accepted by rollback.
const MIN_PREFIX: usize = 8;

impl Actor {
    pub(crate) fn api(&mut self, call: ApiCall) {
        let now = now_ms();
        match call {
            ApiCall::Status(reply) => {
                let _ = reply.send(self.status());
            }
            ApiCall::Metrics(reply) => {
                let _ = reply.send(self.metrics_snapshot());
            }
            ApiCall::Deploy {
                module,
                wasm,
                spec,
                reply,
            } => {
                // The code is stored before anything is adopted: a deployment whose
                // code exists nowhere must never spread.
                let result = self.store_first(&wasm).and_then(|()| {
                    self.driver
                        .core_mut()
                        .deploy(now, module, wasm, spec)
                        .map_err(ApiError::from)
                });
                let _ = reply.send(self.command(now, "deploy", result));
            }
            ApiCall::Rollback { module, to, reply } => {
                let result = match to.as_deref().map(|t| self.resolve_version(t)).transpose() {
                    Ok(to) => self
                        .driver
                        .core_mut()
                        .rollback(now, module, to)
                        .map_err(ApiError::from),
                    Err(e) => Err(e),
                };
                let _ = reply.send(self.command(now, "rollback", result));
            }
            ApiCall::Stop { module, reply } => {
                let result = self.driver.core_mut().stop(now, module).map_err(ApiError::from);
                let _ = reply.send(self.command(now, "stop", result));
            }
            ApiCall::Next { module, reply } => {
                let report = crate::api_types::NextReport {
                    number: self.driver.core().next_number(now, &module),
                    current: self.driver.core().configuration().get(&module).cloned(),
                };
                let _ = reply.send(report);
            }
            ApiCall::DeployRecord { record, wasm, reply } => {
                let stored = match &wasm {
                    Some(wasm) if record.version == Some(CodeVersion::of(wasm)) => self.store_first(wasm),
                    _ => Ok(()),
                };
                let result = stored.and_then(|()| {
                    self.driver
                        .core_mut()
                        .deploy_record(now, record.clone(), wasm)
                        .map(|outputs| (record, outputs))
                        .map_err(ApiError::from)
                });
                let _ = reply.send(self.command(now, "deploy-record", result));
            }
            ApiCall::Query { module, args, reply } => {
                let (answer, inputs) = self.fx.modules.query(&module, &args);
                let _ = reply.send(answer);
                self.feed_all(inputs);
            }
            ApiCall::Leave { reply } => {
                // Replied once what the modules said goodbye with is with the sender.
                let inputs = self.fx.modules.leave();
                self.feed_all(inputs);
                let _ = reply.send(());
            }
            ApiCall::Command { module, args, reply } => {
                let (answer, inputs) = self.fx.modules.command(&module, &args);
                let _ = reply.send(answer);
                self.feed_all(inputs);
            }
            ApiCall::Rendezvous(addrs) => {
                let bootstrap = crate::rendezvous::bootstrap_peers(&addrs);
                self.driver.core_mut().set_rendezvous(addrs.clone());
                self.rendezvous = addrs;
                self.fx.modules.set_bootstrap(bootstrap);
            }
        }
    }

    /// Stores deployed code before the core hears of it; a refusal (a full disk) is
    /// the API's answer, and nothing changes.
    fn store_first(&self, wasm: &[u8]) -> Result<(), ApiError> {
        self.fx
            .store_code(&CodeVersion::of(wasm), wasm, false)
            .map_err(|e| {
                let (status, kind) = if e.is_disk_full() {
                    (StatusCode::INSUFFICIENT_STORAGE, ErrorKind::DiskFull)
                } else {
                    (StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::StoreFailed)
                };
                ApiError::new(
                    status,
                    kind,
                    format!(
                        "cannot store the code ({e}); nothing was deployed, the running version is untouched"
                    ),
                )
            })
    }

    /// Carries out an accepted command's outputs.
    fn command(
        &mut self,
        now: u64,
        what: &str,
        result: Result<(Deployment, Vec<Output>), ApiError>,
    ) -> Result<Deployment, ApiError> {
        let (deployment, outputs) = result?;
        tracing::info!(command = what, deployment = ?deployment, "operator command");
        self.apply(now, outputs);
        Ok(deployment)
    }

    /// A code version from 64 hex digits, or from a unique prefix among stored code.
    fn resolve_version(&self, text: &str) -> Result<CodeVersion, ApiError> {
        let text = text.trim().trim_start_matches('v').to_ascii_lowercase();
        if let Ok(v) = text.parse::<CodeVersion>() {
            return Ok(v);
        }
        if text.len() < MIN_PREFIX || !text.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ApiError::bad(
                ErrorKind::BadVersion,
                format!("a code version is 64 hex digits or a prefix of at least {MIN_PREFIX}, not {text:?}"),
            ));
        }
        let mut matches = self
            .fx
            .store
            .versions()
            .into_iter()
            .filter(|v| v.to_hex().starts_with(&text));
        match (matches.next(), matches.next()) {
            (Some(v), None) => Ok(v),
            (None, _) => Err(ApiError::bad(
                ErrorKind::CodeMissing,
                format!("no code in this node's store starts with {text}"),
            )),
            (Some(_), Some(_)) => Err(ApiError::bad(
                ErrorKind::BadVersion,
                format!("{text} matches more than one stored version"),
            )),
        }
    }

    pub(crate) fn status(&self) -> StatusReport {
        let mut usage = self.fx.modules.usage();
        let core = self.driver.core();
        let modules = core
            .status()
            .iter()
            .map(|s| {
                let module = &s.deployment.module;
                let adopted = at(&self.fx.adopted_at, module, s.deployment.number);
                let since = s.running.and_then(|n| at(&self.fx.running_since, module, n));
                let mut report = ModuleReport::new(s, adopted, since, usage.remove(module));
                if s.running.is_some() {
                    let (tier, optimized_at) = self.fx.modules.tier(module);
                    report.tier = tier.map(|t| t.name().to_string());
                    report.optimized_at_ms = optimized_at;
                }
                report
            })
            .collect();
        StatusReport {
            node_id: core.id().to_string(),
            gossip_addr: core.addr().to_string(),
            api_addr: self.api_addr.to_string(),
            digest: core.configuration().digest().to_string(),
            now_ms: now_ms(),
            modules,
            peers: PeersReport {
                rendezvous: self.rendezvous.iter().map(ToString::to_string).collect(),
                hints: core.hints().iter().map(ToString::to_string).collect(),
            },
            security: self.security.clone(),
            labels: self.labels.clone(),
        }
    }

    fn metrics_snapshot(&self) -> MetricsSnapshot {
        let mut module_states = BTreeMap::new();
        for m in self.status().modules {
            *module_states.entry(m.state).or_default() += 1;
        }
        MetricsSnapshot {
            core: self.driver.core().metrics().clone(),
            host: self.fx.modules.metrics(),
            usage: self.fx.modules.usage(),
            module_states,
            hints: self.driver.core().hints().len(),
        }
    }
}

fn at<N: PartialEq + Copy>(
    map: &BTreeMap<ModuleName, (N, u64)>,
    module: &ModuleName,
    number: N,
) -> Option<u64> {
    map.get(module).filter(|(n, _)| *n == number).map(|(_, t)| *t)
}
