//! The `hearsay` command line's commands, one module each, as a library: the
//! `hearsay` binary dispatches to them, and `hearsay-lab` (benchmarks and scenarios)
//! reuses the local-cluster launcher, the API fan-out and the embedded modules.

/// `println!` that never panics: output to a closed pipe (`hearsay cluster | head`)
/// is dropped instead of aborting the command half-way (with agents still running).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that never panics.
#[macro_export]
macro_rules! esay {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod agent;
pub mod cluster;
pub mod deploy;
pub mod events;
pub mod kelips;
pub mod keygen;
pub mod keygen_tls;
pub mod kv;
pub mod manual;
pub mod members;
pub mod modules;
pub mod netns;
pub mod procs;
pub mod pubsub;
pub mod query;
pub mod sim;
mod sim_aggregate;
mod sim_kelips;
mod sim_kv;
pub mod sim_pubsub;
mod sim_run;
mod sim_s3;
pub mod status;
pub mod watch;

/// Runs a future on a single-threaded tokio runtime (the CLI's commands are small;
/// the agent is single-threaded too, so 100 agents share 2 cores well).
pub fn block_on<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    rt.block_on(f)
}

/// `hearsay --version`: the crate's version and the commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("HEARSAY_COMMIT"), ")");
