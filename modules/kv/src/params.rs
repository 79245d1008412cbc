//! The module's parameters, from the deployment's params JSON; missing fields take
//! their defaults, unknown ones are ignored (params for a newer version still load).
//!
//! `{"fanout":2,"push_fanout":4,"max_message":16384,"dead_after_ms":10000,
//! "forget_after_ms":600000,"tombstone_ms":60000}`

use hearsay_guest::json::{self, Value};

/// Everything tunable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Peers a node starts an anti-entropy exchange with, each tick.
    pub fanout: usize,
    /// Peers a change is pushed to at once, by its writer and by each node that
    /// learns it (once).
    pub push_fanout: usize,
    /// Bytes a message may take (digests are sampled and deltas cut to fit; what
    /// does not fit goes in the next rounds).
    pub max_message: usize,
    /// A node whose heartbeat has not grown for this long is dead: its keys are no
    /// longer read (and their removal is an event).
    pub dead_after_ms: u64,
    /// A node dead for this long is forgotten: its state is dropped.
    pub forget_after_ms: u64,
    /// A writer drops its tombstones this long after the delete (every replica then
    /// drops them too; one that was away longer gets the writer's keys anew).
    pub tombstone_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            fanout: 2,
            push_fanout: 4,
            max_message: 16 * 1024,
            dead_after_ms: 10_000,
            forget_after_ms: 600_000,
            tombstone_ms: 60_000,
        }
    }
}

impl Params {
    /// Parses and checks params; empty text means defaults.
    pub fn parse(text: &str) -> Result<Params, String> {
        let mut p = Params::default();
        if text.trim().is_empty() {
            return Ok(p);
        }
        let doc = json::parse(text).map_err(|e| format!("params: {}", e))?;
        if !matches!(doc, Value::Object(_)) {
            return Err("params: expected a JSON object".to_string());
        }
        let get = |key: &str, lo: u64, hi: u64, default: u64| -> Result<u64, String> {
            match doc.get(key) {
                None => Ok(default),
                Some(v) => match v.as_u64() {
                    Some(n) if n >= lo && n <= hi => Ok(n),
                    _ => Err(format!(
                        "params: {} must be an integer from {} to {}",
                        key, lo, hi
                    )),
                },
            }
        };
        p.fanout = get("fanout", 1, 16, p.fanout as u64)? as usize;
        p.push_fanout = get("push_fanout", 0, 16, p.push_fanout as u64)? as usize;
        p.max_message = get("max_message", 1024, 60 * 1024, p.max_message as u64)? as usize;
        p.dead_after_ms = get("dead_after_ms", 500, 3_600_000, p.dead_after_ms)?;
        p.forget_after_ms = get("forget_after_ms", 1_000, 86_400_000, p.forget_after_ms)?;
        p.tombstone_ms = get("tombstone_ms", 1_000, 86_400_000, p.tombstone_ms)?;
        if p.forget_after_ms <= p.dead_after_ms {
            return Err("params: forget_after_ms must be above dead_after_ms".to_string());
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_refusals() {
        assert_eq!(Params::parse("").unwrap(), Params::default());
        let p = Params::parse("{\"fanout\":3,\"unknown\":1}").unwrap();
        assert_eq!(p.fanout, 3);
        assert!(Params::parse("{\"fanout\":0}").is_err());
        assert!(Params::parse("{\"max_message\":100}").is_err());
        assert!(Params::parse("{\"dead_after_ms\":5000,\"forget_after_ms\":4000}").is_err());
        assert!(Params::parse("[1]").is_err());
    }
}
