//! Module code the CLI carries: the membership module's committed wasm, embedded so
//! `hearsay cluster` works from anywhere, and distinct versions of it for demos and
//! benchmarks.

/// `modules/dist/membership.wasm`, as committed.
pub const MEMBERSHIP: &[u8] = include_bytes!("../../../modules/dist/membership.wasm");

/// The same module with an empty custom section named `name` appended: still valid
/// and behaving identically, but other bytes, so another code version (sha256).
pub fn variant(wasm: &[u8], name: &str) -> Vec<u8> {
    let mut content = leb128(name.len() as u64);
    content.extend_from_slice(name.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    out.extend(leb128(content.len() as u64));
    out.extend(content);
    out
}

fn leb128(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variant_is_a_custom_section() {
        assert!(MEMBERSHIP.starts_with(b"\0asm"));
        let v2 = variant(MEMBERSHIP, "hearsay-demo-v2");
        assert_eq!(&v2[MEMBERSHIP.len()..], b"\x00\x10\x0fhearsay-demo-v2");
        assert_eq!(leb128(300), vec![0xac, 0x02]);
    }
}
