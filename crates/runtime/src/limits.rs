//! What one module instance may consume. Two kinds of limit: per call (fuel, sends,
//! payload and log line sizes), which end runaway code in one call, and the module's
//! [`Budget`] (per second and per instance), which keeps a module that stays inside
//! every per-call limit from taking the node anyway. Every limit turns into dropped,
//! counted work or a clear failure of that instance — never of the node.

use hearsay_core::Budget;

/// Fuel charged for each `send`, on top of one unit per 16 payload bytes: the host's
/// work for a send (copying it out, parsing the address, the core's envelope) is
/// CPU the module spends, so it counts against the module's CPU budget.
pub const SEND_FUEL: u64 = 1000;

/// Events a module may publish per second (a burst of three seconds' worth); more
/// are dropped and counted.
pub const EVENTS_PER_S: u64 = 100;

/// Largest event data; a larger `emit` is dropped and counted.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Longest event kind.
pub const MAX_EVENT_KIND: usize = 64;

/// Bytes counted against the memory budget per table element.
pub const TABLE_ELEMENT_BYTES: u64 = 16;

/// Per-instance limits, and the node's default budget.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) one call may burn before it is cut off: what
    /// ends an endless loop.
    pub fuel_per_call: u64,
    /// Fuel for a hot swap's export and import: they move a module's whole state (a
    /// membership view of every member), so their work grows with the cluster, not
    /// with one message (10,000 members take about 135 million instructions to
    /// import). Still a bound: one that loops ends. The node's other work waits for
    /// such a call, as for any: 2,000 M is about a fifth of a second, once per deployment.
    pub fuel_per_state_call: u64,
    /// Most sends one call may make; one more fails the instance as a flood.
    pub max_sends_per_call: usize,
    /// Largest single payload; larger sends are dropped (and counted).
    pub max_payload_bytes: usize,
    /// Longest log line kept (longer ones are cut).
    pub max_log_bytes: usize,
    /// Most linear memories and tables (each) one instance may have.
    pub max_memories: usize,
    /// The budget of a module whose deployment doesn't override it.
    pub budget: Budget,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel_per_call: 50_000_000,
            fuel_per_state_call: 2_000_000_000,
            max_sends_per_call: 1024,
            max_payload_bytes: 60 * 1024,
            max_log_bytes: 1024,
            max_memories: 4,
            budget: Budget::default(),
        }
    }
}
