//! [`Runtime`]: one wasmtime engine per node, the linker with the `hearsay` imports,
//! and compiled code cached by version — in memory for the last few versions, so
//! swapping back to code seen just before (a rollback) costs an instantiation, and
//! optionally on disk ([`crate::compile_cache`]), so agents sharing a host compile
//! each version once and reload older ones without compiling.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

use hearsay_core::CodeVersion;
use wasmtime::{Config, Engine, ExternType, Linker, Module, OptLevel, ValType};

use crate::compiler_process::Outcome;
use crate::imports::{link, IMPORTS};
use crate::limits::Limits;
use crate::state::HostState;
use crate::LoadError;

/// Compiled versions kept in memory (each is hundreds of KiB of machine code): the
/// running one and the one before, for a rollback. Older ones come back from the disk
/// cache, or are compiled again.
const MEMORY_CACHE: usize = 2;

/// Exports every module must have: name, parameter count, result count.
const REQUIRED_EXPORTS: [(&str, usize, usize); 6] = [
    ("hearsay_abi_version", 0, 1),
    ("hearsay_alloc", 1, 1),
    ("hearsay_init", 2, 1),
    ("hearsay_tick", 1, 0),
    ("hearsay_receive", 4, 0),
    ("hearsay_query", 2, 0),
];

/// Compiled, ABI-checked module code.
#[derive(Clone)]
pub struct Code {
    pub(crate) module: Module,
    /// The sha256 of the wasm bytes.
    pub version: CodeVersion,
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Code({:?})", self.version)
    }
}

/// The WebAssembly host of one node.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) limits: Limits,
    /// Most recently used first. A handful of entries: a linear scan, no map.
    cache: Mutex<VecDeque<Code>>,
    disk_cache: Option<PathBuf>,
    /// The executable that compiles code in a process of its own; None: this process.
    compiler: Option<PathBuf>,
}

/// The engine every runtime uses, and the compiler process too: code compiled by one
/// deserializes in the other only when their settings are the same.
pub(crate) fn engine() -> Result<Engine, String> {
    let mut config = Config::new();
    config.consume_fuel(true);
    config.cranelift_opt_level(OptLevel::Speed);
    Engine::new(&config).map_err(|e| format!("wasmtime engine: {e}"))
}

impl Runtime {
    /// A runtime whose instances obey `limits`, with compiled code cached in memory only.
    pub fn new(limits: Limits) -> Result<Self, String> {
        Self::with_disk_cache(limits, None)
    }

    /// A runtime that also keeps compiled code in `dir`, shared by every agent of the
    /// host that names the same directory. Its files are executable code: the directory
    /// must be as trusted as the `hearsay` binary.
    pub fn with_disk_cache(limits: Limits, dir: Option<PathBuf>) -> Result<Self, String> {
        let engine = engine()?;
        let mut linker = Linker::new(&engine);
        link(&mut linker).map_err(|e| format!("wasmtime linker: {e}"))?;
        Ok(Runtime {
            engine,
            linker,
            limits,
            cache: Mutex::new(VecDeque::with_capacity(MEMORY_CACHE + 1)),
            disk_cache: dir,
            compiler: None,
        })
    }

    /// Compiles new code in a process of its own, `exe compile-module`
    /// ([`crate::compiler_process`]), instead of in this one: the compiler's code and
    /// memory stay out of this process, and a module that makes the compiler exceed its
    /// limits fails to load instead of taking the process down. When the compiler
    /// process cannot be started, code is compiled here.
    pub fn with_compiler_process(mut self, exe: PathBuf) -> Self {
        self.compiler = Some(exe);
        self
    }

    /// The limits every instance gets.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The versions whose compiled code is kept in memory, most recently used first.
    pub fn cached(&self) -> Vec<CodeVersion> {
        self.cache
            .lock()
            .expect("cache lock")
            .iter()
            .map(|c| c.version)
            .collect()
    }

    /// Validates, ABI-checks and compiles module code (or returns it from the cache).
    pub fn compile(&self, wasm: &[u8]) -> Result<Code, LoadError> {
        let version = CodeVersion::of(wasm);
        {
            let mut cache = self.cache.lock().expect("cache lock");
            if let Some(at) = cache.iter().position(|c| c.version == version) {
                let code = cache.remove(at).expect("found above");
                cache.push_front(code.clone());
                return Ok(code);
            }
        }
        if !wasm.starts_with(b"\0asm") {
            return Err(LoadError::InvalidWasm("missing the \\0asm magic number".into()));
        }
        let fresh = || self.compile_fresh(wasm);
        let module = match &self.disk_cache {
            Some(dir) => crate::compile_cache::compile(&self.engine, dir, version, fresh)?,
            None => fresh()?.0,
        };
        check_abi(&module)?;
        let code = Code { module, version };
        let mut cache = self.cache.lock().expect("cache lock");
        cache.push_front(code.clone());
        // Instances hold their own reference: evicting never unloads running code.
        cache.truncate(MEMORY_CACHE);
        Ok(code)
    }

    /// Compiles `wasm` to machine code: in the compiler process when there is one,
    /// whose serialized output comes back too (for the disk cache, as it is).
    fn compile_fresh(&self, wasm: &[u8]) -> Result<(Module, Option<Vec<u8>>), LoadError> {
        let here = || {
            Module::from_binary(&self.engine, wasm)
                .map(|module| (module, None))
                .map_err(|e| LoadError::InvalidWasm(format!("{e:#}")))
        };
        let Some(exe) = &self.compiler else {
            return here();
        };
        match crate::compiler_process::compile(exe, wasm) {
            Outcome::Compiled(bytes) => {
                // SAFETY: compiled just now by the same binary with the same engine
                // settings ([`engine`]); a mismatch fails to deserialize, it can't load.
                match unsafe { Module::deserialize(&self.engine, &bytes) } {
                    Ok(module) => Ok((module, Some(bytes))),
                    Err(e) => {
                        tracing::warn!("the compiler process's code does not load ({e}); compiling here");
                        here()
                    }
                }
            }
            Outcome::Refused(e) => Err(e),
            Outcome::Unavailable(why) => {
                tracing::warn!("{why}; compiling here");
                here()
            }
        }
    }
}

/// Refuses a valid wasm module that is not a hearsay module, with a reason a module
/// author can act on.
fn check_abi(module: &Module) -> Result<(), LoadError> {
    for import in module.imports() {
        let known = IMPORTS.iter().find(|(name, ..)| *name == import.name());
        let ok = import.module() == "hearsay"
            && match (known, import.ty()) {
                (Some((_, params, results)), ExternType::Func(f)) => {
                    f.params().len() == *params && f.results().len() == *results
                }
                _ => false,
            };
        if !ok {
            return Err(LoadError::BadAbi(format!(
                "unknown import {}::{} (a module may import only the hearsay ABI)",
                import.module(),
                import.name()
            )));
        }
    }
    match module.get_export("memory") {
        Some(ExternType::Memory(_)) => {}
        _ => return Err(LoadError::BadAbi("no exported memory named \"memory\"".into())),
    }
    for (name, params, results) in REQUIRED_EXPORTS {
        match module.get_export(name) {
            Some(ExternType::Func(f))
                if f.params().len() == params
                    && f.results().len() == results
                    && f.params()
                        .chain(f.results())
                        .all(|t| matches!(t, ValType::I32 | ValType::I64)) => {}
            Some(_) => {
                return Err(LoadError::BadAbi(format!(
                    "export {name} has the wrong signature"
                )))
            }
            None => return Err(LoadError::BadAbi(format!("missing export {name}"))),
        }
    }
    Ok(())
}
