//! The gossip message encoding: a version byte, a kind, and heartbeat entries in
//! LEB128 varints. Decoding is total — malformed input gives `None`, never a panic —
//! because these bytes come straight off the network.
//!
//! ```text
//! message = version:u8 (=1)  kind:u8 (0 = push, 1 = push-pull: please reply)
//!           count:varint  entry*count
//! entry   = addr_len:varint (1..=255)  addr:utf8  generation:varint  counter:varint
//! ```
//!
//! The first entry is the sender's own. Trailing bytes make the message malformed.

use crate::table::Heartbeat;

/// The encoding version this code writes and reads.
pub const VERSION: u8 = 1;
/// Longest peer address carried in a message.
pub const MAX_ADDR_LEN: usize = 255;

const KIND_PUSH: u8 = 0;
const KIND_PUSH_PULL: u8 = 1;

/// A decoded gossip message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gossip {
    /// The sender asks for the receiver's table in return.
    pub want_reply: bool,
    /// Member heartbeats, the sender's own first.
    pub entries: Vec<(String, Heartbeat)>,
}

/// Bytes taken by `v` as a varint.
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Appends `v` as a varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a length-prefixed address.
pub fn put_addr(out: &mut Vec<u8>, addr: &str) {
    put_varint(out, addr.len() as u64);
    out.extend_from_slice(addr.as_bytes());
}

/// Bytes one entry takes.
pub fn entry_len(addr: &str, hb: Heartbeat) -> usize {
    varint_len(addr.len() as u64) + addr.len() + varint_len(hb.generation) + varint_len(hb.counter)
}

/// Bytes a message of `count` entries taking `entry_bytes` in total takes.
pub fn message_len(count: usize, entry_bytes: usize) -> usize {
    2 + varint_len(count as u64) + entry_bytes
}

/// Encodes a gossip message.
pub fn encode_gossip(want_reply: bool, entries: &[(&str, Heartbeat)]) -> Vec<u8> {
    let bytes: usize = entries.iter().map(|(a, hb)| entry_len(a, *hb)).sum();
    let mut out = Vec::with_capacity(message_len(entries.len(), bytes));
    out.push(VERSION);
    out.push(if want_reply { KIND_PUSH_PULL } else { KIND_PUSH });
    put_varint(&mut out, entries.len() as u64);
    for (addr, hb) in entries {
        put_addr(&mut out, addr);
        put_varint(&mut out, hb.generation);
        put_varint(&mut out, hb.counter);
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
    // Every entry takes at least 4 bytes, so a lying count can't make us allocate.
    let mut entries = Vec::with_capacity((count as usize).min(r.remaining() / 4));
    for _ in 0..count {
        let addr = r.addr()?;
        let hb = Heartbeat {
            generation: r.varint()?,
            counter: r.varint()?,
        };
        entries.push((addr, hb));
    }
    if !r.is_done() {
        return None;
    }
    Some(Gossip { want_reply, entries })
}

/// A cursor over untrusted bytes; every read checks bounds.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts at the first byte.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Whether every byte has been read.
    pub fn is_done(&self) -> bool {
        self.pos == self.bytes.len()
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// A varint of at most 10 bytes that fits a `u64`.
    pub fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for i in 0..10 {
            let b = self.u8()?;
            let bits = (b & 0x7f) as u64;
            if i == 9 && bits > 1 {
                return None;
            }
            value |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// A length-prefixed, non-empty UTF-8 address of at most `MAX_ADDR_LEN` bytes.
    pub fn addr(&mut self) -> Option<String> {
        let len = self.varint()?;
        if len == 0 || len > MAX_ADDR_LEN as u64 || len as usize > self.remaining() {
            return None;
        }
        let raw = &self.bytes[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        std::str::from_utf8(raw).ok().map(String::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(generation: u64, counter: u64) -> Heartbeat {
        Heartbeat { generation, counter }
    }

    #[test]
    fn round_trips_and_sizes_match() {
        let entries = [("10.0.0.1:7000", hb(0, 5)), ("b", hb(u64::MAX, 300))];
        let bytes = encode_gossip(true, &entries);
        let sum: usize = entries.iter().map(|(a, h)| entry_len(a, *h)).sum();
        assert_eq!(bytes.len(), message_len(2, sum));
        let g = decode_gossip(&bytes).unwrap();
        assert!(g.want_reply);
        assert_eq!(
            g.entries,
            vec![
                ("10.0.0.1:7000".to_string(), hb(0, 5)),
                ("b".to_string(), hb(u64::MAX, 300))
            ]
        );
    }

    #[test]
    fn varints_at_the_edges() {
        for v in [0, 1, 127, 128, 16_383, 16_384, u64::MAX / 2, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v));
            let mut r = Reader::new(&out);
            assert_eq!(r.varint(), Some(v));
            assert!(r.is_done());
        }
        // 11 continuation bytes, and a 10th byte that overflows.
        assert_eq!(Reader::new(&[0xff; 11]).varint(), None);
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(Reader::new(&over).varint(), None);
    }

    #[test]
    fn rejects_malformed_messages() {
        let good = encode_gossip(false, &[("a:1", hb(1, 2))]);
        for cut in 0..good.len() {
            assert_eq!(decode_gossip(&good[..cut]), None);
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode_gossip(&trailing), None);
        let mut version = good.clone();
        version[0] = 2;
        assert_eq!(decode_gossip(&version), None);
        let mut kind = good.clone();
        kind[1] = 9;
        assert_eq!(decode_gossip(&kind), None);
        // Empty address, and a count far beyond the bytes present.
        assert_eq!(decode_gossip(&[1, 0, 1, 0, 0, 0]), None);
        assert_eq!(decode_gossip(&[1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]), None);
        // Invalid UTF-8 in an address.
        assert_eq!(decode_gossip(&[1, 0, 1, 1, 0xff, 0, 0]), None);
    }
}
