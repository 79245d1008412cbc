//! A member's labels (`hearsay agent --label KEY=VALUE`, Serf's tags): read from the
//! host once at start, gossiped with the member's entry, shown in queries and events.
//!
//! ```text
//! labels = count:varint (0..=32)  (key:text 1..=64  value:text 0..=256)*count
//! text   = len:varint  utf8
//! ```
//!
//! Keys are unique and sorted; at most [`MAX_ENCODED`] bytes in all, so an entry
//! carrying them stays small. Decoding is total.

use crate::wire::{put_varint, varint_len, Reader};
use hearsay_guest::json::{self, push_quoted, Value};

/// Most labels a member carries.
pub const MAX_LABELS: usize = 32;
/// Longest key.
pub const MAX_KEY: usize = 64;
/// Longest value.
pub const MAX_VALUE: usize = 256;
/// Most bytes a member's labels take encoded.
pub const MAX_ENCODED: usize = 1024;

/// A member's labels, sorted by key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Labels from pairs: sorted, the last of a repeated key kept, and cut to the
    /// limits (pairs that break them are left out).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Labels {
        let mut sorted: Vec<(String, String)> = Vec::new();
        for (k, v) in pairs {
            if k.is_empty() || k.len() > MAX_KEY || v.len() > MAX_VALUE {
                continue;
            }
            match sorted.binary_search_by(|(key, _)| key.as_str().cmp(&k)) {
                Ok(i) => sorted[i].1 = v,
                Err(i) => sorted.insert(i, (k, v)),
            }
        }
        let mut labels = Labels(Vec::new());
        for (k, v) in sorted {
            let cost = varint_len(k.len() as u64) + k.len() + varint_len(v.len() as u64) + v.len();
            if labels.0.len() < MAX_LABELS && labels.encoded_len() + cost <= MAX_ENCODED {
                labels.0.push((k, v));
            }
        }
        labels
    }

    /// The host's labels JSON (`{"zone":"/eu/r1"}`) and how many pairs were left out
    /// (not strings, repeated keys, or over the limits). Not an object: no labels.
    pub fn from_json(text: &str) -> (Labels, usize) {
        let members = match json::parse(text) {
            Ok(Value::Object(members)) => members,
            _ => Vec::new(),
        };
        let offered = members.len();
        let pairs: Vec<(String, String)> = members
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                _ => None,
            })
            .collect();
        let labels = Labels::from_pairs(pairs);
        let kept = labels.0.len();
        (labels, offered.saturating_sub(kept))
    }

    /// The pairs, sorted by key.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Bytes [`Labels::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        varint_len(self.0.len() as u64)
            + self
                .0
                .iter()
                .map(|(k, v)| varint_len(k.len() as u64) + k.len() + varint_len(v.len() as u64) + v.len())
                .sum::<usize>()
    }

    /// Appends the wire form.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.0.len() as u64);
        for (k, v) in &self.0 {
            put_varint(out, k.len() as u64);
            out.extend_from_slice(k.as_bytes());
            put_varint(out, v.len() as u64);
            out.extend_from_slice(v.as_bytes());
        }
    }

    /// Reads the wire form; `None` unless keys are sorted, unique and within the
    /// limits.
    pub fn decode(r: &mut Reader) -> Option<Labels> {
        let count = r.varint()?;
        if count > MAX_LABELS as u64 {
            return None;
        }
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let k = r.text(MAX_KEY)?;
            let v = r.text(MAX_VALUE)?;
            if k.is_empty() || pairs.last().map_or(false, |(last, _)| *last >= k) {
                return None;
            }
            pairs.push((k, v));
        }
        let labels = Labels(pairs);
        if labels.encoded_len() > MAX_ENCODED {
            return None;
        }
        Some(labels)
    }

    /// Appends the labels as a JSON object.
    pub fn push_json(&self, out: &mut String) {
        out.push('{');
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_quoted(out, k);
            out.push(':');
            push_quoted(out, v);
        }
        out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(labels: &Labels) -> Option<Labels> {
        let mut out = Vec::new();
        labels.encode(&mut out);
        assert_eq!(out.len(), labels.encoded_len());
        let mut r = Reader::new(&out);
        let back = Labels::decode(&mut r)?;
        assert!(r.is_done());
        Some(back)
    }

    #[test]
    fn json_in_sorted_and_deduplicated_json_out() {
        let (labels, dropped) = Labels::from_json(r#"{"zone":"/eu/r1","role":"web","role":"db","n":3}"#);
        assert_eq!(dropped, 2, "the repeated key and the number");
        assert_eq!(labels.get("role"), Some("db"));
        let mut out = String::new();
        labels.push_json(&mut out);
        assert_eq!(out, r#"{"role":"db","zone":"/eu/r1"}"#);
        assert_eq!(round_trip(&labels), Some(labels));
        assert_eq!(Labels::from_json("not json").0, Labels::default());
    }

    #[test]
    fn limits_hold_on_the_way_in_and_on_the_wire() {
        let many: Vec<(String, String)> = (0..100).map(|i| (format!("k{:03}", i), "v".repeat(40))).collect();
        let labels = Labels::from_pairs(many);
        assert!(labels.encoded_len() <= MAX_ENCODED);
        assert!(labels.pairs().len() < 32);
        assert_eq!(round_trip(&labels), Some(labels));
        // Unsorted keys on the wire are malformed.
        let mut out = Vec::new();
        put_varint(&mut out, 2);
        for k in ["b", "a"] {
            put_varint(&mut out, 1);
            out.extend_from_slice(k.as_bytes());
            put_varint(&mut out, 0);
        }
        assert_eq!(Labels::decode(&mut Reader::new(&out)), None);
        // Too many.
        let mut out = Vec::new();
        put_varint(&mut out, 33);
        assert_eq!(Labels::decode(&mut Reader::new(&out)), None);
    }
}
