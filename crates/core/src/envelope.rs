//! Envelopes: the only thing that crosses the wire between cores. Versioned binary
//! encoding (postcard through serde), a size cap, and an integrity check so a flipped
//! bit is dropped and counted — never delivered, never gossiped on. The 2008 S3 outage
//! began with one corrupted bit that gossip carried everywhere; this is where hearsay
//! refuses to be that carrier.
//!
//! Two seals, told apart by the first byte:
//!
//! - format 1, no cluster key: `[1][postcard(Envelope)][crc32 LE of all before]` —
//!   catches corruption, not forgery;
//! - format 2, with a cluster key: `[2][sent_at_ms: u64 LE][postcard(Envelope)]
//!   [keyed BLAKE3 of all before: 32 bytes]` — only holders of the key can make one,
//!   and one captured on the wire is refused once it is older than the replay window.
//!
//! And a compact form of the commonest envelope, a module payload to a peer holding
//! the same configuration (`Body::Tagged`): formats 3 (checksum) and 4 (MAC) from an
//! IPv4 sender, 5 and 6 from an IPv6 one, put `[ip: 4 or 16][port: u16 LE]
//! [digest: u64 LE][deployment tag: u32 LE][payload]` where formats 1 and 2 put the
//! postcard body — 23 bytes around an IPv4 sender's payload under the checksum,
//! instead of about 50.

use serde::{Deserialize, Serialize};

use crate::configuration::ConfigDigest;
use crate::deployment::{Deployment, DeploymentNumber, DeploymentTag, Millis};
use crate::ids::{ModuleName, PeerAddr};

/// The wire format of checksummed envelopes.
pub const FORMAT_VERSION: u8 = 1;
/// The wire format of envelopes authenticated with the cluster key.
pub const FORMAT_MAC: u8 = 2;
/// Length of the MAC of a format-2 envelope.
const MAC_BYTES: usize = 32;
/// Default cap on an encoded envelope; larger ones are refused both ways.
pub const DEFAULT_MAX_ENVELOPE_BYTES: usize = 64 * 1024;
/// Compact module envelopes (`Body::Tagged`) from an IPv4 sender, checksummed.
pub const FORMAT_COMPACT: u8 = 3;
/// The same, authenticated with the cluster key.
pub const FORMAT_COMPACT_MAC: u8 = 4;
/// Compact module envelopes from an IPv6 sender, checksummed.
pub const FORMAT_COMPACT_V6: u8 = 5;
/// The same, authenticated with the cluster key.
pub const FORMAT_COMPACT_V6_MAC: u8 = 6;

/// How the body after the format byte (and timestamp) is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Postcard,
    CompactV4,
    CompactV6,
}

/// The format byte of an envelope: its seal and its layout.
fn format_byte(mac: bool, layout: Layout) -> u8 {
    match (layout, mac) {
        (Layout::Postcard, false) => FORMAT_VERSION,
        (Layout::Postcard, true) => FORMAT_MAC,
        (Layout::CompactV4, false) => FORMAT_COMPACT,
        (Layout::CompactV4, true) => FORMAT_COMPACT_MAC,
        (Layout::CompactV6, false) => FORMAT_COMPACT_V6,
        (Layout::CompactV6, true) => FORMAT_COMPACT_V6_MAC,
    }
}

/// `(mac, layout)` of a format byte; None for an unknown format.
fn parse_format(byte: u8) -> Option<(bool, Layout)> {
    Some(match byte {
        FORMAT_VERSION => (false, Layout::Postcard),
        FORMAT_MAC => (true, Layout::Postcard),
        FORMAT_COMPACT => (false, Layout::CompactV4),
        FORMAT_COMPACT_MAC => (true, Layout::CompactV4),
        FORMAT_COMPACT_V6 => (false, Layout::CompactV6),
        FORMAT_COMPACT_V6_MAC => (true, Layout::CompactV6),
        _ => return None,
    })
}
/// Bytes of framing around the postcard body: format byte + checksum.
const FRAME_BYTES: usize = 1 + 4;

/// One message between two cores.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Where to answer: the sender's gossip address. Also a membership hint.
    pub sender_addr: PeerAddr,
    /// The sender's configuration digest; a difference starts an exchange.
    pub digest: ConfigDigest,
    /// What it carries.
    pub body: Body,
}

/// What an envelope carries: a module's gossip, or the core's own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// A module's payload, tagged with the deployment number of the instance that sent
    /// it: the piggyback that spreads deployments.
    Module {
        /// Which module.
        module: ModuleName,
        /// The sending instance's deployment.
        number: DeploymentNumber,
        /// The module's bytes, opaque to the core.
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
    },
    /// "Here is what I run": every module with its deployment number. The receiver
    /// pushes records the sender lacks and requests the ones it lacks itself.
    Summary(Vec<(ModuleName, DeploymentNumber)>),
    /// Full deployment records.
    Records(Vec<Deployment>),
    /// "Send me your records for these modules."
    Request(Vec<ModuleName>),
    /// A module's payload with only its deployment's tag, sent to a peer whose last
    /// envelope carried the sender's own configuration digest (so it holds the same
    /// deployment). Written only in the compact formats, never by postcard (so it
    /// stays last: serde numbers variants by position).
    #[serde(skip)]
    Tagged {
        /// The deployment's tag.
        tag: DeploymentTag,
        /// The module's bytes.
        payload: Vec<u8>,
    },
}

/// Why bytes are not an envelope. Every variant is a reason to drop and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum EnvelopeError {
    /// Shorter than the framing.
    #[error("envelope truncated")]
    Truncated,
    /// Longer than the cap.
    #[error("envelope larger than the size cap")]
    Oversized,
    /// Written by an unknown format.
    #[error("unsupported envelope format")]
    UnsupportedFormat,
    /// The checksum does not match: bits were flipped on the way.
    #[error("envelope checksum mismatch")]
    Corrupt,
    /// Checksum fine, content not an envelope (or trailing bytes).
    #[error("malformed envelope")]
    Malformed,
    /// The MAC does not match: sent without (or with another) cluster key, or forged.
    #[error("envelope not authenticated by the cluster key")]
    Unauthenticated,
    /// Authentic, but sent outside the replay window: a replay or a badly wrong clock.
    #[error("envelope outside the replay window")]
    Replayed,
}

/// The secret shared by a cluster's nodes to authenticate gossip.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey(pub [u8; 32]);

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterKey(…)")
    }
}

/// How a node seals and opens envelopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seal {
    /// A checksum: integrity against corruption only.
    Checksum,
    /// A MAC with the cluster key, and a replay window.
    Mac {
        /// The cluster key.
        key: ClusterKey,
        /// Envelopes sent more than this long before (or after) `now` are refused.
        window_ms: Millis,
    },
}

impl Envelope {
    /// Encodes the envelope under `seal` at time `now`, refusing one that would exceed
    /// `max_bytes`.
    pub fn encode(&self, max_bytes: usize, seal: &Seal, now: Millis) -> Result<Vec<u8>, EnvelopeError> {
        let layout = match (&self.body, self.sender_addr.ip()) {
            (Body::Tagged { .. }, std::net::IpAddr::V4(_)) => Layout::CompactV4,
            (Body::Tagged { .. }, std::net::IpAddr::V6(_)) => Layout::CompactV6,
            _ => Layout::Postcard,
        };
        let mac = matches!(seal, Seal::Mac { .. });
        let mut out = Vec::with_capacity(64);
        out.push(format_byte(mac, layout));
        if mac {
            out.extend_from_slice(&now.to_le_bytes());
        }
        let mut out = match &self.body {
            Body::Tagged { tag, payload } => {
                match self.sender_addr.ip() {
                    std::net::IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
                    std::net::IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
                }
                out.extend_from_slice(&self.sender_addr.port().to_le_bytes());
                out.extend_from_slice(&self.digest.0.to_le_bytes());
                out.extend_from_slice(&tag.0.to_le_bytes());
                out.extend_from_slice(payload);
                out
            }
            _ => postcard::to_extend(self, out).map_err(|_| EnvelopeError::Malformed)?,
        };
        let tag_len = match seal {
            Seal::Checksum => 4,
            Seal::Mac { .. } => MAC_BYTES,
        };
        if out.len() + tag_len > max_bytes {
            return Err(EnvelopeError::Oversized);
        }
        match seal {
            Seal::Checksum => {
                let crc = crc32fast::hash(&out);
                out.extend_from_slice(&crc.to_le_bytes());
            }
            Seal::Mac { key, .. } => {
                let mac = blake3::keyed_hash(&key.0, &out);
                out.extend_from_slice(mac.as_bytes());
            }
        }
        Ok(out)
    }

    /// Decodes and checks an envelope under `seal` at time `now`. Never panics,
    /// whatever the bytes.
    pub fn decode(
        bytes: &[u8],
        max_bytes: usize,
        seal: &Seal,
        now: Millis,
    ) -> Result<Envelope, EnvelopeError> {
        if bytes.len() > max_bytes {
            return Err(EnvelopeError::Oversized);
        }
        if bytes.len() < FRAME_BYTES {
            return Err(EnvelopeError::Truncated);
        }
        let body = match seal {
            Seal::Checksum => {
                let (framed, crc) = bytes.split_at(bytes.len() - 4);
                let crc = u32::from_le_bytes(crc.try_into().map_err(|_| EnvelopeError::Truncated)?);
                if crc32fast::hash(framed) != crc {
                    return Err(EnvelopeError::Corrupt);
                }
                match parse_format(framed[0]) {
                    Some((false, layout)) => (layout, &framed[1..]),
                    Some((true, _)) => return Err(EnvelopeError::Unauthenticated),
                    None => return Err(EnvelopeError::UnsupportedFormat),
                }
            }
            Seal::Mac { key, window_ms } => {
                // Anything not sealed with a MAC is unauthenticated, however short.
                let Some((true, layout)) = parse_format(bytes[0]) else {
                    return Err(EnvelopeError::Unauthenticated);
                };
                if bytes.len() < 1 + 8 + MAC_BYTES {
                    return Err(EnvelopeError::Truncated);
                }
                let (framed, mac) = bytes.split_at(bytes.len() - MAC_BYTES);
                let mac: [u8; MAC_BYTES] = mac.try_into().map_err(|_| EnvelopeError::Truncated)?;
                // blake3::Hash compares in constant time.
                if blake3::keyed_hash(&key.0, framed) != blake3::Hash::from_bytes(mac) {
                    return Err(EnvelopeError::Unauthenticated);
                }
                let sent_at =
                    u64::from_le_bytes(framed[1..9].try_into().map_err(|_| EnvelopeError::Truncated)?);
                if sent_at.abs_diff(now) > *window_ms {
                    return Err(EnvelopeError::Replayed);
                }
                (layout, &framed[9..])
            }
        };
        match body {
            (Layout::Postcard, body) => match postcard::take_from_bytes::<Envelope>(body) {
                Ok((env, [])) => Ok(env),
                _ => Err(EnvelopeError::Malformed),
            },
            (Layout::CompactV4, mut rest) => {
                let ip = std::net::Ipv4Addr::from(take::<4>(&mut rest)?);
                decode_compact(ip.into(), rest)
            }
            (Layout::CompactV6, mut rest) => {
                let ip = std::net::Ipv6Addr::from(take::<16>(&mut rest)?);
                decode_compact(ip.into(), rest)
            }
        }
    }
}

/// Whose traffic an encoded envelope claims to be, read from its head without checking
/// it: a driver uses this to queue the core's own gossip ahead of modules' before the
/// core has looked at anything. A forger gains nothing by lying — the core checks
/// every envelope all the same — and bytes that don't parse count as module traffic,
/// the lower priority.
pub fn traffic_of(bytes: &[u8]) -> crate::io::Traffic {
    use crate::io::Traffic;
    let Some((&format, rest)) = bytes.split_first() else {
        return Traffic::Module;
    };
    let body = match parse_format(format) {
        Some((false, Layout::Postcard)) => rest,
        Some((true, Layout::Postcard)) => rest.get(8..).unwrap_or_default(),
        _ => return Traffic::Module,
    };
    match postcard::take_from_bytes::<(PeerAddr, ConfigDigest, u32)>(body) {
        // Variant 0 is `Body::Module`; the others are the core's.
        Ok(((_, _, variant), _)) if variant != 0 => Traffic::Core,
        _ => Traffic::Module,
    }
}

/// Splits `N` bytes off the front of `rest`.
fn take<const N: usize>(rest: &mut &[u8]) -> Result<[u8; N], EnvelopeError> {
    let head = rest.get(..N).ok_or(EnvelopeError::Malformed)?;
    let out = head.try_into().map_err(|_| EnvelopeError::Malformed)?;
    *rest = &rest[N..];
    Ok(out)
}

/// The rest of a compact envelope after the sender's ip.
fn decode_compact(ip: std::net::IpAddr, mut rest: &[u8]) -> Result<Envelope, EnvelopeError> {
    let port = u16::from_le_bytes(take(&mut rest)?);
    let digest = ConfigDigest(u64::from_le_bytes(take(&mut rest)?));
    let tag = DeploymentTag(u32::from_le_bytes(take(&mut rest)?));
    Ok(Envelope {
        sender_addr: PeerAddr::new(ip, port),
        digest,
        body: Body::Tagged {
            tag,
            payload: rest.to_vec(),
        },
    })
}

#[cfg(test)]
mod traffic_tests {
    use super::*;
    use crate::io::Traffic;

    #[test]
    fn the_head_tells_the_cores_traffic_from_modules() {
        let from: PeerAddr = "127.0.0.1:7946".parse().unwrap();
        let module = ModuleName::new("m").unwrap();
        let mac = Seal::Mac {
            key: ClusterKey([7; 32]),
            window_ms: 1000,
        };
        let bodies = [
            (
                Body::Module {
                    module: module.clone(),
                    number: DeploymentNumber::default(),
                    payload: vec![1, 2, 3],
                },
                Traffic::Module,
            ),
            (
                Body::Tagged {
                    tag: DeploymentTag(5),
                    payload: vec![1],
                },
                Traffic::Module,
            ),
            (
                Body::Summary(vec![(module.clone(), DeploymentNumber::default())]),
                Traffic::Core,
            ),
            (Body::Records(vec![]), Traffic::Core),
            (Body::Request(vec![module]), Traffic::Core),
        ];
        for (body, want) in bodies {
            let envelope = Envelope {
                sender_addr: from,
                digest: ConfigDigest(u64::MAX),
                body,
            };
            for seal in [&Seal::Checksum, &mac] {
                let bytes = envelope.encode(DEFAULT_MAX_ENVELOPE_BYTES, seal, 5).unwrap();
                assert_eq!(traffic_of(&bytes), want, "{:?}", envelope.body);
            }
        }
        assert_eq!(traffic_of(b""), Traffic::Module);
        assert_eq!(traffic_of(&[1, 0xff, 0xff]), Traffic::Module);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::CodeVersion;
    use crate::ids::NodeId;
    use proptest::prelude::*;

    const MAX: usize = DEFAULT_MAX_ENVELOPE_BYTES;

    fn sample(payload: Vec<u8>) -> Envelope {
        Envelope {
            sender_addr: "127.0.0.1:7946".parse().unwrap(),
            digest: ConfigDigest(99),
            body: Body::Module {
                module: ModuleName::new("membership").unwrap(),
                number: DeploymentNumber {
                    time_ms: 1_764_000_000_000,
                    origin: NodeId(3),
                },
                payload,
            },
        }
    }

    fn records() -> Envelope {
        Envelope {
            body: Body::Records(vec![Deployment {
                module: ModuleName::new("m").unwrap(),
                version: Some(CodeVersion::of(b"x")),
                number: DeploymentNumber {
                    time_ms: 5,
                    origin: NodeId(1),
                },
                params: "{\"k\":1}".into(),
                previous: None,
                budget: Default::default(),
                auto_rollback_ms: None,
                signature: Some(vec![1, 2, 3]),
            }]),
            ..sample(vec![])
        }
    }

    fn tagged(addr: &str, payload: Vec<u8>) -> Envelope {
        Envelope {
            sender_addr: addr.parse().unwrap(),
            digest: ConfigDigest(0xfedc_ba98_7654_3210),
            body: Body::Tagged {
                tag: DeploymentTag(0xdead_beef),
                payload,
            },
        }
    }

    #[test]
    fn round_trips() {
        for env in [
            sample(b"hello".to_vec()),
            records(),
            tagged("127.0.0.1:20000", b"hello".to_vec()),
            tagged("[::1]:7946", vec![]),
        ] {
            let bytes = env.encode(MAX, &Seal::Checksum, 0).unwrap();
            assert_eq!(Envelope::decode(&bytes, MAX, &Seal::Checksum, 0).unwrap(), env);
            let bytes = env.encode(MAX, &mac(), 5).unwrap();
            assert_eq!(Envelope::decode(&bytes, MAX, &mac(), 5).unwrap(), env);
        }
    }

    #[test]
    fn a_compact_envelope_adds_23_bytes_to_an_ipv4_payload() {
        for len in [0, 100, 8192] {
            let env = tagged("10.1.2.3:65535", vec![1; len]);
            assert_eq!(env.encode(MAX, &Seal::Checksum, 0).unwrap().len(), len + 23);
            assert_eq!(env.encode(MAX, &mac(), 0).unwrap().len(), len + 23 - 4 + 8 + 32);
        }
        let full = sample(vec![1; 100]).encode(MAX, &Seal::Checksum, 0).unwrap();
        assert!(full.len() > 100 + 24, "the full form carries module and number");
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        for env in [
            sample(b"some payload bytes".to_vec()),
            records(),
            tagged("127.0.0.1:1", b"some payload bytes".to_vec()),
        ] {
            let bytes = env.encode(MAX, &Seal::Checksum, 0).unwrap();
            for bit in 0..bytes.len() * 8 {
                let mut flipped = bytes.clone();
                flipped[bit / 8] ^= 1 << (bit % 8);
                assert!(
                    Envelope::decode(&flipped, MAX, &Seal::Checksum, 0).is_err(),
                    "bit {bit} not detected"
                );
            }
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        for env in [records(), tagged("[::1]:1", b"xyz".to_vec())] {
            let bytes = env.encode(MAX, &Seal::Checksum, 0).unwrap();
            for len in 0..bytes.len() {
                assert!(
                    Envelope::decode(&bytes[..len], MAX, &Seal::Checksum, 0).is_err(),
                    "length {len}"
                );
            }
        }
    }

    #[test]
    fn a_compact_header_cut_short_is_malformed() {
        // A valid checksum over a compact header that ends early (here: in the digest).
        for format in [FORMAT_COMPACT, FORMAT_COMPACT_V6] {
            let mut bytes = vec![format, 127, 0, 0, 1, 1, 0, 9, 9];
            let crc = crc32fast::hash(&bytes);
            bytes.extend_from_slice(&crc.to_le_bytes());
            assert_eq!(
                Envelope::decode(&bytes, MAX, &Seal::Checksum, 0),
                Err(EnvelopeError::Malformed)
            );
        }
    }

    #[test]
    fn size_cap_holds_both_ways() {
        let big = sample(vec![7; 2000]);
        assert_eq!(
            big.encode(1000, &Seal::Checksum, 0),
            Err(EnvelopeError::Oversized)
        );
        let bytes = big.encode(MAX, &Seal::Checksum, 0).unwrap();
        assert_eq!(
            Envelope::decode(&bytes, 1000, &Seal::Checksum, 0),
            Err(EnvelopeError::Oversized)
        );
    }

    #[test]
    fn trailing_bytes_and_unknown_format_are_refused() {
        let mut bytes = sample(vec![1]).encode(MAX, &Seal::Checksum, 0).unwrap();
        bytes.truncate(bytes.len() - 4);
        let mut trailing = bytes.clone();
        trailing.push(0);
        let crc = crc32fast::hash(&trailing);
        trailing.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            Envelope::decode(&trailing, MAX, &Seal::Checksum, 0),
            Err(EnvelopeError::Malformed)
        );
        bytes[0] = 7;
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            Envelope::decode(&bytes, MAX, &Seal::Checksum, 0),
            Err(EnvelopeError::UnsupportedFormat)
        );
    }

    fn mac() -> Seal {
        Seal::Mac {
            key: ClusterKey([7; 32]),
            window_ms: 30_000,
        }
    }

    #[test]
    fn cluster_key_authenticates_and_bounds_replays() {
        let env = records();
        let bytes = env.encode(MAX, &mac(), 100_000).unwrap();
        assert_eq!(Envelope::decode(&bytes, MAX, &mac(), 100_000).unwrap(), env);
        assert_eq!(
            Envelope::decode(&bytes, MAX, &mac(), 129_000).unwrap(),
            env,
            "within the window"
        );
        assert_eq!(
            Envelope::decode(&bytes, MAX, &mac(), 131_000),
            Err(EnvelopeError::Replayed)
        );
        assert_eq!(
            Envelope::decode(&bytes, MAX, &mac(), 60_000),
            Err(EnvelopeError::Replayed),
            "from the future"
        );
        // Without the key, or with another key: refused either way.
        let other = Seal::Mac {
            key: ClusterKey([8; 32]),
            window_ms: 30_000,
        };
        assert_eq!(
            Envelope::decode(&bytes, MAX, &other, 100_000),
            Err(EnvelopeError::Unauthenticated)
        );
        assert_eq!(
            Envelope::decode(&bytes, MAX, &Seal::Checksum, 100_000),
            Err(EnvelopeError::Corrupt)
        );
        let plain = env.encode(MAX, &Seal::Checksum, 100_000).unwrap();
        assert_eq!(
            Envelope::decode(&plain, MAX, &mac(), 100_000),
            Err(EnvelopeError::Unauthenticated)
        );
        // Every bit flip, the timestamp's included, is refused.
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                Envelope::decode(&flipped, MAX, &mac(), 100_000).is_err(),
                "bit {bit}"
            );
        }
    }

    /// A valid checksum over garbage must still be refused, not panic: this is what an
    /// attacker (or a buggy peer) can always produce.
    fn with_valid_crc(mut body: Vec<u8>) -> Vec<u8> {
        body.insert(0, FORMAT_VERSION);
        let crc = crc32fast::hash(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Envelope::decode(&bytes, MAX, &Seal::Checksum, 0);
            let _ = Envelope::decode(&with_valid_crc(bytes.clone()), MAX, &Seal::Checksum, 0);
            let mut compact = with_valid_crc(bytes);
            compact[0] = FORMAT_COMPACT;
            let n = compact.len() - 4;
            let crc = crc32fast::hash(&compact[..n]);
            compact[n..].copy_from_slice(&crc.to_le_bytes());
            let _ = Envelope::decode(&compact, MAX, &Seal::Checksum, 0);
        }

        #[test]
        fn mutated_envelopes_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..64),
                                         edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
                                         cut in any::<prop::sample::Index>()) {
            let mut body = records().encode(MAX, &Seal::Checksum, 0).unwrap();
            body.truncate(body.len() - 4);
            body.remove(0);
            body.extend_from_slice(&payload);
            for (at, value) in edits {
                let i = at.index(body.len());
                body[i] = value;
            }
            let keep = cut.index(body.len() + 1);
            body.truncate(keep);
            let _ = Envelope::decode(&with_valid_crc(body), MAX, &Seal::Checksum, 0);
        }
    }
}
