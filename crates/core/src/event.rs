//! What happened in the core, as outputs ([`crate::Output::Event`]): deployments
//! adopted or refused, code fetched, instances started, failed, rolled back, peers
//! unreachable. The daemon's log lines and its event stream come from here, one place;
//! the simulator counts them.

use std::fmt;

use serde::Serialize;

use crate::deployment::{CodeVersion, Deployment, DeploymentNumber};
use crate::ids::{ModuleName, PeerAddr};

/// How much an operator should care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Something changed, as it should.
    Info,
    /// Something was refused or failed; the node carries on.
    Warn,
}

/// One thing that happened in the core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A deployment was adopted here: made through this node's API, or heard from a
    /// peer (`from`).
    DeploymentAdopted {
        /// The record.
        deployment: Deployment,
        /// The peer it came from, if any.
        from: Option<PeerAddr>,
    },
    /// A deployment record was refused (no trusted key signed it, its number is too
    /// far ahead, it breaks the limits, or it was stored and no longer verifies).
    /// Refusals from one peer are reported once; the rest are counted.
    DeploymentRefused {
        /// The module it claimed.
        module: ModuleName,
        /// The number it claimed.
        number: DeploymentNumber,
        /// Who sent it (`None`: the data directory).
        from: Option<PeerAddr>,
        /// Why.
        reason: String,
    },
    /// Code arrived and hashes to its version.
    CodeFetched {
        /// The version.
        version: CodeVersion,
    },
    /// Code could not be stored (a full disk): it is fetched again later.
    CodeStoreFailed {
        /// The version.
        version: CodeVersion,
    },
    /// A deployment's instance started here.
    Started {
        /// The module.
        module: ModuleName,
        /// The deployment.
        number: DeploymentNumber,
    },
    /// A deployment could not be loaded here; the previous instance, if any, runs on.
    LoadFailed {
        /// The module.
        module: ModuleName,
        /// The deployment.
        number: DeploymentNumber,
        /// Why.
        reason: String,
    },
    /// A running instance failed (trap, fuel, memory, flood, budget).
    Failed {
        /// The module.
        module: ModuleName,
        /// The deployment.
        number: DeploymentNumber,
        /// Why.
        reason: String,
    },
    /// A module stopped: a deployment with no code.
    Stopped {
        /// The module.
        module: ModuleName,
    },
    /// This node rolled a failing deployment back under its policy.
    RolledBack {
        /// The module.
        module: ModuleName,
        /// The deployment that failed.
        failed: DeploymentNumber,
        /// Why it failed.
        reason: String,
        /// The new deployment of the old code.
        to: Deployment,
    },
    /// A deployment's policy asked for a rollback this node can't make.
    RollbackRefused {
        /// The module.
        module: ModuleName,
        /// The deployment that failed.
        failed: DeploymentNumber,
        /// Why it can't.
        reason: String,
    },
    /// Gossip could not reach a peer; it is no longer a hint.
    PeerUnreachable {
        /// The peer.
        peer: PeerAddr,
    },
}

impl Event {
    /// How much an operator should care.
    pub fn severity(&self) -> Severity {
        match self {
            Event::DeploymentRefused { .. }
            | Event::CodeStoreFailed { .. }
            | Event::LoadFailed { .. }
            | Event::Failed { .. }
            | Event::RolledBack { .. }
            | Event::RollbackRefused { .. } => Severity::Warn,
            _ => Severity::Info,
        }
    }

    /// The module it is about, if any.
    pub fn module(&self) -> Option<&ModuleName> {
        match self {
            Event::DeploymentAdopted { deployment, .. } => Some(&deployment.module),
            Event::DeploymentRefused { module, .. }
            | Event::Started { module, .. }
            | Event::LoadFailed { module, .. }
            | Event::Failed { module, .. }
            | Event::Stopped { module }
            | Event::RolledBack { module, .. }
            | Event::RollbackRefused { module, .. } => Some(module),
            Event::CodeFetched { .. } | Event::CodeStoreFailed { .. } | Event::PeerUnreachable { .. } => None,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let version = |v: &Option<CodeVersion>| v.map_or_else(|| "stopped".to_string(), |v| v.short());
        match self {
            Event::DeploymentAdopted { deployment: d, from } => {
                write!(f, "module {}: adopted deployment {} ({})", d.module, d.number, version(&d.version))?;
                match from {
                    Some(peer) => write!(f, " from {peer}"),
                    None => write!(f, " made here"),
                }
            }
            Event::DeploymentRefused {
                module,
                number,
                from,
                reason,
            } => {
                write!(f, "module {module}: refused deployment {number}: {reason}")?;
                match from {
                    Some(peer) => write!(f, " (from {peer}; further refusals from it are only counted)"),
                    None => write!(f, " (stored in the data directory; dropped)"),
                }
            }
            Event::CodeFetched { version } => write!(f, "code {} fetched and checked", version.short()),
            Event::CodeStoreFailed { version } => write!(
                f,
                "code {} could not be stored; fetching it again later, what runs keeps running",
                version.short()
            ),
            Event::Started { module, number } => write!(f, "module {module}: deployment {number} running"),
            Event::LoadFailed {
                module,
                number,
                reason,
            } => write!(f, "module {module}: deployment {number} failed to load: {reason}"),
            Event::Failed {
                module,
                number,
                reason,
            } => write!(f, "module {module}: deployment {number} failed: {reason}"),
            Event::Stopped { module } => write!(f, "module {module}: stopped"),
            Event::RolledBack {
                module,
                failed,
                reason,
                to,
            } => write!(
                f,
                "module {module}: deployment {failed} failed here ({reason}) and stayed failed; rolled back to {} as deployment {}",
                version(&to.version),
                to.number
            ),
            Event::RollbackRefused { module, failed, reason } => write!(
                f,
                "module {module}: deployment {failed} failed here but cannot be rolled back automatically: {reason}"
            ),
            Event::PeerUnreachable { peer } => write!(f, "peer {peer} unreachable; no longer a hint"),
        }
    }
}
