//! The state a kv instance hands to the next version on a hot swap: every replica and
//! the forgotten nodes, so an upgrade keeps its generation (no "restarted" everywhere)
//! and its keys. Decoding is total: anything malformed is `None` and the new version
//! starts fresh.
//!
//! ```text
//! state = version:u8 (=1)  count:varint  node*  count:varint  forgotten*
//! node  = addr:text  generation heartbeat watermark gc_version heard_at (varints)  alive:u8
//!         count:varint  (key:text  version deleted_at expires_at (varints)  has_value:u8  [value:text])*
//! forgotten = addr:text  generation heartbeat at (varints)
//! ```

use crate::store::{Entry, NodeState, Store};
use crate::wire::{MAX_ADDR, MAX_KEY, MAX_VALUE};
use hearsay_guest::codec::{put_text, put_varint, Reader};

const VERSION: u8 = 1;

/// The bytes of `store`.
pub fn encode(store: &Store) -> Vec<u8> {
    let mut out = vec![VERSION];
    put_varint(&mut out, store.nodes.len() as u64);
    for (addr, s) in &store.nodes {
        put_text(&mut out, addr);
        for v in [s.generation, s.heartbeat, s.watermark, s.gc_version, s.heard_at] {
            put_varint(&mut out, v);
        }
        out.push(s.alive as u8);
        put_varint(&mut out, s.keys.len() as u64);
        for (key, e) in s.keys.iter() {
            put_text(&mut out, key);
            for v in [e.version, e.deleted_at, e.expires_at] {
                put_varint(&mut out, v);
            }
            match &e.value {
                Some(v) => {
                    out.push(1);
                    put_text(&mut out, v);
                }
                None => out.push(0),
            }
        }
    }
    put_varint(&mut out, store.forgotten.len() as u64);
    for (addr, &(g, h, at)) in &store.forgotten {
        put_text(&mut out, addr);
        for v in [g, h, at] {
            put_varint(&mut out, v);
        }
    }
    out
}

fn count(r: &mut Reader) -> Option<u64> {
    let n = r.varint()?;
    (n <= r.remaining() as u64).then_some(n)
}

/// The store in `bytes`, if well formed.
pub fn decode(bytes: &[u8]) -> Option<Store> {
    let mut r = Reader::new(bytes);
    if r.u8()? != VERSION {
        return None;
    }
    let mut store = Store::default();
    for _ in 0..count(&mut r)? {
        let addr = r.text(MAX_ADDR)?;
        let mut s = NodeState::new(r.varint()?, r.varint()?, 0);
        s.watermark = r.varint()?;
        s.gc_version = r.varint()?;
        s.heard_at = r.varint()?;
        s.alive = r.flag()?;
        for _ in 0..count(&mut r)? {
            let key = r.text(MAX_KEY)?;
            let version = r.varint()?;
            let deleted_at = r.varint()?;
            let expires_at = r.varint()?;
            let value = if r.flag()? { Some(r.text(MAX_VALUE)?) } else { None };
            s.keys.insert(
                key,
                Entry {
                    value,
                    version,
                    deleted_at,
                    expires_at,
                },
            );
        }
        store.nodes.insert(addr, s);
    }
    for _ in 0..count(&mut r)? {
        let addr = r.text(MAX_ADDR)?;
        store
            .forgotten
            .insert(addr, (r.varint()?, r.varint()?, r.varint()?));
    }
    r.is_done().then_some(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_truncation() {
        let mut store = Store::default();
        let mut s = NodeState::new(7, 3, 100);
        s.watermark = 4;
        s.keys.insert(
            "service/web".into(),
            Entry {
                value: Some("10.0.0.1:80".into()),
                version: 3,
                deleted_at: 0,
                expires_at: 900,
            },
        );
        s.keys.insert(
            "gone".into(),
            Entry {
                value: None,
                version: 4,
                deleted_at: 50,
                expires_at: 0,
            },
        );
        store.nodes.insert("a:1".into(), s);
        store.forgotten.insert("b:1".into(), (1, 2, 3));
        let bytes = encode(&store);
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back.nodes, store.nodes);
        assert_eq!(back.forgotten, store.forgotten);
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_none());
        }
    }
}
