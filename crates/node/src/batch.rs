//! The body of `POST /gossip`: a batch of encoded envelopes, each prefixed with its
//! length (u32, little-endian). Envelopes to one peer are batched so a round of
//! module gossip plus the core's own answers costs one HTTP request, not many.

/// Most envelopes one batch may hold (both ways).
pub const MAX_BATCH_ENVELOPES: usize = 1024;
/// Largest batch body the sender builds and the listener accepts.
pub const MAX_BATCH_BYTES: usize = 4 << 20;

/// Why a batch body could not be split into envelopes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// A length prefix or an envelope runs past the end of the body.
    #[error("batch is truncated")]
    Truncated,
    /// More than [`MAX_BATCH_ENVELOPES`] envelopes.
    #[error("batch holds more than {MAX_BATCH_ENVELOPES} envelopes")]
    TooMany,
    /// An empty batch: nothing to deliver, and never sent by a hearsay node.
    #[error("batch is empty")]
    Empty,
}

/// Appends one envelope to a batch body.
pub fn push(body: &mut Vec<u8>, envelope: &[u8]) {
    body.extend_from_slice(&(envelope.len() as u32).to_le_bytes());
    body.extend_from_slice(envelope);
}

/// Bytes an envelope takes in a batch.
pub fn framed_len(envelope: &[u8]) -> usize {
    4 + envelope.len()
}

/// Splits a batch body into its envelopes. Only the framing is checked here; each
/// envelope is checked by the core (size cap, checksum, format), which counts what
/// it drops.
pub fn decode(mut body: &[u8]) -> Result<Vec<Vec<u8>>, BatchError> {
    let mut out = Vec::new();
    while !body.is_empty() {
        if out.len() == MAX_BATCH_ENVELOPES {
            return Err(BatchError::TooMany);
        }
        let (len, rest) = body.split_first_chunk::<4>().ok_or(BatchError::Truncated)?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err(BatchError::Truncated);
        }
        let (envelope, rest) = rest.split_at(len);
        out.push(envelope.to_vec());
        body = rest;
    }
    if out.is_empty() {
        return Err(BatchError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut body = Vec::new();
        for e in [&b"one"[..], b"", b"three"] {
            push(&mut body, e);
        }
        assert_eq!(
            body.len(),
            framed_len(b"one") + framed_len(b"") + framed_len(b"three")
        );
        assert_eq!(
            decode(&body).unwrap(),
            vec![b"one".to_vec(), vec![], b"three".to_vec()]
        );
    }

    #[test]
    fn refuses_bad_framing() {
        assert_eq!(decode(&[]), Err(BatchError::Empty));
        assert_eq!(decode(&[1, 0]), Err(BatchError::Truncated));
        assert_eq!(decode(&[5, 0, 0, 0, 1, 2]), Err(BatchError::Truncated));
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff]), Err(BatchError::Truncated));
        let mut body = Vec::new();
        for _ in 0..=MAX_BATCH_ENVELOPES {
            push(&mut body, b"x");
        }
        assert_eq!(decode(&body), Err(BatchError::TooMany));
    }
}
