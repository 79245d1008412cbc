//! The module's parameters, from the deployment's params JSON; missing fields take
//! their defaults, unknown ones are ignored (params for a newer version still load).
//! New aggregates arrive by deploying new params, so they spread like code.
//!
//! `{"aggregates":{"nodes":"count()","modules":"distinct(modules)","roster":"list(32, modules)"},
//! "fanout":1,"representatives":2,"expire_ms":6000,"hop_ms":25,"max_message":16384}`

use crate::functions::{is_attr_name, Aggregate, Func};
use hearsay_guest::json::{self, Value};

/// The aggregates when params declare none: how many nodes, which module versions
/// they run, and a roster of up to 32 nodes per zone for the map.
pub const DEFAULT_AGGREGATES: [(&str, &str); 3] = [
    ("nodes", "count()"),
    ("modules", "distinct(modules)"),
    ("roster", "list(32, modules)"),
];

/// Most aggregates a deployment declares.
pub const MAX_AGGREGATES: usize = 32;

/// Everything tunable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// The zone attributes and the functions computing them.
    pub aggregates: Vec<Aggregate>,
    /// Peers a node gossips with per tick at each level it takes part in.
    pub fanout: usize,
    /// Representatives elected per zone (they gossip the zone's row to its siblings).
    pub representatives: usize,
    /// A row not renewed for this long is dropped (a node that stopped, a zone
    /// whose members all did).
    pub expire_ms: u64,
    /// What a row ages per hop at least (its age leaves out the time in flight):
    /// more than a message's usual transit, so a row passed round cannot stay young.
    pub hop_ms: u64,
    /// Bytes a message may take (rows that do not fit wait for the next round).
    pub max_message: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            aggregates: DEFAULT_AGGREGATES
                .iter()
                .map(|(name, spec)| Aggregate {
                    name: name.to_string(),
                    func: Func::parse(spec).expect("the defaults parse"),
                })
                .collect(),
            fanout: 1,
            representatives: 2,
            expire_ms: 6_000,
            hop_ms: 25,
            max_message: 16 * 1024,
        }
    }
}

impl Params {
    /// Parses and checks params; empty text means defaults.
    pub fn parse(text: &str) -> Result<Params, String> {
        let mut p = Params::default();
        let doc = json::Params::parse(text)?;
        let get = |key: &str, lo: u64, hi: u64, default: u64| doc.u64_in(key, lo, hi, default);
        p.fanout = get("fanout", 1, 8, p.fanout as u64)? as usize;
        p.representatives = get(
            "representatives",
            1,
            crate::row::MAX_CONTACTS as u64,
            p.representatives as u64,
        )? as usize;
        p.expire_ms = get("expire_ms", 500, 3_600_000, p.expire_ms)?;
        p.hop_ms = get("hop_ms", 0, 10_000, p.hop_ms)?;
        p.max_message = get("max_message", 4 * 1024, 60 * 1024, p.max_message as u64)? as usize;
        if !text.trim().is_empty() {
            if let Some(declared) = json::parse(text)?.get("aggregates") {
                p.aggregates = aggregates(declared)?;
            }
        }
        Ok(p)
    }
}

fn aggregates(declared: &Value) -> Result<Vec<Aggregate>, String> {
    let members = match declared {
        Value::Object(members) => members,
        _ => return Err("params: aggregates must be an object of name: function".to_string()),
    };
    if members.len() > MAX_AGGREGATES {
        return Err(format!("params: at most {} aggregates", MAX_AGGREGATES));
    }
    let mut out: Vec<Aggregate> = Vec::new();
    for (name, spec) in members {
        if !is_attr_name(name) {
            return Err(format!(
                "params: aggregate name '{}' is not an attribute name",
                name
            ));
        }
        if out.iter().any(|a| a.name == *name) {
            return Err(format!("params: aggregate '{}' is declared twice", name));
        }
        let spec = spec
            .as_str()
            .ok_or_else(|| format!("params: aggregate '{}' must be a text like \"max(load)\"", name))?;
        let func = Func::parse(spec).map_err(|e| format!("params: aggregate '{}': {}", name, e))?;
        out.push(Aggregate {
            name: name.clone(),
            func,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_declarations_and_refusals() {
        let d = Params::parse("").unwrap();
        assert_eq!(d, Params::default());
        assert_eq!(d.aggregates.len(), 3);
        let p =
            Params::parse(r#"{"aggregates":{"nodes":"count()","worst":"top(3, load)"},"fanout":2}"#).unwrap();
        assert_eq!(p.fanout, 2);
        assert_eq!(p.aggregates[1].func, Func::Top(3, "load".to_string()));
        for bad in [
            r#"{"aggregates":{"x":"median(load)"}}"#,
            r#"{"aggregates":{"x":3}}"#,
            r#"{"aggregates":["count()"]}"#,
            r#"{"aggregates":{"a b":"count()"}}"#,
            r#"{"aggregates":{"x":"count()","x":"max(y)"}}"#,
            r#"{"fanout":0}"#,
            r#"{"expire_ms":10}"#,
        ] {
            assert!(Params::parse(bad).is_err(), "accepted {}", bad);
        }
    }
}
