//! Atomic file writes: write a temporary file, fsync it, rename it over the target,
//! fsync the directory. A crash (kill -9, power loss) at any moment leaves either the
//! old file or the new one, never a mix — the property the configuration and the
//! code store rely on.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::StoreError;

/// Temporary files start with this and are removed at startup.
pub(crate) const TMP_PREFIX: &str = ".tmp-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `dir/name` atomically.
pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    write(dir, name, bytes, true)
}

/// Writes `bytes` to `dir/name` atomically as far as this process goes, without
/// waiting for the disk: a crash of the process leaves the old file or the new one,
/// a power loss may leave neither (or a torn one). For content that can be had again
/// and is checked whenever it is read — code fetched from peers, whose file name is
/// its hash. On a host of a hundred agents, an update's fsyncs queued on one disk.
pub(crate) fn write_replaceable(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    write(dir, name, bytes, false)
}

fn write(dir: &Path, name: &str, bytes: &[u8], durable: bool) -> Result<(), StoreError> {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{TMP_PREFIX}{}-{n}-{name}", std::process::id()));
    let target = dir.join(name);
    let result = (|| {
        let mut f = File::create(&tmp).map_err(StoreError::io(&tmp))?;
        f.write_all(bytes).map_err(StoreError::io(&tmp))?;
        if durable {
            f.sync_all().map_err(StoreError::io(&tmp))?;
        }
        fs::rename(&tmp, &target).map_err(StoreError::io(&target))?;
        if durable {
            sync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes a rename (or a create, or a delete) in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io(dir))
}

/// Removes temporary files a crash left behind in `dir`.
pub(crate) fn remove_leftovers(dir: &Path) -> Result<usize, StoreError> {
    let mut removed = 0;
    for entry in fs::read_dir(dir).map_err(StoreError::io(dir))? {
        let entry = entry.map_err(StoreError::io(dir))?;
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            fs::remove_file(entry.path()).map_err(StoreError::io(entry.path()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// A random u64 without an rng dependency: std's hasher keys come from the OS.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_and_leftovers_go() {
        let dir = std::env::temp_dir().join(format!("hearsay-fsutil-{}", random_u64()));
        fs::create_dir_all(&dir).unwrap();
        write_atomically(&dir, "f", b"one").unwrap();
        write_atomically(&dir, "f", b"two").unwrap();
        assert_eq!(fs::read(dir.join("f")).unwrap(), b"two");
        fs::write(dir.join(format!("{TMP_PREFIX}x")), b"half").unwrap();
        assert_eq!(remove_leftovers(&dir).unwrap(), 1);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        assert_ne!(random_u64(), random_u64());
        fs::remove_dir_all(&dir).unwrap();
    }
}
