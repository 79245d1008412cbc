//! The envelope decoder, under both seals: any bytes give an envelope or an error,
//! never a panic; whatever decodes re-encodes to something that decodes the same.
#![no_main]

use hearsay_core::envelope::{ClusterKey, Seal, DEFAULT_MAX_ENVELOPE_BYTES as MAX};
use hearsay_core::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mac = Seal::Mac { key: ClusterKey([7; 32]), window_ms: u64::MAX };
    for seal in [Seal::Checksum, mac] {
        if let Ok(env) = Envelope::decode(data, MAX, &seal, 0) {
            let again = env.encode(MAX, &seal, 0).expect("a decoded envelope re-encodes");
            assert_eq!(Envelope::decode(&again, MAX, &seal, 0).expect("round trip"), env);
        }
    }
    // The body alone, as if the checksum had been forged to match: the full form and
    // the compact ones (IPv4 and IPv6 senders).
    use hearsay_core::envelope::{FORMAT_COMPACT, FORMAT_COMPACT_V6, FORMAT_VERSION};
    for format in [FORMAT_VERSION, FORMAT_COMPACT, FORMAT_COMPACT_V6] {
        let mut framed = vec![format];
        framed.extend_from_slice(data);
        let crc = crc32(&framed);
        framed.extend_from_slice(&crc.to_le_bytes());
        let _ = Envelope::decode(&framed, MAX, &Seal::Checksum, 0);
    }
});

/// CRC-32 (IEEE), bitwise: the fuzz target shouldn't pull crc32fast just for this.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc ^= *b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
