//! The content-addressed code store: `code/<sha256hex>.wasm`, written atomically.
//! A file's name is its hash, so anything that doesn't hash to its name (a torn
//! write from another tool, a flipped bit on disk, a hand edit) is found and removed
//! at startup, and checked again before it is loaded or served.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use hearsay_core::CodeVersion;

use crate::error::StoreError;
use crate::fsutil::{remove_leftovers, sync_dir, write_atomically, write_replaceable};

/// Largest code accepted anywhere (API, downloads, the store).
pub const MAX_CODE_BYTES: usize = 32 << 20;

/// What a startup scan of the store found.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// Versions whose files hash correctly.
    pub versions: BTreeSet<CodeVersion>,
    /// Files removed because their content did not match their name, and why.
    pub rejected: Vec<(PathBuf, String)>,
}

/// The code store of one node.
#[derive(Debug, Clone)]
pub struct CodeStore {
    dir: PathBuf,
}

impl CodeStore {
    /// Opens (creating) the store in `dir` and verifies every file in it.
    pub fn open(dir: PathBuf) -> Result<(CodeStore, ScanReport), StoreError> {
        fs::create_dir_all(&dir).map_err(StoreError::io(&dir))?;
        remove_leftovers(&dir)?;
        let store = CodeStore { dir };
        let report = store.scan()?;
        Ok((store, report))
    }

    fn scan(&self) -> Result<ScanReport, StoreError> {
        let mut report = ScanReport::default();
        for entry in fs::read_dir(&self.dir).map_err(StoreError::io(&self.dir))? {
            let path = entry.map_err(StoreError::io(&self.dir))?.path();
            let Some(version) = version_of_path(&path) else {
                continue; // not ours: leave it alone
            };
            let verdict = match fs::read(&path) {
                Ok(bytes) if bytes.len() > MAX_CODE_BYTES => {
                    Err("larger than the code size limit".to_string())
                }
                Ok(bytes) if CodeVersion::of(&bytes) == version => Ok(()),
                Ok(_) => Err("content does not match its hash".to_string()),
                Err(e) => Err(format!("unreadable: {e}")),
            };
            match verdict {
                Ok(()) => {
                    report.versions.insert(version);
                }
                Err(reason) => {
                    fs::remove_file(&path).map_err(StoreError::io(&path))?;
                    report.rejected.push((path, reason));
                }
            }
        }
        if !report.rejected.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(report)
    }

    /// The file holding a version.
    pub fn path(&self, version: &CodeVersion) -> PathBuf {
        self.dir.join(file_name(version))
    }

    /// True when a file for the version is there (its content is checked on read).
    pub fn contains(&self, version: &CodeVersion) -> bool {
        self.path(version).is_file()
    }

    /// Stores code under its version (the caller has checked the hash), durably: code
    /// deployed here may exist nowhere else yet.
    pub fn write(&self, version: &CodeVersion, bytes: &[u8]) -> Result<(), StoreError> {
        write_atomically(&self.dir, &file_name(version), bytes)
    }

    /// Stores code fetched from a peer without waiting for the disk: lost or torn by a
    /// power loss, it is found at the next start (the scan) or read (the hash check)
    /// and fetched again.
    pub fn write_fetched(&self, version: &CodeVersion, bytes: &[u8]) -> Result<(), StoreError> {
        write_replaceable(&self.dir, &file_name(version), bytes)
    }

    /// Reads a version's code and checks it still hashes to its name.
    pub fn read(&self, version: &CodeVersion) -> Result<Vec<u8>, StoreError> {
        let path = self.path(version);
        let bytes = fs::read(&path).map_err(StoreError::io(&path))?;
        if CodeVersion::of(&bytes) != *version {
            return Err(StoreError::HashMismatch(version.to_hex()));
        }
        Ok(bytes)
    }

    /// Every version in the store, by file name (unverified).
    pub fn versions(&self) -> Vec<CodeVersion> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| version_of_path(&e.path()))
            .collect()
    }
}

fn file_name(version: &CodeVersion) -> String {
    format!("{}.wasm", version.to_hex())
}

fn version_of_path(path: &Path) -> Option<CodeVersion> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".wasm")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_removed_at_open_and_refused_on_read() {
        let dir = std::env::temp_dir().join(format!("hearsay-store-{}", crate::fsutil::random_u64()));
        let (store, report) = CodeStore::open(dir.clone()).unwrap();
        assert!(report.versions.is_empty());
        let good = CodeVersion::of(b"good");
        let bad = CodeVersion::of(b"bad");
        store.write(&good, b"good").unwrap();
        store.write(&bad, b"not bad").unwrap();
        fs::write(dir.join("README"), b"left alone").unwrap();
        assert_eq!(store.read(&good).unwrap(), b"good");
        assert!(matches!(store.read(&bad), Err(StoreError::HashMismatch(_))));
        let (store, report) = CodeStore::open(dir.clone()).unwrap();
        assert_eq!(report.versions.into_iter().collect::<Vec<_>>(), vec![good]);
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(store.versions(), vec![good]);
        assert!(dir.join("README").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
