//! [`Runtime`]: one wasmtime engine per node, the linker with the `hearsay` imports,
//! and compiled code cached by version — in memory for the last few versions, so
//! swapping back to code seen just before (a rollback) costs an instantiation, and
//! optionally on disk ([`crate::compile_cache`]), so agents sharing a host compile
//! each version once and reload older ones without compiling.
//!
//! Two tiers, as JIT runtimes do: with [`Runtime::with_baseline_tier`], code no host
//! cache holds is first compiled by wasmtime's baseline compiler (Winch: one pass, about
//! a tenth of Cranelift's time) so a new version runs, and gossips itself on, within
//! milliseconds of its code arriving; [`Runtime::optimize`] then compiles it with
//! Cranelift and the host swaps the running instance onto that code
//! ([`crate::ModuleHost::optimize`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

use hearsay_core::CodeVersion;
use wasmtime::{Config, Engine, ExternType, Linker, Module, OptLevel, Strategy, ValType};

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

/// Which compiler made a module's machine code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// Winch, wasmtime's baseline compiler: fast to compile, slower to run.
    Baseline,
    /// Cranelift with optimisations: what a module runs for good.
    Optimized,
}

impl Tier {
    /// Its name in reports: `baseline` or `optimized`.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Baseline => "baseline",
            Tier::Optimized => "optimized",
        }
    }

    /// The argument that asks the compiler process for this tier.
    pub(crate) fn arg(self) -> &'static str {
        match self {
            Tier::Baseline => "--baseline",
            Tier::Optimized => "--optimized",
        }
    }
}

/// Compiled, ABI-checked module code.
#[derive(Clone)]
pub struct Code {
    pub(crate) module: Module,
    /// The sha256 of the wasm bytes.
    pub version: CodeVersion,
    /// The compiler that made it.
    pub tier: Tier,
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
    /// The baseline tier's engine and linker, when new code runs before it is optimised.
    baseline: Option<(Engine, Linker<HostState>)>,
    pub(crate) limits: Limits,
    /// Most recently used first. A handful of entries: a linear scan, no map.
    cache: Mutex<VecDeque<Code>>,
    disk_cache: Option<PathBuf>,
    /// The executable that compiles code in a process of its own; None: this process.
    compiler: Option<PathBuf>,
}

/// The engine of a tier, for runtimes and the compiler process alike: code compiled by
/// one deserializes in the other only when their settings are the same.
pub(crate) fn engine(tier: Tier) -> Result<Engine, String> {
    let mut config = Config::new();
    config.consume_fuel(true);
    match tier {
        Tier::Optimized => {
            config.cranelift_opt_level(OptLevel::Speed);
        }
        Tier::Baseline => {
            config.strategy(Strategy::Winch);
        }
    }
    Engine::new(&config).map_err(|e| format!("wasmtime engine ({tier:?}): {e}"))
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
        let (engine, linker) = engine_and_linker(Tier::Optimized)?;
        Ok(Runtime {
            engine,
            linker,
            baseline: None,
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

    /// Compiles code no cache holds with the baseline compiler first, so it can run
    /// within milliseconds; [`Runtime::optimize`] makes the optimised code later.
    pub fn with_baseline_tier(mut self) -> Result<Self, String> {
        self.baseline = Some(engine_and_linker(Tier::Baseline)?);
        Ok(self)
    }

    /// The engine and linker that run `code`.
    pub(crate) fn engine_and_linker(&self, code: &Code) -> (&Engine, &Linker<HostState>) {
        match (&self.baseline, code.tier) {
            (Some((engine, linker)), Tier::Baseline) => (engine, linker),
            _ => (&self.engine, &self.linker),
        }
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
    /// With a baseline tier, code that no cache holds comes back baseline-compiled;
    /// [`Runtime::optimize`] then gives the optimised code.
    pub fn compile(&self, wasm: &[u8]) -> Result<Code, LoadError> {
        let version = CodeVersion::of(wasm);
        if let Some(code) = self.cached_code(version) {
            return Ok(code);
        }
        check_magic(wasm)?;
        if self.baseline.is_none() {
            return self.compile_tier(Tier::Optimized, wasm, version);
        }
        // Optimised code some agent of the host compiled already runs at once.
        let optimized = self
            .disk_cache
            .as_deref()
            .and_then(|dir| crate::compile_cache::lookup(&self.engine, dir, version));
        match optimized {
            Some(module) => self.remember(module, version, Tier::Optimized),
            None => self.compile_tier(Tier::Baseline, wasm, version),
        }
    }

    /// Compiles `wasm` with the optimising compiler (or loads that from the disk
    /// cache), and keeps it in memory in place of the baseline code of its version.
    pub fn optimize(&self, wasm: &[u8]) -> Result<Code, LoadError> {
        let version = CodeVersion::of(wasm);
        if let Some(code) = self.cached_code(version).filter(|c| c.tier == Tier::Optimized) {
            return Ok(code);
        }
        check_magic(wasm)?;
        self.compile_tier(Tier::Optimized, wasm, version)
    }

    /// Compiles `wasm` (whose sha256 is `version`) for `tier` — through the disk cache
    /// when there is one, so the agents of a host compile a version once per tier —
    /// and keeps it in memory.
    fn compile_tier(&self, tier: Tier, wasm: &[u8], version: CodeVersion) -> Result<Code, LoadError> {
        let engine = match (tier, &self.baseline) {
            (Tier::Baseline, Some((engine, _))) => engine,
            _ => &self.engine,
        };
        // With a baseline tier, the module runs meanwhile: the optimising compile gives way.
        let background = tier == Tier::Optimized && self.baseline.is_some();
        let fresh = || self.compile_fresh(engine, tier, background, wasm);
        let module = match &self.disk_cache {
            Some(dir) => crate::compile_cache::compile(engine, dir, version, fresh)?,
            None => fresh()?.0,
        };
        self.remember(module, version, tier)
    }

    /// The code of `version` kept in memory, moved to the front.
    fn cached_code(&self, version: CodeVersion) -> Option<Code> {
        let mut cache = self.cache.lock().expect("cache lock");
        let at = cache.iter().position(|c| c.version == version)?;
        let code = cache.remove(at).expect("found above");
        cache.push_front(code.clone());
        Some(code)
    }

    /// ABI-checks compiled code and keeps it in memory, in place of any other code of
    /// its version.
    fn remember(&self, module: Module, version: CodeVersion, tier: Tier) -> Result<Code, LoadError> {
        check_abi(&module)?;
        let code = Code {
            module,
            version,
            tier,
        };
        let mut cache = self.cache.lock().expect("cache lock");
        cache.retain(|c| c.version != version);
        cache.push_front(code.clone());
        // Instances hold their own reference: evicting never unloads running code.
        cache.truncate(MEMORY_CACHE);
        Ok(code)
    }

    /// Compiles `wasm` to machine code: in the compiler process when there is one,
    /// whose serialized output comes back too (for the disk cache, as it is).
    fn compile_fresh(
        &self,
        engine: &Engine,
        tier: Tier,
        background: bool,
        wasm: &[u8],
    ) -> Result<(Module, Option<Vec<u8>>), LoadError> {
        let here = || {
            Module::from_binary(engine, wasm)
                .map(|module| (module, None))
                .map_err(|e| LoadError::InvalidWasm(format!("{e:#}")))
        };
        let Some(exe) = &self.compiler else {
            return here();
        };
        match crate::compiler_process::compile(exe, tier, background, wasm) {
            Outcome::Compiled(bytes) => {
                // SAFETY: compiled just now by the same binary with the same engine
                // settings ([`engine`]); a mismatch fails to deserialize, it can't load.
                match unsafe { Module::deserialize(engine, &bytes) } {
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

/// Refuses bytes that are not WebAssembly before any compiler sees them.
fn check_magic(wasm: &[u8]) -> Result<(), LoadError> {
    match wasm.starts_with(b"\0asm") {
        true => Ok(()),
        false => Err(LoadError::InvalidWasm("missing the \\0asm magic number".into())),
    }
}

/// A tier's engine, and a linker with the `hearsay` imports for it.
fn engine_and_linker(tier: Tier) -> Result<(Engine, Linker<HostState>), String> {
    let engine = engine(tier)?;
    let mut linker = Linker::new(&engine);
    link(&mut linker).map_err(|e| format!("wasmtime linker: {e}"))?;
    Ok((engine, linker))
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
