//! What one module instance may consume. Every limit turns into a clear failure of
//! that instance — never of the node.

/// Per-instance limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) one call may burn before it is cut off: what
    /// ends an endless loop.
    pub fuel_per_call: u64,
    /// Largest linear memory an instance may grow to.
    pub max_memory_bytes: usize,
    /// Most sends one call may make; one more fails the instance as a flood.
    pub max_sends_per_call: usize,
    /// Largest single payload; larger sends are dropped (and counted).
    pub max_payload_bytes: usize,
    /// Most log lines one call may emit; the rest are dropped.
    pub max_logs_per_call: usize,
    /// Longest log line kept (longer ones are cut).
    pub max_log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel_per_call: 50_000_000,
            max_memory_bytes: 64 << 20,
            max_sends_per_call: 1024,
            max_payload_bytes: 60 * 1024,
            max_logs_per_call: 32,
            max_log_bytes: 1024,
        }
    }
}
