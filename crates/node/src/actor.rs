//! The actor: the one task that owns the node's [`Driver`] (its core and module round
//! clock). Everything that happens to a node — a gossip batch, a finished download or
//! compile, an API command, a timer — arrives on one of its queues
//! ([`crate::inbox`]), taken in order of priority, goes through the driver loop, and
//! the outputs are carried out by [`NodeEffects`]. Payloads for module instances
//! ([`crate::modules`]) are taken last, one call at a time, so no module can keep the
//! core from its own work.

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
    /// Runs until the API queue closes: the queues in order of priority, the driver's
    /// wake-ups (module rounds, the core's timers), and — only when nothing else is
    /// ready — one payload at a time for the modules.
    pub(crate) async fn run(mut self, mut q: Queues) {
        // One timer, moved only when the next wake-up changes: a new timer per message
        // (registered, then cancelled) was a visible share of an idle agent's CPU.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed_for = None;
        // Under load, modules' payloads and modules' incoming gossip take turns.
        let mut modules_first = false;
        loop {
            let wake = self.driver.next_wake();
            if armed_for != Some(wake) {
                timer.as_mut().reset(deadline(wake));
                armed_for = Some(wake);
            }
            let work = self.fx.modules.has_work();
            let mut called_module = false;
            tokio::select! {
                biased;
                call = q.api.recv() => match call {
                    Some(call) => self.api(call),
                    None => break,
                },
                Some(event) = q.events.recv() => self.event(event),
                _ = &mut timer => {
                    armed_for = None;
                    let now = now_ms();
                    self.driver.wake(now, &mut self.fx);
                }
                Some(batch) = q.core_gossip.recv() => self.gossip(batch),
                _ = std::future::ready(()), if work && modules_first => called_module = true,
                Some(batch) = q.module_gossip.recv() => {
                    self.gossip(batch);
                    modules_first = true;
                }
                _ = std::future::ready(()), if work => called_module = true,
            }
            if called_module {
                let inputs = self.fx.modules.run_one();
                self.feed_all(inputs);
                modules_first = false;
                if self.fx.modules.has_work() {
                    // Let the listeners and the sender run between two calls into
                    // modules (they fill the queues above).
                    tokio::task::yield_now().await;
                }
            }
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
            Event::Compiled(compiled) => {
                let inputs = self.fx.modules.swap(compiled);
                self.feed_all(inputs);
                crate::trim::code_changed();
            }
            Event::Optimized(compiled) => {
                let inputs = self.fx.modules.optimize(compiled);
                self.feed_all(inputs);
                crate::trim::code_changed();
            }
        }
    }

    /// Hands one input to the driver.
    pub(crate) fn feed(&mut self, input: Input) {
        self.driver.handle(now_ms(), input, &mut self.fx);
    }

    /// Hands inputs to the driver in order (what a module call did).
    pub(crate) fn feed_all(&mut self, inputs: Vec<Input>) {
        for input in inputs {
            self.feed(input);
        }
    }

    /// Carries out a command's outputs.
    pub(crate) fn apply(&mut self, now: Millis, outputs: Vec<Output>) {
        self.driver.apply(now, outputs, &mut self.fx);
    }
}

/// The tokio instant of a wall-clock millisecond (the core's clock): at least 1 ms
/// away, so an overdue wake-up can't spin, and at most 1 s, so a clock that jumps is
/// caught up with within a second (waking early does no harm).
fn deadline(at: Millis) -> tokio::time::Instant {
    let wait = at.saturating_sub(now_ms()).clamp(1, 1000);
    tokio::time::Instant::now() + Duration::from_millis(wait)
}
