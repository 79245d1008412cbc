//! The module's parameters: defaults, parsing from the deployment's JSON, validation.

use hearsay_guest::json::{self, Value};

/// Tuning, from the deployment's params JSON (`{"watchers":2,"quorum":2,
/// "beat_timeout_ms":900,"remove_after_ms":3000,"fanout":3,"max_message_bytes":8192}`).
/// Missing fields take their defaults and unknown fields are ignored (so membership's
/// params load too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// How many nodes watch each node: its successors on the ring of members ordered
    /// by a hash of their address. A node sends each of them a beat every tick.
    pub watchers: u64,
    /// How many of a node's watchers must suspect it for it to be removed at once.
    pub quorum: u64,
    /// A watcher suspects a node it has had no beat from for this long. At 200 ms
    /// ticks, 900 ms is four beats missed in a row: at 10% loss, once in 10,000 ticks
    /// per watcher, and a removal needs `quorum` watchers at once.
    pub beat_timeout_ms: u64,
    /// A suspected node that fewer than `quorum` watchers suspect (its other watchers
    /// are gone, or their views differ) and that does not refute the suspicion is
    /// removed after this long. A live node refutes within a few rounds.
    pub remove_after_ms: u64,
    /// Removed members are remembered this long, so stale news can't bring them back;
    /// default `10 × remove_after_ms`.
    pub forget_after_ms: u64,
    /// Nodes a rumor is passed to by each node that hears it first.
    pub fanout: u64,
    /// Each rumor rides on every message a node sends for this many × ⌈log2(n + 1)⌉
    /// rounds after it heard it.
    pub retransmit: u64,
    /// Largest message; a view that does not fit is synchronised page by page.
    pub max_message_bytes: u64,
    /// After a hot swap, nobody is suspected for this long: while the cluster changes
    /// versions, the core passes gossip only between nodes on the same deployment.
    pub swap_grace_ms: u64,
    /// At most one anti-entropy synchronisation per this interval, when a watched
    /// node's view differs from this node's.
    pub sync_interval_ms: u64,
    /// 0 (the default): every node knows every member. Otherwise views are partial:
    /// a node keeps this many members on each side of it on the ring, plus up to
    /// [`FINGERS_PER_BAND`] at each power-of-two distance (Chord's fingers), and
    /// finds its place by asking for the members nearest it (see `crate::partial`).
    /// For clusters too large for every node to hold every member (100,000 nodes);
    /// applications then see only those members.
    pub ring_neighbours: u64,
}

/// With partial views: members kept at each power-of-two distance along the ring.
pub const FINGERS_PER_BAND: usize = 2;

/// The smallest `max_message_bytes` accepted.
pub const MIN_MESSAGE_BYTES: u64 = 1400;
/// The largest `max_message_bytes` accepted.
pub const MAX_MESSAGE_BYTES: u64 = 65_536;

impl Default for Params {
    fn default() -> Self {
        Params {
            watchers: 2,
            quorum: 2,
            beat_timeout_ms: 900,
            remove_after_ms: 3000,
            forget_after_ms: 30_000,
            fanout: 3,
            retransmit: 1,
            max_message_bytes: 8192,
            swap_grace_ms: 10_000,
            sync_interval_ms: 1000,
            ring_neighbours: 0,
        }
    }
}

impl Params {
    /// Parses and validates params; empty (or all-whitespace) text means defaults.
    pub fn parse(text: &str) -> Result<Params, String> {
        let mut p = Params::default();
        if text.trim().is_empty() {
            return Ok(p);
        }
        let doc = json::parse(text)?;
        if !matches!(doc, Value::Object(_)) {
            return Err("params must be a JSON object".to_string());
        }
        let mut forget = None;
        for (name, slot) in [
            ("watchers", &mut p.watchers as &mut u64),
            ("quorum", &mut p.quorum),
            ("beat_timeout_ms", &mut p.beat_timeout_ms),
            ("remove_after_ms", &mut p.remove_after_ms),
            ("fanout", &mut p.fanout),
            ("retransmit", &mut p.retransmit),
            ("max_message_bytes", &mut p.max_message_bytes),
            ("swap_grace_ms", &mut p.swap_grace_ms),
            ("sync_interval_ms", &mut p.sync_interval_ms),
            ("ring_neighbours", &mut p.ring_neighbours),
        ] {
            match doc.get(name) {
                None | Some(Value::Null) => {}
                Some(v) => {
                    *slot = v
                        .as_u64()
                        .ok_or_else(|| format!("{} must be a non-negative integer", name))?
                }
            }
        }
        match doc.get("forget_after_ms") {
            None | Some(Value::Null) => {}
            Some(v) => {
                forget = Some(
                    v.as_u64()
                        .ok_or("forget_after_ms must be a non-negative integer")?,
                )
            }
        }
        p.forget_after_ms = forget.unwrap_or_else(|| p.remove_after_ms.saturating_mul(10));
        p.validate()?;
        Ok(p)
    }

    fn validate(&self) -> Result<(), String> {
        if !(1..=16).contains(&self.watchers) {
            return Err("watchers must be 1 to 16".to_string());
        }
        if !(1..=self.watchers).contains(&self.quorum) {
            return Err("quorum must be 1 to watchers".to_string());
        }
        if !(1..=16).contains(&self.fanout) {
            return Err("fanout must be 1 to 16".to_string());
        }
        if !(1..=16).contains(&self.retransmit) {
            return Err("retransmit must be 1 to 16".to_string());
        }
        if self.beat_timeout_ms == 0 || self.beat_timeout_ms > self.remove_after_ms {
            return Err("beat_timeout_ms must be positive and at most remove_after_ms".to_string());
        }
        if self.ring_neighbours > 64 || (self.ring_neighbours > 0 && self.ring_neighbours < self.watchers) {
            return Err("ring_neighbours must be 0 (full views) or watchers to 64".to_string());
        }
        if self.forget_after_ms < self.remove_after_ms {
            return Err("forget_after_ms must be at least remove_after_ms".to_string());
        }
        if !(MIN_MESSAGE_BYTES..=MAX_MESSAGE_BYTES).contains(&self.max_message_bytes) {
            return Err(format!(
                "max_message_bytes must be {} to {}",
                MIN_MESSAGE_BYTES, MAX_MESSAGE_BYTES
            ));
        }
        Ok(())
    }

    /// Whether views are partial (see `ring_neighbours`).
    pub fn partial(&self) -> bool {
        self.ring_neighbours > 0
    }

    /// For how many rounds a node passes each rumor on, with `n` members known.
    pub fn transmissions(&self, n: usize) -> u32 {
        let log2 = (usize::BITS - n.saturating_add(1).leading_zeros()) as u64;
        (self.retransmit * log2.max(1)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_refusals() {
        assert_eq!(Params::parse("").unwrap(), Params::default());
        let p = Params::parse(r#"{"watchers":3,"quorum":3,"remove_after_ms":2000,"fanout":2}"#).unwrap();
        assert_eq!(
            (p.watchers, p.quorum, p.fanout, p.forget_after_ms),
            (3, 3, 2, 20_000)
        );
        // heartbeat's params are not ours: ignored, not refused.
        assert!(Params::parse(r#"{"suspect_after_ms":600,"request_percent":25}"#).is_ok());
        for bad in [
            r#"{"watchers":0}"#,
            r#"{"quorum":5}"#,
            r#"{"fanout":"3"}"#,
            r#"{"beat_timeout_ms":5000}"#,
            r#"{"max_message_bytes":100}"#,
            r#"{"forget_after_ms":10}"#,
            r#"{"ring_neighbours":1}"#,
            r#"{"ring_neighbours":65}"#,
            "[1]",
        ] {
            assert!(Params::parse(bad).is_err(), "{}", bad);
        }
    }

    #[test]
    fn transmissions_grow_with_log2_of_the_view() {
        let p = Params::default();
        assert_eq!(p.transmissions(0), 1);
        assert_eq!(p.transmissions(1), 2);
        assert_eq!(p.transmissions(100), 7);
        assert_eq!(p.transmissions(10_000), 14);
    }
}
