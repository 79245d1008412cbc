//! The core's side of "a fix always gets through": news pushed at once when the
//! configuration changes; hints only from peers that answered, rendezvous nodes always
//! tried; what each peer may deliver to a module, bounded; and the automatic rollback
//! of a deployment that stays failed here.

use std::collections::BTreeSet;

use hearsay_core::{
    Body, BudgetOverrides, CodeVersion, Configuration, Core, CoreInit, DeploySpec, Deployment, DropReason,
    Envelope, Event, Input, ModuleName, ModuleState, NodeId, Output, PeerAddr, Settings, Traffic,
};

const T0: u64 = 1_000_000;

fn addr(i: u16) -> PeerAddr {
    PeerAddr::from(([127, 0, 0, 1], 7000 + i))
}

fn module() -> ModuleName {
    ModuleName::new("m").unwrap()
}

fn node(i: u16, rendezvous: &[u16]) -> Core {
    Core::new(CoreInit {
        id: NodeId(i as u64),
        addr: addr(i),
        settings: Settings {
            rendezvous: rendezvous.iter().map(|r| addr(*r)).collect(),
            ..Settings::default()
        },
        configuration: Configuration::new(),
        code: BTreeSet::new(),
        ran: Vec::new(),
        seed: i as u64,
    })
}

fn sends(outputs: &[Output]) -> Vec<(PeerAddr, Envelope)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { to, bytes, .. } => Some((
                *to,
                Envelope::decode(bytes, 65536, &hearsay_core::envelope::Seal::Checksum, T0).unwrap(),
            )),
            _ => None,
        })
        .collect()
}

/// An envelope from `from` carrying `body`.
fn from(i: u16, body: Body) -> Input {
    let env = Envelope {
        sender_addr: addr(i),
        digest: Default::default(),
        body,
    };
    Input::Receive {
        bytes: env
            .encode(65536, &hearsay_core::envelope::Seal::Checksum, T0)
            .unwrap(),
    }
}

/// A core that knows peers 1..=n as hints (each sent it a summary).
fn with_hints(n: u16, rendezvous: &[u16]) -> Core {
    let mut core = node(0, rendezvous);
    for i in 1..=n {
        core.handle(T0, from(i, Body::Summary(vec![])));
    }
    core
}

#[test]
fn a_change_is_pushed_at_once_and_for_a_few_short_rounds() {
    let mut core = with_hints(20, &[]);
    let (d, outputs) = core.deploy(T0, module(), b"code".to_vec(), "").unwrap();
    let pushed: Vec<PeerAddr> = sends(&outputs)
        .into_iter()
        .filter(|(_, e)| matches!(&e.body, Body::Records(r) if r == std::slice::from_ref(&d)))
        .map(|(to, _)| to)
        .collect();
    let fanout = Settings::default().push_fanout;
    assert_eq!(pushed.len(), fanout, "pushed to {fanout} peers at once");
    assert_eq!(
        pushed.iter().collect::<BTreeSet<_>>().len(),
        fanout,
        "distinct peers"
    );
    assert!(outputs.iter().all(|o| !matches!(
        o,
        Output::Send {
            class: Traffic::Module,
            ..
        }
    )));
    // Then `push_rounds` more rounds, `push_interval_ms` apart, and no more.
    let interval = Settings::default().push_interval_ms;
    assert!(
        core.poll_timeout() <= T0 + interval,
        "the driver is asked back for the next round"
    );
    let mut rounds = 0;
    for t in (1..=20).map(|k| T0 + k * interval / 2) {
        let records = sends(&core.handle(t, Input::Tick))
            .into_iter()
            .filter(|(_, e)| matches!(e.body, Body::Records(_)))
            .count();
        if records > 0 {
            assert_eq!(records, fanout);
            rounds += 1;
        }
    }
    assert_eq!(rounds, Settings::default().push_rounds);
    assert_eq!(core.metrics().pushes, (fanout as u64) * (1 + rounds as u64));
}

#[test]
fn news_whose_code_is_missing_is_pushed_only_once_the_code_is_here() {
    let mut core = with_hints(10, &[]);
    let d = Deployment::new(
        module(),
        Some(CodeVersion::of(b"new")),
        hearsay_core::DeploymentNumber {
            time_ms: T0,
            origin: NodeId(9),
        },
    );
    let outputs = core.handle(T0, from(9, Body::Records(vec![d.clone()])));
    assert!(
        sends(&outputs)
            .iter()
            .all(|(_, e)| !matches!(e.body, Body::Records(_))),
        "a peer told now could ask nobody but us for code we lack"
    );
    assert!(outputs.iter().any(|o| matches!(o, Output::FetchCode { .. })));
    let outputs = core.handle(
        T0 + 5,
        Input::CodeFetched {
            version: d.version.unwrap(),
            bytes: b"new".to_vec(),
        },
    );
    let pushed = sends(&outputs)
        .into_iter()
        .filter(|(_, e)| matches!(&e.body, Body::Records(r) if r[0] == d))
        .count();
    assert_eq!(pushed, Settings::default().push_fanout);
}

#[test]
fn a_stale_push_is_answered_with_what_replaced_it() {
    let mut core = with_hints(3, &[]);
    let (old, _) = core.deploy(T0, module(), b"v1".to_vec(), "").unwrap();
    let (new, _) = core.deploy(T0 + 10, module(), b"v2".to_vec(), "").unwrap();
    let outputs = core.handle(T0 + 20, from(5, Body::Records(vec![old])));
    let answer = sends(&outputs)
        .into_iter()
        .find(|(to, _)| *to == addr(5))
        .expect("an answer to the stale pusher");
    assert_eq!(answer.1.body, Body::Records(vec![new]));
}

#[test]
fn only_peers_that_answered_become_hints_and_unreachable_ones_are_forgotten() {
    let mut core = node(0, &[]);
    core.deploy(T0, module(), b"code".to_vec(), "").unwrap();
    let loaded = core.configuration().get(&module()).unwrap().number;
    core.handle(
        T0,
        Input::Loaded {
            module: module(),
            number: loaded,
        },
    );
    // The module sends to 50 addresses nobody answers from.
    for port in 0..50 {
        core.handle(
            T0,
            Input::ModuleSend {
                module: module(),
                to: PeerAddr::from(([127, 0, 0, 1], 40_000 + port)),
                payload: vec![1],
            },
        );
    }
    assert!(core.hints().is_empty(), "addresses a module names are not hints");
    core.handle(T0, from(3, Body::Summary(vec![])));
    assert_eq!(core.hints(), &[addr(3)]);
    core.handle(T0, Input::PeerUnreachable { peer: addr(3) });
    assert!(core.hints().is_empty());
    assert_eq!(core.metrics().peers_unreachable, 1);
}

#[test]
fn backup_gossip_always_tries_a_rendezvous_node() {
    let mut core = with_hints(40, &[90, 91]);
    let mut rounds = 0;
    for k in 0..50 {
        let summaries: Vec<PeerAddr> = sends(&core.handle(T0 + k * 1000, Input::Tick))
            .into_iter()
            .filter(|(_, e)| matches!(e.body, Body::Summary(_)))
            .map(|(to, _)| to)
            .collect();
        if summaries.is_empty() {
            continue;
        }
        rounds += 1;
        assert_eq!(summaries.len(), 2, "a rendezvous node and a hint: {summaries:?}");
        assert!(
            summaries.iter().any(|to| *to == addr(90) || *to == addr(91)),
            "one rendezvous node per exchange round: {summaries:?}"
        );
    }
    // Nothing disagrees: 1, 2, 4 then 8 s apart.
    assert!((8..=10).contains(&rounds), "{rounds}");
}

#[test]
fn each_peer_may_deliver_only_its_budget_to_a_module() {
    let mut core = node(0, &[]);
    let mut budget = BudgetOverrides::none();
    budget.set("receive_per_peer_per_s", 10).unwrap();
    let spec = DeploySpec {
        params: String::new(),
        budget,
        auto_rollback_ms: None,
    };
    let (d, _) = core.deploy(T0, module(), b"code".to_vec(), spec).unwrap();
    core.handle(
        T0,
        Input::Loaded {
            module: module(),
            number: d.number,
        },
    );
    let payload = |i| {
        from(
            i,
            Body::Module {
                module: module(),
                number: d.number,
                payload: vec![0; 8],
            },
        )
    };
    let delivered = |outputs: Vec<Output>| {
        outputs
            .iter()
            .filter(|o| matches!(o, Output::Deliver { .. }))
            .count()
    };
    let flood: usize = (0..100).map(|_| delivered(core.handle(T0, payload(1)))).sum();
    assert_eq!(flood, 10, "one peer's flood is cut at its budget");
    assert_eq!(
        delivered(core.handle(T0, payload(2))),
        1,
        "another peer still gets through"
    );
    assert_eq!(core.metrics().drops_for(DropReason::ReceiveBudget), 90);
    assert_eq!(
        delivered(core.handle(T0 + 1000, payload(1))),
        1,
        "and the next second, it may again"
    );
}

fn fail(core: &mut Core, now: u64, reason: &str) {
    let number = core.configuration().get(&module()).unwrap().number;
    core.handle(
        now,
        Input::Loaded {
            module: module(),
            number,
        },
    );
    core.handle(
        now,
        Input::ModuleFailed {
            module: module(),
            number,
            reason: reason.into(),
        },
    );
}

#[test]
fn a_deployment_that_stays_failed_is_rolled_back_under_its_policy() {
    let mut core = with_hints(3, &[]);
    let (v1, _) = core.deploy(T0, module(), b"v1".to_vec(), "{\"a\":1}").unwrap();
    let mut budget = BudgetOverrides::none();
    budget.set("messages_per_s", 42).unwrap();
    let spec = DeploySpec {
        params: "{\"a\":2}".into(),
        budget: budget.clone(),
        auto_rollback_ms: Some(5_000),
    };
    let (v2, _) = core.deploy(T0 + 100, module(), b"v2".to_vec(), spec).unwrap();
    fail(&mut core, T0 + 1000, "trapped: unreachable");
    let status = &core.status()[0];
    assert!(matches!(status.state, ModuleState::Failed { .. }));
    let policy = status.auto_rollback.as_ref().unwrap();
    assert_eq!(policy.due_at, Some(T0 + 6000));
    assert_eq!(policy.to, v1.version);
    assert!(core.poll_timeout() <= T0 + 6000);
    core.handle(T0 + 5999, Input::Tick);
    assert_eq!(
        core.configuration().get(&module()).unwrap().number,
        v2.number,
        "not yet"
    );
    let outputs = core.handle(T0 + 6000, Input::Tick);
    let now = core.configuration().get(&module()).unwrap().clone();
    assert_eq!(now.version, v1.version, "rolled back to the version v2 replaced");
    assert!(now.number > v2.number);
    assert_eq!(now.params, "{\"a\":2}");
    assert_eq!(now.budget, budget);
    assert_eq!(now.auto_rollback_ms, None, "a rollback has no policy of its own");
    assert_eq!(core.metrics().auto_rollbacks, 1);
    assert!(outputs.iter().any(|o| matches!(o, Output::Load { .. })));
    assert!(outputs
        .iter()
        .any(|o| matches!(o, Output::Event(Event::RolledBack { failed, .. }) if *failed == v2.number)));
}

#[test]
fn without_a_policy_or_a_previous_version_nothing_is_rolled_back() {
    // No policy: failed stays failed.
    let mut core = node(0, &[]);
    core.deploy(T0, module(), b"v1".to_vec(), "").unwrap();
    core.deploy(T0 + 1, module(), b"v2".to_vec(), "").unwrap();
    fail(&mut core, T0 + 2, "trap");
    core.handle(T0 + 3_600_000, Input::Tick);
    assert_eq!(
        core.configuration().get(&module()).unwrap().version,
        Some(CodeVersion::of(b"v2"))
    );
    // A policy, but nothing to go back to: refused once, and status says why.
    let mut core = node(0, &[]);
    let spec = DeploySpec {
        auto_rollback_ms: Some(100),
        ..DeploySpec::default()
    };
    core.deploy(T0, module(), b"v1".to_vec(), spec).unwrap();
    fail(&mut core, T0 + 1, "trap");
    let refusals = [
        core.handle(T0 + 200, Input::Tick),
        core.handle(T0 + 400, Input::Tick),
    ]
    .concat()
    .into_iter()
    .filter(|o| matches!(o, Output::Event(Event::RollbackRefused { .. })))
    .count();
    assert_eq!(refusals, 1, "refused once, not on every tick");
    let policy = core.status()[0].auto_rollback.clone().unwrap();
    assert!(policy.refused.unwrap().contains("no earlier version"));
    assert_eq!(policy.due_at, None);
}

#[test]
fn a_secure_node_without_a_signing_key_says_it_cannot_roll_back() {
    let operator = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
    let mut core = Core::new(CoreInit {
        id: NodeId(1),
        addr: addr(1),
        settings: Settings {
            trusted_keys: hearsay_core::trust::TrustedKeys::new(vec![operator.verifying_key()]),
            ..Settings::default()
        },
        configuration: Configuration::new(),
        code: BTreeSet::new(),
        ran: Vec::new(),
        seed: 1,
    });
    let mut d = Deployment::new(
        module(),
        Some(CodeVersion::of(b"v2")),
        core.next_number(T0, &module()),
    );
    d.previous = Some(CodeVersion::of(b"v1"));
    d.auto_rollback_ms = Some(100);
    hearsay_core::trust::sign(&mut d, &operator);
    core.deploy_record(T0, d, Some(b"v2".to_vec())).unwrap();
    fail(&mut core, T0 + 1, "trap");
    core.handle(T0 + 200, Input::Tick);
    let policy = core.status()[0].auto_rollback.clone().unwrap();
    assert!(
        policy.refused.unwrap().contains("signed"),
        "refused for want of a key"
    );
    assert_eq!(core.metrics().auto_rollbacks, 0);
}

/// When each backup exchange of `core` goes out, ticking every 100 ms from `start` for
/// `ms`, with `input` handed over at `at` if given.
fn exchange_times(core: &mut Core, start: u64, ms: u64, at: Option<(u64, Input)>) -> Vec<u64> {
    let mut at = at;
    let mut times = Vec::new();
    for now in (start..start + ms).step_by(100) {
        let mut outputs = core.handle(now, Input::Tick);
        if let Some((when, _)) = &at {
            if *when == now {
                let (_, input) = at.take().unwrap();
                outputs.extend(core.handle(now, input));
            }
        }
        if sends(&outputs)
            .iter()
            .any(|(to, e)| *to == addr(90) && matches!(e.body, Body::Summary(_)))
        {
            times.push(now);
        }
    }
    times
}

#[test]
fn backup_gossip_backs_off_while_all_agree_and_hurries_when_a_peer_differs() {
    let mut core = with_hints(10, &[90]);
    let quiet = exchange_times(&mut core, T0, 40_000, None);
    let gaps: Vec<u64> = quiet.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps[..3], [1000, 2000, 4000], "{gaps:?}");
    assert!(gaps[3..].iter().all(|g| *g == 8000), "{gaps:?}");
    // Backed off: a peer whose envelope carries another configuration brings the next
    // exchange within a second, and the pace back to 1 s.
    let mut other = node(50, &[]);
    other.deploy(T0, module(), b"code".to_vec(), "").unwrap();
    let differs = Input::Receive {
        bytes: Envelope {
            sender_addr: addr(50),
            digest: other.configuration().digest(),
            body: Body::Summary(vec![]),
        }
        .encode(65536, &hearsay_core::envelope::Seal::Checksum, T0)
        .unwrap(),
    };
    let start = T0 + 40_000;
    let last = *quiet.last().unwrap();
    let hurried = exchange_times(&mut core, start, 10_000, Some((start + 200, differs)));
    let next_quiet = last + 8000;
    assert!(
        hurried[0] <= start + 1200 && hurried[0] < next_quiet,
        "{hurried:?} vs {next_quiet}"
    );
    assert_eq!(hurried[1] - hurried[0], 1000, "{hurried:?}");
}
