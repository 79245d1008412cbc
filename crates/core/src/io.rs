//! What goes into the core and what comes out: the whole interface a driver (the
//! daemon, the simulator, a test) implements. Nothing else crosses the boundary.

use crate::configuration::Configuration;
use crate::deployment::{CodeVersion, Deployment, DeploymentNumber};
use crate::ids::{ModuleName, PeerAddr};

/// An event the driver hands to [`crate::Core::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Bytes arrived on the gossip listener: one encoded envelope.
    Receive {
        /// The envelope, as received. It may be anything.
        bytes: Vec<u8>,
    },
    /// A module instance asked to send `payload` to `to`.
    ModuleSend {
        /// The sending module.
        module: ModuleName,
        /// The peer's gossip address.
        to: PeerAddr,
        /// The module's bytes.
        payload: Vec<u8>,
    },
    /// Time passed: run due timers (backup gossip, fetch retries) and reconcile what
    /// runs with what is configured. Call it at [`crate::Core::poll_timeout`], or more often.
    Tick,
    /// A code download asked for by [`Output::FetchCode`] returned these bytes. The core
    /// checks them against the version before anything is stored or loaded.
    CodeFetched {
        /// The version asked for.
        version: CodeVersion,
        /// What came back.
        bytes: Vec<u8>,
    },
    /// Code asked for by [`Output::StoreCode`] could not be stored (a full disk): the
    /// core forgets it has it, keeps the running version, and fetches it again later.
    CodeStoreFailed {
        /// The version.
        version: CodeVersion,
    },
    /// A code download failed (peer lacks it, unreachable, timeout).
    CodeFetchFailed {
        /// The version asked for.
        version: CodeVersion,
        /// The peer asked.
        from: PeerAddr,
    },
    /// The driver loaded the deployment asked for by [`Output::Load`]; it now runs.
    Loaded {
        /// Which module.
        module: ModuleName,
        /// Which deployment now runs.
        number: DeploymentNumber,
    },
    /// The deployment could not be loaded; the previous instance (if any) still runs.
    LoadFailed {
        /// Which module.
        module: ModuleName,
        /// Which deployment failed.
        number: DeploymentNumber,
        /// Why, for status and logs.
        reason: String,
    },
    /// Sending to a peer failed at the transport: nothing listens there, or it did not
    /// answer. The core forgets it as a hint, so backup gossip stops trying it.
    PeerUnreachable {
        /// The peer's gossip address.
        peer: PeerAddr,
    },
    /// A running instance failed (trap, endless loop, memory, flood) and was dropped.
    ModuleFailed {
        /// Which module.
        module: ModuleName,
        /// Which deployment's instance.
        number: DeploymentNumber,
        /// Why, for status and logs.
        reason: String,
    },
}

/// An effect the core asks its driver to carry out, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send an encoded envelope to a peer's gossip address.
    Send {
        /// Where.
        to: PeerAddr,
        /// The encoded envelope.
        bytes: Vec<u8>,
        /// Whose traffic it is: the core's own goes first and has its own capacity.
        class: Traffic,
    },
    /// Hand a module's payload to its running instance — only if that instance still
    /// runs `number` (a driver that swaps instances on another thread may have
    /// swapped meanwhile: mismatched versions never see each other's payloads).
    Deliver {
        /// Which module.
        module: ModuleName,
        /// The deployment the payload was sent by, and that runs here.
        number: DeploymentNumber,
        /// The sender's gossip address (what the module answers to).
        from: PeerAddr,
        /// The payload.
        payload: Vec<u8>,
    },
    /// Download code by version from a peer and report with
    /// [`Input::CodeFetched`] or [`Input::CodeFetchFailed`].
    FetchCode {
        /// What to fetch.
        version: CodeVersion,
        /// From whom.
        from: PeerAddr,
    },
    /// Store verified code in the content-addressed store.
    StoreCode {
        /// Its version (already checked against the bytes).
        version: CodeVersion,
        /// The code.
        bytes: Vec<u8>,
    },
    /// Load this deployment (its code is stored), hand state over from the running
    /// instance where both support it, swap, and report [`Input::Loaded`] or
    /// [`Input::LoadFailed`].
    Load {
        /// What to run.
        deployment: Deployment,
    },
    /// Stop the module's instance: a deployment stopped it.
    Unload {
        /// Which module.
        module: ModuleName,
    },
    /// Something happened (adopted, refused, started, failed, rolled back, …): for the
    /// driver's log and event stream.
    Event(crate::event::Event),
    /// Write the configuration to stable storage, atomically, and the deployments
    /// that last ran: after a restart, a module whose configured code is missing runs
    /// its last one until the code is here again.
    Persist {
        /// The whole configuration.
        configuration: Configuration,
        /// Per module, the configured deployment that last ran here.
        ran: Vec<Deployment>,
    },
}

/// Whose traffic an envelope is. A driver keeps the core's own traffic — summaries,
/// records, requests — apart from modules' payloads and sends it first, so no module,
/// however busy, can queue a fix behind its own messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Traffic {
    /// The core's configuration gossip.
    Core,
    /// A module's payload.
    Module,
}

/// What an operator deploys besides the code: the module's params, its budget and its
/// rollback policy. A plain params string converts into one with the node's default
/// budget and no automatic rollback.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploySpec {
    /// Handed to the module's `init`.
    pub params: String,
    /// What the module may consume, where it differs from the node's defaults.
    pub budget: crate::budget::BudgetOverrides,
    /// See [`crate::Deployment::auto_rollback_ms`].
    pub auto_rollback_ms: Option<crate::deployment::Millis>,
}

impl From<String> for DeploySpec {
    fn from(params: String) -> Self {
        DeploySpec {
            params,
            ..DeploySpec::default()
        }
    }
}

impl From<&str> for DeploySpec {
    fn from(params: &str) -> Self {
        DeploySpec::from(params.to_string())
    }
}

/// Why an operator's command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Rollback of a module that was never deployed here.
    #[error("module {0} is not deployed")]
    UnknownModule(ModuleName),
    /// Rollback without a target and no previous version is known.
    #[error("module {0} has no previous version to roll back to; name one with --to")]
    NoPrevious(ModuleName),
    /// The code for the target version is not in this node's store.
    #[error("code {0} is not in this node's store; deploy it from a file instead")]
    CodeMissing(CodeVersion),
    /// Params over the limit.
    #[error("params are longer than {} bytes", crate::deployment::MAX_PARAMS_LEN)]
    ParamsTooLong,
    /// A pre-signed record breaking a limit (params, signature).
    #[error("{0}")]
    BadRecord(#[from] crate::deployment::RecordError),
    /// A pre-signed record whose number is too far ahead of this node's clock.
    #[error("deployment number {0} is more than {1} ms ahead of this node's clock")]
    FutureNumber(crate::deployment::DeploymentNumber, crate::deployment::Millis),
    /// This node trusts deployment keys and has none to sign with.
    #[error("this node accepts only signed deployments: sign it with a deployment key (--key)")]
    Unsigned,
    /// A pre-signed record was refused.
    #[error("{0}")]
    Untrusted(#[from] crate::trust::TrustError),
    /// A pre-signed record whose number is not above every number seen here.
    #[error("deployment number {0} is not above {1}, the highest seen for the module; ask for a new number")]
    StaleNumber(
        crate::deployment::DeploymentNumber,
        crate::deployment::DeploymentNumber,
    ),
    /// A pre-signed record whose code is neither given nor stored here.
    #[error("the code for version {0} was not sent and is not stored here")]
    CodeNotGiven(CodeVersion),
    /// A pre-signed record for code whose bytes don't hash to its version.
    #[error("the code sent does not hash to the record's version {0}")]
    CodeMismatch(CodeVersion),
}
