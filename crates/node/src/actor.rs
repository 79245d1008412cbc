//! The actor: the one task that owns the node's [`Driver`] (its core and module round
//! clock). Everything that happens to a node — a gossip batch, a finished download,
//! what the modules did, an API command, a timer — arrives on one of its queues
//! ([`crate::inbox`]), taken in order of priority, goes through the driver loop, and
//! the outputs are carried out by [`NodeEffects`]. Module instances run in the module
//! task ([`crate::module_task`]), never here, so no module can keep the core from its
//! own work.

use std::net::SocketAddr;
use std::time::Duration;

use hearsay_core::{Driver, Input, Millis, Output, PeerAddr};

use crate::effects::NodeEffects;
use crate::inbox::{Event, Queues};
use crate::now_ms;

/// The owner of a node's core.
pub(crate) struct Actor {
    pub(crate) driver: Driver,
    pub(crate) fx: NodeEffects,
    pub(crate) rendezvous: Vec<PeerAddr>,
    pub(crate) api_addr: SocketAddr,
    /// What protects this node, for status.
    pub(crate) security: crate::api_types::SecurityReport,
    /// The node's labels, for status.
    pub(crate) labels: std::collections::BTreeMap<String, String>,
}

impl Actor {
    /// Runs until the API queue closes: the queues in order of priority, and the
    /// driver's wake-ups (module rounds, the core's timers).
    pub(crate) async fn run(mut self, mut q: Queues) {
        loop {
            let wait = self.driver.next_wake().saturating_sub(now_ms()).clamp(1, 1000);
            tokio::select! {
                biased;
                call = q.api.recv() => match call {
                    Some(call) => self.api(call),
                    None => break,
                },
                Some(event) = q.events.recv() => self.event(event),
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {
                    let now = now_ms();
                    self.driver.wake(now, &mut self.fx);
                }
                Some(batch) = q.core_gossip.recv() => self.gossip(batch),
                Some(inputs) = q.module_results.recv() => {
                    for input in inputs {
                        self.feed(input);
                    }
                }
                Some(batch) = q.module_gossip.recv() => self.gossip(batch),
            }
            // Whatever the core delivered while handling that goes to the modules as
            // one batch.
            self.fx.modules.flush();
        }
    }

    fn gossip(&mut self, envelopes: Vec<Vec<u8>>) {
        for bytes in envelopes {
            self.feed(Input::Receive { bytes });
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Fetched { version, from, bytes } => self.feed(match bytes {
                Some(bytes) => Input::CodeFetched { version, bytes },
                None => Input::CodeFetchFailed { version, from },
            }),
            Event::Unreachable(peer) => self.feed(Input::PeerUnreachable { peer }),
        }
    }

    /// Hands one input to the driver.
    pub(crate) fn feed(&mut self, input: Input) {
        self.driver.handle(now_ms(), input, &mut self.fx);
    }

    /// Carries out a command's outputs.
    pub(crate) fn apply(&mut self, now: Millis, outputs: Vec<Output>) {
        self.driver.apply(now, outputs, &mut self.fx);
    }
}
