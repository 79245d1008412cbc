//! The aggregate module's messages and their encoding. Decoding is total: anything
//! malformed is `None`, never a panic, because these bytes come off the network.
//!
//! An exchange: a **push** of the sender's digest (each row it holds of the tables
//! both share: level, name, age, content hash); the **reply**: the rows whose content
//! the pusher lacks (younger than its own, or missing), digests of rows with the same
//! content that are younger here (their age is news), and the names it wants;
//! then, if wanted, the **rows**. While nothing changes only digests travel.
//!
//! ```text
//! message = version:u8 (=2)  kind:u8  path  body
//! Push    = digest                         (1)
//! Reply   = rows  digest  wants            (2)
//! Rows    = rows                           (3)
//! path    = count:varint  component:text*    (the sender's zone)
//! digest  = count:varint  (level:u8  name:text  age_ms:varint  hash:u64le)*
//! rows    = count:varint  (level:u8  name:text  row)*
//! wants   = count:varint  (level:u8  name:text)*
//! row     = age_ms:varint  kind:u8  count:varint contact:text*  count:varint (name:text value)*
//! ```

use crate::row::{Row, MAX_ADDR};
use crate::zone::{self, MAX_LEVELS};
use hearsay_guest::codec::{put_text, put_varint, Reader};

/// The encoding version.
pub const VERSION: u8 = 2;
/// Most entries in any list of a message.
pub const MAX_ITEMS: usize = 4096;

/// One row named by its content's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// The table's level.
    pub level: usize,
    /// The row's name.
    pub name: String,
    /// When it was issued, on the receiver's clock.
    pub issued: u64,
    /// Its content hash.
    pub hash: u64,
}

/// A message's body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Starts an exchange.
    Push {
        /// The pusher's rows, by hash.
        digest: Vec<Digest>,
    },
    /// Answers a push.
    Reply {
        /// Rows the pusher lacks.
        rows: Vec<(usize, String, Row)>,
        /// Rows the pusher holds with the same content, younger here.
        digest: Vec<Digest>,
        /// Rows the answerer wants: (level, name).
        wants: Vec<(usize, String)>,
    },
    /// Rows asked for.
    Rows {
        /// (level, name, row).
        rows: Vec<(usize, String, Row)>,
    },
}

/// A message: the sender's zone and a body.
#[derive(Debug, Clone, PartialEq)]
pub struct Msg {
    /// The sender's zone.
    pub path: Vec<String>,
    /// What it says.
    pub body: Body,
}

/// Writes messages within a size: each list takes what fits of its items, in order.
pub struct Writer {
    out: Vec<u8>,
    max: usize,
}

impl Writer {
    /// A message of `kind` from zone `path`, at most `max` bytes.
    pub fn new(kind: u8, path: &[String], max: usize) -> Writer {
        let mut out = vec![VERSION, kind];
        put_varint(&mut out, path.len() as u64);
        for p in path {
            put_text(&mut out, p);
        }
        Writer { out, max }
    }

    /// Appends a list of what fits of `items`, each written by `one`; how many went in.
    pub fn list<T>(
        &mut self,
        items: impl Iterator<Item = T>,
        mut one: impl FnMut(&T, &mut Vec<u8>),
    ) -> usize {
        let mut body = Vec::new();
        let mut item = Vec::new();
        let mut count = 0usize;
        // The count's varint takes at most 3 bytes for MAX_ITEMS; the rest must fit.
        let room = self.max.saturating_sub(self.out.len() + 3);
        for x in items {
            if count == MAX_ITEMS {
                break;
            }
            item.clear();
            one(&x, &mut item);
            if body.len() + item.len() > room {
                continue;
            }
            body.extend_from_slice(&item);
            count += 1;
        }
        put_varint(&mut self.out, count as u64);
        self.out.extend_from_slice(&body);
        count
    }

    /// The message.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// Writes a digest entry of `row` at `now`.
pub fn put_digest(level: usize, name: &str, row: &Row, now: u64, out: &mut Vec<u8>) {
    out.push(level as u8);
    put_text(out, name);
    put_varint(out, now.saturating_sub(row.issued));
    out.extend_from_slice(&row.hash.to_le_bytes());
}

/// Writes a row entry.
pub fn put_row(level: usize, name: &str, row: &Row, now: u64, out: &mut Vec<u8>) {
    out.push(level as u8);
    put_text(out, name);
    row.encode(now, out);
}

/// Writes a want.
pub fn put_want(level: usize, name: &str, out: &mut Vec<u8>) {
    out.push(level as u8);
    put_text(out, name);
}

fn level(r: &mut Reader<'_>) -> Option<usize> {
    let level = r.u8()? as usize;
    (level <= MAX_LEVELS).then_some(level)
}

fn rows(r: &mut Reader<'_>, now: u64) -> Option<Vec<(usize, String, Row)>> {
    r.list(MAX_ITEMS, |r| {
        let level = level(r)?;
        let name = r.text(MAX_ADDR)?;
        let (row, _age) = Row::decode(r, now)?;
        Some((level, name, row))
    })
}

fn digest(r: &mut Reader<'_>, now: u64) -> Option<Vec<Digest>> {
    r.list(MAX_ITEMS, |r| {
        let level = level(r)?;
        let name = r.text(MAX_ADDR)?;
        let age = r.varint()?;
        let hash = r.u64le()?;
        Some(Digest {
            level,
            name,
            issued: now.saturating_sub(age),
            hash,
        })
    })
}

/// Decodes a message received at `now`.
pub fn decode(bytes: &[u8], now: u64) -> Option<Msg> {
    let mut r = Reader::new(bytes);
    if r.u8()? != VERSION {
        return None;
    }
    let kind = r.u8()?;
    let path = r.list(MAX_LEVELS, |r| r.text(64).filter(|c| zone::is_component(c)))?;
    let body = match kind {
        1 => Body::Push {
            digest: digest(&mut r, now)?,
        },
        2 => Body::Reply {
            rows: rows(&mut r, now)?,
            digest: digest(&mut r, now)?,
            wants: r.list(MAX_ITEMS, |r| Some((level(r)?, r.text(MAX_ADDR)?)))?,
        },
        3 => Body::Rows {
            rows: rows(&mut r, now)?,
        },
        _ => return None,
    };
    if !r.is_done() {
        return None;
    }
    Some(Msg { path, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::Kind;
    use crate::value::Val;

    fn row(load: f64, issued: u64) -> Row {
        let mut a = Row::new(Kind::Node, issued, vec!["10.0.0.1:7000".to_string()]);
        a.set("load", Val::Num(load));
        a.seal()
    }

    #[test]
    fn every_message_round_trips_within_its_size() {
        let path = vec!["eu".to_string(), "r1".to_string()];
        let a = row(0.5, 100);
        let mut w = Writer::new(1, &path, 16_384);
        w.list([(2usize, "a", &a)].into_iter(), |(l, n, r), out| {
            put_digest(*l, n, r, 200, out)
        });
        let msg = decode(&w.finish(), 1_000).unwrap();
        assert_eq!(msg.path, path);
        assert_eq!(
            msg.body,
            Body::Push {
                digest: vec![Digest {
                    level: 2,
                    name: "a".to_string(),
                    issued: 900,
                    hash: a.hash
                }]
            }
        );
        let mut w = Writer::new(2, &path, 16_384);
        w.list([(2usize, "a", &a)].into_iter(), |(l, n, r), out| {
            put_row(*l, n, r, 200, out)
        });
        w.list(std::iter::empty::<(usize, &str, &Row)>(), |(l, n, r), out| {
            put_digest(*l, n, r, 200, out)
        });
        w.list([(0usize, "us")].into_iter(), |(l, n), out| put_want(*l, n, out));
        match decode(&w.finish(), 1_000).unwrap().body {
            Body::Reply { rows, digest, wants } => {
                assert_eq!(rows[0].2.issued, 900);
                assert_eq!(rows[0].2.hash, a.hash);
                assert!(digest.is_empty());
                assert_eq!(wants, vec![(0, "us".to_string())]);
            }
            other => panic!("{:?}", other),
        }
        // Cut to size: the second row does not fit in 60 bytes.
        let b = row(0.7, 100);
        let mut w = Writer::new(3, &path, 60);
        let n = w.list(
            [(2usize, "a", &a), (2usize, "b", &b)].into_iter(),
            |(l, n, r), out| put_row(*l, n, r, 200, out),
        );
        let bytes = w.finish();
        assert_eq!(n, 1);
        assert!(bytes.len() <= 60, "{}", bytes.len());
        assert!(matches!(decode(&bytes, 0).unwrap().body, Body::Rows { rows } if rows.len() == 1));
    }

    #[test]
    fn malformed_messages_are_refused() {
        let mut w = Writer::new(3, &[], 100);
        w.list(std::iter::empty::<u8>(), |_, _| {});
        let bytes = w.finish();
        assert!(decode(&bytes, 0).is_some());
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut], 0), None);
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(decode(&extra, 0), None);
        assert_eq!(decode(&[1, 3, 0, 0], 0), None, "another version");
        assert_eq!(decode(&[2, 9, 0, 0], 0), None, "another kind");
        assert_eq!(
            decode(&[2, 3, 1, 3, b'a', b':', b'b', 0], 0),
            None,
            "a zone name with ':'"
        );
    }
}
