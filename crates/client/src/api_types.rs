//! The JSON documents of the management API, shared by the server, the client and the
//! CLI. They are the stable interface (`hearsay status --json` prints a
//! [`StatusReport`]); fields are only ever added.

use serde::{Deserialize, Serialize};

use hearsay_core::{Deployment, ModuleState, ModuleStatus};

/// `POST /deploy`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeployRequest {
    /// The module name.
    pub module: String,
    /// The WebAssembly code, base64 (standard alphabet, padded).
    pub wasm_base64: String,
    /// Params handed to the module at start: a JSON string, or any JSON value (sent
    /// on as its text). Absent: the module's defaults.
    #[serde(default)]
    pub params: Option<serde_json::Value>,
    /// What the module may consume where it differs from the node's defaults, e.g.
    /// `{"messages_per_s": 100, "fuel_per_s": 50000000}` (keys: docs/module-abi.md).
    #[serde(default)]
    pub budget: Option<std::collections::BTreeMap<String, u64>>,
    /// Roll back automatically when this deployment stays failed this long here.
    #[serde(default)]
    pub auto_rollback_ms: Option<u64>,
}

impl DeployRequest {
    /// A request for `wasm` with `params`, the node's default budget and no automatic
    /// rollback.
    pub fn new(module: &str, wasm: &[u8], params: Option<serde_json::Value>) -> Self {
        use base64::Engine as _;
        DeployRequest {
            module: module.to_string(),
            wasm_base64: base64::engine::general_purpose::STANDARD.encode(wasm),
            params,
            budget: None,
            auto_rollback_ms: None,
        }
    }
}

/// `POST /rollback`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RollbackRequest {
    /// The module name.
    pub module: String,
    /// The code version to go back to (64 hex digits, or a unique prefix of at least
    /// 8 among this node's stored code). Absent: the version the current deployment
    /// replaced.
    #[serde(default)]
    pub to: Option<String>,
}

/// `POST /stop`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StopRequest {
    /// The module name.
    pub module: String,
}

/// A deployment record as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeploymentInfo {
    /// The module.
    pub module: String,
    /// The code version (sha256 hex), `null` for a stopped module.
    pub version: Option<String>,
    /// The deployment number, `TIME_MS@ORIGIN`.
    pub number: String,
    /// The time part of the number (ms since the UNIX epoch at the origin).
    pub time_ms: u64,
    /// The node that made the deployment.
    pub origin: String,
    /// The version this deployment replaced at its origin.
    pub previous: Option<String>,
    /// The module's params.
    pub params: String,
    /// What the deployment changes of the node's default budget.
    #[serde(default)]
    pub budget: std::collections::BTreeMap<String, u64>,
    /// Its automatic rollback policy: the time it may stay failed, if set.
    #[serde(default)]
    pub auto_rollback_ms: Option<u64>,
}

impl From<&Deployment> for DeploymentInfo {
    fn from(d: &Deployment) -> Self {
        DeploymentInfo {
            module: d.module.to_string(),
            version: d.version.map(|v| v.to_hex()),
            number: d.number.to_string(),
            time_ms: d.number.time_ms,
            origin: d.number.origin.to_string(),
            previous: d.previous.map(|v| v.to_hex()),
            params: d.params.clone(),
            budget: d.budget.iter().map(|(k, v)| (k.to_string(), v)).collect(),
            auto_rollback_ms: d.auto_rollback_ms,
        }
    }
}

/// The answer to deploy, rollback and stop.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeployResponse {
    /// The new deployment; gossip spreads it from here.
    pub deployment: DeploymentInfo,
}

/// One module on one node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModuleReport {
    /// The configured (winning) deployment.
    pub deployment: DeploymentInfo,
    /// `running`, `fetching`, `loading`, `failed`, `load_failed` or `stopped`.
    pub state: String,
    /// Why, for `failed` and `load_failed`.
    pub reason: Option<String>,
    /// The deployment whose instance is loaded (it may be an older one while the
    /// configured one is fetched or loaded, or failed to load).
    pub running: Option<String>,
    /// When this node adopted the configured deployment (ms since the UNIX epoch),
    /// if it did so since it started.
    pub adopted_at_ms: Option<u64>,
    /// When the running instance was loaded (ms since the UNIX epoch).
    pub running_since_ms: Option<u64>,
    /// Which compiler made the running instance's code: `baseline` (Winch, while the
    /// optimised code is being compiled) or `optimized` (Cranelift).
    #[serde(default)]
    pub tier: Option<String>,
    /// When the running instance moved from baseline onto optimised code (ms since the
    /// UNIX epoch), if it started on baseline code.
    #[serde(default)]
    pub optimized_at_ms: Option<u64>,
    /// What the running instance consumed, and what its budget dropped.
    #[serde(default)]
    pub usage: Option<hearsay_core::budget::BudgetUsage>,
    /// The automatic rollback policy, if the deployment has one.
    #[serde(default)]
    pub auto_rollback: Option<AutoRollbackReport>,
}

/// A module's automatic rollback policy, as status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AutoRollbackReport {
    /// How long the deployment may stay failed here.
    pub after_ms: u64,
    /// The version a rollback deploys.
    pub to: Option<String>,
    /// When this node rolls back, if the deployment is failed here now.
    pub due_at_ms: Option<u64>,
    /// Why this node could not roll back, if it tried.
    pub refused: Option<String>,
}

impl ModuleReport {
    /// The report for a core's module status.
    pub fn new(
        status: &ModuleStatus,
        adopted_at_ms: Option<u64>,
        running_since_ms: Option<u64>,
        usage: Option<hearsay_core::budget::BudgetUsage>,
    ) -> Self {
        let (state, reason) = match &status.state {
            ModuleState::Running => ("running", None),
            ModuleState::Fetching => ("fetching", None),
            ModuleState::Loading => ("loading", None),
            ModuleState::Failed { reason } => ("failed", Some(reason.clone())),
            ModuleState::LoadFailed { reason } => ("load_failed", Some(reason.clone())),
            ModuleState::Stopped => ("stopped", None),
        };
        ModuleReport {
            deployment: DeploymentInfo::from(&status.deployment),
            state: state.to_string(),
            reason,
            running: status.running.map(|n| n.to_string()),
            adopted_at_ms,
            running_since_ms,
            tier: None,
            optimized_at_ms: None,
            usage,
            auto_rollback: status.auto_rollback.as_ref().map(|a| AutoRollbackReport {
                after_ms: a.after_ms,
                to: a.to.map(|v| v.to_hex()),
                due_at_ms: a.due_at,
                refused: a.refused.clone(),
            }),
        }
    }

    /// True when this node runs exactly the deployment `number`.
    pub fn runs(&self, number: &str) -> bool {
        self.state == "running" && self.deployment.number == number
    }
}

/// Peers a node knows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeersReport {
    /// The static rendezvous list.
    pub rendezvous: Vec<String>,
    /// Addresses overheard in gossip (backup gossip draws from these too).
    pub hints: Vec<String>,
}

/// `GET /status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusReport {
    /// This node's identity.
    pub node_id: String,
    /// The gossip address peers reach it at.
    pub gossip_addr: String,
    /// The management API address.
    pub api_addr: String,
    /// The configuration digest (equal digests: same deployments).
    pub digest: String,
    /// The node's clock (ms since the UNIX epoch) when it answered.
    pub now_ms: u64,
    /// Every configured module, by name.
    pub modules: Vec<ModuleReport>,
    /// Peers known.
    pub peers: PeersReport,
    /// Security: whether deployments must be signed, and by how many keys.
    pub security: SecurityReport,
    /// The node's labels (`--label KEY=VALUE`).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// What protects this node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecurityReport {
    /// False when the node accepts unsigned deployments (no trusted keys).
    pub secure: bool,
    /// How many deployment keys it trusts.
    pub trusted_keys: usize,
    /// Whether it can sign its own API deployments.
    pub signs_deployments: bool,
    /// Whether gossip is authenticated with a cluster key.
    pub cluster_key: bool,
    /// Whether gossip is encrypted (TLS with the cluster CA, both ways).
    #[serde(default)]
    pub tls: bool,
}

impl StatusReport {
    /// The report of one module.
    pub fn module(&self, name: &str) -> Option<&ModuleReport> {
        self.modules.iter().find(|m| m.deployment.module == name)
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
    /// A stable word for it, also the `reason` label of `hearsay_api_errors_total`.
    pub kind: String,
}

/// `GET /modules/{name}/next`: what an operator signs a new deployment against.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NextReport {
    /// The number a deployment made through this node now would get.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "1795694343076@0c6b70a1b2c3d4e5"))]
    pub number: hearsay_core::DeploymentNumber,
    /// The module's current deployment here, if any (its version becomes `previous`):
    /// the record as signed (see `hearsay_core::Deployment`).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub current: Option<hearsay_core::Deployment>,
}

/// `POST /v1/modules/{name}/command`: a state-changing call to a module (ABI v2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    /// The command's arguments (module-defined).
    #[serde(default)]
    pub args: String,
}

/// `POST /deploy-record`: a deployment record signed by an operator's key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeployRecordRequest {
    /// The signed record (as `GET /v1/modules/{name}/next`'s `current`, signed).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub record: hearsay_core::Deployment,
    /// Its code, base64, unless this node stores it already (a rollback).
    #[serde(default)]
    pub wasm_base64: Option<String>,
}
