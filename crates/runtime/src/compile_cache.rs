//! Compiled code on disk, shared by the agents of one host: the first to need a version
//! compiles it (under a file lock) and the others load the result. Compiling a module
//! takes a few hundred ms of CPU; loading it, about a millisecond — on a host running
//! 100 agents, that is the difference between 20 s and under a second for an update.
//! (wasmtime's own `cache` feature does the same; it would pull in a config-file
//! format and a background worker we don't need, so this is the ~60 lines we need.)

use std::collections::hash_map::DefaultHasher;
use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use hearsay_core::CodeVersion;
use wasmtime::{Engine, Module};

use crate::LoadError;

/// Loads the compiled form of the code whose sha256 is `version` from `dir`, or
/// compiles it with `fresh` and stores the result there: the serialized form `fresh`
/// gives with the module (a compiler process's output), else the module serialized.
pub(crate) fn compile(
    engine: &Engine,
    dir: &Path,
    version: CodeVersion,
    fresh: impl FnOnce() -> Result<(Module, Option<Vec<u8>>), LoadError>,
) -> Result<Module, LoadError> {
    let path = path(engine, dir, version);
    // Compiled already (the usual case on a host of many agents): loaded without the
    // lock, since the file only ever appears whole (renamed into place). Taking the lock
    // to read made a hundred agents load one after the other.
    if let Some(module) = load(engine, &path) {
        return Ok(module);
    }
    if fs::create_dir_all(dir).is_err() {
        return fresh().map(|(module, _)| module);
    }
    let Ok(lock) = File::create(path.with_extension("lock")) else {
        return fresh().map(|(module, _)| module);
    };
    // One compiler per version per host; the others wait, then load its result. The
    // lock goes with the file handle, at the end of this function.
    // SAFETY: flock on a file descriptor we own.
    unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    if let Some(module) = load(engine, &path) {
        return Ok(module);
    }
    let _ = fs::remove_file(&path);
    let (module, serialized) = fresh()?;
    if let Some(bytes) = serialized.map_or_else(|| module.serialize().ok(), Some) {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = File::create(&tmp).and_then(|mut f| f.write_all(&bytes).and_then(|_| f.sync_all()));
        if written.is_ok() {
            let _ = fs::rename(&tmp, &path);
        } else {
            let _ = fs::remove_file(&tmp);
        }
    }
    Ok(module)
}

/// The compiled code of `version` for `engine` in `dir`, if some agent has compiled it.
pub(crate) fn lookup(engine: &Engine, dir: &Path, version: CodeVersion) -> Option<Module> {
    load(engine, &path(engine, dir, version))
}

/// Where the code of `version` compiled for `engine` lives. The engine's compatibility
/// hash is in the name: another wasmtime or other engine settings never read this file.
fn path(engine: &Engine, dir: &Path, version: CodeVersion) -> PathBuf {
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    dir.join(format!("{}-{:016x}.cwasm", version.to_hex(), h.finish()))
}

/// The compiled module at `path`, if there is one that deserializes.
fn load(engine: &Engine, path: &Path) -> Option<Module> {
    // Read into memory rather than mapped: a file truncated under a mapping would
    // crash this process (SIGBUS); a read copy can only fail to deserialize.
    let bytes = fs::read(path).ok()?;
    // SAFETY: the file was written by this code from a module compiled by an engine
    // with the same compatibility hash, in a directory as trusted as our binary.
    unsafe { Module::deserialize(engine, &bytes) }.ok()
}
