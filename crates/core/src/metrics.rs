//! Counters the core keeps about itself: what came in, what went out, what was dropped
//! and why. Drivers export them (Prometheus text in the daemon, totals in the simulator).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::envelope::EnvelopeError;

/// Why the core dropped something it received or was asked to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Shorter than an envelope's framing.
    Truncated,
    /// Over the size cap (incoming or outgoing).
    Oversized,
    /// Unknown wire format.
    UnsupportedFormat,
    /// Checksum mismatch: a flipped bit.
    Corrupt,
    /// Not a well-formed envelope.
    Malformed,
    /// An envelope claiming to come from this very node.
    FromSelf,
    /// A module payload whose deployment number differs from the instance we run.
    VersionMismatch,
    /// A module payload for a module that is not running here (stopped, failed, loading).
    ModuleNotRunning,
    /// A send from a module instance that a newer deployment has superseded.
    SupersededSend,
    /// A deployment record breaking limits, or clashing with ours under the same number.
    BadRecord,
    /// Downloaded code whose sha256 is not the version it was fetched as.
    CodeHashMismatch,
    /// An envelope not authenticated by the cluster key.
    Unauthenticated,
    /// An authentic envelope outside the replay window.
    Replayed,
    /// A deployment record not signed by a trusted key.
    Untrusted,
    /// A module payload from a peer over the module's receive budget.
    ReceiveBudget,
    /// A deployment number too far ahead of this node's clock.
    FutureNumber,
}

impl DropReason {
    /// Every reason, for exporting a zero for each.
    pub const ALL: [DropReason; 16] = [
        DropReason::Truncated,
        DropReason::Oversized,
        DropReason::UnsupportedFormat,
        DropReason::Corrupt,
        DropReason::Malformed,
        DropReason::FromSelf,
        DropReason::VersionMismatch,
        DropReason::ModuleNotRunning,
        DropReason::SupersededSend,
        DropReason::BadRecord,
        DropReason::CodeHashMismatch,
        DropReason::Unauthenticated,
        DropReason::Replayed,
        DropReason::Untrusted,
        DropReason::ReceiveBudget,
        DropReason::FutureNumber,
    ];

    /// The Prometheus label / JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::Oversized => "oversized",
            DropReason::UnsupportedFormat => "unsupported_format",
            DropReason::Corrupt => "corrupt",
            DropReason::Malformed => "malformed",
            DropReason::FromSelf => "from_self",
            DropReason::VersionMismatch => "version_mismatch",
            DropReason::ModuleNotRunning => "module_not_running",
            DropReason::SupersededSend => "superseded_send",
            DropReason::BadRecord => "bad_record",
            DropReason::CodeHashMismatch => "code_hash_mismatch",
            DropReason::Unauthenticated => "unauthenticated",
            DropReason::Replayed => "replayed",
            DropReason::Untrusted => "untrusted",
            DropReason::ReceiveBudget => "receive_budget",
            DropReason::FutureNumber => "future_number",
        }
    }
}

impl From<EnvelopeError> for DropReason {
    fn from(e: EnvelopeError) -> Self {
        match e {
            EnvelopeError::Truncated => DropReason::Truncated,
            EnvelopeError::Oversized => DropReason::Oversized,
            EnvelopeError::UnsupportedFormat => DropReason::UnsupportedFormat,
            EnvelopeError::Corrupt => DropReason::Corrupt,
            EnvelopeError::Malformed => DropReason::Malformed,
            EnvelopeError::Unauthenticated => DropReason::Unauthenticated,
            EnvelopeError::Replayed => DropReason::Replayed,
        }
    }
}

/// Running totals since the core started.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metrics {
    /// Envelopes received (valid or not).
    pub envelopes_in: u64,
    /// Envelopes sent.
    pub envelopes_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Bytes sent that were the core's and not a module's: envelope headers around
    /// module payloads plus every core message (summaries, records, requests).
    pub core_bytes_out: u64,
    /// Envelopes sent that carried a module's payload.
    pub module_envelopes_out: u64,
    /// The module payload bytes in them.
    pub module_payload_bytes_out: u64,
    /// The rest of them: the core's piggyback (sender, address, digest, module,
    /// deployment number) and the seal — what the core adds to a module's gossip.
    pub piggyback_bytes_out: u64,
    /// Module payloads delivered.
    pub delivered: u64,
    /// Deployments adopted from the network or the API.
    pub deployments_adopted: u64,
    /// Summaries sent by backup gossip.
    pub backup_exchanges: u64,
    /// Code downloads started.
    pub fetches_started: u64,
    /// Code downloads that failed (peer lacked it, timeout, bad hash).
    pub fetches_failed: u64,
    /// Module loads asked of the driver.
    pub loads: u64,
    /// Module loads that failed.
    pub load_failures: u64,
    /// Module instances that failed while running.
    pub module_failures: u64,
    /// Records pushed to peers right after a change (news spread at once).
    pub pushes: u64,
    /// Peers the driver reported unreachable (forgotten as hints).
    pub peers_unreachable: u64,
    /// Rollbacks this node made under a deployment's automatic rollback policy.
    pub auto_rollbacks: u64,
    /// Records of the restored configuration dropped at start: they broke the limits
    /// or no trusted key signed them (the file was edited, or the keys changed).
    pub rejected_at_start: u64,
    /// Code the driver could not store (a full disk): fetched again later.
    pub store_failures: u64,
    /// Drops by reason.
    pub drops: BTreeMap<DropReason, u64>,
}

impl Metrics {
    /// Counts one drop.
    pub fn drop(&mut self, reason: DropReason) {
        *self.drops.entry(reason).or_default() += 1;
    }

    /// Drops counted for `reason`.
    pub fn drops_for(&self, reason: DropReason) -> u64 {
        self.drops.get(&reason).copied().unwrap_or(0)
    }
}
