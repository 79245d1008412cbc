//! Simulated addresses: node `i` is `10.x.y.z:7946` with `x.y.z` = `i + 1`. They are
//! labels, never bound; the mapping is arithmetic so 100,000 nodes need no table.

use hearsay_core::PeerAddr;
use std::net::{IpAddr, Ipv4Addr};

/// The gossip port every simulated node "listens" on.
const PORT: u16 = 7946;

/// The address of node `i`.
pub fn addr_of(i: usize) -> PeerAddr {
    let n = (i + 1) as u32;
    assert!(n < 1 << 24, "the simulator addresses at most 16M nodes");
    PeerAddr::new(
        IpAddr::V4(Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8)),
        PORT,
    )
}

/// The node behind an address, if it is a simulated one.
pub fn node_of(addr: PeerAddr) -> Option<usize> {
    match addr.ip() {
        IpAddr::V4(ip) if addr.port() == PORT && ip.octets()[0] == 10 => {
            let [_, a, b, c] = ip.octets();
            let n = (a as usize) << 16 | (b as usize) << 8 | c as usize;
            n.checked_sub(1)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for i in [0, 1, 255, 256, 65_535, 65_536, 99_999, 1_000_000] {
            assert_eq!(node_of(addr_of(i)), Some(i));
        }
        assert_eq!(node_of("127.0.0.1:7946".parse().unwrap()), None);
        assert_eq!(node_of("10.0.0.0:7946".parse().unwrap()), None);
    }
}
