//! [`ModuleHost`]: a node's module instances, driven by the core's outputs. It turns
//! `Load`, `Unload` and `Deliver` into calls on instances, and what the instances do
//! (sends, failures, load results) back into core inputs. The daemon and a wasm-backed
//! simulator both use it, so the swap and containment logic exists once.

use std::collections::BTreeMap;
use std::sync::Arc;

use hearsay_core::{Budget, Deployment, DeploymentNumber, Input, ModuleName, PeerAddr};

use crate::instance::{Handover, Instance, InstanceContext};
use crate::runtime::{Runtime, Tier};
use crate::state::{BudgetUsage, Effects, LogLine, ModuleEvent};
use crate::LoadError;

/// Counters of the module host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostMetrics {
    /// Deployments loaded (first loads and swaps).
    pub loads: u64,
    /// Swaps where state was handed from the old instance to the new.
    pub handovers: u64,
    /// Loads that failed (the old instance kept running).
    pub load_failures: u64,
    /// Instances that failed while running.
    pub failures: u64,
    /// Sends dropped: bad address or over the payload limit.
    pub dropped_sends: u64,
    /// Swaps where the new version started fresh because the old one's state was
    /// refused (too large) or the new one could not take it.
    pub fresh_starts: u64,
    /// Payloads dropped because another deployment's instance ran by the time they
    /// arrived (a swap happened in between).
    pub stale_deliveries: u64,
    /// Instances moved from baseline to optimised code ([`ModuleHost::optimize`]).
    pub optimized: u64,
}

/// Why a query could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// No instance of that module runs here.
    #[error("module {0} is not running on this node")]
    NotRunning(ModuleName),
    /// The instance failed (now, or earlier).
    #[error("module {0} failed: {1}")]
    Failed(ModuleName, crate::ModuleError),
    /// The module takes no commands (it does not export `hearsay_command`).
    #[error("module {0} takes no commands (ABI v2 hearsay_command)")]
    NoCommands(ModuleName),
}

struct Running {
    number: DeploymentNumber,
    version: Option<hearsay_core::CodeVersion>,
    instance: Instance,
}

/// The module instances of one node.
pub struct ModuleHost {
    runtime: Arc<Runtime>,
    self_addr: String,
    bootstrap: Vec<String>,
    next_seed: u64,
    running: BTreeMap<ModuleName, Running>,
    /// The node's labels, handed to every new instance.
    labels: BTreeMap<String, String>,
    /// When the node started (the first call's time): the `node_info` import's uptime.
    started_ms: Option<u64>,
    /// Log lines from modules, for the driver to drain into its logs.
    pub logs: Vec<(ModuleName, LogLine)>,
    /// Events modules published, for the driver to drain into its event stream.
    pub events: Vec<(ModuleName, ModuleEvent)>,
    /// Counters.
    pub metrics: HostMetrics,
}

impl ModuleHost {
    /// The instances of the node at `self_addr`; `seed` feeds each instance's `random`.
    pub fn new(runtime: Arc<Runtime>, self_addr: PeerAddr, bootstrap: Vec<PeerAddr>, seed: u64) -> Self {
        ModuleHost {
            runtime,
            self_addr: self_addr.to_string(),
            bootstrap: bootstrap.iter().map(ToString::to_string).collect(),
            next_seed: seed,
            running: BTreeMap::new(),
            labels: BTreeMap::new(),
            started_ms: None,
            logs: Vec::new(),
            events: Vec::new(),
            metrics: HostMetrics::default(),
        }
    }

    /// The modules' bootstrap peers, for running instances and those started later
    /// (the rendezvous list changed: its names resolved to other addresses).
    pub fn set_bootstrap(&mut self, peers: Vec<PeerAddr>) {
        self.bootstrap = peers.iter().map(ToString::to_string).collect();
        for running in self.running.values_mut() {
            running.instance.set_bootstrap(&self.bootstrap);
        }
    }

    /// The node's labels (`--label KEY=VALUE`), for instances started from now on.
    pub fn set_labels(&mut self, labels: BTreeMap<String, String>) {
        self.labels = labels;
    }

    /// Loads a deployment's code: compile (or reuse), start the new instance next to
    /// the old one, hand state over when both sides support it, then switch. On any
    /// failure the old instance keeps running and `LoadFailed` says why. The inputs
    /// start with the load result, so the core knows the new deployment runs before
    /// it sees the new instance's first sends.
    pub fn load(&mut self, now_ms: u64, deployment: &Deployment, wasm: &[u8]) -> Vec<Input> {
        let module = deployment.module.clone();
        let number = deployment.number;
        match self.start(now_ms, deployment, wasm) {
            Ok((instance, effects)) => {
                self.metrics.loads += 1;
                let version = deployment.version;
                self.running.insert(
                    module.clone(),
                    Running {
                        number,
                        version,
                        instance,
                    },
                );
                self.tell_node_modules();
                let mut inputs = vec![Input::Loaded {
                    module: module.clone(),
                    number,
                }];
                inputs.extend(self.effects(&module, effects));
                inputs
            }
            Err(e) => {
                self.metrics.load_failures += 1;
                vec![Input::LoadFailed {
                    module,
                    number,
                    reason: e.to_string(),
                }]
            }
        }
    }

    fn start(
        &mut self,
        now_ms: u64,
        deployment: &Deployment,
        wasm: &[u8],
    ) -> Result<(Instance, Effects), LoadError> {
        let code = self.runtime.compile(wasm)?;
        if deployment.version != Some(code.version) {
            return Err(LoadError::WrongCode);
        }
        let budget = deployment.budget.resolve(&self.runtime.limits.budget);
        let ctx = self.context(now_ms, budget);
        let (mut instance, effects) = Instance::start(&self.runtime, &code, &deployment.params, &ctx)?;
        // Hand over state from a live old instance. Nothing the old version hands over
        // may keep the new one from running — it may be the fix for the old one: an
        // export that fails or is too large, a state the new code rejects, or one whose
        // import fails the new instance, all end with the new version running fresh.
        let Some(old) = self.running.get_mut(&deployment.module) else {
            return Ok((instance, effects));
        };
        if old.instance.failure().is_some() {
            return Ok((instance, effects));
        }
        let limit = budget
            .state_bytes
            .min(old.instance.usage().budget.map_or(u64::MAX, |b| b.state_bytes));
        let fresh = |why: String| format!("state handover skipped, started fresh: {why}");
        let note = match old.instance.export_state(now_ms, limit as usize) {
            Ok(Handover::Nothing) => None,
            Ok(Handover::Refused(why)) => Some(fresh(format!("the old version's state was refused: {why}"))),
            Err(e) => Some(fresh(format!("the old version failed exporting it: {e}"))),
            Ok(Handover::State(state)) => match instance.import_state(now_ms, &state) {
                Ok(true) => {
                    self.metrics.handovers += 1;
                    None
                }
                Ok(false) => None, // the new code chose to start fresh
                Err(e) => {
                    // The import killed the new instance: start it again, fresh.
                    let started = Instance::start(&self.runtime, &code, &deployment.params, &ctx)?;
                    instance = started.0;
                    self.logs.push((
                        deployment.module.clone(),
                        warning(&fresh(format!("importing it failed: {e}"))),
                    ));
                    self.metrics.fresh_starts += 1;
                    return Ok((instance, started.1));
                }
            },
        };
        if let Some(note) = note {
            self.metrics.fresh_starts += 1;
            self.logs.push((deployment.module.clone(), warning(&note)));
        }
        Ok((instance, effects))
    }

    /// What a new instance starts with.
    fn context(&mut self, now_ms: u64, budget: Budget) -> InstanceContext {
        let started_ms = *self.started_ms.get_or_insert(now_ms);
        self.next_seed = self.next_seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        InstanceContext {
            labels: self.labels.clone(),
            self_addr: self.self_addr.clone(),
            bootstrap: self.bootstrap.clone(),
            seed: self.next_seed,
            now_ms,
            budget,
            node: crate::instance::NodeInfo {
                started_ms,
                modules: self.node_modules(),
            },
        }
    }

    /// Moves a module that runs baseline code onto its optimised code
    /// ([`Runtime::optimize`], compiled meanwhile), handing its state over: the same
    /// deployment goes on, faster, and the core sees no new load. Nothing changes when
    /// another deployment runs by now, when the code is optimised already, or when the
    /// instance has no state to hand over — a fresh start would lose what it holds, so
    /// it keeps its baseline code until the next deployment. A new instance that fails
    /// to start or to take the state leaves the baseline one running.
    pub fn optimize(&mut self, now_ms: u64, deployment: &Deployment, wasm: &[u8]) -> Vec<Input> {
        let module = &deployment.module;
        let Some(old) = self.running.get_mut(module) else {
            return Vec::new();
        };
        if old.number != deployment.number
            || old.instance.tier == Tier::Optimized
            || old.instance.failure().is_some()
        {
            return Vec::new();
        }
        let code = match self.runtime.optimize(wasm) {
            Ok(code) if Some(code.version) == deployment.version => code,
            Ok(_) => return Vec::new(),
            Err(e) => {
                self.logs.push((
                    module.clone(),
                    warning(&format!(
                        "optimising the code failed, the baseline code runs on: {e}"
                    )),
                ));
                return Vec::new();
            }
        };
        let budget = deployment.budget.resolve(&self.runtime.limits.budget);
        let limit = budget
            .state_bytes
            .min(old.instance.usage().budget.map_or(u64::MAX, |b| b.state_bytes));
        let Ok(Handover::State(state)) = old.instance.export_state(now_ms, limit as usize) else {
            return Vec::new();
        };
        let ctx = self.context(now_ms, budget);
        let started = Instance::start(&self.runtime, &code, &deployment.params, &ctx);
        let (mut instance, effects) = match started {
            Ok(started) => started,
            Err(e) => {
                self.logs.push((
                    module.clone(),
                    warning(&format!(
                        "the optimised code did not start, the baseline code runs on: {e}"
                    )),
                ));
                return Vec::new();
            }
        };
        if !matches!(instance.import_state(now_ms, &state), Ok(true)) {
            self.logs.push((
                module.clone(),
                warning("the optimised code did not take the state, the baseline code runs on"),
            ));
            return Vec::new();
        }
        self.metrics.optimized += 1;
        if let Some(running) = self.running.get_mut(module) {
            running.instance = instance;
        }
        self.effects(module, effects)
    }

    /// Drops a module's instance (a deployment stopped it).
    pub fn unload(&mut self, module: &ModuleName) {
        self.running.remove(module);
        self.tell_node_modules();
    }

    /// The running modules as the `node_info` import tells them: name →
    /// `{"deployment":N,"version":"HEX"}`.
    fn node_modules(&self) -> String {
        let modules: serde_json::Map<String, serde_json::Value> = self
            .running
            .iter()
            .map(|(name, r)| {
                let version = r.version.map(|v| v.to_hex()).unwrap_or_default();
                let about = serde_json::json!({"deployment": r.number.to_string(), "version": version});
                (name.to_string(), about)
            })
            .collect();
        serde_json::Value::Object(modules).to_string()
    }

    /// Tells every instance what now runs on the node.
    fn tell_node_modules(&mut self) {
        let modules = self.node_modules();
        for running in self.running.values_mut() {
            running.instance.set_node_modules(&modules);
        }
    }

    /// Ticks every live instance.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Input> {
        self.each_live(|instance| instance.tick(now_ms))
    }

    /// Runs `call` on every live instance; what they did, as inputs.
    fn each_live(
        &mut self,
        mut call: impl FnMut(&mut Instance) -> Result<Effects, crate::ModuleError>,
    ) -> Vec<Input> {
        let modules: Vec<ModuleName> = self.running.keys().cloned().collect();
        let mut inputs = Vec::new();
        for module in modules {
            let result = match self.running.get_mut(&module) {
                Some(r) if r.instance.failure().is_none() => call(&mut r.instance),
                _ => continue,
            };
            inputs.extend(self.outcome(&module, result));
        }
        inputs
    }

    /// Hands a payload to a module's instance, if it runs deployment `number`.
    pub fn deliver(
        &mut self,
        now_ms: u64,
        module: &ModuleName,
        number: DeploymentNumber,
        from: PeerAddr,
        payload: &[u8],
    ) -> Vec<Input> {
        let result = match self.running.get_mut(module) {
            Some(r) if r.number == number && r.instance.failure().is_none() => {
                r.instance.receive(now_ms, &from.to_string(), payload)
            }
            Some(_) => {
                self.metrics.stale_deliveries += 1;
                return Vec::new();
            }
            None => return Vec::new(),
        };
        self.outcome(module, result)
    }

    /// Asks a module's instance its query; a failure here is reported like any other.
    pub fn query(
        &mut self,
        now_ms: u64,
        module: &ModuleName,
        args: &str,
    ) -> (Result<String, QueryError>, Vec<Input>) {
        self.ask(module, |instance| instance.query(now_ms, args).map(Some))
    }

    /// Runs a module's command (ABI v2 `hearsay_command`); a failure here is reported
    /// like any other.
    pub fn command(
        &mut self,
        now_ms: u64,
        module: &ModuleName,
        args: &str,
    ) -> (Result<String, QueryError>, Vec<Input>) {
        self.ask(module, |instance| instance.command(now_ms, args))
    }

    /// A call answered with JSON (a query, a command) on a live instance: its answer
    /// (`None` from the call: the module has no such export), and its effects.
    fn ask(
        &mut self,
        module: &ModuleName,
        call: impl FnOnce(&mut Instance) -> Result<Option<(String, Effects)>, crate::ModuleError>,
    ) -> (Result<String, QueryError>, Vec<Input>) {
        let Some(r) = self.running.get_mut(module) else {
            return (Err(QueryError::NotRunning(module.clone())), Vec::new());
        };
        if let Some(e) = r.instance.failure() {
            return (Err(QueryError::Failed(module.clone(), e.clone())), Vec::new());
        }
        match call(&mut r.instance) {
            Ok(Some((answer, effects))) => (Ok(answer), self.effects(module, effects)),
            Ok(None) => (Err(QueryError::NoCommands(module.clone())), Vec::new()),
            Err(e) => {
                let number = r.number;
                self.metrics.failures += 1;
                let input = Input::ModuleFailed {
                    module: module.clone(),
                    number,
                    reason: e.to_string(),
                };
                (Err(QueryError::Failed(module.clone(), e)), vec![input])
            }
        }
    }

    /// The node is leaving gracefully: every live instance's `hearsay_leave` (ABI v2)
    /// runs, and what they send (farewells to their peers) comes back as inputs.
    pub fn leave(&mut self, now_ms: u64) -> Vec<Input> {
        self.each_live(|instance| instance.leave(now_ms))
    }

    /// What each module's instance consumed, and what its budget dropped.
    pub fn usage(&self) -> BTreeMap<ModuleName, BudgetUsage> {
        self.running
            .iter()
            .map(|(m, r)| (m.clone(), r.instance.usage()))
            .collect()
    }

    /// Which compiler made the code a module's instance runs.
    pub fn tier(&self, module: &ModuleName) -> Option<Tier> {
        self.running.get(module).map(|r| r.instance.tier)
    }

    /// The deployment whose instance runs for a module, and whether it failed.
    pub fn instance(&self, module: &ModuleName) -> Option<(DeploymentNumber, Option<&crate::ModuleError>)> {
        self.running.get(module).map(|r| (r.number, r.instance.failure()))
    }

    fn outcome(&mut self, module: &ModuleName, result: Result<Effects, crate::ModuleError>) -> Vec<Input> {
        match result {
            Ok(effects) => self.effects(module, effects),
            Err(e) => {
                self.metrics.failures += 1;
                let number = self.running[module].number;
                vec![Input::ModuleFailed {
                    module: module.clone(),
                    number,
                    reason: e.to_string(),
                }]
            }
        }
    }

    /// Sends become `ModuleSend` inputs; logs and events are kept for the driver.
    fn effects(&mut self, module: &ModuleName, effects: Effects) -> Vec<Input> {
        self.metrics.dropped_sends += effects.dropped_sends;
        self.logs
            .extend(effects.logs.into_iter().map(|l| (module.clone(), l)));
        self.events
            .extend(effects.events.into_iter().map(|e| (module.clone(), e)));
        let mut inputs = Vec::with_capacity(effects.sends.len());
        for (to, payload) in effects.sends {
            match to.parse::<PeerAddr>() {
                Ok(to) => inputs.push(Input::ModuleSend {
                    module: module.clone(),
                    to,
                    payload,
                }),
                Err(_) => self.metrics.dropped_sends += 1,
            }
        }
        inputs
    }
}

/// A warning the host itself writes into a module's log.
fn warning(text: &str) -> LogLine {
    LogLine {
        level: 1,
        text: text.to_string(),
    }
}
