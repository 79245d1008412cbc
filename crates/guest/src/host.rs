//! The `Host` trait: everything a module may ask of the node (or simulator) hosting it.

/// Severity of a [`Host::log`] line. The numeric values are the ABI's `level`
/// argument of the `log` import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Something failed; `hearsay_init` logs its reason at this level before failing.
    Error = 0,
    /// Something is wrong but the module carries on.
    Warn = 1,
    /// Notable, infrequent events.
    Info = 2,
    /// Chatty detail for debugging.
    Debug = 3,
}

impl Level {
    /// The level for an ABI number; anything above 3 is `Debug`, anything below 0
    /// is `Error`.
    pub fn from_i32(level: i32) -> Level {
        match level {
            i32::MIN..=0 => Level::Error,
            1 => Level::Warn,
            2 => Level::Info,
            _ => Level::Debug,
        }
    }

    /// The lower-case name ("error", "warn", "info", "debug").
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// What a module may do. The only way a module touches the world: no sockets, no
/// clock, no ambient randomness — so a simulator can drive it deterministically.
///
/// Peers are gossip addresses as text, e.g. `"127.0.0.1:7000"`. Every address a
/// module sends to is also a membership hint for the core.
pub trait Host {
    /// Sends `payload` to the module instance on peer `to`. Fire and forget: the
    /// network may drop, delay, duplicate or reorder it.
    fn send(&mut self, to: &str, payload: &[u8]);
    /// The host's clock in milliseconds. Only differences are meaningful; in the
    /// simulator it is virtual time.
    fn now_ms(&self) -> u64;
    /// A uniformly random `u64` from the host (seeded in the simulator).
    fn random_u64(&mut self) -> u64;
    /// Writes a log line attributed to this module.
    fn log(&mut self, level: Level, msg: &str);
    /// Addresses to contact when the module knows nobody yet (rendezvous list and
    /// membership hints, as the host sees fit); this node's own address is among them
    /// when it is a rendezvous node.
    fn bootstrap_peers(&self) -> Vec<String>;
    /// This node's own gossip address, as peers see it.
    fn self_addr(&self) -> String;
    /// Publishes an event on the node's event stream (ABI v2): `kind` is
    /// `[a-z0-9_.-]`, 1–64 bytes (e.g. `member.joined`); `data` is usually JSON, at
    /// most 64 KiB. Hosts of ABI v1 modules drop it.
    fn emit(&mut self, kind: &str, data: &[u8]) {
        let _ = (kind, data);
    }
    /// The node's labels (`hearsay agent --label KEY=VALUE`) as a JSON object of
    /// strings (ABI v2); `{}` under a v1 host.
    fn labels(&self) -> String {
        "{}".to_string()
    }
    /// What the node knows of itself (ABI v2, the `node_info` import): a JSON object
    /// `{"uptime_ms":N,"modules":{"NAME":{"deployment":"TIME@ORIGIN","version":"HEX"}}}` — how
    /// long the node has run and the deployment and code version (sha256) of every
    /// module running on it; `{}` under a host that tells nothing.
    fn node_info(&self) -> String {
        "{}".to_string()
    }
}
