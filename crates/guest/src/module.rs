//! The `Module` trait a gossip module implements, its object-safe twin `DynModule`,
//! and `Factory`, the way a native driver (the simulator) creates modules.

use crate::host::Host;

/// A gossip module: a state machine driven by the host.
///
/// The host calls `init` once, then any sequence of `tick`, `receive`, `query` and
/// (ABI v2) `command`, and `leave` last when the node shuts down gracefully,
/// never concurrently. A module acts only through the `host` argument. Returning from
/// a call is the only way to finish it: a panic traps the wasm instance (the core
/// contains it), so code that handles bytes from the network must not panic.
pub trait Module {
    /// Creates the module from its deployment's `params` (usually JSON; empty means
    /// defaults). An `Err` fails the deployment on this node; its text is logged.
    fn init(params: &str, host: &mut dyn Host) -> Result<Self, String>
    where
        Self: Sized;

    /// Called periodically by the host; `now_ms` is the host's clock (the same one
    /// [`Host::now_ms`] reads).
    fn tick(&mut self, now_ms: u64, host: &mut dyn Host);

    /// A payload sent by the module instance on peer `from` (same module, same
    /// deployment). Bytes come from the network: treat them as untrusted.
    fn receive(&mut self, from: &str, payload: &[u8], host: &mut dyn Host);

    /// Answers an API query (e.g. the membership list) with a JSON document.
    fn query(&mut self, args: &str, host: &mut dyn Host) -> String;

    /// A state-changing call from the API (`POST /v1/modules/{name}/command`; ABI
    /// v2), answered with a JSON document like a query. Modules exported with
    /// [`export_module!`](crate::export_module) (ABI v1) take no commands.
    fn command(&mut self, args: &str, host: &mut dyn Host) -> String {
        let _ = (args, host);
        "{\"error\":\"this module takes no commands\"}".to_string()
    }

    /// The node is shutting down gracefully (ABI v2): the last chance to tell peers,
    /// whose messages the host sends before it exits.
    fn leave(&mut self, host: &mut dyn Host) {
        let _ = host;
    }

    /// The state to hand to the next deployment's code on a hot swap, if any.
    fn export_state(&self) -> Option<Vec<u8>> {
        None
    }

    /// Takes over state exported by the previous deployment's code (called right
    /// after a successful `init`). Returns whether the state was accepted; a module
    /// that rejects it simply starts fresh.
    fn import_state(&mut self, state: &[u8], host: &mut dyn Host) -> bool {
        let _ = (state, host);
        false
    }
}

/// The object-safe form of [`Module`] (everything but `init`), implemented for every
/// `Module`, so a native driver can hold `Box<dyn DynModule>` of different types.
pub trait DynModule {
    /// See [`Module::tick`].
    fn tick(&mut self, now_ms: u64, host: &mut dyn Host);
    /// See [`Module::receive`].
    fn receive(&mut self, from: &str, payload: &[u8], host: &mut dyn Host);
    /// See [`Module::query`].
    fn query(&mut self, args: &str, host: &mut dyn Host) -> String;
    /// See [`Module::command`].
    fn command(&mut self, args: &str, host: &mut dyn Host) -> String;
    /// See [`Module::leave`].
    fn leave(&mut self, host: &mut dyn Host);
    /// See [`Module::export_state`].
    fn export_state(&self) -> Option<Vec<u8>>;
    /// See [`Module::import_state`].
    fn import_state(&mut self, state: &[u8], host: &mut dyn Host) -> bool;
}

impl<M: Module> DynModule for M {
    fn tick(&mut self, now_ms: u64, host: &mut dyn Host) {
        Module::tick(self, now_ms, host)
    }
    fn receive(&mut self, from: &str, payload: &[u8], host: &mut dyn Host) {
        Module::receive(self, from, payload, host)
    }
    fn query(&mut self, args: &str, host: &mut dyn Host) -> String {
        Module::query(self, args, host)
    }
    fn command(&mut self, args: &str, host: &mut dyn Host) -> String {
        Module::command(self, args, host)
    }
    fn leave(&mut self, host: &mut dyn Host) {
        Module::leave(self, host)
    }
    fn export_state(&self) -> Option<Vec<u8>> {
        Module::export_state(self)
    }
    fn import_state(&mut self, state: &[u8], host: &mut dyn Host) -> bool {
        Module::import_state(self, state, host)
    }
}

/// Creates a module natively: `init` followed by boxing. A simulator keeps a table of
/// these by module name, the way the daemon keeps wasm code by hash.
pub type Factory = fn(&str, &mut dyn Host) -> Result<Box<dyn DynModule>, String>;

/// The [`Factory`] for module type `M`: `hearsay_guest::factory::<Membership>()`.
pub fn factory<M: Module + 'static>() -> Factory {
    init_boxed::<M>
}

fn init_boxed<M: Module + 'static>(params: &str, host: &mut dyn Host) -> Result<Box<dyn DynModule>, String> {
    M::init(params, host).map(|m| Box::new(m) as Box<dyn DynModule>)
}
