//! The module's parameters, from the deployment's params JSON; missing fields take
//! their defaults, unknown ones are ignored (params for a newer version still load).
//!
//! `{"groups":8,"contacts":2,"fanout":2,"max_message":16384,"dead_after_ms":10000,
//! "lookup_timeout_ms":1000,"tombstone_ms":60000}`
//!
//! `groups` should be about √N (10 for 100 nodes, 100 for 10,000): each node then holds
//! about √N members, 2·√N contacts and 1/√N of the tuples. Changing it is deploying
//! new params; tuples then move to their new groups (see the crate docs).

use hearsay_guest::json;

/// Everything tunable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Affinity groups: a node's group and a key's group are their hashes modulo this.
    pub groups: u32,
    /// Contacts a node keeps in every other group.
    pub contacts: usize,
    /// Members of its own group a node gossips with per tick.
    pub fanout: usize,
    /// Bytes a message may take (views are sampled and tuples cut to fit; what does
    /// not fit goes in the next rounds).
    pub max_message: usize,
    /// A member of the node's group whose heartbeat has not grown for this long is
    /// dead; a contact, three times as long (its heartbeats cross groups less often).
    pub dead_after_ms: u64,
    /// A request not answered this long after it was sent is tried again elsewhere
    /// (another contact, then through a member of the node's own group).
    pub lookup_timeout_ms: u64,
    /// A deleted key's tombstone is kept this long, then dropped everywhere.
    pub tombstone_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            groups: 8,
            contacts: 2,
            fanout: 2,
            max_message: 16 * 1024,
            dead_after_ms: 10_000,
            lookup_timeout_ms: 1_000,
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
        p.groups = get("groups", 1, 4096, u64::from(p.groups))? as u32;
        p.contacts = get("contacts", 1, 8, p.contacts as u64)? as usize;
        p.fanout = get("fanout", 1, 8, p.fanout as u64)? as usize;
        p.max_message = get("max_message", 8 * 1024, 60 * 1024, p.max_message as u64)? as usize;
        p.dead_after_ms = get("dead_after_ms", 500, 3_600_000, p.dead_after_ms)?;
        p.lookup_timeout_ms = get("lookup_timeout_ms", 50, 60_000, p.lookup_timeout_ms)?;
        p.tombstone_ms = get("tombstone_ms", 1_000, 86_400_000, p.tombstone_ms)?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_refusals() {
        assert_eq!(Params::parse("").unwrap(), Params::default());
        let p = Params::parse("{\"groups\":100,\"unknown\":1}").unwrap();
        assert_eq!(p.groups, 100);
        assert!(Params::parse("{\"groups\":0}").is_err());
        assert!(Params::parse("{\"contacts\":9}").is_err());
        assert!(Params::parse("{\"max_message\":4096}").is_err());
        assert!(Params::parse("[1]").is_err());
    }
}
