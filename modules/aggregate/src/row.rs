//! A row of a zone's table: a node's attributes, or a child zone's aggregates, with
//! when it was made and whom to contact in it. Rows carry their age rather than a
//! time, so nodes need no synchronised clocks: a receiver dates a row `now - age` on
//! its own clock, and the younger of two copies wins (errors are a network delay).

use crate::value::{Val, MAX_TEXT};
use hearsay_guest::codec::{put_text, put_varint, Reader};

/// Most attributes a row holds.
pub const MAX_ATTRS: usize = 64;
/// Most contacts (representatives) a row names.
pub const MAX_CONTACTS: usize = 8;
/// Longest address.
pub const MAX_ADDR: usize = 255;

/// What a row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A node (a leaf), its own attributes.
    Node,
    /// A child zone, the aggregates of its table.
    Zone,
}

/// One row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Node or zone.
    pub kind: Kind,
    /// When it was made, on this node's clock.
    pub issued: u64,
    /// Whom to gossip with about it: the node itself, or the zone's representatives.
    pub contacts: Vec<String>,
    /// Its attributes, sorted by name.
    pub attrs: Vec<(String, Val)>,
    /// A hash of its content (kind, contacts, attributes; not its age), set by
    /// [`Row::seal`] or on decoding: equal hashes, same row — a digest names a row
    /// by it, and only rows whose content differs travel whole.
    pub hash: u64,
}

impl Row {
    /// An empty row.
    pub fn new(kind: Kind, issued: u64, contacts: Vec<String>) -> Row {
        Row {
            kind,
            issued,
            contacts,
            attrs: Vec::new(),
            hash: 0,
        }
    }

    /// Computes the content hash after the row was filled.
    pub fn seal(mut self) -> Row {
        let mut content = Vec::new();
        self.encode_content(&mut content);
        self.hash = hash(&content);
        self
    }

    /// The attribute `name`.
    pub fn get(&self, name: &str) -> Option<&Val> {
        self.attrs
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| &self.attrs[i].1)
    }

    /// Sets attribute `name`.
    pub fn set(&mut self, name: &str, value: Val) {
        match self.attrs.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
            Ok(i) => self.attrs[i].1 = value,
            Err(i) => self.attrs.insert(i, (name.to_string(), value)),
        }
    }

    /// Appends the row's encoding as seen at `now`: its age (not its time), then its
    /// content.
    pub fn encode(&self, now: u64, out: &mut Vec<u8>) {
        put_varint(out, now.saturating_sub(self.issued));
        self.encode_content(out);
    }

    fn encode_content(&self, out: &mut Vec<u8>) {
        out.push(match self.kind {
            Kind::Node => 1,
            Kind::Zone => 2,
        });
        put_varint(out, self.contacts.len() as u64);
        for c in &self.contacts {
            put_text(out, c);
        }
        put_varint(out, self.attrs.len() as u64);
        for (name, value) in &self.attrs {
            put_text(out, name);
            value.encode(out);
        }
    }

    /// Reads a row received at `now`; None if malformed (attributes must be sorted
    /// and distinct).
    pub fn decode(r: &mut Reader<'_>, now: u64) -> Option<(Row, u64)> {
        let age = r.varint()?;
        let start = r.clone();
        let kind = match r.u8()? {
            1 => Kind::Node,
            2 => Kind::Zone,
            _ => return None,
        };
        let contacts = r.list(MAX_CONTACTS, |r| r.text(MAX_ADDR))?;
        let attrs = r.list(MAX_ATTRS, |r| Some((r.text(MAX_TEXT)?, Val::decode(r)?)))?;
        if attrs.windows(2).any(|w| w[0].0 >= w[1].0) {
            return None;
        }
        let content = start.take_until(r);
        let row = Row {
            kind,
            issued: now.saturating_sub(age),
            contacts,
            attrs,
            hash: hash(content),
        };
        Some((row, age))
    }
}

/// FNV-1a, 64 bits: a fixed hash every node computes alike (std's is seeded per
/// process); hand-written since guests take no crates.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The bytes between two positions of one reader.
trait Between<'a> {
    fn take_until(self, later: &Reader<'a>) -> &'a [u8];
}

impl<'a> Between<'a> for Reader<'a> {
    fn take_until(mut self, later: &Reader<'a>) -> &'a [u8] {
        let n = self.remaining() - later.remaining();
        self.take(n).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_travels_with_its_age() {
        let mut row = Row::new(Kind::Zone, 1_000, vec!["10.0.0.1:7000".to_string()]);
        row.set("nodes", Val::Num(3.0));
        row.set("a", Val::Text("x".to_string()));
        let mut bytes = Vec::new();
        row.encode(1_250, &mut bytes);
        let (back, age) = Row::decode(&mut Reader::new(&bytes), 5_000).unwrap();
        assert_eq!(age, 250);
        assert_eq!(back.issued, 4_750);
        assert_eq!(back.attrs, row.attrs);
        assert_eq!(back.get("nodes"), Some(&Val::Num(3.0)));
        assert_eq!(back.get("zzz"), None);
        assert_eq!(
            back.hash,
            row.clone().seal().hash,
            "the same content, the same hash"
        );
        let mut other = row.clone();
        other.set("nodes", Val::Num(4.0));
        assert_ne!(other.seal().hash, back.hash);
    }

    #[test]
    fn unsorted_attributes_are_malformed() {
        let mut row = Row::new(Kind::Node, 0, Vec::new());
        row.attrs = vec![("b".to_string(), Val::Num(1.0)), ("a".to_string(), Val::Num(2.0))];
        let mut bytes = Vec::new();
        row.encode(0, &mut bytes);
        assert_eq!(Row::decode(&mut Reader::new(&bytes), 0), None);
    }
}
