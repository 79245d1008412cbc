//! The data directory: the node's persistent identity (`node_id`), its configuration
//! (`configuration.json`), the code store (`code/`) and a lock so two agents never
//! share one. Everything is written atomically (see `fsutil`), so a restart after a
//! kill -9 resumes the old or the new configuration, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use hearsay_core::{Configuration, Deployment, NodeId};

use crate::error::StoreError;
use crate::fsutil::{random_u64, remove_leftovers, write_atomically};
use crate::store::{CodeStore, ScanReport};

const NODE_ID: &str = "node_id";
const CONFIGURATION: &str = "configuration.json";
const RAN: &str = "ran.json";
const LOCK: &str = "lock";

/// An open, locked data directory.
#[derive(Debug)]
pub struct DataDir {
    root: PathBuf,
    /// Held for the life of the agent; the OS releases the lock when the process dies.
    _lock: File,
}

impl DataDir {
    /// Opens (creating) a data directory and locks it.
    pub fn open(root: &Path) -> Result<DataDir, StoreError> {
        fs::create_dir_all(root).map_err(StoreError::io(root))?;
        let lock_path = root.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(StoreError::io(&lock_path))?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(StoreError::Locked(root.to_path_buf()));
        }
        remove_leftovers(root)?;
        Ok(DataDir {
            root: root.to_path_buf(),
            _lock: lock,
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The node's identity, created at first start.
    pub fn node_id(&self) -> Result<NodeId, StoreError> {
        let path = self.root.join(NODE_ID);
        match fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map_err(|e| StoreError::Corrupt {
                path,
                reason: format!("not a hex node id: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let id = NodeId(random_u64());
                write_atomically(&self.root, NODE_ID, format!("{id}\n").as_bytes())?;
                Ok(id)
            }
            Err(e) => Err(StoreError::Io { path, source: e }),
        }
    }

    /// The configuration last persisted (empty at first start).
    pub fn configuration(&self) -> Result<Configuration, StoreError> {
        let path = self.root.join(CONFIGURATION);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Configuration::new()),
            Err(e) => Err(StoreError::Io { path, source: e }),
        }
    }

    /// The deployments that last ran, per module (empty at first start, or if the
    /// file is damaged: it only lets a restart run something while code is fetched).
    pub fn ran(&self) -> Vec<Deployment> {
        fs::read(self.root.join(RAN))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Persists a configuration and what last ran, each atomically.
    pub fn persist(&self, configuration: &Configuration, ran: &[Deployment]) -> Result<(), StoreError> {
        self.write_json(CONFIGURATION, configuration)?;
        self.write_json(RAN, &ran)
    }

    fn write_json(&self, name: &str, value: &impl serde::Serialize) -> Result<(), StoreError> {
        let json = serde_json::to_vec_pretty(value).map_err(|e| StoreError::Corrupt {
            path: self.root.join(name),
            reason: e.to_string(),
        })?;
        write_atomically(&self.root, name, &json)
    }

    /// Opens the code store inside the directory, verifying every file.
    pub fn code_store(&self) -> Result<(CodeStore, ScanReport), StoreError> {
        CodeStore::open(self.root.join("code"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearsay_core::{CodeVersion, Deployment, DeploymentNumber, ModuleName};

    #[test]
    fn identity_and_configuration_survive_reopening() {
        let root = std::env::temp_dir().join(format!("hearsay-datadir-{}", random_u64()));
        let dir = DataDir::open(&root).unwrap();
        assert!(matches!(DataDir::open(&root), Err(StoreError::Locked(_))));
        let id = dir.node_id().unwrap();
        assert_eq!(dir.node_id().unwrap(), id);
        assert!(dir.configuration().unwrap().is_empty());
        let mut c = Configuration::new();
        c.offer(Deployment {
            module: ModuleName::new("m").unwrap(),
            version: Some(CodeVersion::of(b"x")),
            number: DeploymentNumber {
                time_ms: 5,
                origin: id,
            },
            params: "{}".into(),
            previous: None,
            budget: Default::default(),
            auto_rollback_ms: None,
            signature: None,
        });
        dir.persist(&c, &[]).unwrap();
        drop(dir);
        let dir = DataDir::open(&root).unwrap();
        assert_eq!(dir.node_id().unwrap(), id);
        assert_eq!(dir.configuration().unwrap(), c);
        fs::write(root.join(CONFIGURATION), b"{torn").unwrap();
        assert!(matches!(dir.configuration(), Err(StoreError::Corrupt { .. })));
        fs::remove_dir_all(&root).unwrap();
    }
}
