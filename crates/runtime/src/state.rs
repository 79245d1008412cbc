//! The host side of one instance's store: what the imports read (time, randomness,
//! addresses) and what they collect (sends, logs, replies), the instance's budget
//! meters, and the memory limiter that counts all its memories and tables together.

use hearsay_core::budget::TokenBucket;
use hearsay_core::Budget;
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use wasmtime::{Memory, ResourceLimiter};

use crate::limits::{Limits, TABLE_ELEMENT_BYTES};

/// A log line from a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// 0 error, 1 warn, 2 info, 3 debug.
    pub level: i32,
    /// The text (cut to the limit, control characters escaped).
    pub text: String,
}

/// An event a module published (ABI v2 `emit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleEvent {
    /// Its kind (`member_joined`, `value_changed`, …): `[a-z0-9_.-]`, at most 64 bytes.
    pub kind: String,
    /// Its data (usually JSON), at most [`crate::limits::MAX_EVENT_BYTES`].
    pub data: Vec<u8>,
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
    /// Events published, in order.
    pub events: Vec<ModuleEvent>,
}

pub use hearsay_core::budget::BudgetUsage;

/// The meters of an instance's per-second budget.
pub(crate) struct Meters {
    pub messages: TokenBucket,
    pub bytes: TokenBucket,
    pub fuel: TokenBucket,
    pub logs: TokenBucket,
    pub events: TokenBucket,
}

impl Meters {
    fn new(budget: &Budget, now: u64) -> Self {
        Meters {
            messages: TokenBucket::new(budget.messages_per_s, 1, now),
            bytes: TokenBucket::new(budget.bytes_per_s, 1, now),
            fuel: TokenBucket::new(budget.fuel_per_s, 1, now),
            // Logs may come in a burst (a module starting up says several things).
            logs: TokenBucket::new(budget.logs_per_s, 3, now),
            events: TokenBucket::new(crate::limits::EVENTS_PER_S, 3, now),
        }
    }
}

/// Per-store data the imports work on.
pub(crate) struct HostState {
    pub limits: Limits,
    pub budget: Budget,
    pub meters: Meters,
    pub usage: BudgetUsage,
    pub memory: Option<Memory>,
    pub now_ms: u64,
    pub rng: ChaCha8Rng,
    pub self_addr: String,
    pub bootstrap: String,
    /// The node's labels as a JSON object (the `labels` import).
    pub labels: String,
    /// The modules running on the node as a JSON object, name → deployment and
    /// version (the `node_info` import's `modules`).
    pub node_modules: String,
    /// When the node started, on the host's clock (the `node_info` import's uptime).
    pub node_started_ms: u64,
    pub effects: Effects,
    /// Sends the current call made (dropped ones too): the flood limit counts them.
    pub sends_in_call: usize,
    /// Set while a call may `reply` (query, export_state): the largest reply taken.
    pub reply_limit: Option<usize>,
    pub reply: Option<Vec<u8>>,
    /// Why a reply was not taken (out of bounds, over the limit): the call answers
    /// with this instead of failing the instance.
    pub reply_fault: Option<String>,
    /// Why the last trap happened, when the host caused it (limits).
    pub host_fault: Option<crate::ModuleError>,
}

impl HostState {
    pub fn new(
        limits: Limits,
        budget: Budget,
        rng: ChaCha8Rng,
        self_addr: String,
        bootstrap: &[String],
        now_ms: u64,
    ) -> Self {
        HostState {
            meters: Meters::new(&budget, now_ms),
            usage: BudgetUsage {
                budget: Some(budget),
                ..BudgetUsage::default()
            },
            limits,
            budget,
            memory: None,
            now_ms,
            rng,
            self_addr,
            bootstrap: bootstrap.join("\n"),
            labels: "{}".to_string(),
            node_modules: "{}".to_string(),
            node_started_ms: now_ms,
            effects: Effects::default(),
            sends_in_call: 0,
            reply_limit: None,
            reply: None,
            reply_fault: None,
            host_fault: None,
        }
    }

    pub fn fill_random(&mut self, buf: &mut [u8]) {
        self.rng.fill_bytes(buf);
    }

    /// Takes one send of `len` bytes from the budget; false (and counted) when over.
    pub fn admit_send(&mut self, len: usize) -> bool {
        let now = self.now_ms;
        if self.meters.messages.take(now, 1) && self.meters.bytes.take(now, len as u64) {
            self.usage.messages += 1;
            self.usage.bytes += len as u64;
            true
        } else {
            self.usage.sends_over_budget += 1;
            false
        }
    }

    /// Takes one log line from the budget; false (and counted) when over.
    pub fn admit_log(&mut self) -> bool {
        let admitted = self.meters.logs.take(self.now_ms, 1);
        if !admitted {
            self.usage.logs_dropped += 1;
        }
        admitted
    }

    /// Takes one event from the budget; false (and counted) when over.
    pub fn admit_event(&mut self) -> bool {
        let admitted = self.meters.events.take(self.now_ms, 1);
        if !admitted {
            self.usage.events_dropped += 1;
        }
        admitted
    }

    /// Accounts a memory or table growing from `current` to `desired` bytes; false
    /// when the instance as a whole would exceed its memory budget.
    fn grow(&mut self, current: u64, desired: u64) -> bool {
        let total = self
            .usage
            .memory_bytes
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.budget.memory_bytes {
            self.host_fault = Some(crate::ModuleError::MemoryLimit(self.budget.memory_bytes));
            return false;
        }
        self.usage.memory_bytes = total;
        true
    }
}

/// A log text made safe for the node's log: control characters (newlines, escape
/// sequences) are escaped, so a module can't forge log lines of the agent or drive
/// the operator's terminal.
pub(crate) fn escape_log_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Trap rather than let memory.grow return -1: a guest may mishandle -1
        // (spin, or misbehave), and the reason should be ours to report.
        if self.grow(current as u64, desired as u64) {
            Ok(true)
        } else {
            Err(wasmtime::Error::msg("memory limit exceeded"))
        }
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let bytes = |n: usize| (n as u64).saturating_mul(TABLE_ELEMENT_BYTES);
        if self.grow(bytes(current), bytes(desired)) {
            Ok(true)
        } else {
            Err(wasmtime::Error::msg("memory limit exceeded (tables)"))
        }
    }

    fn instances(&self) -> usize {
        1
    }

    fn memories(&self) -> usize {
        self.limits.max_memories
    }

    fn tables(&self) -> usize {
        self.limits.max_memories
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_text_cannot_forge_lines_or_escape_sequences() {
        let text = escape_log_text("ok\n2026-01-01 INFO forged line\r\x1b[31mred\u{0}é");
        assert!(!text.contains('\n') && !text.contains('\r') && !text.contains('\x1b'));
        assert!(text.contains("\\n2026") && text.contains("\\u{1b}[31m"));
        assert!(text.ends_with('é'), "printable text is kept as it is: {text}");
    }
}
