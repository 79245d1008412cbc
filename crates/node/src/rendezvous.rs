//! The rendezvous list as an operator writes it — `IP:PORT`, `[IPv6]:PORT` or
//! `NAME:PORT` (a DNS name, e.g. a Kubernetes headless Service's pod names) — and
//! the addresses it resolves to now. Names are looked up at start and again every
//! `refresh_ms`, so a rendezvous node that moves (a rescheduled pod) is followed; a
//! name that does not resolve yet (its pod not started) is skipped until it does.
//! The core and the modules only ever see resolved addresses: when they change, the
//! actor hands the new list to both.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hearsay_core::PeerAddr;

/// One rendezvous entry, checked for form: an address, or a host name and a port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RendezvousEntry {
    /// A literal address: used as is.
    Addr(SocketAddr),
    /// A DNS name and port: resolved, and resolved again.
    Name(String, u16),
}

impl RendezvousEntry {
    /// Parses `IP:PORT`, `[IPv6]:PORT` or `NAME:PORT`.
    pub fn parse(text: &str) -> Result<RendezvousEntry, String> {
        let text = text.trim();
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(RendezvousEntry::Addr(addr));
        }
        let bad =
            |why: &str| format!("rendezvous {text:?}: {why} (expected IP:PORT, [IPv6]:PORT or NAME:PORT)");
        let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port: u16 = port.parse().map_err(|_| bad("bad port"))?;
        if port == 0 {
            return Err(bad("port 0"));
        }
        let name_ok = !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !name_ok {
            return Err(bad("not an IP address or a DNS name"));
        }
        Ok(RendezvousEntry::Name(host.to_ascii_lowercase(), port))
    }
}

impl std::fmt::Display for RendezvousEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RendezvousEntry::Addr(a) => write!(f, "{a}"),
            RendezvousEntry::Name(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

/// Resolves every entry with `lookup` (a name may give several addresses, IPv4 and
/// IPv6 alike); names that fail are left out and returned with why. The result is
/// sorted and without repeats, so two resolutions compare equal when nothing moved.
pub async fn resolve_with<F, Fut>(
    entries: &[RendezvousEntry],
    lookup: F,
) -> (Vec<PeerAddr>, Vec<(String, String)>)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = std::io::Result<Vec<SocketAddr>>>,
{
    let mut addrs = BTreeSet::new();
    let mut failed = Vec::new();
    for entry in entries {
        match entry {
            RendezvousEntry::Addr(a) => {
                addrs.insert(*a);
            }
            RendezvousEntry::Name(..) => match lookup(entry.to_string()).await {
                Ok(found) if !found.is_empty() => addrs.extend(found),
                Ok(_) => failed.push((entry.to_string(), "no addresses".to_string())),
                Err(e) => failed.push((entry.to_string(), e.to_string())),
            },
        }
    }
    (addrs.into_iter().collect(), failed)
}

/// [`resolve_with`] the system resolver (tokio's `lookup_host`).
pub async fn resolve(entries: &[RendezvousEntry]) -> (Vec<PeerAddr>, Vec<(String, String)>) {
    resolve_with(entries, |name| async move {
        tokio::net::lookup_host(name).await.map(|found| found.collect())
    })
    .await
}

/// The modules' bootstrap peers: the rendezvous addresses, this node's own among them
/// when it is one (so a module knows it is a rendezvous node; the simulator gives
/// modules the same list), each once.
pub fn bootstrap_peers(rendezvous: &[PeerAddr]) -> Vec<PeerAddr> {
    let mut peers = Vec::new();
    for a in rendezvous {
        if !peers.contains(a) {
            peers.push(*a);
        }
    }
    peers
}

/// Whether any entry is a name (only then is there anything to refresh).
pub fn has_names(entries: &[RendezvousEntry]) -> bool {
    entries.iter().any(|e| matches!(e, RendezvousEntry::Name(..)))
}

/// Resolves the names again every `every`, calling `changed` with the new list
/// whenever it differs from the last; ends when `changed` returns false (the agent
/// is gone).
pub async fn refresh_with<F, Fut>(
    entries: Vec<RendezvousEntry>,
    mut last: Vec<PeerAddr>,
    every: Duration,
    lookup: F,
    mut changed: impl FnMut(Vec<PeerAddr>) -> bool,
) where
    F: Fn(String) -> Fut,
    Fut: Future<Output = std::io::Result<Vec<SocketAddr>>>,
{
    let mut failing: BTreeSet<String> = BTreeSet::new();
    loop {
        tokio::time::sleep(every).await;
        let (now, failed) = resolve_with(&entries, &lookup).await;
        let failed_names: BTreeSet<String> = failed.iter().map(|(n, _)| n.clone()).collect();
        for (name, why) in &failed {
            if !failing.contains(name) {
                tracing::warn!(rendezvous = %name, "rendezvous name does not resolve: {why}");
            }
        }
        failing = failed_names;
        if now != last {
            tracing::info!(before = ?last, now = ?now, "rendezvous addresses changed");
            if !changed(now.clone()) {
                return;
            }
            last = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn entries_parse_addresses_v6_and_names() {
        assert_eq!(
            RendezvousEntry::parse("127.0.0.1:7000"),
            Ok(RendezvousEntry::Addr("127.0.0.1:7000".parse().unwrap()))
        );
        assert_eq!(
            RendezvousEntry::parse("[::1]:7000"),
            Ok(RendezvousEntry::Addr("[::1]:7000".parse().unwrap()))
        );
        assert_eq!(
            RendezvousEntry::parse("Hearsay-0.hearsay.default.svc.cluster.local:7946"),
            Ok(RendezvousEntry::Name(
                "hearsay-0.hearsay.default.svc.cluster.local".into(),
                7946
            ))
        );
        for bad in [
            "",
            "host",
            "host:",
            "host:0",
            "host:70000",
            "::1:7000",
            "-bad:1",
            "a..b:1",
            "a b:1",
            "a_b:1",
        ] {
            assert!(RendezvousEntry::parse(bad).is_err(), "{bad:?} was taken");
        }
    }

    #[tokio::test]
    async fn names_are_resolved_again_and_changes_handed_on() {
        let answers = Arc::new(Mutex::new(vec!["10.0.0.1:7000".parse::<SocketAddr>().unwrap()]));
        let lookup = {
            let answers = answers.clone();
            move |name: String| {
                let answers = answers.clone();
                async move {
                    assert_eq!(name, "seed.example:7000");
                    Ok(answers.lock().unwrap().clone())
                }
            }
        };
        let entries = vec![
            RendezvousEntry::parse("seed.example:7000").unwrap(),
            RendezvousEntry::parse("[::1]:7001").unwrap(),
        ];
        let (first, failed) = resolve_with(&entries, &lookup).await;
        assert!(failed.is_empty());
        assert_eq!(first.len(), 2);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let seen = seen.clone();
            refresh_with(entries, first, Duration::from_millis(5), lookup, move |now| {
                seen.lock().unwrap().push(now);
                seen.lock().unwrap().len() < 2
            })
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(
            seen.lock().unwrap().is_empty(),
            "nothing moved: nothing handed on"
        );
        *answers.lock().unwrap() = vec!["10.0.0.2:7000".parse().unwrap()];
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(
            seen.lock().unwrap()[0],
            vec![
                "10.0.0.2:7000".parse::<SocketAddr>().unwrap(),
                "[::1]:7001".parse().unwrap()
            ]
        );
        // A name that stops resolving leaves its addresses out.
        answers.lock().unwrap().clear();
        task.await.unwrap();
        assert_eq!(
            seen.lock().unwrap()[1],
            vec!["[::1]:7001".parse::<SocketAddr>().unwrap()]
        );
    }
}
