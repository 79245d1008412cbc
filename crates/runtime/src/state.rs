//! The host side of one instance's store: what the imports read (time, randomness,
//! addresses) and what they collect (sends, logs, replies), plus the memory limiter.

use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use wasmtime::{Memory, ResourceLimiter};

use crate::limits::Limits;

/// A log line from a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// 0 error, 1 warn, 2 info, 3 debug.
    pub level: i32,
    /// The text (cut to the limit).
    pub text: String,
}

/// What one call made the module do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// `(to, payload)` in the order sent.
    pub sends: Vec<(String, Vec<u8>)>,
    /// Log lines.
    pub logs: Vec<LogLine>,
    /// Sends dropped for breaking the payload size limit.
    pub dropped_sends: u64,
}

/// Per-store data the imports work on.
pub(crate) struct HostState {
    pub limits: Limits,
    pub memory: Option<Memory>,
    pub now_ms: u64,
    pub rng: ChaCha8Rng,
    pub self_addr: String,
    pub bootstrap: String,
    pub effects: Effects,
    /// Set while a call may `reply` (query, export_state); holds the first reply.
    pub reply_open: bool,
    pub reply: Option<Vec<u8>>,
    /// Why the last trap happened, when the host caused it (limits).
    pub host_fault: Option<crate::ModuleError>,
}

impl HostState {
    pub fn new(limits: Limits, rng: ChaCha8Rng, self_addr: String, bootstrap: &[String]) -> Self {
        HostState {
            limits,
            memory: None,
            now_ms: 0,
            rng,
            self_addr,
            bootstrap: bootstrap.join("\n"),
            effects: Effects::default(),
            reply_open: false,
            reply: None,
            host_fault: None,
        }
    }

    pub fn fill_random(&mut self, buf: &mut [u8]) {
        self.rng.fill_bytes(buf);
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.max_memory_bytes {
            // Trap rather than let memory.grow return -1: a guest may mishandle -1
            // (spin, or misbehave), and the reason should be ours to report.
            self.host_fault = Some(crate::ModuleError::MemoryLimit(self.limits.max_memory_bytes));
            return Err(wasmtime::Error::msg("memory limit exceeded"));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
