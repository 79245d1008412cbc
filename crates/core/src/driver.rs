//! The driver loop, written once: feeding inputs to the [`Core`], carrying its outputs
//! out in order, feeding back the inputs they cause, and keeping the module round
//! clock. The daemon, the simulator and the tests each implement [`Effects`] — what an
//! output *does* there (a socket, a simulated network, a vector) — and share the rest.
//!
//! This is foca's `Runtime` and iroh-gossip's `OutEvent` shape: the protocol decides,
//! the effects trait acts. A driver calls [`Driver::handle`] for every event it gets
//! (a gossip batch, a finished download, what a module did), [`Driver::apply`] for the
//! outputs of an operator's command, and [`Driver::wake`] no later than
//! [`Driver::next_wake`].

use std::collections::VecDeque;

use crate::deployment::Millis;
use crate::io::{Input, Output};
use crate::node::Core;

/// What a driver does with the core's outputs.
pub trait Effects {
    /// Carries out one output. Returns the inputs it causes at once — a load's result,
    /// what a module sent when handed a payload — which go back to the core before the
    /// next output. A driver that carries an output out later (on another task, after a
    /// download) returns nothing and reports through [`Driver::handle`] when it is done.
    fn carry_out(&mut self, now: Millis, output: Output) -> Vec<Input>;

    /// One module round: tick every module instance; returns what they did (or
    /// nothing, when they run elsewhere and report later).
    fn tick_modules(&mut self, now: Millis) -> Vec<Input>;

    /// Runs one of the core's steps. A driver that accounts for the core's CPU time
    /// (the daemon's `hearsay_core_nanoseconds_total`) measures it here: the core has
    /// no clock of its own.
    fn in_core(&mut self, step: impl FnOnce() -> Vec<Output>) -> Vec<Output> {
        step()
    }
}

/// A core with its module round clock.
#[derive(Debug)]
pub struct Driver {
    core: Core,
    round_ms: Millis,
    next_round: Millis,
}

impl Driver {
    /// Drives `core`, with module rounds every `round_ms` from `first_round` on (a
    /// simulator staggers nodes by giving each its own phase).
    pub fn new(core: Core, round_ms: Millis, first_round: Millis) -> Self {
        Driver {
            core,
            round_ms: round_ms.max(1),
            next_round: first_round,
        }
    }

    /// The core.
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// The core, for commands (deploy, rollback, …) whose outputs go to [`Driver::apply`].
    pub fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    /// Hands one input to the core and carries out everything that follows.
    pub fn handle(&mut self, now: Millis, input: Input, fx: &mut impl Effects) {
        let core = &mut self.core;
        let outputs = fx.in_core(|| core.handle(now, input));
        self.apply(now, outputs, fx);
    }

    /// Carries out outputs in order; the inputs they cause go back to the core and its
    /// outputs join the end of the queue.
    pub fn apply(&mut self, now: Millis, outputs: Vec<Output>, fx: &mut impl Effects) {
        let mut work: VecDeque<Output> = outputs.into();
        while let Some(output) = work.pop_front() {
            for input in fx.carry_out(now, output) {
                let core = &mut self.core;
                work.extend(fx.in_core(|| core.handle(now, input)));
            }
        }
    }

    /// When [`Driver::wake`] must be called next: the next module round or the core's
    /// next timer, whichever comes first.
    pub fn next_wake(&self) -> Millis {
        self.core.poll_timeout().min(self.next_round)
    }

    /// Runs what is due at `now`: a module round if one is due (then the modules'
    /// sends), and the core's timers.
    pub fn wake(&mut self, now: Millis, fx: &mut impl Effects) {
        if now >= self.next_round {
            // On the grid of rounds, but never in the past after a long pause.
            let next = self.next_round + self.round_ms;
            self.next_round = if next > now { next } else { now + self.round_ms };
            for input in fx.tick_modules(now) {
                self.handle(now, input, fx);
            }
        }
        self.handle(now, Input::Tick, fx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Configuration, CoreInit, NodeId, Settings};

    /// Records what the loop asks; answers a load with its result.
    #[derive(Default)]
    struct Recorder {
        outputs: Vec<&'static str>,
        ticks: Vec<Millis>,
    }

    impl Effects for Recorder {
        fn carry_out(&mut self, _now: Millis, output: Output) -> Vec<Input> {
            match output {
                Output::Load { deployment } => {
                    self.outputs.push("load");
                    vec![Input::Loaded {
                        module: deployment.module,
                        number: deployment.number,
                    }]
                }
                Output::Persist { .. } => {
                    self.outputs.push("persist");
                    Vec::new()
                }
                Output::Event(_) => {
                    self.outputs.push("event");
                    Vec::new()
                }
                _ => Vec::new(),
            }
        }
        fn tick_modules(&mut self, now: Millis) -> Vec<Input> {
            self.ticks.push(now);
            Vec::new()
        }
    }

    fn core() -> Core {
        Core::new(CoreInit {
            id: NodeId(1),
            addr: "127.0.0.1:1".parse().unwrap(),
            settings: Settings::default(),
            configuration: Configuration::new(),
            code: Default::default(),
            ran: Vec::new(),
            seed: 1,
        })
    }

    #[test]
    fn follow_up_inputs_are_fed_back_before_the_next_output() {
        let mut d = Driver::new(core(), 200, 0);
        let mut fx = Recorder::default();
        let (_, outputs) = d
            .core_mut()
            .deploy(1000, crate::ModuleName::new("m").unwrap(), b"code".to_vec(), "")
            .unwrap();
        d.apply(1000, outputs, &mut fx);
        // The load's result came back: the core saw the module start, and said so.
        assert!(d.core().running(&crate::ModuleName::new("m").unwrap()).is_some());
        let load = fx.outputs.iter().position(|o| *o == "load").unwrap();
        assert!(fx.outputs[load + 1..].contains(&"event"), "{:?}", fx.outputs);
    }

    #[test]
    fn module_rounds_keep_their_grid() {
        let mut d = Driver::new(core(), 200, 50);
        let mut fx = Recorder::default();
        for now in [0, 50, 100, 260, 1000, 1001] {
            d.wake(now, &mut fx);
        }
        assert_eq!(fx.ticks, vec![50, 260, 1000]);
        assert!(d.next_wake() <= 1200);
    }
}
