//! Code downloads: which versions are wanted, which peers may hold them, retries, and
//! the hash check that keeps wrong or corrupted code out of the store.

use crate::deployment::{CodeVersion, Millis};
use crate::event::Event;
use crate::ids::PeerAddr;
use crate::io::Output;
use crate::metrics::DropReason;
use crate::node::Core;

/// Most peers remembered as sources of one version.
const MAX_SOURCES: usize = 8;

/// One wanted code version.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fetch {
    /// Peers that may hold it; the newest first.
    sources: Vec<PeerAddr>,
    /// Which source to ask next.
    next: usize,
    /// The download in progress: who, since when.
    in_flight: Option<(PeerAddr, Millis)>,
    /// Don't start a new attempt before this.
    retry_at: Millis,
}

impl Fetch {
    /// When an idle fetch wants to be retried, if it has anyone to ask.
    pub(crate) fn wake_at(&self) -> Option<Millis> {
        (self.in_flight.is_none() && !self.sources.is_empty()).then_some(self.retry_at)
    }

    /// True when no peer is known to hold the version.
    pub(crate) fn has_no_sources(&self) -> bool {
        self.sources.is_empty()
    }

    /// When the download in flight times out.
    pub(crate) fn deadline(&self, timeout: Millis) -> Option<Millis> {
        self.in_flight.map(|(_, since)| since.saturating_add(timeout))
    }
}

impl Core {
    /// Makes sure the code for `version` is on its way.
    pub(crate) fn want_code(&mut self, version: CodeVersion) {
        if self.code.contains(&version) {
            return;
        }
        self.fetches.entry(version).or_default();
        self.start_fetch(version);
    }

    /// Remembers a peer that may hold `version`, and starts a download if idle.
    pub(crate) fn add_code_source(&mut self, version: CodeVersion, source: PeerAddr) {
        if self.code.contains(&version) {
            return;
        }
        let wanted = self.config.iter().any(|d| d.version == Some(version));
        if !wanted {
            return;
        }
        let fetch = self.fetches.entry(version).or_default();
        if !fetch.sources.contains(&source) {
            if fetch.sources.len() >= MAX_SOURCES {
                fetch.sources.pop();
            }
            fetch.sources.insert(0, source);
            fetch.next = 0;
        }
        self.start_fetch(version);
    }

    fn start_fetch(&mut self, version: CodeVersion) {
        let now = self.now;
        let Some(fetch) = self.fetches.get_mut(&version) else {
            return;
        };
        if fetch.in_flight.is_some() || fetch.sources.is_empty() || now < fetch.retry_at {
            return;
        }
        let from = fetch.sources[fetch.next % fetch.sources.len()];
        fetch.next = (fetch.next + 1) % fetch.sources.len();
        fetch.in_flight = Some((from, now));
        self.metrics.fetches_started += 1;
        self.out.push(Output::FetchCode { version, from });
    }

    /// Retries idle downloads, times out stuck ones, forgets unwanted ones.
    pub(crate) fn drive_fetches(&mut self) {
        let now = self.now;
        let timeout = self.settings.fetch_timeout_ms;
        let retry = self.settings.fetch_retry_ms;
        let config = &self.config;
        self.fetches
            .retain(|v, _| config.iter().any(|d| d.version == Some(*v)));
        let mut timed_out = 0;
        for fetch in self.fetches.values_mut() {
            if fetch.deadline(timeout).is_some_and(|d| now >= d) {
                fetch.in_flight = None;
                fetch.retry_at = now + retry;
                timed_out += 1;
            }
        }
        self.metrics.fetches_failed += timed_out;
        let versions: Vec<CodeVersion> = self.fetches.keys().copied().collect();
        for version in versions {
            self.start_fetch(version);
        }
    }

    pub(crate) fn code_fetch_failed(&mut self, version: CodeVersion, from: PeerAddr) {
        let retry_at = self.now + self.settings.fetch_retry_ms;
        if let Some(fetch) = self.fetches.get_mut(&version) {
            if fetch.in_flight.is_some_and(|(p, _)| p == from) {
                fetch.in_flight = None;
                fetch.retry_at = retry_at;
                self.metrics.fetches_failed += 1;
            }
        }
    }

    /// The driver could not store code (a full disk). The core forgets it holds it and
    /// fetches it again after `store_retry_ms`, so nothing it can't serve is pushed or
    /// loaded meanwhile; the running version runs on.
    pub(crate) fn code_store_failed(&mut self, version: CodeVersion) {
        self.metrics.store_failures += 1;
        if !self.code.remove(&version) {
            return;
        }
        self.emit(Event::CodeStoreFailed { version });
        let wanted = self.config.iter().any(|d| d.version == Some(version));
        if wanted {
            let fetch = self.fetches.entry(version).or_default();
            fetch.retry_at = self.now + self.settings.store_retry_ms;
        }
    }

    /// Downloaded code: stored and loaded only if its sha256 is the version asked for.
    pub(crate) fn code_fetched(&mut self, version: CodeVersion, bytes: Vec<u8>) {
        let Some(fetch) = self.fetches.get(&version) else {
            return; // not asked for (or no longer wanted): never store unsolicited code
        };
        if CodeVersion::of(&bytes) != version {
            self.metrics.drop(DropReason::CodeHashMismatch);
            if let Some((from, _)) = fetch.in_flight {
                self.code_fetch_failed(version, from);
            }
            return;
        }
        self.fetches.remove(&version);
        self.code.insert(version);
        self.out.push(Output::StoreCode { version, bytes });
        self.emit(Event::CodeFetched { version });
        let modules: Vec<_> = self
            .config
            .iter()
            .filter(|d| d.version == Some(version))
            .map(|d| d.module.clone())
            .collect();
        for module in &modules {
            // Its news waited for the code (so whoever hears it can fetch it here).
            self.spread(module);
            self.reconcile(module);
        }
    }
}
