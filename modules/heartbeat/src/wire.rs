//! The gossip message encoding: a version byte, a kind, and member entries in
//! LEB128 varints. Decoding is total — malformed input gives `None`, never a panic —
//! because these bytes come straight off the network.
//!
//! ```text
//! message = version:u8 (=2)  kind:u8 (0 = push, 1 = push-pull: please reply)
//!           count:varint  entry*count
//! entry   = addr_len:varint (1..=255)  addr:utf8  generation:varint  counter:varint
//!           flags:u8  [labels if flags & 1]
//! flags   = 1: the member's labels follow (those of this generation)
//!           2: the member left gracefully at this heartbeat
//!           4: the sender lacks this member's labels (please send them)
//! labels  = see `labels::Labels::encode`
//! ```
//!
//! The first entry is the sender's own. Trailing bytes, unknown flags or labels
//! without their flag make the message malformed. Version 1 (no flags, no labels) was
//! ABI v1's membership; both ends of a message always run the same deployment, so
//! this code reads only version 2.

use crate::labels::Labels;
use crate::table::Heartbeat;
pub use hearsay_guest::codec::{put_varint, varint_len, Reader};

/// The encoding version this code writes and reads.
pub const VERSION: u8 = 2;
/// Longest peer address carried in a message.
pub const MAX_ADDR_LEN: usize = 255;

const KIND_PUSH: u8 = 0;
const KIND_PUSH_PULL: u8 = 1;

const FLAG_LABELS: u8 = 1;
const FLAG_LEFT: u8 = 2;
const FLAG_WANT_LABELS: u8 = 4;

/// One member entry of a message, borrowed from the table that sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// The member's gossip address.
    pub addr: &'a str,
    /// Its heartbeat.
    pub heartbeat: Heartbeat,
    /// It left gracefully at this heartbeat.
    pub left: bool,
    /// The sender lacks its labels.
    pub want_labels: bool,
    /// Its labels, when carried.
    pub labels: Option<&'a Labels>,
}

impl<'a> EntryRef<'a> {
    /// A bare heartbeat: no labels, no flags.
    pub fn plain(addr: &'a str, heartbeat: Heartbeat) -> EntryRef<'a> {
        EntryRef {
            addr,
            heartbeat,
            left: false,
            want_labels: false,
            labels: None,
        }
    }

    /// Bytes this entry takes.
    pub fn len(&self) -> usize {
        varint_len(self.addr.len() as u64)
            + self.addr.len()
            + varint_len(self.heartbeat.generation)
            + varint_len(self.heartbeat.counter)
            + 1
            + self.labels.map_or(0, |l| l.encoded_len())
    }

    /// Never true: an entry holds at least an address; for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// A decoded member entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The member's gossip address.
    pub addr: String,
    /// Its heartbeat.
    pub heartbeat: Heartbeat,
    /// It left gracefully at this heartbeat.
    pub left: bool,
    /// The sender lacks its labels.
    pub want_labels: bool,
    /// Its labels, when carried.
    pub labels: Option<Labels>,
}

impl Entry {
    /// This entry, borrowed (to re-encode or compare).
    pub fn as_ref(&self) -> EntryRef<'_> {
        EntryRef {
            addr: &self.addr,
            heartbeat: self.heartbeat,
            left: self.left,
            want_labels: self.want_labels,
            labels: self.labels.as_ref(),
        }
    }
}

/// A decoded gossip message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gossip {
    /// The sender asks for the receiver's table in return.
    pub want_reply: bool,
    /// Member entries, the sender's own first.
    pub entries: Vec<Entry>,
}

/// Appends a length-prefixed address.
pub fn put_addr(out: &mut Vec<u8>, addr: &str) {
    hearsay_guest::codec::put_text(out, addr);
}

/// Reads a length-prefixed, non-empty UTF-8 address of at most `MAX_ADDR_LEN` bytes.
pub fn read_addr(r: &mut Reader) -> Option<String> {
    let addr = r.text(MAX_ADDR_LEN)?;
    if addr.is_empty() {
        return None;
    }
    Some(addr)
}

/// Bytes a message of `count` entries taking `entry_bytes` in total takes.
pub fn message_len(count: usize, entry_bytes: usize) -> usize {
    2 + varint_len(count as u64) + entry_bytes
}

/// Encodes a gossip message.
pub fn encode_gossip(want_reply: bool, entries: &[EntryRef]) -> Vec<u8> {
    let bytes: usize = entries.iter().map(|e| e.len()).sum();
    let mut out = Vec::with_capacity(message_len(entries.len(), bytes));
    out.push(VERSION);
    out.push(if want_reply { KIND_PUSH_PULL } else { KIND_PUSH });
    put_varint(&mut out, entries.len() as u64);
    for e in entries {
        put_addr(&mut out, e.addr);
        put_varint(&mut out, e.heartbeat.generation);
        put_varint(&mut out, e.heartbeat.counter);
        let mut flags = 0;
        if e.labels.is_some() {
            flags |= FLAG_LABELS;
        }
        if e.left {
            flags |= FLAG_LEFT;
        }
        if e.want_labels {
            flags |= FLAG_WANT_LABELS;
        }
        out.push(flags);
        if let Some(labels) = e.labels {
            labels.encode(&mut out);
        }
    }
    out
}

/// Decodes a gossip message; `None` if it is malformed in any way.
pub fn decode_gossip(bytes: &[u8]) -> Option<Gossip> {
    let mut r = Reader::new(bytes);
    if r.u8()? != VERSION {
        return None;
    }
    let want_reply = match r.u8()? {
        KIND_PUSH => false,
        KIND_PUSH_PULL => true,
        _ => return None,
    };
    let count = r.varint()?;
    // Every entry takes at least 5 bytes, so a lying count can't make us allocate.
    let mut entries = Vec::with_capacity((count as usize).min(r.remaining() / 5));
    for _ in 0..count {
        let addr = read_addr(&mut r)?;
        let heartbeat = Heartbeat {
            generation: r.varint()?,
            counter: r.varint()?,
        };
        let flags = r.u8()?;
        if flags & !(FLAG_LABELS | FLAG_LEFT | FLAG_WANT_LABELS) != 0 {
            return None;
        }
        let labels = if flags & FLAG_LABELS != 0 {
            Some(Labels::decode(&mut r)?)
        } else {
            None
        };
        entries.push(Entry {
            addr,
            heartbeat,
            left: flags & FLAG_LEFT != 0,
            want_labels: flags & FLAG_WANT_LABELS != 0,
            labels,
        });
    }
    if !r.is_done() {
        return None;
    }
    Some(Gossip { want_reply, entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(generation: u64, counter: u64) -> Heartbeat {
        Heartbeat { generation, counter }
    }

    #[test]
    fn round_trips_and_sizes_match() {
        let labels = Labels::from_pairs(vec![
            ("role".into(), "db".into()),
            ("zone".into(), "/eu/r1".into()),
        ]);
        let entries = [
            EntryRef {
                labels: Some(&labels),
                ..EntryRef::plain("10.0.0.1:7000", hb(0, 5))
            },
            EntryRef {
                left: true,
                want_labels: true,
                ..EntryRef::plain("b", hb(u64::MAX, 300))
            },
        ];
        let bytes = encode_gossip(true, &entries);
        let sum: usize = entries.iter().map(|e| e.len()).sum();
        assert_eq!(bytes.len(), message_len(2, sum));
        let g = decode_gossip(&bytes).unwrap();
        assert!(g.want_reply);
        let decoded: Vec<EntryRef> = g.entries.iter().map(Entry::as_ref).collect();
        assert_eq!(decoded, entries);
    }

    #[test]
    fn rejects_malformed_messages() {
        let labels = Labels::from_pairs(vec![("k".into(), "v".into())]);
        let good = encode_gossip(
            false,
            &[EntryRef {
                labels: Some(&labels),
                ..EntryRef::plain("a:1", hb(1, 2))
            }],
        );
        for cut in 0..good.len() {
            assert_eq!(decode_gossip(&good[..cut]), None);
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode_gossip(&trailing), None);
        let mut version = good.clone();
        version[0] = 1;
        assert_eq!(decode_gossip(&version), None);
        let mut kind = good.clone();
        kind[1] = 9;
        assert_eq!(decode_gossip(&kind), None);
        // An unknown flag.
        let mut flags = encode_gossip(false, &[EntryRef::plain("a:1", hb(1, 2))]);
        *flags.last_mut().unwrap() = 8;
        assert_eq!(decode_gossip(&flags), None);
        // Empty address, and a count far beyond the bytes present.
        assert_eq!(decode_gossip(&[2, 0, 1, 0, 0, 0, 0]), None);
        assert_eq!(decode_gossip(&[2, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]), None);
        // Invalid UTF-8 in an address.
        assert_eq!(decode_gossip(&[2, 0, 1, 1, 0xff, 0, 0, 0]), None);
    }
}
