//! The module's parameters: defaults, parsing from the deployment's JSON, validation.

use hearsay_guest::json::{self, Value};

/// Tuning of the failure detector, from the deployment's params JSON
/// (`{"fanout":3,"suspect_after_ms":600,"remove_after_ms":1200,"max_message_bytes":8192,
/// "request_percent":25,"scale_timeouts":true}`).
/// Missing fields take their defaults and unknown fields are ignored, so params
/// written for a newer version of the module still load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Peers gossiped with per tick (push-pull).
    pub fanout: u64,
    /// A member whose heartbeat hasn't risen for this long is suspected.
    pub suspect_after_ms: u64,
    /// ... and for this long is removed (the paper's T_fail).
    pub remove_after_ms: u64,
    /// Removed members are remembered this long, so stale gossip can't bring them
    /// back (the paper's T_cleanup); default `2 × remove_after_ms`.
    pub forget_after_ms: u64,
    /// Largest gossip message; bigger tables are sampled. The default, 8 KiB, holds
    /// about 350 entries: in the simulator, 1,200-byte samples already gave false
    /// removals at 200 nodes and lost a third of the view at 1,000, because a member's
    /// heartbeat then reaches each node too rarely — and even 8 KiB random samples gave
    /// 242 false removals at 1,000 nodes over 1,000 rounds at 10% loss, hence
    /// `request_percent` and `scale_timeouts`. Gossip travels over HTTP, so there is no
    /// datagram size to respect.
    pub max_message_bytes: u64,
    /// When a push must be sampled, this percent of its room (after the sender's own
    /// entry) goes to the members this node heard from least recently, suspected ones
    /// included: the peer's reply leads with every one of them it holds a newer
    /// heartbeat for, so a node whose news of a member is stale asks for it rather than
    /// waiting for a random sample to carry it. While the whole table fits, a push
    /// carries all of it, suspected members included. 0: pushes carry live members
    /// only, sampled at random. Default 25 (10 and 50 did no better at 1,000 nodes).
    pub request_percent: u64,
    /// Scale the three timeouts with the number of members `n` known (this node
    /// included) by `max(1, log10(n) - 1)`, as memberlist scales its suspicion
    /// timeout: ×1 up to 100 members, ×2 at 1,000, ×3 at 10,000. Heartbeats take
    /// longer to reach everyone in a bigger cluster. At 100 nodes (unscaled) a killed
    /// node is removed by all in about 1.6 s (8 rounds) and 6,000 rounds at 10% loss
    /// removed nobody in the simulator; at 1,000 nodes the removal timeout is 2.4 s.
    /// Default true.
    pub scale_timeouts: bool,
}

/// The timeouts in force at a given cluster size (see [`Params::timeouts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A member is suspected after this long without a heartbeat increase.
    pub suspect_after_ms: u64,
    /// ... and removed after this long.
    pub remove_after_ms: u64,
    /// A tombstone is kept this long.
    pub forget_after_ms: u64,
}

/// The smallest `max_message_bytes` accepted: room for a header and a few entries.
pub const MIN_MESSAGE_BYTES: u64 = 64;
/// The largest `max_message_bytes` accepted.
pub const MAX_MESSAGE_BYTES: u64 = 65_536;

impl Default for Params {
    fn default() -> Self {
        Params {
            fanout: 3,
            suspect_after_ms: 600,
            remove_after_ms: 1200,
            forget_after_ms: 2400,
            max_message_bytes: 8192,
            request_percent: 25,
            scale_timeouts: true,
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
        let field = |name: &str| -> Result<Option<u64>, String> {
            match doc.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| format!("{} must be a non-negative integer", name)),
            }
        };
        if let Some(v) = field("fanout")? {
            p.fanout = v;
        }
        if let Some(v) = field("suspect_after_ms")? {
            p.suspect_after_ms = v;
        }
        if let Some(v) = field("remove_after_ms")? {
            p.remove_after_ms = v;
        }
        p.forget_after_ms = p.remove_after_ms.saturating_mul(2);
        if let Some(v) = field("forget_after_ms")? {
            p.forget_after_ms = v;
        }
        if let Some(v) = field("max_message_bytes")? {
            p.max_message_bytes = v;
        }
        if let Some(v) = field("request_percent")? {
            p.request_percent = v;
        }
        let flag = |name: &str| -> Result<Option<bool>, String> {
            match doc.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_bool()
                    .map(Some)
                    .ok_or_else(|| format!("{} must be true or false", name)),
            }
        };
        if let Some(v) = flag("scale_timeouts")? {
            p.scale_timeouts = v;
        }
        p.validate()?;
        Ok(p)
    }

    /// The timeouts in force when `nodes` members are known (this node included):
    /// the configured ones, scaled by `max(1, log10(nodes) / 2)` if `scale_timeouts`.
    pub fn timeouts(&self, nodes: usize) -> Timeouts {
        let base = Timeouts {
            suspect_after_ms: self.suspect_after_ms,
            remove_after_ms: self.remove_after_ms,
            forget_after_ms: self.forget_after_ms,
        };
        if !self.scale_timeouts {
            return base;
        }
        let factor = ((nodes.max(1) as f64).log10() - 1.0).max(1.0);
        // Float to int casts saturate, so huge timeouts stay huge.
        let scale = |ms: u64| (ms as f64 * factor).round() as u64;
        Timeouts {
            suspect_after_ms: scale(base.suspect_after_ms),
            remove_after_ms: scale(base.remove_after_ms),
            forget_after_ms: scale(base.forget_after_ms),
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.fanout == 0 || self.fanout > 1024 {
            return Err("fanout must be between 1 and 1024".to_string());
        }
        if self.suspect_after_ms == 0 {
            return Err("suspect_after_ms must be positive".to_string());
        }
        if self.remove_after_ms < self.suspect_after_ms {
            return Err("remove_after_ms must be at least suspect_after_ms".to_string());
        }
        if !(MIN_MESSAGE_BYTES..=MAX_MESSAGE_BYTES).contains(&self.max_message_bytes) {
            return Err(format!(
                "max_message_bytes must be between {} and {}",
                MIN_MESSAGE_BYTES, MAX_MESSAGE_BYTES
            ));
        }
        if self.request_percent > 100 {
            return Err("request_percent must be at most 100".to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_means_defaults() {
        assert_eq!(Params::parse("").unwrap(), Params::default());
        assert_eq!(Params::parse("  \n").unwrap(), Params::default());
        assert_eq!(Params::parse("{}").unwrap(), Params::default());
    }

    #[test]
    fn reads_fields_and_ignores_unknown_ones() {
        let p = Params::parse(
            r#"{"fanout":5,"remove_after_ms":3000,"future":{"x":[1,"y"]},"max_message_bytes":512,"note":"hi"}"#,
        )
        .unwrap();
        assert_eq!(p.fanout, 5);
        assert_eq!(p.suspect_after_ms, 600);
        assert_eq!(p.remove_after_ms, 3000);
        assert_eq!(p.forget_after_ms, 6000);
        assert_eq!(p.max_message_bytes, 512);
        assert_eq!(p.request_percent, 25);
        assert!(p.scale_timeouts);
        let p = Params::parse(r#"{"request_percent":0,"scale_timeouts":false}"#).unwrap();
        assert_eq!(p.request_percent, 0);
        assert!(!p.scale_timeouts);
    }

    #[test]
    fn timeouts_scale_with_log10_of_the_cluster_size() {
        let p = Params::default();
        let t = |n| {
            let t = p.timeouts(n);
            (t.suspect_after_ms, t.remove_after_ms, t.forget_after_ms)
        };
        for n in [0, 1, 2, 10, 50, 100] {
            assert_eq!(t(n), (600, 1200, 2400), "{} members", n);
        }
        assert_eq!(t(1000), (1200, 2400, 4800));
        assert_eq!(t(10_000), (1800, 3600, 7200));
        assert_eq!(t(500), (1019, 2039, 4078));
        assert!(t(101).1 > 1200);
        let fixed = Params {
            scale_timeouts: false,
            ..Params::default()
        };
        assert_eq!(fixed.timeouts(10_000).remove_after_ms, 1200);
        let huge = Params {
            remove_after_ms: u64::MAX,
            ..Params::default()
        };
        assert_eq!(huge.timeouts(10_000).remove_after_ms, u64::MAX);
    }

    #[test]
    fn rejects_bad_json_and_bad_values() {
        for bad in [
            "{",
            "[]",
            "3",
            r#"{"fanout":"3"}"#,
            r#"{"fanout":-1}"#,
            r#"{"fanout":1.5}"#,
            r#"{"fanout":0}"#,
            r#"{"suspect_after_ms":3000}"#,
            r#"{"max_message_bytes":10}"#,
            r#"{"fanout":3,}"#,
            r#"{"request_percent":101}"#,
            r#"{"scale_timeouts":1}"#,
        ] {
            assert!(Params::parse(bad).is_err(), "accepted {}", bad);
        }
    }
}
