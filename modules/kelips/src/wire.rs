//! kelips' messages and their encoding. Decoding is total: anything malformed is
//! `None`, never a panic, because these bytes come off the network.
//!
//! ```text
//! message = version:u8 (=1)  kind:u8  body
//! Gossip  = flags:u8  [summary_hash:u64le]  entries  (1: heartbeats; flags 1 join, 2 summary hash, 4 welcome)
//! Sync    = summary  items                   (2: "my tuples where our summaries differ";
//!                                               without items: "here is my summary")
//! SyncAck = items                            (3: "and mine you lack")
//! Push    = items                            (4: tuples that just changed)
//! Request = id  origin:text  op:u8  key:text  [value:text]  hops   (5: op 0 get, 1 put, 2 delete; +0x80 relay)
//! Reply   = id  status:u8  hops  key:text  [item]                  (6: status 0 none, 1 found, 2 stored)
//! summary = 64 × u32le
//! entries = count  (addr:text  generation  heartbeat)*
//! items   = count  item*
//! item    = key:text  version  home:text  deleted:u8  (age_ms | value:text)
//! numbers are varints; text = len:varint utf8
//! ```

use hearsay_guest::codec::{put_text, put_varint, varint_len, Reader};

/// The encoding version.
pub const VERSION: u8 = 1;
/// Longest node address.
pub const MAX_ADDR: usize = 255;
/// Longest key.
pub const MAX_KEY: usize = 256;
/// Longest value: values travel inside tuples replicated across a group, so any
/// member answers a lookup in one hop; larger data belongs elsewhere, its key here.
pub const MAX_VALUE: usize = 1024;
/// Buckets of a tuple summary.
pub const BUCKETS: usize = 64;
/// Most entries or items in a message.
pub const MAX_ITEMS: usize = 65_536;

/// Request op flag: a relay through a member of the origin's group.
pub const RELAY: u8 = 0x80;
/// Gossip flag: the sender knows nobody and asks for a welcome.
pub const JOIN: u8 = 1;
/// Gossip flag: a hash of the sender's tuple summary follows (gossip within a group).
pub const SUMMARY: u8 = 2;
/// Gossip flag: the answer to a join (members and contacts of every group).
pub const WELCOME: u8 = 4;

/// A node as gossip names it: its address and how recently it was heard of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its gossip address.
    pub addr: String,
    /// Its instance: grows when it restarts.
    pub generation: u64,
    /// Grows every tick while it runs.
    pub heartbeat: u64,
}

/// A tuple on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The key.
    pub key: String,
    /// Its version: the newest (version, home) wins.
    pub version: u64,
    /// The member of the key's group that accepted the write.
    pub home: String,
    /// The value; None: deleted (a tombstone).
    pub value: Option<String>,
    /// A tombstone's age at the sender, so every replica drops it at about the same
    /// time.
    pub age_ms: u64,
}

/// What a request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Read the key.
    Get,
    /// Write the value.
    Put,
    /// Delete the key.
    Delete,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The key is not there (or deleted).
    NotFound,
    /// Here it is.
    Found,
    /// The write is stored.
    Stored,
}

/// A message between two nodes' kelips instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Heartbeats: the sender's own entry first, then members and contacts it knows.
    Gossip {
        /// `JOIN`, `SUMMARY`, `WELCOME`.
        flags: u8,
        /// A hash of the sender's tuple summary (with `SUMMARY`): 8 bytes each round
        /// instead of the summary's 256 while replicas agree.
        summary_hash: Option<u64>,
        /// The entries.
        entries: Vec<Entry>,
    },
    /// The answer to a summary hash that differs (the answerer's summary, no items),
    /// and the answer to that (the other side's summary and its tuples in the buckets
    /// that differ).
    Sync {
        /// The answerer's summary.
        summary: Vec<u32>,
        /// Its tuples in the differing buckets (as many as fit).
        items: Vec<Item>,
    },
    /// Tuples the Sync's sender lacks.
    SyncAck {
        /// The tuples.
        items: Vec<Item>,
    },
    /// Tuples that just changed, passed on within the group.
    Push {
        /// The tuples.
        items: Vec<Item>,
    },
    /// A lookup or a write, on its way to a member of the key's group.
    Request {
        /// The origin's request id.
        id: u64,
        /// Where the reply goes.
        origin: String,
        /// What is asked.
        op: Op,
        /// The key.
        key: String,
        /// The value (Put).
        value: Option<String>,
        /// Legs travelled so far, this one included.
        hops: u64,
        /// Sent to a member of the origin's own group to pass on to the key's group:
        /// the relay answers only if it holds the key, never "not found" for want of
        /// a contact there.
        relay: bool,
    },
    /// The answer, sent straight to the origin.
    Reply {
        /// The request id.
        id: u64,
        /// How it ended.
        status: Status,
        /// Legs the request travelled.
        hops: u64,
        /// The key.
        key: String,
        /// The tuple (Found, Stored).
        item: Option<Item>,
    },
}

/// Bytes an entry takes.
pub fn entry_size(e: &Entry) -> usize {
    varint_len(e.addr.len() as u64) + e.addr.len() + varint_len(e.generation) + varint_len(e.heartbeat)
}

/// Bytes an item takes.
pub fn item_size(i: &Item) -> usize {
    let tail = match &i.value {
        Some(v) => varint_len(v.len() as u64) + v.len(),
        None => varint_len(i.age_ms),
    };
    varint_len(i.key.len() as u64)
        + i.key.len()
        + varint_len(i.version)
        + varint_len(i.home.len() as u64)
        + i.home.len()
        + 1
        + tail
}

fn put_entries(out: &mut Vec<u8>, entries: &[Entry]) {
    put_varint(out, entries.len() as u64);
    for e in entries {
        put_text(out, &e.addr);
        put_varint(out, e.generation);
        put_varint(out, e.heartbeat);
    }
}

fn put_item(out: &mut Vec<u8>, i: &Item) {
    put_text(out, &i.key);
    put_varint(out, i.version);
    put_text(out, &i.home);
    match &i.value {
        Some(v) => {
            out.push(0);
            put_text(out, v);
        }
        None => {
            out.push(1);
            put_varint(out, i.age_ms);
        }
    }
}

fn put_items(out: &mut Vec<u8>, items: &[Item]) {
    put_varint(out, items.len() as u64);
    for i in items {
        put_item(out, i);
    }
}

fn put_summary(out: &mut Vec<u8>, summary: &[u32]) {
    for b in summary.iter().take(BUCKETS) {
        out.extend_from_slice(&b.to_le_bytes());
    }
}

/// Encodes a message.
pub fn encode(msg: &Msg) -> Vec<u8> {
    let mut out = vec![VERSION];
    match msg {
        Msg::Gossip {
            flags,
            summary_hash,
            entries,
        } => {
            out.push(1);
            let flags = match summary_hash {
                Some(_) => flags | SUMMARY,
                None => flags & !SUMMARY,
            };
            out.push(flags);
            if let Some(h) = summary_hash {
                out.extend_from_slice(&h.to_le_bytes());
            }
            put_entries(&mut out, entries);
        }
        Msg::Sync { summary, items } => {
            out.push(2);
            put_summary(&mut out, summary);
            put_items(&mut out, items);
        }
        Msg::SyncAck { items } => {
            out.push(3);
            put_items(&mut out, items);
        }
        Msg::Push { items } => {
            out.push(4);
            put_items(&mut out, items);
        }
        Msg::Request {
            id,
            origin,
            op,
            key,
            value,
            hops,
            relay,
        } => {
            out.push(5);
            put_varint(&mut out, *id);
            put_text(&mut out, origin);
            let code = match op {
                Op::Get => 0,
                Op::Put => 1,
                Op::Delete => 2,
            };
            out.push(code | if *relay { RELAY } else { 0 });
            put_text(&mut out, key);
            if *op == Op::Put {
                put_text(&mut out, value.as_deref().unwrap_or(""));
            }
            put_varint(&mut out, *hops);
        }
        Msg::Reply {
            id,
            status,
            hops,
            key,
            item,
        } => {
            out.push(6);
            put_varint(&mut out, *id);
            out.push(match status {
                Status::NotFound => 0,
                Status::Found => 1,
                Status::Stored => 2,
            });
            put_varint(&mut out, *hops);
            put_text(&mut out, key);
            if *status != Status::NotFound {
                if let Some(i) = item {
                    put_item(&mut out, i);
                }
            }
        }
    }
    out
}

fn text(r: &mut Reader, max: usize) -> Option<String> {
    r.text(max)
}

fn entries(r: &mut Reader) -> Option<Vec<Entry>> {
    r.list(MAX_ITEMS, |r| {
        let addr = text(r, MAX_ADDR)?;
        if addr.is_empty() {
            return None;
        }
        Some(Entry {
            addr,
            generation: r.varint()?,
            heartbeat: r.varint()?,
        })
    })
}

fn item(r: &mut Reader) -> Option<Item> {
    let key = text(r, MAX_KEY)?;
    let version = r.varint()?;
    let home = text(r, MAX_ADDR)?;
    if key.is_empty() || home.is_empty() || version == 0 {
        return None;
    }
    let (value, age_ms) = match r.u8()? {
        0 => (Some(text(r, MAX_VALUE)?), 0),
        1 => (None, r.varint()?),
        _ => return None,
    };
    Some(Item {
        key,
        version,
        home,
        value,
        age_ms,
    })
}

fn items(r: &mut Reader) -> Option<Vec<Item>> {
    r.list(MAX_ITEMS, item)
}

fn summary(r: &mut Reader) -> Option<Vec<u32>> {
    let bytes = r.take(BUCKETS * 4)?;
    Some(
        bytes
            .chunks(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// Decodes a message; None if it is malformed in any way (trailing bytes included).
pub fn decode(bytes: &[u8]) -> Option<Msg> {
    let mut r = Reader::new(bytes);
    if r.u8()? != VERSION {
        return None;
    }
    let msg = match r.u8()? {
        1 => {
            let flags = r.u8()?;
            if flags & !(JOIN | SUMMARY | WELCOME) != 0 {
                return None;
            }
            let summary_hash = if flags & SUMMARY != 0 {
                Some(r.u64le()?)
            } else {
                None
            };
            Msg::Gossip {
                flags,
                summary_hash,
                entries: entries(&mut r)?,
            }
        }
        2 => Msg::Sync {
            summary: summary(&mut r)?,
            items: items(&mut r)?,
        },
        3 => Msg::SyncAck {
            items: items(&mut r)?,
        },
        4 => Msg::Push {
            items: items(&mut r)?,
        },
        5 => {
            let id = r.varint()?;
            let origin = text(&mut r, MAX_ADDR)?;
            let byte = r.u8()?;
            let relay = byte & RELAY != 0;
            let op = match byte & !RELAY {
                0 => Op::Get,
                1 => Op::Put,
                2 => Op::Delete,
                _ => return None,
            };
            let key = text(&mut r, MAX_KEY)?;
            let value = if op == Op::Put {
                Some(text(&mut r, MAX_VALUE)?)
            } else {
                None
            };
            if origin.is_empty() || key.is_empty() {
                return None;
            }
            Msg::Request {
                id,
                origin,
                op,
                key,
                value,
                hops: r.varint()?,
                relay,
            }
        }
        6 => {
            let id = r.varint()?;
            let status = match r.u8()? {
                0 => Status::NotFound,
                1 => Status::Found,
                2 => Status::Stored,
                _ => return None,
            };
            let hops = r.varint()?;
            let key = text(&mut r, MAX_KEY)?;
            let item = if status == Status::NotFound {
                None
            } else {
                Some(item(&mut r)?)
            };
            Msg::Reply {
                id,
                status,
                hops,
                key,
                item,
            }
        }
        _ => return None,
    };
    if r.is_done() {
        Some(msg)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Msg> {
        let e = Entry {
            addr: "10.0.0.1:7000".into(),
            generation: 17,
            heartbeat: 300,
        };
        let live = Item {
            key: "file/a".into(),
            version: 3,
            home: "10.0.0.2:7000".into(),
            value: Some("v".into()),
            age_ms: 0,
        };
        let dead = Item {
            value: None,
            age_ms: 1234,
            ..live.clone()
        };
        vec![
            Msg::Gossip {
                flags: JOIN,
                summary_hash: None,
                entries: vec![e.clone()],
            },
            Msg::Gossip {
                flags: SUMMARY,
                summary_hash: Some(0x0123_4567_89ab_cdef),
                entries: vec![e.clone(), e],
            },
            Msg::Sync {
                summary: vec![7; BUCKETS],
                items: vec![live.clone(), dead.clone()],
            },
            Msg::SyncAck {
                items: vec![dead.clone()],
            },
            Msg::Push {
                items: vec![live.clone()],
            },
            Msg::Request {
                id: 9,
                origin: "o:1".into(),
                op: Op::Put,
                key: "k".into(),
                value: Some("x".into()),
                hops: 1,
                relay: false,
            },
            Msg::Request {
                id: 10,
                origin: "o:1".into(),
                op: Op::Get,
                key: "k".into(),
                value: None,
                hops: 2,
                relay: true,
            },
            Msg::Reply {
                id: 9,
                status: Status::Found,
                hops: 1,
                key: "file/a".into(),
                item: Some(live),
            },
            Msg::Reply {
                id: 10,
                status: Status::NotFound,
                hops: 2,
                key: "k".into(),
                item: None,
            },
        ]
    }

    #[test]
    fn round_trips() {
        for m in samples() {
            assert_eq!(decode(&encode(&m)), Some(m.clone()), "{:?}", m);
        }
    }

    #[test]
    fn sizes_match_encodings() {
        let e = Entry {
            addr: "127.0.0.1:7001".into(),
            generation: 1_700_000_000_000_123,
            heartbeat: 5,
        };
        let one = encode(&Msg::Gossip {
            flags: 0,
            summary_hash: None,
            entries: vec![e.clone()],
        });
        assert_eq!(one.len(), 4 + entry_size(&e));
        for m in samples() {
            if let Msg::Push { items } = &m {
                assert_eq!(encode(&m).len(), 3 + items.iter().map(item_size).sum::<usize>());
            }
        }
    }

    #[test]
    fn every_truncation_and_corruption_is_refused_without_panic() {
        for m in samples() {
            let bytes = encode(&m);
            for cut in 0..bytes.len() {
                assert_eq!(decode(&bytes[..cut]), None);
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(decode(&longer), None);
            for i in 0..bytes.len() {
                let mut b = bytes.clone();
                b[i] ^= 0xff;
                let _ = decode(&b);
            }
        }
        assert_eq!(decode(&[VERSION, 1, 0x80]), None);
        assert_eq!(decode(&[VERSION, 99]), None);
    }
}
