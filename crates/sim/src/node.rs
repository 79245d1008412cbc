//! One simulated node: its core in the shared driver loop, the modules it hosts, and
//! what it keeps on its "disk" (the configuration and what last ran), from which a
//! crashed node restarts.

use std::collections::BTreeMap;

use hearsay_core::{Configuration, Deployment, DeploymentNumber, Driver, Millis, ModuleName};

use crate::modules::NodeModules;

/// What a node persisted: what it restarts from.
#[derive(Debug, Clone, Default)]
pub struct Disk {
    /// The configuration last persisted.
    pub configuration: Configuration,
    /// The deployments that last ran.
    pub ran: Vec<Deployment>,
}

/// One simulated node.
pub struct SimNode {
    /// Its core and module round clock.
    pub driver: Driver,
    /// Its module instances.
    pub modules: NodeModules,
    /// What it persisted.
    pub disk: Disk,
    /// The pending wake-up (a stale one in the queue is ignored).
    pub(crate) wake_at: Option<Millis>,
    /// The highest deployment of each module this node ever loaded.
    pub max_loaded: BTreeMap<ModuleName, DeploymentNumber>,
    /// When it first loaded the tracked deployment.
    pub reached_at: Option<Millis>,
}
