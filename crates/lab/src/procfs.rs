//! What the lab reads about its agents from Linux's /proc: resident and proportional
//! memory, CPU ticks, and the bytes sent on the loopback interface. Linux only, like the lab's measurements (the `hearsay`
//! binary itself reads nothing from /proc).

use std::fs;

/// Named KiB fields (`Name:   123 kB`) of a /proc file.
fn kib_fields<const N: usize>(path: String, names: [&str; N]) -> Option<[u64; N]> {
    let text = fs::read_to_string(path).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let mut out = [0; N];
    for (slot, name) in out.iter_mut().zip(names) {
        *slot = field(name)?;
    }
    Some(out)
}

/// `(VmRSS, RssAnon)` of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let [rss, anon] = kib_fields(format!("/proc/{pid}/status"), ["VmRSS:", "RssAnon:"])?;
    Some((rss, anon))
}

/// `(Pss, Private_Clean + Private_Dirty)` of a process in KiB, from smaps_rollup.
pub fn pss_private_kib(pid: u32) -> Option<(u64, u64)> {
    let [pss, clean, dirty] = kib_fields(
        format!("/proc/{pid}/smaps_rollup"),
        ["Pss:", "Private_Clean:", "Private_Dirty:"],
    )?;
    Some((pss, clean + dirty))
}

/// Clock ticks per second of `cpu_ticks` (USER_HZ, 100 on Linux).
pub fn ticks_per_second() -> f64 {
    100.0
}

/// CPU ticks (utime + stime) a process has used.
pub fn cpu_ticks(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?)
}

/// Bytes sent on the loopback interface since boot (`/proc/net/dev`): what agents on
/// 127.0.0.1 put on the wire, headers included, whatever their protocol (UDP, TCP,
/// HTTP) — so hearsay and Serf are measured the same way.
pub fn loopback_tx_bytes() -> Option<u64> {
    let text = fs::read_to_string("/proc/net/dev").ok()?;
    let line = text.lines().find(|l| l.trim_start().starts_with("lo:"))?;
    // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit.
    line.split_once(':')?.1.split_whitespace().nth(8)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_and_cpu() {
        let me = std::process::id();
        let (rss, anon) = rss_kib(me).expect("VmRSS");
        assert!(rss > 0 && anon <= rss);
        let (pss, private) = pss_private_kib(me).expect("smaps_rollup");
        assert!(pss > 0 && private > 0);
        let before = loopback_tx_bytes().expect("lo in /proc/net/dev");
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .send_to(&[0; 1000], socket.local_addr().expect("addr"))
            .expect("send");
        assert!(loopback_tx_bytes().expect("lo") >= before + 1000);
        assert!(cpu_ticks(me).is_some());
    }
}
