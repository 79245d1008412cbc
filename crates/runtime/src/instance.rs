//! [`Instance`]: one running module. Every call is fuelled and limited; the first
//! failure (trap, fuel, memory, flood) kills the instance, is reported with its
//! reason, and every later call answers with that reason instead of running guest code.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use wasmtime::{Store, Trap, TypedFunc};

use crate::runtime::{Code, Runtime};
use crate::state::{Effects, HostState};
use crate::{LoadError, ModuleError};

/// What an instance needs to know about its node.
#[derive(Debug, Clone)]
pub struct InstanceContext {
    /// The node's gossip address (the `self_addr` import).
    pub self_addr: String,
    /// Peers to contact when the module knows nobody (the `bootstrap_peers` import).
    pub bootstrap: Vec<String>,
    /// Seed of the `random` import.
    pub seed: u64,
    /// The time at start.
    pub now_ms: u64,
}

struct Exports {
    alloc: TypedFunc<i32, i32>,
    init: TypedFunc<(i32, i32), i32>,
    tick: TypedFunc<i64, ()>,
    receive: TypedFunc<(i32, i32, i32, i32), ()>,
    query: TypedFunc<(i32, i32), ()>,
    export_state: Option<TypedFunc<(), ()>>,
    import_state: Option<TypedFunc<(i32, i32), i32>>,
}

/// A running module instance.
pub struct Instance {
    store: Store<HostState>,
    exports: Exports,
    failed: Option<ModuleError>,
    fuel_per_call: u64,
    /// The code it runs.
    pub version: hearsay_core::CodeVersion,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Instance({:?}, failed: {:?})", self.version, self.failed)
    }
}

impl Instance {
    /// Instantiates code and runs `hearsay_init(params)`.
    pub fn start(
        runtime: &Runtime,
        code: &Code,
        params: &str,
        ctx: &InstanceContext,
    ) -> Result<(Instance, Effects), LoadError> {
        let state = HostState::new(
            runtime.limits.clone(),
            ChaCha8Rng::seed_from_u64(ctx.seed),
            ctx.self_addr.clone(),
            &ctx.bootstrap,
        );
        let mut store = Store::new(&runtime.engine, state);
        store.limiter(|s| s as &mut dyn wasmtime::ResourceLimiter);
        let fuel = runtime.limits.fuel_per_call;
        store
            .set_fuel(fuel)
            .map_err(|e| LoadError::BadAbi(e.to_string()))?;
        store.data_mut().now_ms = ctx.now_ms;
        let instance = runtime
            .linker
            .instantiate(&mut store, &code.module)
            .map_err(|e| classify(e, &mut store, fuel))?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| LoadError::BadAbi("no memory".into()))?;
        store.data_mut().memory = Some(memory);
        let bad = |e: wasmtime::Error| LoadError::BadAbi(format!("{e:#}"));
        let abi: TypedFunc<(), i32> = instance
            .get_typed_func(&mut store, "hearsay_abi_version")
            .map_err(bad)?;
        let exports = Exports {
            alloc: instance
                .get_typed_func(&mut store, "hearsay_alloc")
                .map_err(bad)?,
            init: instance.get_typed_func(&mut store, "hearsay_init").map_err(bad)?,
            tick: instance.get_typed_func(&mut store, "hearsay_tick").map_err(bad)?,
            receive: instance
                .get_typed_func(&mut store, "hearsay_receive")
                .map_err(bad)?,
            query: instance
                .get_typed_func(&mut store, "hearsay_query")
                .map_err(bad)?,
            export_state: instance.get_typed_func(&mut store, "hearsay_export_state").ok(),
            import_state: instance.get_typed_func(&mut store, "hearsay_import_state").ok(),
        };
        let mut this = Instance {
            store,
            exports,
            failed: None,
            fuel_per_call: fuel,
            version: code.version,
        };
        let version = this.call(ctx.now_ms, |s, _| abi.call(s, ()))?;
        if version != 1 {
            return Err(LoadError::BadAbi(format!(
                "module speaks ABI version {version}; this host speaks 1"
            )));
        }
        let status = this.call(ctx.now_ms, |s, e| {
            let (p, l) = pass(s, e, params.as_bytes())?;
            e.init.call(s, (p, l))
        })?;
        let effects = this.take_effects();
        if status != 0 {
            let reason = effects
                .logs
                .iter()
                .find(|l| l.level == 0)
                .map(|l| l.text.clone())
                .unwrap_or_else(|| format!("hearsay_init returned {status}"));
            return Err(LoadError::InitFailed(reason));
        }
        Ok((this, effects))
    }

    /// Why the instance failed, if it did.
    pub fn failure(&self) -> Option<&ModuleError> {
        self.failed.as_ref()
    }

    /// `hearsay_tick(now)`.
    pub fn tick(&mut self, now_ms: u64) -> Result<Effects, ModuleError> {
        self.call(now_ms, |s, e| e.tick.call(s, now_ms as i64))?;
        Ok(self.take_effects())
    }

    /// `hearsay_receive(from, payload)`.
    pub fn receive(&mut self, now_ms: u64, from: &str, payload: &[u8]) -> Result<Effects, ModuleError> {
        self.call(now_ms, |s, e| {
            let (fp, fl) = pass(s, e, from.as_bytes())?;
            let (pp, pl) = pass(s, e, payload)?;
            e.receive.call(s, (fp, fl, pp, pl))
        })?;
        Ok(self.take_effects())
    }

    /// `hearsay_query(args)`: the module's JSON answer.
    pub fn query(&mut self, now_ms: u64, args: &str) -> Result<(String, Effects), ModuleError> {
        let reply = self.with_reply(now_ms, |s, e| {
            let (p, l) = pass(s, e, args.as_bytes())?;
            e.query.call(s, (p, l))
        })?;
        let text = match reply {
            Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            None => "{\"error\":\"the module did not answer the query\"}".into(),
        };
        Ok((text, self.take_effects()))
    }

    /// `hearsay_export_state()`: the state to hand over, if the module has any.
    pub fn export_state(&mut self, now_ms: u64) -> Result<Option<Vec<u8>>, ModuleError> {
        let Some(export) = self.exports.export_state.clone() else {
            return Ok(None);
        };
        let state = self.with_reply(now_ms, move |s, _| export.call(s, ()))?;
        self.take_effects();
        Ok(state)
    }

    /// `hearsay_import_state(state)`: true when the module accepted it.
    pub fn import_state(&mut self, now_ms: u64, state: &[u8]) -> Result<bool, ModuleError> {
        let Some(import) = self.exports.import_state.clone() else {
            return Ok(false);
        };
        let status = self.call(now_ms, |s, e| {
            let (p, l) = pass(s, e, state)?;
            import.call(s, (p, l))
        })?;
        Ok(status == 0)
    }

    /// Runs a call that may `reply`, returning the reply.
    fn with_reply(
        &mut self,
        now_ms: u64,
        f: impl FnOnce(&mut Store<HostState>, &Exports) -> wasmtime::Result<()>,
    ) -> Result<Option<Vec<u8>>, ModuleError> {
        self.store.data_mut().reply_open = true;
        self.store.data_mut().reply = None;
        let result = self.call(now_ms, f);
        let data = self.store.data_mut();
        data.reply_open = false;
        let reply = data.reply.take();
        result.map(|_| reply)
    }

    /// One guest call with fresh fuel; any failure kills the instance for good.
    fn call<R>(
        &mut self,
        now_ms: u64,
        f: impl FnOnce(&mut Store<HostState>, &Exports) -> wasmtime::Result<R>,
    ) -> Result<R, ModuleError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.store.data_mut().now_ms = now_ms;
        self.store.data_mut().host_fault = None;
        if let Err(e) = self.store.set_fuel(self.fuel_per_call) {
            return Err(ModuleError::Abi(e.to_string()));
        }
        match f(&mut self.store, &self.exports) {
            Ok(r) => Ok(r),
            Err(e) => {
                let error = match classify(e, &mut self.store, self.fuel_per_call) {
                    LoadError::Failed(m) => m,
                    other => ModuleError::Abi(other.to_string()),
                };
                self.failed = Some(error.clone());
                self.store.data_mut().effects = Effects::default();
                Err(error)
            }
        }
    }

    fn take_effects(&mut self) -> Effects {
        std::mem::take(&mut self.store.data_mut().effects)
    }
}

/// Copies input into a guest buffer from `hearsay_alloc` (ABI: the guest frees it).
fn pass(store: &mut Store<HostState>, exports: &Exports, bytes: &[u8]) -> wasmtime::Result<(i32, i32)> {
    if bytes.is_empty() {
        return Ok((0, 0));
    }
    let len = i32::try_from(bytes.len()).map_err(|_| wasmtime::Error::msg("input too large"))?;
    let ptr = exports.alloc.call(&mut *store, len)?;
    if ptr == 0 {
        store.data_mut().host_fault = Some(ModuleError::Abi(
            "hearsay_alloc returned 0 (out of memory)".into(),
        ));
        return Err(wasmtime::Error::msg("alloc failed"));
    }
    let memory = store
        .data()
        .memory
        .ok_or_else(|| wasmtime::Error::msg("no memory"))?;
    memory
        .write(&mut *store, ptr as u32 as usize, bytes)
        .map_err(|_| wasmtime::Error::msg("hearsay_alloc returned a buffer outside memory"))?;
    Ok((ptr, len))
}

/// Turns a wasmtime error into the reason the instance failed.
fn classify(e: wasmtime::Error, store: &mut Store<HostState>, fuel: u64) -> LoadError {
    if let Some(fault) = store.data_mut().host_fault.take() {
        return LoadError::Failed(fault);
    }
    let error = match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => ModuleError::OutOfFuel(fuel),
        Some(trap) => ModuleError::Trap(trap.to_string()),
        None => ModuleError::Trap(format!("{e:#}")),
    };
    LoadError::Failed(error)
}
