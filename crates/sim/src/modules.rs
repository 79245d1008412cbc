//! What one simulated node hosts: any number of modules, each an instance of its
//! deployment's code with its params — linked natively when the code has a native
//! build ([`crate::codebase`]), else its real wasm through `hearsay-runtime`'s
//! [`ModuleHost`], the daemon's own host. A new deployment takes its predecessor's
//! state (native to native; wasm to wasm inside the host). Payloads go to the module
//! they were sent by, and only to the deployment that runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use hearsay_core::{CodeVersion, Deployment, DeploymentNumber, Input, Millis, ModuleName, PeerAddr};
use hearsay_runtime::{ModuleHost, Runtime};

use crate::codebase::Codebase;
use crate::guest::{About, Guest, Sends};

/// A natively linked instance.
struct Native {
    number: DeploymentNumber,
    version: CodeVersion,
    guest: Guest,
    /// Killed by the scenario: it answers nothing any more.
    failed: bool,
}

/// The module instances of one node.
pub struct NodeModules {
    self_addr: PeerAddr,
    bootstrap: Vec<PeerAddr>,
    native: BTreeMap<ModuleName, Native>,
    /// The wasm instances, created with the first wasm load.
    wasm: Option<ModuleHost>,
    runtime: Arc<Runtime>,
    /// The native modules' randomness.
    rng: ChaCha8Rng,
    seed: u64,
    /// Instances started from now on get no chance to run (a scenario measuring the
    /// core's own gossip alone): they load, and stay silent.
    pub silent: bool,
    /// The node's labels (JSON) and start, for native guests' hosts.
    labels: String,
    started: Option<Millis>,
}

impl NodeModules {
    /// The modules of the node at `self_addr`; `seed` feeds their randomness.
    pub fn new(self_addr: PeerAddr, bootstrap: Vec<PeerAddr>, runtime: Arc<Runtime>, seed: u64) -> Self {
        NodeModules {
            self_addr,
            bootstrap,
            native: BTreeMap::new(),
            wasm: None,
            runtime,
            rng: ChaCha8Rng::seed_from_u64(seed),
            seed,
            silent: false,
            labels: "{}".to_string(),
            started: None,
        }
    }

    /// The node's labels (a JSON object), for modules started from now on.
    pub fn set_labels(&mut self, labels: String) {
        if let Some(host) = self.wasm.as_mut() {
            if let Ok(map) = serde_json::from_str(&labels) {
                host.set_labels(map);
            }
        }
        self.labels = labels;
    }

    /// What a native guest's host tells of the node now.
    fn about(&self, now: Millis) -> About {
        let modules: serde_json::Map<String, serde_json::Value> = self
            .native
            .iter()
            .map(|(name, n)| {
                let about =
                    serde_json::json!({"deployment": n.number.to_string(), "version": n.version.to_hex()});
                (name.to_string(), about)
            })
            .collect();
        About {
            labels: self.labels.clone(),
            started: self.started.unwrap_or(now),
            modules: serde_json::Value::Object(modules).to_string(),
        }
    }

    /// Tells every native guest what runs on the node now.
    fn tell_about(&mut self, now: Millis) {
        let about = self.about(now);
        for n in self.native.values_mut() {
            n.guest.about = about.clone();
        }
    }

    /// The node's wasm host. What its modules logged and emitted since the last call
    /// is dropped here: a simulated node has no log or event stream to keep it for,
    /// and at 100,000 nodes it would be most of the memory.
    fn wasm_host(&mut self) -> &mut ModuleHost {
        let (runtime, addr, bootstrap, seed) = (
            self.runtime.clone(),
            self.self_addr,
            self.bootstrap.clone(),
            self.seed,
        );
        let labels = &self.labels;
        let host = self.wasm.get_or_insert_with(|| {
            let mut host = ModuleHost::new(runtime, addr, bootstrap, seed.rotate_left(17));
            host.set_labels(serde_json::from_str(labels).unwrap_or_default());
            host
        });
        host.logs.clear();
        host.events.clear();
        host
    }

    /// Starts a deployment's instance, handing state over from the one it replaces.
    /// The load's result comes first, then the new instance's sends.
    pub fn load(&mut self, now: Millis, deployment: &Deployment, codebase: &Codebase) -> Vec<Input> {
        let module = deployment.module.clone();
        let number = deployment.number;
        let failed = |reason: String| {
            vec![Input::LoadFailed {
                module: module.clone(),
                number,
                reason,
            }]
        };
        let Some(version) = deployment.version else {
            return Vec::new();
        };
        self.started.get_or_insert(now);
        if let Some(factory) = codebase.native(&version) {
            let about = self.about(now);
            let started = Guest::start(
                factory,
                &deployment.params,
                self.self_addr,
                &self.bootstrap,
                now,
                &mut self.rng,
                about,
            );
            let (mut guest, sends) = match started {
                Ok(started) => started,
                Err(reason) => return failed(reason),
            };
            if let Some(old) = self.native.get(&module).filter(|o| !o.failed) {
                if let Some(state) = old.guest.export_state() {
                    guest.import_state(&state, now, &mut self.rng);
                }
            }
            if let Some(host) = self.wasm.as_mut() {
                host.unload(&module);
            }
            self.native.insert(
                module.clone(),
                Native {
                    number,
                    version,
                    guest,
                    failed: false,
                },
            );
            self.tell_about(now);
            let mut inputs = vec![Input::Loaded { module, number }];
            if !self.silent {
                inputs.extend(sends_to_inputs(&deployment.module, sends));
            }
            return inputs;
        }
        let Some(wasm) = codebase.bytes(&version).cloned() else {
            return failed(format!(
                "the simulation has no code for version {}",
                version.short()
            ));
        };
        let inputs = self.wasm_host().load(now, deployment, &wasm);
        if matches!(inputs.first(), Some(Input::Loaded { .. })) {
            self.native.remove(&module);
        }
        if self.silent {
            return inputs.into_iter().take(1).collect();
        }
        inputs
    }

    /// Drops a module's instance.
    pub fn unload(&mut self, module: &ModuleName) {
        self.native.remove(module);
        if let Some(host) = self.wasm.as_mut() {
            host.unload(module);
        }
        self.tell_about(self.started.unwrap_or(0));
    }

    /// Hands a payload to a module, if it runs deployment `number`.
    pub fn deliver(
        &mut self,
        now: Millis,
        module: &ModuleName,
        number: DeploymentNumber,
        from: PeerAddr,
        payload: &[u8],
    ) -> Vec<Input> {
        if self.silent {
            return Vec::new();
        }
        if let Some(n) = self.native.get_mut(module) {
            if n.number != number || n.failed {
                return Vec::new();
            }
            let sends = n.guest.receive(now, from, payload, &mut self.rng);
            return sends_to_inputs(module, sends);
        }
        match self.wasm.as_mut() {
            Some(host) => host.deliver(now, module, number, from, payload),
            None => Vec::new(),
        }
    }

    /// One gossip round of every instance.
    pub fn tick(&mut self, now: Millis) -> Vec<Input> {
        if self.silent {
            return Vec::new();
        }
        let mut inputs = Vec::new();
        for (module, n) in self.native.iter_mut().filter(|(_, n)| !n.failed) {
            let sends = n.guest.tick(now, &mut self.rng);
            inputs.extend(sends_to_inputs(module, sends));
        }
        if let Some(host) = self.wasm.as_mut() {
            inputs.extend(host.tick(now));
        }
        inputs
    }

    /// A module's query answer, if it runs here.
    pub fn query(&mut self, now: Millis, module: &ModuleName, args: &str) -> Option<String> {
        if let Some(n) = self.native.get_mut(module) {
            return (!n.failed).then(|| n.guest.query(now, args, &mut self.rng));
        }
        let (answer, _) = self.wasm.as_mut()?.query(now, module, args);
        answer.ok()
    }

    /// A module's answer to a command (ABI v2), if it runs here and takes commands,
    /// and the inputs its sends make for the core (a command acts: a publish sends).
    pub fn command(&mut self, now: Millis, module: &ModuleName, args: &str) -> (Option<String>, Vec<Input>) {
        if let Some(n) = self.native.get_mut(module) {
            if n.failed {
                return (None, Vec::new());
            }
            let (answer, sends) = n.guest.command(now, args, &mut self.rng);
            return (Some(answer), sends_to_inputs(module, sends));
        }
        match self.wasm.as_mut() {
            Some(host) => {
                let (answer, inputs) = host.command(now, module, args);
                (answer.ok(), inputs)
            }
            None => (None, Vec::new()),
        }
    }

    /// Kills every instance (as a trap would): their failures, for the core.
    pub fn kill_all(&mut self, reason: &str) -> Vec<Input> {
        let mut inputs = Vec::new();
        for (module, n) in self.native.iter_mut().filter(|(_, n)| !n.failed) {
            n.failed = true;
            inputs.push(Input::ModuleFailed {
                module: module.clone(),
                number: n.number,
                reason: reason.to_string(),
            });
        }
        if let Some(host) = self.wasm.take() {
            let modules: Vec<ModuleName> = host.usage().into_keys().collect();
            for module in modules {
                if let Some((number, None)) = host.instance(&module) {
                    inputs.push(Input::ModuleFailed {
                        module,
                        number,
                        reason: reason.to_string(),
                    });
                }
            }
        }
        inputs
    }
}

/// A module's sends as core inputs.
fn sends_to_inputs(module: &ModuleName, sends: Sends) -> Vec<Input> {
    sends
        .into_iter()
        .map(|(to, payload)| Input::ModuleSend {
            module: module.clone(),
            to,
            payload,
        })
        .collect()
}
