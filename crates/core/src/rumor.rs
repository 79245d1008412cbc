//! News travels at once: when a deployment is adopted here and its code is at hand,
//! the core pushes the record to a few random peers right away and again in a few
//! short rounds, then leaves the rest to backup gossip's slow interval. Module gossip
//! carries news as fast, but only while modules live; this is what makes a fix reach a
//! cluster whose modules are all dead in a fraction of a second instead of a backup
//! round per hop. Pushing only records whose code this node holds means a peer that
//! takes the news can always fetch the code from the one who told it.

use std::collections::BTreeSet;

use crate::backup::choose_peers;
use crate::deployment::{Deployment, Millis};
use crate::envelope::Body;
use crate::ids::ModuleName;
use crate::node::Core;

/// The modules whose news is being pushed, and the schedule of the pushes.
#[derive(Debug, Default)]
pub(crate) struct Rumor {
    modules: BTreeSet<ModuleName>,
    rounds_left: u32,
    next_at: Millis,
}

impl Rumor {
    /// Starts (or restarts) pushing `module`'s news: a round now, `rounds` more after.
    fn start(&mut self, module: ModuleName, now: Millis, rounds: u32) {
        self.modules.insert(module);
        self.rounds_left = rounds + 1;
        self.next_at = now;
    }

    /// When the next round is due, if any is left.
    pub(crate) fn next_at(&self) -> Option<Millis> {
        (self.rounds_left > 0).then_some(self.next_at)
    }

    /// The modules to push now, if a round is due; schedules the next one.
    fn due(&mut self, now: Millis, interval: Millis) -> Option<Vec<ModuleName>> {
        if self.rounds_left == 0 || now < self.next_at {
            return None;
        }
        self.rounds_left -= 1;
        self.next_at = now + interval;
        let modules = self.modules.iter().cloned().collect();
        if self.rounds_left == 0 {
            self.modules.clear();
        }
        Some(modules)
    }
}

impl Core {
    /// Starts spreading the news of `module`'s current deployment.
    pub(crate) fn spread(&mut self, module: &ModuleName) {
        self.backup.hurry(self.now);
        if self.settings.push_fanout == 0 {
            return;
        }
        self.rumor
            .start(module.clone(), self.now, self.settings.push_rounds);
        self.push_news();
    }

    /// One round of pushing, when due: the current records of the modules in the news,
    /// to `push_fanout` random peers.
    pub(crate) fn push_news(&mut self) {
        let Some(modules) = self.rumor.due(self.now, self.settings.push_interval_ms) else {
            return;
        };
        let records: Vec<Deployment> = modules
            .iter()
            .filter_map(|m| self.config.get(m))
            .filter(|d| d.version.is_none_or(|v| self.code.holds(&v)))
            .cloned()
            .collect();
        if records.is_empty() {
            return;
        }
        let peers = choose_peers(
            &self.settings.rendezvous,
            self.hints.as_slice(),
            self.addr,
            self.settings.push_fanout,
            &mut self.rng,
        );
        for peer in peers {
            self.metrics.pushes += 1;
            self.send(peer, Body::Records(records.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_now_then_the_given_number_at_the_interval() {
        let mut r = Rumor::default();
        let m = ModuleName::new("m").unwrap();
        r.start(m.clone(), 1000, 2);
        assert_eq!(r.due(1000, 100), Some(vec![m.clone()]));
        assert_eq!(r.due(1050, 100), None);
        assert_eq!(r.next_at(), Some(1100));
        assert!(r.due(1100, 100).is_some());
        assert!(r.due(1200, 100).is_some());
        assert_eq!(r.next_at(), None);
        assert_eq!(r.due(5000, 100), None);
    }
}
