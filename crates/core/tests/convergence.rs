//! Property tests of the one rule, across real cores exchanging real encoded
//! envelopes: whatever the network does — loss, duplication, reordering, any
//! interleaving with deployments and rollbacks — every node ends on the highest
//! deployment, and no node ever moves to a lower number on the way.

use std::collections::{BTreeMap, BTreeSet};

use hearsay_core::{
    CodeVersion, Configuration, Core, CoreInit, DeploymentNumber, Driver, Effects, Input, ModuleName, NodeId,
    Output, PeerAddr, Settings,
};
use proptest::prelude::*;

const MODULES: [&str; 2] = ["alpha", "beta"];

fn addr(i: usize) -> PeerAddr {
    PeerAddr::from(([127, 0, 0, 1], 7000 + i as u16))
}

/// A payload naming the deployment its sender runs.
fn running_tag(number: Option<&DeploymentNumber>) -> Vec<u8> {
    number.map_or(vec![], |n| format!("{}@{}", n.time_ms, n.origin.0).into_bytes())
}

fn node_of(a: PeerAddr) -> usize {
    (a.port() - 7000) as usize
}

/// What the adversary (proptest) may do next.
#[derive(Debug, Clone)]
enum Action {
    /// Deliver the in-flight message at this index.
    Deliver(prop::sample::Index),
    /// Deliver it but keep a copy in flight (duplication).
    Duplicate(prop::sample::Index),
    /// Lose it.
    Lose(prop::sample::Index),
    /// A node's module sends to another node.
    ModuleSend(usize, usize, usize),
    /// Time passes at a node (backup gossip, fetch retries).
    Tick(usize, u64),
    /// An operator deploys code `code` of a module at a node.
    Deploy(usize, usize, u8),
    /// An operator rolls a module back at a node.
    Rollback(usize, usize),
}

fn action(nodes: usize) -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => any::<prop::sample::Index>().prop_map(Action::Deliver),
        1 => any::<prop::sample::Index>().prop_map(Action::Duplicate),
        2 => any::<prop::sample::Index>().prop_map(Action::Lose),
        4 => (0..nodes, 0..nodes, 0..MODULES.len()).prop_map(|(a, b, m)| Action::ModuleSend(a, b, m)),
        2 => (0..nodes, 0u64..600).prop_map(|(n, dt)| Action::Tick(n, dt)),
        1 => (0..nodes, 0..MODULES.len(), 0u8..4).prop_map(|(n, m, c)| Action::Deploy(n, m, c)),
        1 => (0..nodes, 0..MODULES.len()).prop_map(|(n, m)| Action::Rollback(n, m)),
    ]
}

/// What a node's outputs do in the test's world: messages into a pool, code
/// downloads answered at once from the peer's store, loads succeed at once. Breaches
/// of the rules are collected, for the test to fail on.
struct TestEffects<'a> {
    node: usize,
    stores: &'a mut [BTreeMap<CodeVersion, Vec<u8>>],
    in_flight: &'a mut Vec<(usize, Vec<u8>)>,
    loaded: &'a mut [BTreeMap<ModuleName, DeploymentNumber>],
    breaches: &'a mut Vec<String>,
}

impl Effects for TestEffects<'_> {
    fn carry_out(&mut self, _now: u64, output: Output) -> Vec<Input> {
        let node = self.node;
        match output {
            Output::Send { to, bytes, .. } => self.in_flight.push((node_of(to), bytes)),
            Output::FetchCode { version, from } => {
                return vec![match self.stores[node_of(from)].get(&version) {
                    Some(bytes) => Input::CodeFetched {
                        version,
                        bytes: bytes.clone(),
                    },
                    None => Input::CodeFetchFailed { version, from },
                }]
            }
            Output::StoreCode { version, bytes } => {
                if CodeVersion::of(&bytes) != version {
                    self.breaches
                        .push(format!("node {node} stored code that is not its version"));
                }
                self.stores[node].insert(version, bytes);
            }
            Output::Load { deployment } => {
                let prev = self.loaded[node].insert(deployment.module.clone(), deployment.number);
                if prev.is_some_and(|p| p >= deployment.number) {
                    self.breaches
                        .push(format!("node {node} loaded a lower deployment"));
                }
                return vec![Input::Loaded {
                    module: deployment.module,
                    number: deployment.number,
                }];
            }
            Output::Deliver { module, payload, .. } => {
                // Payloads name the sender's running deployment: a node only ever
                // gets payloads of the deployment it runs (compact or full form).
                if payload != running_tag(self.loaded[node].get(&module)) {
                    self.breaches.push(format!(
                        "node {node} got a payload of another deployment of {module}"
                    ));
                }
            }
            Output::Unload { .. } | Output::Persist { .. } | Output::Event(_) => {}
        }
        Vec::new()
    }

    fn tick_modules(&mut self, _now: u64) -> Vec<Input> {
        Vec::new()
    }
}

/// The cluster under test: every node's core in the shared driver loop. It checks
/// monotonicity after every step.
struct Cluster {
    drivers: Vec<Driver>,
    stores: Vec<BTreeMap<CodeVersion, Vec<u8>>>,
    in_flight: Vec<(usize, Vec<u8>)>,
    now: u64,
    /// Highest configured number each node ever had per module.
    seen: Vec<BTreeMap<ModuleName, DeploymentNumber>>,
    /// Highest number each node ever loaded per module.
    loaded: Vec<BTreeMap<ModuleName, DeploymentNumber>>,
    /// Every deployment issued: the highest per module must win.
    issued: BTreeMap<ModuleName, DeploymentNumber>,
}

impl Cluster {
    fn new(nodes: usize, seed: u64) -> Self {
        let settings = Settings {
            rendezvous: vec![addr(0)],
            backup_interval_ms: 500,
            ..Settings::default()
        };
        let drivers = (0..nodes)
            .map(|i| {
                let core = Core::new(CoreInit {
                    id: NodeId(i as u64 + 1),
                    addr: addr(i),
                    settings: settings.clone(),
                    configuration: Configuration::new(),
                    code: BTreeSet::new(),
                    ran: Vec::new(),
                    seed: seed ^ i as u64,
                });
                Driver::new(core, 200, 0)
            })
            .collect();
        Cluster {
            drivers,
            stores: vec![BTreeMap::new(); nodes],
            in_flight: Vec::new(),
            now: 1_000,
            seen: vec![BTreeMap::new(); nodes],
            loaded: vec![BTreeMap::new(); nodes],
            issued: BTreeMap::new(),
        }
    }

    fn core(&self, node: usize) -> &Core {
        self.drivers[node].core()
    }

    fn input(&mut self, node: usize, input: Input) -> Result<(), TestCaseError> {
        self.with_effects(node, |d, now, fx| d.handle(now, input, fx))
    }

    fn apply(&mut self, node: usize, outputs: Vec<Output>) -> Result<(), TestCaseError> {
        self.with_effects(node, |d, now, fx| d.apply(now, outputs, fx))
    }

    fn with_effects(
        &mut self,
        node: usize,
        f: impl FnOnce(&mut Driver, u64, &mut TestEffects<'_>),
    ) -> Result<(), TestCaseError> {
        let mut breaches = Vec::new();
        let mut fx = TestEffects {
            node,
            stores: &mut self.stores,
            in_flight: &mut self.in_flight,
            loaded: &mut self.loaded,
            breaches: &mut breaches,
        };
        f(&mut self.drivers[node], self.now, &mut fx);
        prop_assert!(breaches.is_empty(), "{:?}", breaches);
        for d in self.drivers[node].core().configuration().iter() {
            let prev = self.seen[node].insert(d.module.clone(), d.number);
            prop_assert!(
                prev.is_none_or(|p| p <= d.number),
                "node {} moved to a lower number",
                node
            );
        }
        Ok(())
    }

    fn step(&mut self, a: Action) -> Result<(), TestCaseError> {
        match a {
            Action::Deliver(i) | Action::Duplicate(i) if !self.in_flight.is_empty() => {
                let i = i.index(self.in_flight.len());
                let (to, bytes) = if matches!(a, Action::Duplicate(_)) {
                    self.in_flight[i].clone()
                } else {
                    self.in_flight.swap_remove(i)
                };
                self.input(to, Input::Receive { bytes })?;
            }
            Action::Lose(i) if !self.in_flight.is_empty() => {
                let i = i.index(self.in_flight.len());
                self.in_flight.swap_remove(i);
            }
            Action::ModuleSend(a, b, m) => {
                let module = ModuleName::new(MODULES[m]).unwrap();
                self.input(
                    a,
                    Input::ModuleSend {
                        payload: running_tag(self.loaded[a].get(&module)),
                        module,
                        to: addr(b),
                    },
                )?;
            }
            Action::Tick(n, dt) => {
                self.now += dt;
                self.input(n, Input::Tick)?;
            }
            Action::Deploy(n, m, c) => {
                let module = ModuleName::new(MODULES[m]).unwrap();
                let (d, out) = self.drivers[n]
                    .core_mut()
                    .deploy(self.now, module, vec![m as u8, c], String::new())
                    .unwrap();
                self.issued_number(&d.module, d.number)?;
                self.apply(n, out)?;
            }
            Action::Rollback(n, m) => {
                let module = ModuleName::new(MODULES[m]).unwrap();
                let before = self.core(n).configuration().number(&module);
                if let Ok((d, out)) = self.drivers[n].core_mut().rollback(self.now, module, None) {
                    // A rollback always beats the deployment it rolls back.
                    prop_assert!(before.is_some_and(|b| d.number > b));
                    self.issued_number(&d.module, d.number)?;
                    self.apply(n, out)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn issued_number(&mut self, module: &ModuleName, n: DeploymentNumber) -> Result<(), TestCaseError> {
        let e = self.issued.entry(module.clone()).or_insert(n);
        *e = (*e).max(n);
        Ok(())
    }

    /// The network heals: no more loss; nodes keep ticking (backup gossip) and every
    /// message is delivered, until nothing is in flight and a few quiet rounds passed.
    fn settle(&mut self) -> Result<(), TestCaseError> {
        for _round in 0..200 {
            self.now += 500;
            for n in 0..self.drivers.len() {
                self.input(n, Input::Tick)?;
            }
            let mut budget = 10_000;
            while let Some((to, bytes)) = self.in_flight.pop() {
                self.input(to, Input::Receive { bytes })?;
                budget -= 1;
                prop_assert!(budget > 0, "message storm");
            }
            if self.agreed() {
                return Ok(());
            }
        }
        Ok(())
    }

    fn agreed(&self) -> bool {
        self.drivers.iter().map(Driver::core).all(|c| {
            self.issued
                .iter()
                .all(|(m, n)| c.configuration().number(m) == Some(*n) && c.running(m) == Some(*n))
        })
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn every_node_converges_to_the_highest_deployment(
        nodes in 2usize..6,
        seed in any::<u64>(),
        actions in proptest::collection::vec(action(5), 1..120),
    ) {
        let mut cluster = Cluster::new(nodes, seed);
        // Start with one deployment so rollbacks have something to roll back.
        let first = cluster.drivers[0].core_mut().deploy(cluster.now, ModuleName::new("alpha").unwrap(), vec![0], String::new()).unwrap();
        cluster.issued_number(&first.0.module, first.0.number)?;
        cluster.apply(0, first.1)?;
        for a in actions {
            let a = match a {
                Action::ModuleSend(x, y, m) => Action::ModuleSend(x % nodes, y % nodes, m),
                Action::Tick(n, dt) => Action::Tick(n % nodes, dt),
                Action::Deploy(n, m, c) => Action::Deploy(n % nodes, m, c),
                Action::Rollback(n, m) => Action::Rollback(n % nodes, m),
                other => other,
            };
            cluster.step(a)?;
        }
        cluster.settle()?;
        for (i, c) in cluster.drivers.iter().map(Driver::core).enumerate() {
            for (m, n) in &cluster.issued {
                prop_assert_eq!(c.configuration().number(m), Some(*n), "node {} config of {}", i, m);
                prop_assert_eq!(c.running(m), Some(*n), "node {} runs an old {}", i, m);
            }
        }
        let digests: BTreeSet<u64> = cluster.drivers.iter().map(|d| d.core().configuration().digest().0).collect();
        prop_assert_eq!(digests.len(), 1);
    }
}
