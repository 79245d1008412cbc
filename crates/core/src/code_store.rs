//! The code this node holds and the downloads of what it lacks, as one type: a
//! version is either held or being fetched, never both — code stored by a local
//! deploy ends any download of it, code the disk refused is fetched again, and only
//! code that was asked for and hashes to its version is ever accepted.

use std::collections::{BTreeMap, BTreeSet};

use crate::deployment::{CodeVersion, Millis};
use crate::ids::PeerAddr;

/// Most peers remembered as sources of one version.
const MAX_SOURCES: usize = 8;

/// One wanted code version.
#[derive(Debug, Clone, Default)]
struct Fetch {
    /// Peers that may hold it; the newest first.
    sources: Vec<PeerAddr>,
    /// Which source to ask next.
    next: usize,
    /// The download in progress: who, since when.
    in_flight: Option<(PeerAddr, Millis)>,
    /// Don't start a new attempt before this.
    retry_at: Millis,
}

/// What became of downloaded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// Not asked for (or no longer wanted): never stored.
    NotAsked,
    /// They don't hash to the version: the download from this peer (if it was the one
    /// in flight) failed.
    Mismatch(Option<PeerAddr>),
    /// Held from now on.
    Stored,
}

/// Held versions and downloads.
#[derive(Debug, Clone, Default)]
pub(crate) struct CodeStore {
    held: BTreeSet<CodeVersion>,
    fetches: BTreeMap<CodeVersion, Fetch>,
}

impl CodeStore {
    /// The store as the driver found it on disk.
    pub(crate) fn new(held: BTreeSet<CodeVersion>) -> Self {
        CodeStore {
            held,
            fetches: BTreeMap::new(),
        }
    }

    /// True when the version's code is in the local store.
    pub(crate) fn holds(&self, version: &CodeVersion) -> bool {
        self.held.contains(version)
    }

    /// Code put in the store here (a deploy, a record with its code): any download of
    /// it ends. True if it was not held before.
    pub(crate) fn stored(&mut self, version: CodeVersion) -> bool {
        self.fetches.remove(&version);
        self.held.insert(version)
    }

    /// The store refused the code (a full disk): no longer held, and, if still
    /// `wanted`, fetched again from `retry_at`. False if it wasn't held.
    pub(crate) fn lost(&mut self, version: CodeVersion, wanted: bool, retry_at: Millis) -> bool {
        if !self.held.remove(&version) {
            return false;
        }
        if wanted {
            self.fetches.entry(version).or_default().retry_at = retry_at;
        }
        true
    }

    /// Makes sure a download of `version` exists unless it is held; true if it does.
    pub(crate) fn want(&mut self, version: CodeVersion) -> bool {
        if self.held.contains(&version) {
            return false;
        }
        self.fetches.entry(version).or_default();
        true
    }

    /// Remembers a peer that may hold `version` (if it is wanted and not held).
    pub(crate) fn add_source(&mut self, version: CodeVersion, source: PeerAddr) -> bool {
        if self.held.contains(&version) {
            return false;
        }
        let fetch = self.fetches.entry(version).or_default();
        if !fetch.sources.contains(&source) {
            if fetch.sources.len() >= MAX_SOURCES {
                fetch.sources.pop();
            }
            fetch.sources.insert(0, source);
            fetch.next = 0;
        }
        true
    }

    /// The peer to download `version` from now, if a download should start: it is
    /// wanted, idle, someone may hold it and its retry time has come.
    pub(crate) fn start(&mut self, version: CodeVersion, now: Millis) -> Option<PeerAddr> {
        let fetch = self.fetches.get_mut(&version)?;
        if fetch.in_flight.is_some() || fetch.sources.is_empty() || now < fetch.retry_at {
            return None;
        }
        let from = fetch.sources[fetch.next % fetch.sources.len()];
        fetch.next = (fetch.next + 1) % fetch.sources.len();
        fetch.in_flight = Some((from, now));
        Some(from)
    }

    /// Forgets downloads no longer `wanted`, ends those in flight past `timeout` (to be
    /// retried `retry` later); how many timed out.
    pub(crate) fn expire(
        &mut self,
        now: Millis,
        timeout: Millis,
        retry: Millis,
        wanted: impl Fn(&CodeVersion) -> bool,
    ) -> u64 {
        self.fetches.retain(|v, _| wanted(v));
        let mut timed_out = 0;
        for fetch in self.fetches.values_mut() {
            let deadline = fetch.in_flight.map(|(_, since)| since.saturating_add(timeout));
            if deadline.is_some_and(|d| now >= d) {
                fetch.in_flight = None;
                fetch.retry_at = now + retry;
                timed_out += 1;
            }
        }
        timed_out
    }

    /// Every version being fetched.
    pub(crate) fn fetching(&self) -> Vec<CodeVersion> {
        self.fetches.keys().copied().collect()
    }

    /// Versions being fetched with nobody known to ask.
    pub(crate) fn orphans(&self) -> Vec<CodeVersion> {
        self.fetches
            .iter()
            .filter(|(_, f)| f.sources.is_empty())
            .map(|(v, _)| *v)
            .collect()
    }

    /// The download of `version` from `from` failed: retried from `retry_at`. True if
    /// that was the download in flight.
    pub(crate) fn failed(&mut self, version: CodeVersion, from: PeerAddr, retry_at: Millis) -> bool {
        match self.fetches.get_mut(&version) {
            Some(fetch) if fetch.in_flight.is_some_and(|(p, _)| p == from) => {
                fetch.in_flight = None;
                fetch.retry_at = retry_at;
                true
            }
            _ => false,
        }
    }

    /// Downloaded bytes for `version`: held only if asked for and their sha256 is the
    /// version.
    pub(crate) fn accept(&mut self, version: CodeVersion, bytes: &[u8]) -> Accepted {
        let Some(fetch) = self.fetches.get(&version) else {
            return Accepted::NotAsked;
        };
        if CodeVersion::of(bytes) != version {
            return Accepted::Mismatch(fetch.in_flight.map(|(from, _)| from));
        }
        self.fetches.remove(&version);
        self.held.insert(version);
        Accepted::Stored
    }

    /// When the next download must start or time out, if any.
    pub(crate) fn wake_at(&self, timeout: Millis) -> Option<Millis> {
        self.fetches
            .values()
            .filter_map(|f| match f.in_flight {
                Some((_, since)) => Some(since.saturating_add(timeout)),
                None => (!f.sources.is_empty()).then_some(f.retry_at),
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u16) -> PeerAddr {
        PeerAddr::from(([127, 0, 0, 1], i))
    }

    #[test]
    fn code_stored_here_ends_its_download_and_is_never_fetched_again() {
        let v = CodeVersion::of(b"code");
        let mut store = CodeStore::default();
        assert!(store.add_source(v, addr(1)));
        assert_eq!(store.start(v, 0), Some(addr(1)));
        assert!(store.stored(v));
        assert!(store.fetching().is_empty());
        assert_eq!(store.wake_at(1000), None);
        assert!(!store.want(v) && !store.add_source(v, addr(2)));
        // The late download of it is not asked for any more.
        assert_eq!(store.accept(v, b"code"), Accepted::NotAsked);
    }

    #[test]
    fn only_asked_for_code_that_hashes_to_its_version_is_held() {
        let v = CodeVersion::of(b"code");
        let mut store = CodeStore::default();
        assert_eq!(store.accept(v, b"code"), Accepted::NotAsked);
        assert!(!store.holds(&v));
        store.add_source(v, addr(1));
        assert_eq!(store.start(v, 0), Some(addr(1)));
        assert_eq!(store.accept(v, b"cod3"), Accepted::Mismatch(Some(addr(1))));
        assert!(!store.holds(&v));
        assert!(store.failed(v, addr(1), 500));
        assert_eq!(store.start(v, 499), None, "not before the retry time");
        assert_eq!(store.start(v, 500), Some(addr(1)));
        assert_eq!(store.accept(v, b"code"), Accepted::Stored);
        assert!(store.holds(&v));
    }

    #[test]
    fn lost_code_is_fetched_again_after_the_retry_time_and_timeouts_end_downloads() {
        let v = CodeVersion::of(b"code");
        let mut store = CodeStore::new([v].into());
        assert!(!store.lost(CodeVersion::of(b"other"), true, 10));
        assert!(store.lost(v, true, 5_000));
        assert!(!store.holds(&v));
        assert_eq!(store.orphans(), vec![v]);
        store.add_source(v, addr(1));
        assert_eq!(store.start(v, 4_999), None);
        assert_eq!(store.start(v, 5_000), Some(addr(1)));
        assert_eq!(store.wake_at(2_000), Some(7_000));
        assert_eq!(store.expire(6_999, 2_000, 100, |_| true), 0);
        assert_eq!(store.expire(7_000, 2_000, 100, |_| true), 1);
        assert_eq!(store.wake_at(2_000), Some(7_100));
        assert_eq!(store.expire(7_000, 2_000, 100, |_| false), 0);
        assert!(store.fetching().is_empty(), "unwanted downloads are forgotten");
    }
}
