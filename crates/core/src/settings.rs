//! Tunables of the core, with the defaults the daemon uses.

use crate::deployment::Millis;
use crate::envelope::DEFAULT_MAX_ENVELOPE_BYTES;
use crate::ids::PeerAddr;

/// How the core behaves; every timer is here, none is hidden in code.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often backup gossip exchanges configuration with one random peer. Slower than
    /// module gossip: it is the path of last resort.
    pub backup_interval_ms: Millis,
    /// Answers to one peer (records, requests, summaries) go out at most this often per
    /// kind, so a flooding peer can't make the core amplify its traffic.
    pub reply_cooldown_ms: Millis,
    /// Wait before retrying a failed code download.
    pub fetch_retry_ms: Millis,
    /// A download the driver hasn't reported after this long counts as failed.
    pub fetch_timeout_ms: Millis,
    /// Cap on an encoded envelope, both ways.
    pub max_envelope_bytes: usize,
    /// How many overheard addresses to keep for backup gossip.
    pub max_hints: usize,
    /// Static rendezvous nodes: backup gossip's peers when nothing else is known.
    pub rendezvous: Vec<PeerAddr>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            backup_interval_ms: 1000,
            reply_cooldown_ms: 100,
            fetch_retry_ms: 250,
            fetch_timeout_ms: 10_000,
            max_envelope_bytes: DEFAULT_MAX_ENVELOPE_BYTES,
            max_hints: 64,
            rendezvous: Vec::new(),
        }
    }
}
