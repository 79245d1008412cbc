//! Receiving envelopes: integrity first, then the deployment comparison that makes a
//! module's own gossip carry its code updates (docs/design.md, "How a message flows"):
//! equal numbers deliver; a newer sender is asked for its record; an older sender is
//! sent ours. Mismatched payloads are never delivered.

use std::cmp::Ordering;

use crate::configuration::ConfigDigest;
use crate::deployment::{Deployment, DeploymentNumber};
use crate::envelope::{Body, Envelope};
use crate::ids::{ModuleName, PeerAddr};
use crate::io::Output;
use crate::metrics::DropReason;
use crate::node::{Core, Reply};

/// Most modules asked for in one request: a summary naming thousands of modules
/// (nobody runs that many) gets an answer of bounded size.
const MAX_REQUESTED: usize = 32;

impl Core {
    pub(crate) fn receive(&mut self, bytes: &[u8]) {
        self.metrics.envelopes_in += 1;
        self.metrics.bytes_in += bytes.len() as u64;
        let envelope = match Envelope::decode(bytes, self.settings.max_envelope_bytes, &self.seal, self.now) {
            Ok(e) => e,
            Err(e) => return self.metrics.drop(e.into()),
        };
        if envelope.sender_addr == self.addr {
            return self.metrics.drop(DropReason::FromSelf);
        }
        let from = envelope.sender_addr;
        self.note_hint(from);
        self.peer_digests.note(from, envelope.digest);
        if envelope.digest != self.config.digest() {
            self.backup.hurry(self.now);
        }
        match envelope.body {
            Body::Tagged { tag, payload } => {
                let named = self.config.by_tag(tag).map(|d| (d.module.clone(), d.number));
                match named {
                    Some((module, number)) => {
                        self.module_payload(from, envelope.digest, module, number, payload)
                    }
                    None => {
                        // The sender believed we held its configuration; we don't
                        // (any more): compare summaries, which moves the older side.
                        self.metrics.drop(DropReason::VersionMismatch);
                        self.send_summary(from);
                    }
                }
            }
            Body::Module {
                module,
                number,
                payload,
            } => self.module_payload(from, envelope.digest, module, number, payload),
            Body::Summary(entries) => self.summary(from, entries),
            Body::Records(records) => {
                for record in records {
                    self.adopt(record, Some(from));
                }
            }
            Body::Request(modules) => {
                let records: Vec<Deployment> = modules
                    .iter()
                    .filter_map(|m| self.config.get(m).cloned())
                    .collect();
                if !records.is_empty() && self.cooldown.ready(Reply::RequestAnswer(from), self.now) {
                    self.send(from, Body::Records(records));
                }
            }
        }
    }

    /// A module payload from a peer whose configuration has `digest`.
    fn module_payload(
        &mut self,
        from: PeerAddr,
        digest: ConfigDigest,
        module: ModuleName,
        number: DeploymentNumber,
        payload: Vec<u8>,
    ) {
        let agreed = self.module_envelope(from, module, number, payload);
        if agreed && digest != self.config.digest() {
            // Same deployment of this module, but some other module differs: any
            // module's traffic spreads the whole configuration.
            self.send_summary(from);
        }
    }

    /// A module payload. Returns true when both sides agree on the module's deployment.
    fn module_envelope(
        &mut self,
        from: PeerAddr,
        module: ModuleName,
        number: DeploymentNumber,
        payload: Vec<u8>,
    ) -> bool {
        if self.too_far_ahead(number) {
            self.metrics.drop(DropReason::FutureNumber);
            return false;
        }
        self.note_claimed(&module, number);
        let ours = self.config.get(&module);
        match ours.map(|d| d.number.cmp(&number)) {
            None | Some(Ordering::Less) => {
                // The sender runs something newer: ask it for the record.
                self.metrics.drop(DropReason::VersionMismatch);
                if self.cooldown.ready(Reply::Request(module.clone()), self.now) {
                    self.send(from, Body::Request(vec![module]));
                }
                false
            }
            Some(Ordering::Greater) => {
                // The sender is behind: tell it what replaced its deployment.
                let record = ours.cloned().expect("compared above");
                if self
                    .cooldown
                    .ready(Reply::Records(from, module.clone()), self.now)
                {
                    self.send(from, Body::Records(vec![record]));
                }
                self.deliver_if_running(from, module, number, payload);
                false
            }
            Some(Ordering::Equal) => {
                if let Some(version) = ours.and_then(|d| d.version) {
                    // It runs the deployment, so it has the code.
                    self.add_code_source(version, from);
                }
                self.deliver_if_running(from, module, number, payload);
                true
            }
        }
    }

    fn deliver_if_running(
        &mut self,
        from: PeerAddr,
        module: ModuleName,
        number: DeploymentNumber,
        payload: Vec<u8>,
    ) {
        if self.deliverable(&module, number) {
            let per_s = self.budget_of(&module).receive_per_peer_per_s;
            if !self.receive_budget.admit(&module, from, per_s, self.now) {
                return self.metrics.drop(DropReason::ReceiveBudget);
            }
            self.metrics.delivered += 1;
            self.out.push(Output::Deliver {
                module,
                number,
                from,
                payload,
            });
        } else {
            self.metrics.drop(DropReason::ModuleNotRunning);
        }
    }

    /// A peer's summary: push what it lacks, request what we lack.
    pub(crate) fn summary(&mut self, from: PeerAddr, entries: Vec<(ModuleName, DeploymentNumber)>) {
        let mut wanted = Vec::new();
        for (module, number) in &entries {
            self.note_claimed(module, *number);
            let newer = self.config.number(module).is_none_or(|ours| ours < *number);
            if newer && !self.too_far_ahead(*number) && wanted.len() < MAX_REQUESTED {
                wanted.push(module.clone());
            }
        }
        let pushed: Vec<Deployment> = self
            .config
            .iter()
            .filter(|d| !entries.iter().any(|(m, n)| *m == d.module && *n >= d.number))
            .cloned()
            .collect();
        if (wanted.is_empty() && pushed.is_empty())
            || !self.cooldown.ready(Reply::SummaryAnswer(from), self.now)
        {
            return;
        }
        if !pushed.is_empty() {
            self.send(from, Body::Records(pushed));
        }
        if !wanted.is_empty() {
            self.send(from, Body::Request(wanted));
        }
    }

    /// Sends our summary to a peer, at most once per cooldown.
    pub(crate) fn send_summary(&mut self, to: PeerAddr) {
        if self.cooldown.ready(Reply::Summary(to), self.now) {
            self.send(to, Body::Summary(self.config.summary()));
        }
    }

    /// Remembers an address for backup gossip, unless it is ours or a rendezvous node.
    pub(crate) fn note_hint(&mut self, addr: PeerAddr) {
        if addr != self.addr && !self.settings.rendezvous.contains(&addr) {
            self.hints.insert(addr, &mut self.rng);
        }
    }
}
