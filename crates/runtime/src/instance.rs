//! [`Instance`]: one running module. Every call is fuelled and limited; the first
//! failure (trap, fuel, memory, flood) kills the instance, is reported with its
//! reason, and every later call answers with that reason instead of running guest code.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use wasmtime::{Store, Trap, TypedFunc};

use hearsay_core::Budget;

use crate::runtime::{Code, Runtime, Tier};
use crate::state::{BudgetUsage, Effects, HostState};
use crate::{LoadError, ModuleError};

/// Largest answer to a query.
pub const MAX_QUERY_REPLY: usize = 8 << 20;

/// What the old instance hands over on a hot swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handover {
    /// It has no state to hand over (or no `hearsay_export_state`).
    Nothing,
    /// Its state.
    State(Vec<u8>),
    /// Its export was refused, with the reason: the new version starts fresh.
    Refused(String),
}

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
    /// The instance's budget (its deployment's, resolved over the node's defaults).
    pub budget: Budget,
    /// The node's labels (`--label KEY=VALUE`), for the `labels` import.
    pub labels: std::collections::BTreeMap<String, String>,
    /// When the node started and what runs on it, for the `node_info` import.
    pub node: NodeInfo,
}

/// What the `node_info` import tells: when the node started (host clock) and the
/// modules running, as a JSON object of name → `{"deployment","version"}`.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The node's start on the host's clock.
    pub started_ms: u64,
    /// The running modules, JSON.
    pub modules: String,
}

impl Default for NodeInfo {
    fn default() -> Self {
        NodeInfo {
            started_ms: 0,
            modules: "{}".to_string(),
        }
    }
}

struct Exports {
    alloc: TypedFunc<i32, i32>,
    init: TypedFunc<(i32, i32), i32>,
    tick: TypedFunc<i64, ()>,
    receive: TypedFunc<(i32, i32, i32, i32), ()>,
    query: TypedFunc<(i32, i32), ()>,
    export_state: Option<TypedFunc<(), ()>>,
    import_state: Option<TypedFunc<(i32, i32), i32>>,
    /// ABI v2, optional: state-changing calls from the API.
    command: Option<TypedFunc<(i32, i32), ()>>,
    /// ABI v2, optional: the node is leaving gracefully.
    leave: Option<TypedFunc<(), ()>>,
}

/// The ABI versions this host speaks: 2 is a superset of 1.
pub const ABI_VERSIONS: [i32; 2] = [1, 2];

/// A running module instance.
pub struct Instance {
    store: Store<HostState>,
    exports: Exports,
    failed: Option<ModuleError>,
    fuel_per_call: u64,
    fuel_per_state_call: u64,
    /// The code it runs.
    pub version: hearsay_core::CodeVersion,
    /// The compiler that made that code.
    pub tier: Tier,
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
            ctx.budget,
            ChaCha8Rng::seed_from_u64(ctx.seed),
            ctx.self_addr.clone(),
            &ctx.bootstrap,
            ctx.now_ms,
        );
        let mut state = state;
        state.labels = serde_json::to_string(&ctx.labels).unwrap_or_else(|_| "{}".into());
        state.node_started_ms = ctx.node.started_ms;
        state.node_modules = ctx.node.modules.clone();
        let (engine, linker) = runtime.engine_and_linker(code);
        let mut store = Store::new(engine, state);
        store.limiter(|s| s as &mut dyn wasmtime::ResourceLimiter);
        let fuel = runtime.limits.fuel_per_call;
        store
            .set_fuel(fuel)
            .map_err(|e| LoadError::BadAbi(e.to_string()))?;
        store.data_mut().now_ms = ctx.now_ms;
        let instance = linker
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
            command: instance.get_typed_func(&mut store, "hearsay_command").ok(),
            leave: instance.get_typed_func(&mut store, "hearsay_leave").ok(),
        };
        let mut this = Instance {
            store,
            exports,
            failed: None,
            fuel_per_call: fuel,
            fuel_per_state_call: runtime.limits.fuel_per_state_call,
            version: code.version,
            tier: code.tier,
        };
        let version = this.call(ctx.now_ms, |s, _| abi.call(s, ()))?;
        if !ABI_VERSIONS.contains(&version) {
            return Err(LoadError::BadAbi(format!(
                "module speaks ABI version {version}; this host speaks 1 and 2"
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

    /// What the instance consumed and what its budget dropped.
    pub fn usage(&self) -> BudgetUsage {
        self.store.data().usage.clone()
    }

    /// `hearsay_tick(now)`; skipped while the CPU budget is spent.
    pub fn tick(&mut self, now_ms: u64) -> Result<Effects, ModuleError> {
        if self.throttled(now_ms)? {
            return Ok(Effects::default());
        }
        let result = self.call(now_ms, |s, e| e.tick.call(s, now_ms as i64));
        self.after_budgeted(now_ms, result)
    }

    /// `hearsay_receive(from, payload)`; dropped unread while the CPU budget is spent.
    pub fn receive(&mut self, now_ms: u64, from: &str, payload: &[u8]) -> Result<Effects, ModuleError> {
        if self.throttled(now_ms)? {
            return Ok(Effects::default());
        }
        let result = self.call(now_ms, |s, e| {
            let (fp, fl) = pass(s, e, from.as_bytes())?;
            let (pp, pl) = pass(s, e, payload)?;
            e.receive.call(s, (fp, fl, pp, pl))
        });
        self.after_budgeted(now_ms, result)
    }

    /// True when the CPU budget is spent: the call is skipped (and counted). An
    /// instance that stays over budget fails.
    fn throttled(&mut self, now_ms: u64) -> Result<bool, ModuleError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let data = self.store.data_mut();
        if data.meters.fuel.available(now_ms) {
            return Ok(false);
        }
        data.usage.calls_throttled += 1;
        self.check_budget(now_ms)?;
        Ok(true)
    }

    /// After a tick or delivery: the effects, unless the instance has now been over its
    /// send or CPU budget for longer than it may.
    fn after_budgeted(
        &mut self,
        now_ms: u64,
        result: Result<(), ModuleError>,
    ) -> Result<Effects, ModuleError> {
        result?;
        let effects = self.take_effects();
        self.check_budget(now_ms)?;
        Ok(effects)
    }

    /// Fails the instance when it has stayed over its send or CPU budget for
    /// `fail_after_s`: throttling let the node live, but a module that never gets
    /// back within its budget is broken, and its failure is what an automatic
    /// rollback (or an operator) acts on.
    fn check_budget(&mut self, now_ms: u64) -> Result<(), ModuleError> {
        let data = self.store.data_mut();
        let budget = data.budget;
        let over = [
            (
                data.meters.fuel.over_for(now_ms),
                format!("CPU ({} fuel/s)", budget.fuel_per_s),
            ),
            (
                data.meters.messages.over_for(now_ms),
                format!("messages ({}/s)", budget.messages_per_s),
            ),
            (
                data.meters.bytes.over_for(now_ms),
                format!("bytes sent ({}/s)", budget.bytes_per_s),
            ),
        ]
        .into_iter()
        .max_by_key(|(ms, _)| *ms)
        .unwrap_or_default();
        data.usage.over_budget_ms = over.0;
        if over.0 >= budget.fail_after_s.saturating_mul(1000) {
            let error =
                ModuleError::OverBudget(format!("over its {} budget for {} s", over.1, over.0 / 1000));
            self.failed = Some(error.clone());
            self.store.data_mut().effects = Effects::default();
            return Err(error);
        }
        Ok(())
    }

    /// `hearsay_query(args)`: the module's JSON answer. A reply the host can't take
    /// (out of bounds, too large) answers with an error; the instance lives on.
    pub fn query(&mut self, now_ms: u64, args: &str) -> Result<(String, Effects), ModuleError> {
        let reply = self.with_reply(now_ms, MAX_QUERY_REPLY, self.fuel_per_call, |s, e| {
            let (p, l) = pass(s, e, args.as_bytes())?;
            e.query.call(s, (p, l))
        })?;
        let text = match reply {
            Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            Ok(None) => "{\"error\":\"the module did not answer the query\"}".into(),
            Err(fault) => serde_json::json!({ "error": fault }).to_string(),
        };
        Ok((text, self.take_effects()))
    }

    /// `hearsay_command(args)` (ABI v2): a state-changing call, answered like a query.
    /// `None` when the module has no commands.
    pub fn command(&mut self, now_ms: u64, args: &str) -> Result<Option<(String, Effects)>, ModuleError> {
        let Some(command) = self.exports.command.clone() else {
            return Ok(None);
        };
        let reply = self.with_reply(now_ms, MAX_QUERY_REPLY, self.fuel_per_call, |s, e| {
            let (p, l) = pass(s, e, args.as_bytes())?;
            command.call(s, (p, l))
        })?;
        let text = match reply {
            Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            Ok(None) => "{}".into(),
            Err(fault) => serde_json::json!({ "error": fault }).to_string(),
        };
        Ok(Some((text, self.take_effects())))
    }

    /// `hearsay_leave()` (ABI v2): the node is shutting down gracefully; the module's
    /// last sends (a farewell to its peers) are in the effects.
    pub fn leave(&mut self, now_ms: u64) -> Result<Effects, ModuleError> {
        let Some(leave) = self.exports.leave.clone() else {
            return Ok(Effects::default());
        };
        self.call(now_ms, move |s, _| leave.call(s, ()))?;
        Ok(self.take_effects())
    }

    /// Replaces the peers the `bootstrap_peers` import answers.
    pub fn set_bootstrap(&mut self, peers: &[String]) {
        self.store.data_mut().bootstrap = peers.join("\n");
    }

    /// Replaces the running modules the `node_info` import tells of.
    pub fn set_node_modules(&mut self, modules: &str) {
        self.store.data_mut().node_modules = modules.to_string();
    }

    /// True when the module takes commands (exports `hearsay_command`).
    pub fn has_commands(&self) -> bool {
        self.exports.command.is_some()
    }

    /// `hearsay_export_state()`: the state to hand over, refused when it is larger than
    /// `limit` bytes (or the reply is broken) — the new version then starts fresh.
    pub fn export_state(&mut self, now_ms: u64, limit: usize) -> Result<Handover, ModuleError> {
        let Some(export) = self.exports.export_state.clone() else {
            return Ok(Handover::Nothing);
        };
        let fuel = self.fuel_per_state_call;
        let state = self.with_reply(now_ms, limit, fuel, move |s, _| export.call(s, ()))?;
        self.take_effects();
        Ok(match state {
            Ok(Some(state)) => Handover::State(state),
            Ok(None) => Handover::Nothing,
            Err(fault) => Handover::Refused(fault),
        })
    }

    /// `hearsay_import_state(state)`: true when the module accepted it.
    pub fn import_state(&mut self, now_ms: u64, state: &[u8]) -> Result<bool, ModuleError> {
        let Some(import) = self.exports.import_state.clone() else {
            return Ok(false);
        };
        let status = self.call_with(now_ms, self.fuel_per_state_call, |s, e| {
            let (p, l) = pass(s, e, state)?;
            import.call(s, (p, l))
        })?;
        Ok(status == 0)
    }

    /// Runs a call that may `reply` up to `limit` bytes, returning the reply, or why
    /// the host could not take it.
    fn with_reply(
        &mut self,
        now_ms: u64,
        limit: usize,
        fuel: u64,
        f: impl FnOnce(&mut Store<HostState>, &Exports) -> wasmtime::Result<()>,
    ) -> Result<Result<Option<Vec<u8>>, String>, ModuleError> {
        let data = self.store.data_mut();
        data.reply_limit = Some(limit);
        data.reply = None;
        data.reply_fault = None;
        let result = self.call_with(now_ms, fuel, f);
        let data = self.store.data_mut();
        data.reply_limit = None;
        let reply = data.reply.take();
        let fault = data.reply_fault.take();
        result.map(|_| match fault {
            Some(fault) => Err(fault),
            None => Ok(reply),
        })
    }

    /// One guest call with fresh fuel; any failure kills the instance for good.
    fn call<R>(
        &mut self,
        now_ms: u64,
        f: impl FnOnce(&mut Store<HostState>, &Exports) -> wasmtime::Result<R>,
    ) -> Result<R, ModuleError> {
        self.call_with(now_ms, self.fuel_per_call, f)
    }

    /// [`Instance::call`] with `fuel` to burn.
    fn call_with<R>(
        &mut self,
        now_ms: u64,
        fuel: u64,
        f: impl FnOnce(&mut Store<HostState>, &Exports) -> wasmtime::Result<R>,
    ) -> Result<R, ModuleError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let data = self.store.data_mut();
        data.now_ms = now_ms;
        data.host_fault = None;
        data.sends_in_call = 0;
        if let Err(e) = self.store.set_fuel(fuel) {
            return Err(ModuleError::Abi(e.to_string()));
        }
        let result = f(&mut self.store, &self.exports);
        // What the call burnt, charged to the per-second CPU budget (it may overdraw:
        // the next calls wait until it is paid back).
        let burnt = fuel - self.store.get_fuel().unwrap_or(0);
        let data = self.store.data_mut();
        data.usage.fuel += burnt;
        data.meters.fuel.charge(now_ms, burnt);
        match result {
            Ok(r) => Ok(r),
            Err(e) => {
                let error = match classify(e, &mut self.store, fuel) {
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
