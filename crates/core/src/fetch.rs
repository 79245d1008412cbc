//! Code downloads as the core drives them: which versions its configuration wants,
//! whom to ask (the [`CodeStore`] keeps the rules), and what happens when code arrives,
//! fails to arrive or can't be stored.

use crate::code_store::Accepted;
use crate::deployment::CodeVersion;
use crate::event::Event;
use crate::ids::PeerAddr;
use crate::io::Output;
use crate::metrics::DropReason;
use crate::node::Core;

impl Core {
    /// Makes sure the code for `version` is on its way.
    pub(crate) fn want_code(&mut self, version: CodeVersion) {
        if self.code.want(version) {
            self.start_fetch(version);
        }
    }

    /// Remembers a peer that may hold `version`, and starts a download if idle.
    pub(crate) fn add_code_source(&mut self, version: CodeVersion, source: PeerAddr) {
        if self.wants(version) && self.code.add_source(version, source) {
            self.start_fetch(version);
        }
    }

    /// True when the configuration names this version.
    fn wants(&self, version: CodeVersion) -> bool {
        self.config.iter().any(|d| d.version == Some(version))
    }

    fn start_fetch(&mut self, version: CodeVersion) {
        if let Some(from) = self.code.start(version, self.now) {
            self.metrics.fetches_started += 1;
            self.out.push(Output::FetchCode { version, from });
        }
    }

    /// Retries idle downloads, times out stuck ones, forgets unwanted ones.
    pub(crate) fn drive_fetches(&mut self) {
        let (now, timeout, retry) = (
            self.now,
            self.settings.fetch_timeout_ms,
            self.settings.fetch_retry_ms,
        );
        let config = &self.config;
        let timed_out = self.code.expire(now, timeout, retry, |v| {
            config.iter().any(|d| d.version == Some(*v))
        });
        self.metrics.fetches_failed += timed_out;
        for version in self.code.fetching() {
            self.start_fetch(version);
        }
    }

    pub(crate) fn code_fetch_failed(&mut self, version: CodeVersion, from: PeerAddr) {
        let retry_at = self.now + self.settings.fetch_retry_ms;
        if self.code.failed(version, from, retry_at) {
            self.metrics.fetches_failed += 1;
        }
    }

    /// The driver could not store code (a full disk). The core forgets it holds it and
    /// fetches it again after `store_retry_ms`, so nothing it can't serve is pushed or
    /// loaded meanwhile; the running version runs on.
    pub(crate) fn code_store_failed(&mut self, version: CodeVersion) {
        self.metrics.store_failures += 1;
        let retry_at = self.now + self.settings.store_retry_ms;
        if self.code.lost(version, self.wants(version), retry_at) {
            self.emit(Event::CodeStoreFailed { version });
        }
    }

    /// Downloaded code: stored and loaded only if its sha256 is the version asked for.
    pub(crate) fn code_fetched(&mut self, version: CodeVersion, bytes: Vec<u8>) {
        match self.code.accept(version, &bytes) {
            Accepted::NotAsked => return, // never store unsolicited code
            Accepted::Mismatch(from) => {
                self.metrics.drop(DropReason::CodeHashMismatch);
                if let Some(from) = from {
                    self.code_fetch_failed(version, from);
                }
                return;
            }
            Accepted::Stored => {}
        }
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
