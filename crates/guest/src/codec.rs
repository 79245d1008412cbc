//! Bytes on the wire for modules: LEB128 varints, length-prefixed text, and a
//! [`Reader`] whose every read checks bounds, so decoding what comes off the network
//! gives `None` on malformed input and never panics. Each module's own message format
//! is built from these.

/// Bytes `v` takes as a varint.
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Appends `v` as a LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `s` as its length (a varint) and its bytes.
pub fn put_text(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// A cursor over untrusted bytes; every read checks bounds.
#[derive(Debug, Clone)]
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

    /// A byte that must be 0 or 1.
    pub fn flag(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// Eight bytes, little-endian.
    pub fn u64le(&mut self) -> Option<u64> {
        let raw = self.take(8)?;
        let mut b = [0u8; 8];
        b.copy_from_slice(raw);
        Some(u64::from_le_bytes(b))
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

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.remaining() {
            return None;
        }
        let raw = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Some(raw)
    }

    /// Length-prefixed bytes, at most `max` of them.
    pub fn bytes(&mut self, max: usize) -> Option<&'a [u8]> {
        let len = self.varint()?;
        if len > max as u64 {
            return None;
        }
        self.take(len as usize)
    }

    /// Length-prefixed UTF-8 text of at most `max` bytes (empty allowed).
    pub fn text(&mut self, max: usize) -> Option<String> {
        let raw = self.bytes(max)?;
        std::str::from_utf8(raw).ok().map(String::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn text_and_bytes_respect_their_limits() {
        let mut out = Vec::new();
        put_text(&mut out, "héllo");
        assert_eq!(Reader::new(&out).text(6), Some("héllo".to_string()));
        assert_eq!(Reader::new(&out).text(5), None);
        assert_eq!(Reader::new(&out[..3]).text(6), None);
        assert_eq!(Reader::new(&[2, 0xff, 0xfe]).text(8), None, "not UTF-8");
        assert_eq!(Reader::new(&[2]).flag(), None);
        assert_eq!(Reader::new(&[1, 2, 3]).u64le(), None);
    }
}

impl<'a> Reader<'a> {
    /// A list: a varint count (at most `max`), then that many of what `one` reads.
    /// None if the count is over `max` or any element is malformed.
    pub fn list<T>(
        &mut self,
        max: usize,
        mut one: impl FnMut(&mut Reader<'a>) -> Option<T>,
    ) -> Option<Vec<T>> {
        let n = self.varint()?;
        if n > max as u64 {
            return None;
        }
        // Capacity from what is left, not from the count a sender claims.
        let mut out = Vec::with_capacity((n as usize).min(self.remaining()));
        for _ in 0..n {
            out.push(one(self)?);
        }
        Some(out)
    }
}

#[cfg(test)]
mod list_tests {
    use super::*;

    #[test]
    fn a_list_is_read_whole_or_not_at_all() {
        let mut bytes = Vec::new();
        put_varint(&mut bytes, 3);
        for v in [1u64, 300, 7] {
            put_varint(&mut bytes, v);
        }
        assert_eq!(Reader::new(&bytes).list(3, |r| r.varint()), Some(vec![1, 300, 7]));
        assert_eq!(
            Reader::new(&bytes).list(2, |r| r.varint()),
            None,
            "over the limit"
        );
        assert_eq!(
            Reader::new(&bytes[..3]).list(3, |r| r.varint()),
            None,
            "cut short"
        );
    }
}
