//! The module's parameters: defaults, parsing from the deployment's JSON, validation.

use hearsay_guest::json::{self, Value};

/// Tuning of the failure detector, from the deployment's params JSON
/// (`{"fanout":3,"suspect_after_ms":1000,"remove_after_ms":2000,"max_message_bytes":8192}`).
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
    /// Largest gossip message; bigger tables are sampled. The default, 8 KiB (about
    /// 350 entries), keeps every heartbeat fresh at 1,000 nodes: in the simulator,
    /// 1,200-byte samples already gave false removals at 200 nodes and lost a third of
    /// the view at 1,000, because a member's heartbeat then reaches each node too rarely.
    /// Gossip travels over HTTP, so there is no datagram size to respect.
    pub max_message_bytes: u64,
}

/// The smallest `max_message_bytes` accepted: room for a header and a few entries.
pub const MIN_MESSAGE_BYTES: u64 = 64;
/// The largest `max_message_bytes` accepted.
pub const MAX_MESSAGE_BYTES: u64 = 65_536;

impl Default for Params {
    fn default() -> Self {
        Params {
            fanout: 3,
            suspect_after_ms: 1000,
            remove_after_ms: 2000,
            forget_after_ms: 4000,
            max_message_bytes: 8192,
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
        p.validate()?;
        Ok(p)
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
        assert_eq!(p.suspect_after_ms, 1000);
        assert_eq!(p.remove_after_ms, 3000);
        assert_eq!(p.forget_after_ms, 6000);
        assert_eq!(p.max_message_bytes, 512);
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
        ] {
            assert!(Params::parse(bad).is_err(), "accepted {}", bad);
        }
    }
}
