//! What a node sends and hears, by message kind: counted for the `traffic` query, so
//! an operator (or the lab) sees which part of the protocol a node's load is — beats
//! alone when nothing changes, rumors while news spreads, pages while views differ.
//! Counted from this instance's start (a new version starts at zero).

use crate::wire::{kind_name, KIND_NAMES};
use hearsay_guest::{Host, Level};

/// Messages and bytes per kind, out and in.
#[derive(Debug, Default, Clone)]
pub struct Traffic {
    sent: [(u64, u64); KIND_NAMES.len()],
    received: [(u64, u64); KIND_NAMES.len()],
}

fn count(table: &mut [(u64, u64); KIND_NAMES.len()], bytes: &[u8]) {
    if let Some(i) = kind_name(bytes).and_then(|k| KIND_NAMES.iter().position(|n| *n == k)) {
        table[i].0 += 1;
        table[i].1 += bytes.len() as u64;
    }
}

impl Traffic {
    /// Counts a message heard (malformed ones are not counted: the core counts those).
    pub fn heard(&mut self, bytes: &[u8]) {
        count(&mut self.received, bytes);
    }

    /// The `traffic` answer's fields after `"self"`: `"sent"` and `"received"`, each
    /// kind's `[messages, bytes]`.
    pub fn push_json(&self, out: &mut String) {
        for (name, table) in [("sent", &self.sent), ("received", &self.received)] {
            out.push_str(&format!(",\"{}\":{{", name));
            for (i, kind) in KIND_NAMES.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&format!("\"{}\":[{},{}]", kind, table[i].0, table[i].1));
            }
            out.push('}');
        }
    }
}

/// A host that counts what passes through its `send` and otherwise is the host it wraps.
pub struct Counting<'a> {
    /// The real host.
    pub inner: &'a mut dyn Host,
    /// Where sends are counted.
    pub traffic: &'a mut Traffic,
}

impl Host for Counting<'_> {
    fn send(&mut self, to: &str, payload: &[u8]) {
        count(&mut self.traffic.sent, payload);
        self.inner.send(to, payload);
    }
    fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }
    fn random_u64(&mut self) -> u64 {
        self.inner.random_u64()
    }
    fn log(&mut self, level: Level, msg: &str) {
        self.inner.log(level, msg)
    }
    fn bootstrap_peers(&self) -> Vec<String> {
        self.inner.bootstrap_peers()
    }
    fn self_addr(&self) -> String {
        self.inner.self_addr()
    }
    fn emit(&mut self, kind: &str, data: &[u8]) {
        self.inner.emit(kind, data)
    }
    fn labels(&self) -> String {
        self.inner.labels()
    }
    fn node_info(&self) -> String {
        self.inner.node_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{encode, Message};

    #[test]
    fn counts_each_kind_and_ignores_what_is_no_message() {
        let mut t = Traffic::default();
        let rumors = encode(&Message::Rumors(vec![]));
        t.heard(&rumors);
        t.heard(&rumors);
        t.heard(&[0xff, 1]);
        t.heard(&[]);
        let mut out = String::new();
        t.push_json(&mut out);
        assert!(
            out.contains(&format!("\"rumors\":[2,{}]", 2 * rumors.len())),
            "{}",
            out
        );
        assert!(out.contains("\"beat\":[0,0]"), "{}", out);
        assert!(out.starts_with(",\"sent\":{\"beat\":[0,0]"), "{}", out);
    }
}
