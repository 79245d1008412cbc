//! The WebAssembly host of hearsay: loads module code with wasmtime, drives instances
//! through module ABI v1 (docs/module-abi.md), contains them — a trap, an endless loop,
//! runaway memory or a flood of sends fails that instance with a reason, never the node
//! — and swaps code in while running, handing state from the old instance to the new.
//!
//! # Layout
//!
//! - [`runtime`]: the engine, the linker, code compiled and ABI-checked, cached by version.
//! - [`compiler_process`]: compiling in a child process (`hearsay compile-module`).
//! - [`instance`]: one running instance; every call fuelled and limited.
//! - [`host`]: a node's instances, driven by the core's outputs (load, deliver, tick).
//! - [`limits`]: what an instance may consume.
//! - `imports`: the `hearsay` host functions; `state`: what they read and collect.
//! - [`error`]: load and run-time failures.
#![warn(missing_docs)]

mod compile_cache;
pub mod compiler_process;
pub mod error;
pub mod host;
mod imports;
pub mod instance;
pub mod limits;
pub mod runtime;
pub mod sample;
mod state;

pub use error::{LoadError, ModuleError};
pub use host::{HostMetrics, ModuleHost, QueryError};
pub use instance::{Handover, Instance, InstanceContext, ABI_VERSIONS};
pub use limits::Limits;
pub use runtime::{Code, Runtime, Tier};
pub use state::{BudgetUsage, Effects, LogLine, ModuleEvent};
