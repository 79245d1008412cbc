//! The binary encodings: the gossip message and the state handed over on a hot swap.
//! Decoding is total — malformed input gives `None`, never a panic — because these
//! bytes come off the network (or from another code version).
//!
//! ```text
//! message = version:u8 (=1)  kind:u8 (0 = push, 1 = push-pull: please reply)
//!           record  count:u8 (0..=4)  peer*count
//! state   = version:u8 (=1)  held:record  last_valid:record  count:u8 (0..=32)  peer*count
//! record  = version:u64le  value:u64le  check:u32le          (20 bytes)
//! peer    = len:u8 (1..=255)  addr:utf8
//! ```
//!
//! A record is decoded as sent, sound or not: validating it is the engine's job.
//! Trailing bytes make the input malformed.

use super::record::Record;

/// The encoding version this code writes and reads.
pub const VERSION: u8 = 1;
/// Longest peer address carried.
pub const MAX_ADDR_LEN: usize = 255;
/// Most peer addresses one message carries.
pub const MAX_MESSAGE_PEERS: usize = 4;
/// Most peer addresses the handed-over state carries (the engine's peer bound).
pub const MAX_STATE_PEERS: usize = 32;
/// Bytes of an encoded record.
pub const RECORD_LEN: usize = 20;

const KIND_PUSH: u8 = 0;
const KIND_PUSH_PULL: u8 = 1;

/// A decoded gossip message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The sender asks for the receiver's record in return.
    pub want_reply: bool,
    /// The sender's record.
    pub record: Record,
    /// A few peers the sender knows, so views mix.
    pub peers: Vec<String>,
}

/// Decoded handover state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The record the old instance held (maybe poisoned).
    pub held: Record,
    /// The newest sound record the old instance saw.
    pub last_valid: Record,
    /// The old instance's peers.
    pub peers: Vec<String>,
}

/// Whether `addr` can be carried: 1 to [`MAX_ADDR_LEN`] bytes.
pub fn addr_ok(addr: &str) -> bool {
    !addr.is_empty() && addr.len() <= MAX_ADDR_LEN
}

/// Encodes a message; peers beyond [`MAX_MESSAGE_PEERS`] or not [`addr_ok`] are skipped.
pub fn encode_message(want_reply: bool, record: &Record, peers: &[&str]) -> Vec<u8> {
    let mut out = vec![VERSION, if want_reply { KIND_PUSH_PULL } else { KIND_PUSH }];
    put_record(&mut out, record);
    put_peers(&mut out, peers, MAX_MESSAGE_PEERS);
    out
}

/// Decodes a message.
pub fn decode_message(bytes: &[u8]) -> Option<Message> {
    let mut r = Reader { bytes, pos: 0 };
    if r.u8()? != VERSION {
        return None;
    }
    let want_reply = match r.u8()? {
        KIND_PUSH => false,
        KIND_PUSH_PULL => true,
        _ => return None,
    };
    let record = r.record()?;
    let peers = r.peers(MAX_MESSAGE_PEERS)?;
    r.end()?;
    Some(Message {
        want_reply,
        record,
        peers,
    })
}

/// Encodes handover state; peers beyond [`MAX_STATE_PEERS`] or not [`addr_ok`] are skipped.
pub fn encode_state(held: &Record, last_valid: &Record, peers: &[&str]) -> Vec<u8> {
    let mut out = vec![VERSION];
    put_record(&mut out, held);
    put_record(&mut out, last_valid);
    put_peers(&mut out, peers, MAX_STATE_PEERS);
    out
}

/// Decodes handover state.
pub fn decode_state(bytes: &[u8]) -> Option<State> {
    let mut r = Reader { bytes, pos: 0 };
    if r.u8()? != VERSION {
        return None;
    }
    let held = r.record()?;
    let last_valid = r.record()?;
    let peers = r.peers(MAX_STATE_PEERS)?;
    r.end()?;
    Some(State {
        held,
        last_valid,
        peers,
    })
}

fn put_record(out: &mut Vec<u8>, record: &Record) {
    out.extend_from_slice(&record.version.to_le_bytes());
    out.extend_from_slice(&record.value.to_le_bytes());
    out.extend_from_slice(&record.check.to_le_bytes());
}

fn put_peers(out: &mut Vec<u8>, peers: &[&str], max: usize) {
    let peers: Vec<&str> = peers.iter().copied().filter(|p| addr_ok(p)).take(max).collect();
    out.push(peers.len() as u8);
    for peer in peers {
        out.push(peer.len() as u8);
        out.extend_from_slice(peer.as_bytes());
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u64(&mut self) -> Option<u64> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8)?);
        Some(u64::from_le_bytes(buf))
    }

    fn u32(&mut self) -> Option<u32> {
        let mut buf = [0u8; 4];
        buf.copy_from_slice(self.take(4)?);
        Some(u32::from_le_bytes(buf))
    }

    fn record(&mut self) -> Option<Record> {
        Some(Record {
            version: self.u64()?,
            value: self.u64()?,
            check: self.u32()?,
        })
    }

    fn peers(&mut self, max: usize) -> Option<Vec<String>> {
        let count = self.u8()? as usize;
        if count > max {
            return None;
        }
        let mut peers = Vec::with_capacity(count);
        for _ in 0..count {
            let len = self.u8()? as usize;
            let addr = std::str::from_utf8(self.take(len)?).ok()?;
            if !addr_ok(addr) {
                return None;
            }
            peers.push(addr.to_string());
        }
        Some(peers)
    }

    fn end(&self) -> Option<()> {
        if self.pos == self.bytes.len() {
            Some(())
        } else {
            None
        }
    }
}
