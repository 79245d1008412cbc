//! What an agent is told at start: where its data lives, where it listens, whom it
//! knows, how fast it gossips.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use ed25519_dalek::{SigningKey, VerifyingKey};
use hearsay_core::envelope::ClusterKey;

use crate::error::NodeError;
use crate::rendezvous::RendezvousEntry;
use crate::tls::TlsFiles;

/// The shortest API token accepted: a guessable token is no protection.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Everything `hearsay agent` needs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The data directory (node id, configuration, code store).
    pub data_dir: PathBuf,
    /// The gossip listener: envelopes in batches, code by hash.
    pub gossip: SocketAddr,
    /// The management listener (REST, JSON).
    pub api: SocketAddr,
    /// The gossip address peers reach this node at, when it differs from `gossip`
    /// (e.g. the listener is bound to 0.0.0.0).
    pub advertise: Option<SocketAddr>,
    /// Rendezvous nodes — addresses or DNS names, resolved at start and every
    /// `rendezvous_refresh_ms`: the modules' bootstrap peers and backup gossip's peers
    /// of last resort.
    pub rendezvous: Vec<RendezvousEntry>,
    /// How often rendezvous names are resolved again, in ms.
    pub rendezvous_refresh_ms: u64,
    /// Module gossip interval (one round), in ms.
    pub interval_ms: u64,
    /// Backup gossip interval, in ms.
    pub backup_interval_ms: u64,
    /// Compiled module code shared by the agents of this host (None: memory only).
    pub compile_cache: Option<PathBuf>,
    /// The executable that compiles module code in a process of its own
    /// (`EXE compile-module`, the `hearsay` binary); None: in the agent's process.
    pub compiler_process: Option<PathBuf>,
    /// New code runs first as the baseline compiler's, then moves onto optimised code.
    pub baseline_compile: bool,
    /// Deployment keys whose signatures this node accepts; none = insecure.
    pub trusted_keys: Vec<VerifyingKey>,
    /// A key to sign this node's own API deployments with.
    pub signing_key: Option<SigningKey>,
    /// The cluster key authenticating every envelope.
    pub cluster_key: Option<ClusterKey>,
    /// Bearer token the management API requires (mandatory off loopback).
    pub api_token: Option<String>,
    /// Names the management API answers to besides its own addresses (the `Host`
    /// header a client sends, e.g. a DNS name in front of it).
    pub api_hosts: Vec<String>,
    /// TLS for gossip (listener and requests to peers); None = clear text.
    pub tls: Option<TlsFiles>,
    /// Fraction of outgoing gossip batches dropped on purpose, to measure protocols
    /// under loss with real agents (0 in production).
    pub gossip_loss: f64,
    /// Delay added to every outgoing gossip batch, in ms: one-way latency between
    /// hosts, emulated by the sender where the kernel has no netem (0 in production).
    pub gossip_delay_ms: u64,
    /// The most that delay varies by either way, uniformly, in ms.
    pub gossip_jitter_ms: u64,
    /// Connections the gossip listener keeps open at once (the API keeps a quarter).
    pub max_connections: usize,
    /// Time a client has to send a request's headers — and how long a keep-alive
    /// connection may sit idle — on either listener, in ms.
    pub header_timeout_ms: u64,
    /// The node's labels (`--label KEY=VALUE`, e.g. `zone=/eu/r1`): shown in status and
    /// readable by modules (ABI v2 `labels`).
    pub labels: BTreeMap<String, String>,
}

impl AgentConfig {
    /// A configuration with the default intervals.
    pub fn new(data_dir: PathBuf, gossip: SocketAddr, api: SocketAddr) -> Self {
        AgentConfig {
            data_dir,
            gossip,
            api,
            advertise: None,
            rendezvous: Vec::new(),
            rendezvous_refresh_ms: 30_000,
            interval_ms: 200,
            backup_interval_ms: 1000,
            compile_cache: None,
            compiler_process: None,
            baseline_compile: true,
            trusted_keys: Vec::new(),
            signing_key: None,
            cluster_key: None,
            api_token: None,
            labels: BTreeMap::new(),
            api_hosts: Vec::new(),
            tls: None,
            gossip_loss: 0.0,
            gossip_delay_ms: 0,
            gossip_jitter_ms: 0,
            max_connections: crate::listener::ListenerLimits::GOSSIP.max_connections,
            header_timeout_ms: crate::listener::ListenerLimits::GOSSIP
                .header_read_timeout
                .as_millis() as u64,
        }
    }

    /// The gossip and API listeners' limits under these settings.
    pub fn listener_limits(&self) -> (crate::listener::ListenerLimits, crate::listener::ListenerLimits) {
        use crate::listener::ListenerLimits;
        let timeout = std::time::Duration::from_millis(self.header_timeout_ms);
        let gossip = ListenerLimits {
            max_connections: self.max_connections,
            header_read_timeout: timeout,
            ..ListenerLimits::GOSSIP
        };
        let api = ListenerLimits {
            max_connections: (self.max_connections / 4).max(16),
            header_read_timeout: timeout,
            ..ListenerLimits::API
        };
        (gossip, api)
    }

    /// The address this node gossips as.
    pub fn advertised(&self) -> SocketAddr {
        self.advertise.unwrap_or(self.gossip)
    }

    /// Refuses settings the agent cannot run with.
    pub fn check(&self) -> Result<(), NodeError> {
        let bad = |m: &str| Err(NodeError::Config(m.to_string()));
        if !(10..=60_000).contains(&self.interval_ms) {
            return bad("the gossip interval must be between 10 and 60000 ms");
        }
        if !(10..=600_000).contains(&self.backup_interval_ms) {
            return bad("the backup gossip interval must be between 10 and 600000 ms");
        }
        let adv = self.advertised();
        if adv.ip().is_unspecified() || adv.port() == 0 {
            return bad(
                "the gossip address peers reach this node at must be a concrete ip:port (set --advertise)",
            );
        }
        if !self.api.ip().is_loopback() && self.api_token.as_deref().is_none_or(str::is_empty) {
            return bad("the management API is bound beyond 127.0.0.1: protect it with --api-token-file");
        }
        if let Some(token) = &self.api_token {
            if token.chars().count() < MIN_TOKEN_CHARS || token.chars().any(char::is_whitespace) {
                return bad(&format!(
                    "the API token must be at least {MIN_TOKEN_CHARS} characters without spaces (e.g. `openssl rand -hex 16`)"
                ));
            }
        }
        if let Some(key) = &self.signing_key {
            if !self.trusted_keys.is_empty() && !self.trusted_keys.contains(&key.verifying_key()) {
                return bad("the signing key is not among the trusted keys: this node would refuse its own deployments");
            }
        }
        if !(0.0..1.0).contains(&self.gossip_loss) {
            return bad("--gossip-loss must be at least 0 and below 1");
        }
        if self.gossip_delay_ms > 10_000 || self.gossip_jitter_ms > self.gossip_delay_ms {
            return bad("--gossip-delay-ms must be at most 10000, and --gossip-jitter-ms at most the delay");
        }
        if !(16..=1_000_000).contains(&self.max_connections) {
            return bad("--max-connections must be between 16 and 1000000");
        }
        if !(100..=3_600_000).contains(&self.header_timeout_ms) {
            return bad("--header-timeout-ms must be between 100 and 3600000");
        }
        if self.gossip == self.api {
            return bad("the gossip and API listeners need different addresses");
        }
        Ok(())
    }
}
