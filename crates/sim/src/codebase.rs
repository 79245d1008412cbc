//! The code a simulation knows: the bytes of every version (what crosses the
//! simulated network, and what the wasm runtime runs), and for some versions a native
//! build of the same source to run instead — linked in, a hundred times faster, for
//! simulations of 100,000 nodes. A version with no native build runs from its real
//! wasm through `hearsay-runtime`, as the daemon runs it.

use std::collections::HashMap;
use std::sync::Arc;

use hearsay_core::CodeVersion;
use hearsay_guest::Factory;

/// Every version's bytes, and the native builds.
#[derive(Clone, Default)]
pub struct Codebase {
    bytes: HashMap<CodeVersion, Arc<Vec<u8>>>,
    native: HashMap<CodeVersion, Factory>,
}

impl std::fmt::Debug for Codebase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Codebase({} versions, {} native)",
            self.bytes.len(),
            self.native.len()
        )
    }
}

impl Codebase {
    /// Knows `code`, run from its wasm. Returns its version.
    pub fn add(&mut self, code: Vec<u8>) -> CodeVersion {
        let version = CodeVersion::of(&code);
        self.bytes.entry(version).or_insert_with(|| Arc::new(code));
        version
    }

    /// Knows code a node stored: the core checked that it hashes to `version` (it
    /// stores nothing else), so it is not hashed again — at 100,000 nodes each
    /// downloading it, that would be most of the run.
    pub fn stored(&mut self, version: CodeVersion, code: Vec<u8>) {
        self.bytes.entry(version).or_insert_with(|| Arc::new(code));
    }

    /// Knows `code`, run by `factory`: a native build of the same source. Returns its
    /// version.
    pub fn add_native(&mut self, code: Vec<u8>, factory: Factory) -> CodeVersion {
        let version = self.add(code);
        self.native.insert(version, factory);
        version
    }

    /// The bytes of a version.
    pub fn bytes(&self, version: &CodeVersion) -> Option<&Arc<Vec<u8>>> {
        self.bytes.get(version)
    }

    /// The native build of a version, if it has one.
    pub fn native(&self, version: &CodeVersion) -> Option<Factory> {
        self.native.get(version).copied()
    }
}
