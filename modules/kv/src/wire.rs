//! The kv module's messages and their encoding. Decoding is total: anything malformed
//! is `None`, never a panic, because these bytes come off the network.
//!
//! ```text
//! message = version:u8 (=1)  kind:u8  body
//! Syn     = complete:u8  digest  peers       (1: "what do you have?")
//! SynAck  = complete:u8  digest  peers  deltas   (2: "here is what you lack; and you?")
//! Ack     = deltas                           (3: "here is what you lack")
//! Push    = deltas                           (4: a change, pushed at once)
//! digest  = count:varint  (node:text  generation:varint  heartbeat:varint  watermark:varint)*
//! deltas  = count:varint  delta*
//! delta   = node:text  generation  heartbeat  gc_version  reset:u8  from  to  (varints)
//!           count:varint  (key:text  version:varint  has_value:u8  [value:text])*
//! peers   = count:varint  addr:text*         (a sample of the sender's peers)
//! text    = len:varint  utf8
//! ```

use crate::store::{DigestEntry, NodeDelta};
use hearsay_guest::codec::{put_text, put_varint, Reader};

/// The encoding version.
pub const VERSION: u8 = 1;
/// Longest node address.
pub const MAX_ADDR: usize = 255;
/// Longest key.
pub const MAX_KEY: usize = 256;
/// Longest value.
pub const MAX_VALUE: usize = 4096;
/// Most entries in a digest, deltas in a message, or writes in a delta.
pub const MAX_ITEMS: usize = 65_536;

/// A message between two nodes' kv instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Starts an exchange: what the sender knows (`complete`: of every node it knows).
    Syn {
        /// Whether the digest names every node the sender knows (else a sample).
        complete: bool,
        /// The sender's knowledge.
        digest: Vec<DigestEntry>,
        /// A few of the sender's peers (peer sampling: see `crate::peers`).
        peers: Vec<String>,
    },
    /// The answer: what the Syn's sender lacks, and what the answerer knows.
    SynAck {
        /// Whether `digest` names every node the sender knows.
        complete: bool,
        /// The answerer's knowledge.
        digest: Vec<DigestEntry>,
        /// A few of the answerer's peers.
        peers: Vec<String>,
        /// What the Syn's sender lacks.
        deltas: Vec<NodeDelta>,
    },
    /// Ends the exchange: what the answerer lacks.
    Ack {
        /// What the SynAck's sender lacks.
        deltas: Vec<NodeDelta>,
    },
    /// Writes pushed at once (by their writer, or by a node that just learned them).
    Push {
        /// The writes.
        deltas: Vec<NodeDelta>,
    },
}

fn put_digest(out: &mut Vec<u8>, digest: &[DigestEntry]) {
    put_varint(out, digest.len() as u64);
    for d in digest {
        put_text(out, &d.node);
        put_varint(out, d.generation);
        put_varint(out, d.heartbeat);
        put_varint(out, d.watermark);
    }
}

fn put_deltas(out: &mut Vec<u8>, deltas: &[NodeDelta]) {
    put_varint(out, deltas.len() as u64);
    for d in deltas {
        put_text(out, &d.node);
        put_varint(out, d.generation);
        put_varint(out, d.heartbeat);
        put_varint(out, d.gc_version);
        out.push(d.reset as u8);
        put_varint(out, d.from);
        put_varint(out, d.to);
        put_varint(out, d.writes.len() as u64);
        for (key, version, value) in &d.writes {
            put_text(out, key);
            put_varint(out, *version);
            match value {
                Some(v) => {
                    out.push(1);
                    put_text(out, v);
                }
                None => out.push(0),
            }
        }
    }
}

fn put_peers(out: &mut Vec<u8>, peers: &[String]) {
    put_varint(out, peers.len() as u64);
    for p in peers {
        put_text(out, p);
    }
}

/// The bytes of `msg`.
pub fn encode(msg: &Msg) -> Vec<u8> {
    let mut out = vec![VERSION];
    match msg {
        Msg::Syn {
            complete,
            digest,
            peers,
        } => {
            out.push(1);
            out.push(*complete as u8);
            put_digest(&mut out, digest);
            put_peers(&mut out, peers);
        }
        Msg::SynAck {
            complete,
            digest,
            peers,
            deltas,
        } => {
            out.push(2);
            out.push(*complete as u8);
            put_digest(&mut out, digest);
            put_peers(&mut out, peers);
            put_deltas(&mut out, deltas);
        }
        Msg::Ack { deltas } => {
            out.push(3);
            put_deltas(&mut out, deltas);
        }
        Msg::Push { deltas } => {
            out.push(4);
            put_deltas(&mut out, deltas);
        }
    }
    out
}

/// Bytes one digest entry takes on the wire, at most.
pub fn digest_entry_size(d: &DigestEntry) -> usize {
    d.node.len() + 2 + 3 * 10
}

fn count(r: &mut Reader) -> Option<usize> {
    let n = r.varint()?;
    // Every item takes at least one byte: a count above what is left is a lie.
    if n > MAX_ITEMS as u64 || n > r.remaining() as u64 {
        return None;
    }
    Some(n as usize)
}

fn digest(r: &mut Reader) -> Option<Vec<DigestEntry>> {
    let n = count(r)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(DigestEntry {
            node: r.text(MAX_ADDR)?,
            generation: r.varint()?,
            heartbeat: r.varint()?,
            watermark: r.varint()?,
        });
    }
    Some(out)
}

fn peers(r: &mut Reader) -> Option<Vec<String>> {
    let n = count(r)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let p = r.text(MAX_ADDR)?;
        if p.is_empty() {
            return None;
        }
        out.push(p);
    }
    Some(out)
}

fn deltas(r: &mut Reader) -> Option<Vec<NodeDelta>> {
    let n = count(r)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let node = r.text(MAX_ADDR)?;
        let generation = r.varint()?;
        let heartbeat = r.varint()?;
        let gc_version = r.varint()?;
        let reset = r.flag()?;
        let from = r.varint()?;
        let to = r.varint()?;
        let w = count(r)?;
        let mut writes = Vec::with_capacity(w);
        let mut last = from;
        for _ in 0..w {
            let key = r.text(MAX_KEY)?;
            let version = r.varint()?;
            let value = if r.flag()? { Some(r.text(MAX_VALUE)?) } else { None };
            // Writes come in version order, within (from, to].
            if version <= last || version > to || key.is_empty() {
                return None;
            }
            last = version;
            writes.push((key, version, value));
        }
        if to < from {
            return None;
        }
        out.push(NodeDelta {
            node,
            generation,
            heartbeat,
            gc_version,
            reset,
            from,
            to,
            writes,
        });
    }
    Some(out)
}

/// The message in `bytes`, if well formed (every byte used).
pub fn decode(bytes: &[u8]) -> Option<Msg> {
    let mut r = Reader::new(bytes);
    if r.u8()? != VERSION {
        return None;
    }
    let msg = match r.u8()? {
        1 => Msg::Syn {
            complete: r.flag()?,
            digest: digest(&mut r)?,
            peers: peers(&mut r)?,
        },
        2 => Msg::SynAck {
            complete: r.flag()?,
            digest: digest(&mut r)?,
            peers: peers(&mut r)?,
            deltas: deltas(&mut r)?,
        },
        3 => Msg::Ack {
            deltas: deltas(&mut r)?,
        },
        4 => Msg::Push {
            deltas: deltas(&mut r)?,
        },
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

    fn sample() -> Vec<Msg> {
        let digest = vec![DigestEntry {
            node: "10.0.0.1:7000".into(),
            generation: 1_700_000_000_000,
            heartbeat: 42,
            watermark: 7,
        }];
        let deltas = vec![NodeDelta {
            node: "10.0.0.2:7000".into(),
            generation: 5,
            heartbeat: 9,
            gc_version: 2,
            reset: true,
            from: 2,
            to: 6,
            writes: vec![("a".into(), 3, Some("x".into())), ("b".into(), 6, None)],
        }];
        vec![
            Msg::Syn {
                complete: true,
                digest: digest.clone(),
                peers: vec!["10.0.0.3:7000".into()],
            },
            Msg::SynAck {
                complete: false,
                digest,
                peers: vec!["10.0.0.4:7000".into(), "10.0.0.5:7000".into()],
                deltas: deltas.clone(),
            },
            Msg::Ack {
                deltas: deltas.clone(),
            },
            Msg::Push { deltas },
        ]
    }

    #[test]
    fn round_trips() {
        for m in sample() {
            assert_eq!(decode(&encode(&m)), Some(m));
        }
    }

    #[test]
    fn every_truncation_and_extension_is_refused() {
        for m in sample() {
            let bytes = encode(&m);
            for n in 0..bytes.len() {
                assert_eq!(decode(&bytes[..n]), None, "{:?} cut at {}", m, n);
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(decode(&longer), None);
        }
    }

    #[test]
    fn writes_out_of_order_or_outside_the_range_are_refused() {
        let mut d = NodeDelta {
            node: "n".into(),
            generation: 1,
            heartbeat: 1,
            gc_version: 0,
            reset: false,
            from: 0,
            to: 5,
            writes: vec![("a".into(), 4, None), ("b".into(), 3, None)],
        };
        assert_eq!(
            decode(&encode(&Msg::Push {
                deltas: vec![d.clone()]
            })),
            None
        );
        d.writes = vec![("a".into(), 6, None)];
        assert_eq!(decode(&encode(&Msg::Push { deltas: vec![d] })), None);
    }
}
