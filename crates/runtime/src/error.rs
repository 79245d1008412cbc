//! Why a module could not be loaded, and why a running instance failed.

/// A running instance failed; it is dead from then on and says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleError {
    /// The guest trapped (a panic, `unreachable`, an out-of-bounds access…).
    #[error("trapped: {0}")]
    Trap(String),
    /// A call ran out of fuel: an endless (or far too long) loop.
    #[error("ran out of fuel: more than {0} instructions in one call (endless loop?)")]
    OutOfFuel(u64),
    /// The guest tried to grow its memory past the limit.
    #[error("memory budget of {0} bytes exceeded (all memories and tables of the instance)")]
    MemoryLimit(u64),
    /// The guest sent more than allowed in one call.
    #[error("flood: more than {0} sends in one call")]
    Flood(usize),
    /// The guest broke the ABI at run time (e.g. `hearsay_alloc` returned 0).
    #[error("ABI violation: {0}")]
    Abi(String),
    /// The module stayed over its send or CPU budget for longer than it may.
    #[error("{0}")]
    OverBudget(String),
}

/// Why code could not become a running instance. The previous instance, if any, keeps
/// running.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Not a valid WebAssembly module (truncated, corrupted, not wasm at all).
    #[error("not a valid WebAssembly module: {0}")]
    InvalidWasm(String),
    /// Valid wasm, but not a hearsay module (missing exports, unknown imports, other ABI).
    #[error("not a hearsay module: {0}")]
    BadAbi(String),
    /// The bytes are not the code the deployment names (their sha256 differs).
    #[error("the code's sha256 is not the deployment's version")]
    WrongCode,
    /// `hearsay_init` refused the params.
    #[error("init failed: {0}")]
    InitFailed(String),
    /// The instance failed while starting.
    #[error("failed while starting: {0}")]
    Failed(#[from] ModuleError),
}
