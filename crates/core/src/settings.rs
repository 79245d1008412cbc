//! Tunables of the core, with the defaults the daemon uses.

use ed25519_dalek::SigningKey;

use crate::budget::Budget;
use crate::deployment::Millis;
use crate::envelope::{ClusterKey, Seal, DEFAULT_MAX_ENVELOPE_BYTES};
use crate::ids::PeerAddr;
use crate::trust::TrustedKeys;

/// How the core behaves; every timer is here, none is hidden in code.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often backup gossip exchanges configuration with one random peer. Slower than
    /// module gossip: it is the path of last resort. While nothing disagrees the interval
    /// doubles after each exchange, up to `backup::QUIET_BACKOFF` times this.
    pub backup_interval_ms: Millis,
    /// Answers to one peer (records, requests, summaries) go out at most this often per
    /// kind, so a flooding peer can't make the core amplify its traffic.
    pub reply_cooldown_ms: Millis,
    /// Wait before retrying a failed code download.
    pub fetch_retry_ms: Millis,
    /// A download the driver hasn't reported after this long counts as failed.
    pub fetch_timeout_ms: Millis,
    /// Wait before fetching again code the driver could not store (a full disk).
    pub store_retry_ms: Millis,
    /// Cap on an encoded envelope, both ways.
    pub max_envelope_bytes: usize,
    /// How many overheard addresses to keep for backup gossip.
    pub max_hints: usize,
    /// Static rendezvous nodes: backup gossip's peers when nothing else is known.
    pub rendezvous: Vec<PeerAddr>,
    /// Deployment keys whose signatures this node accepts; empty = insecure (accepts
    /// unsigned records).
    pub trusted_keys: TrustedKeys,
    /// A key this node signs its own deployments with (API deploys without a
    /// pre-signed record). Without it, a secure node only takes signed records.
    pub signing_key: Option<SigningKey>,
    /// The cluster key: when set, every envelope is authenticated with it.
    pub cluster_key: Option<ClusterKey>,
    /// With a cluster key, envelopes sent further than this from `now` are refused.
    pub replay_window_ms: Millis,
    /// When the configuration changes, the new records are pushed to this many random
    /// peers at once, and again in each of the next `push_rounds` rounds.
    pub push_fanout: usize,
    /// Short rounds of pushing after a change, before backup gossip's slow interval.
    pub push_rounds: u32,
    /// The interval of those rounds.
    pub push_interval_ms: Millis,
    /// The budget of a module whose deployment doesn't override it.
    pub budget: Budget,
    /// A deployment number further than this ahead of this node's clock is refused,
    /// whoever signed it: nothing could ever deploy above a number near the end of
    /// time, so one such record would freeze its module for good.
    pub max_future_ms: Millis,
}

impl Settings {
    /// How envelopes are sealed under these settings.
    pub fn seal(&self) -> Seal {
        match &self.cluster_key {
            Some(key) => Seal::Mac {
                key: key.clone(),
                window_ms: self.replay_window_ms,
            },
            None => Seal::Checksum,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            backup_interval_ms: 1000,
            reply_cooldown_ms: 100,
            fetch_retry_ms: 250,
            fetch_timeout_ms: 10_000,
            store_retry_ms: 5_000,
            max_envelope_bytes: DEFAULT_MAX_ENVELOPE_BYTES,
            max_hints: 64,
            rendezvous: Vec::new(),
            trusted_keys: TrustedKeys::default(),
            signing_key: None,
            cluster_key: None,
            replay_window_ms: 60_000,
            push_fanout: 3,
            push_rounds: 3,
            push_interval_ms: 100,
            budget: Budget::default(),
            max_future_ms: 3_600_000,
        }
    }
}
