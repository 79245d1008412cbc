//! The module's parameters, from the deployment's params JSON; missing fields take
//! their defaults, unknown ones are ignored (params for a newer version still load).
//!
//! `{"fanout":1,"push_fanout":4,"pushes_per_tick":16,"max_message":16384,"dead_after_ms":10000,
//! "forget_after_ms":600000,"tombstone_ms":60000}`

use hearsay_guest::json;

/// Everything tunable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Peers a node starts an anti-entropy exchange with, each tick (digests are most
    /// of a cluster's idle traffic: about 50 B per node known per exchange).
    pub fanout: usize,
    /// Peers a change is pushed to at once, by its writer and by each node that
    /// learns it (once).
    pub push_fanout: usize,
    /// Pushes a node sends per tick at most (its writes and news it passes on);
    /// beyond, anti-entropy carries the news.
    pub pushes_per_tick: usize,
    /// Bytes a message may take (digests are sampled and deltas cut to fit; what
    /// does not fit goes in the next rounds).
    pub max_message: usize,
    /// A node whose heartbeat has not grown for this long is dead: its keys are no
    /// longer read (and their removal is an event). Where digests are sampled (more
    /// writers than one message names) it is scaled by how many more, up to 16×.
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
            fanout: 1,
            push_fanout: 4,
            pushes_per_tick: 16,
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
        let doc = json::Params::parse(text)?;
        let get = |key: &str, lo: u64, hi: u64, default: u64| doc.u64_in(key, lo, hi, default);
        p.fanout = get("fanout", 1, 16, p.fanout as u64)? as usize;
        p.push_fanout = get("push_fanout", 0, 16, p.push_fanout as u64)? as usize;
        p.pushes_per_tick = get("pushes_per_tick", 1, 10_000, p.pushes_per_tick as u64)? as usize;
        p.max_message = get("max_message", 8 * 1024, 60 * 1024, p.max_message as u64)? as usize;
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
        assert!(Params::parse("{\"max_message\":4096}").is_err());
        assert!(Params::parse("{\"dead_after_ms\":5000,\"forget_after_ms\":4000}").is_err());
        assert!(Params::parse("[1]").is_err());
    }
}
