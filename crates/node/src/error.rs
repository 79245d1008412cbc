//! What can go wrong in the daemon: starting it, and its data directory.

use std::path::PathBuf;

/// A failure of the data directory or the code store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Another process holds the data directory.
    #[error("data directory {0} is in use by another hearsay agent")]
    Locked(PathBuf),
    /// A file that should be valid isn't (written by hand, or by something else).
    #[error("{path} is not valid: {reason} (move it away to start without it)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Stored code whose sha256 is not the version it is stored as.
    #[error("stored code {0} does not match its hash")]
    HashMismatch(String),
}

impl StoreError {
    /// True when the disk (or the user's quota) is full.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Io { source, .. } => {
                matches!(source.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
                    || source.kind() == std::io::ErrorKind::StorageFull
            }
            _ => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }
}

/// Why an agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data directory could not be opened or read.
    #[error("data directory: {0}")]
    Store(#[from] StoreError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: std::net::SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The configuration given to the agent is inconsistent.
    #[error("{0}")]
    Config(String),
    /// The WebAssembly runtime or the HTTP client could not be set up.
    #[error("{0}")]
    Setup(String),
    /// A listener failed while serving.
    #[error("{what} listener failed: {source}")]
    Serve {
        /// Which listener.
        what: &'static str,
        /// What happened.
        source: std::io::Error,
    },
}
