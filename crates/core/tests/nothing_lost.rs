//! The core's side of "nothing lost": deployment numbers bounded by time, unsigned
//! claims that can't raise what a secure node issues next, stored records verified
//! again at start, code the disk refused fetched again with the old version running
//! meanwhile, and a restart that runs what last ran while the configured code is away.

use std::collections::BTreeSet;

use ed25519_dalek::SigningKey;
use hearsay_core::envelope::Seal;
use hearsay_core::trust::{sign, TrustedKeys};
use hearsay_core::{
    Body, CodeVersion, CommandError, ConfigDigest, Configuration, Core, CoreInit, Deployment,
    DeploymentNumber, DropReason, Envelope, Input, ModuleName, NodeId, Output, PeerAddr, Settings,
};

const T0: u64 = 1_800_000_000_000;

fn addr(i: u16) -> PeerAddr {
    PeerAddr::from(([127, 0, 0, 1], 7000 + i))
}

fn module() -> ModuleName {
    ModuleName::new("m").unwrap()
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn core(trusted: bool, configuration: Configuration, code: &[&[u8]], ran: Vec<Deployment>) -> Core {
    Core::new(CoreInit {
        id: NodeId(1),
        addr: addr(1),
        settings: Settings {
            trusted_keys: if trusted {
                TrustedKeys::new(vec![key().verifying_key()])
            } else {
                TrustedKeys::default()
            },
            signing_key: trusted.then(key),
            ..Settings::default()
        },
        configuration,
        code: code.iter().map(|c| CodeVersion::of(c)).collect::<BTreeSet<_>>(),
        ran,
        seed: 1,
    })
}

fn record(code: &[u8], time_ms: u64, signed: bool) -> Deployment {
    let mut d = Deployment::new(
        module(),
        Some(CodeVersion::of(code)),
        DeploymentNumber {
            time_ms,
            origin: NodeId(9),
        },
    );
    if signed {
        sign(&mut d, &key());
    }
    d
}

fn envelope(body: Body) -> Input {
    let env = Envelope {
        sender_addr: addr(9),
        digest: ConfigDigest(3),
        body,
    };
    Input::Receive {
        bytes: env.encode(65536, &Seal::Checksum, T0).unwrap(),
    }
}

#[test]
fn a_number_too_far_ahead_is_refused_whoever_signed_it() {
    let mut c = core(true, Configuration::new(), &[], Vec::new());
    let far = record(b"v", T0 + 2 * 3_600_000, true);
    assert!(matches!(
        c.deploy_record(T0, far.clone(), Some(b"v".to_vec())),
        Err(CommandError::FutureNumber(..))
    ));
    c.handle(T0, envelope(Body::Records(vec![far])));
    assert!(c.configuration().is_empty());
    assert_eq!(c.metrics().drops_for(DropReason::FutureNumber), 1);
    // Within the hour is fine (clocks differ a little).
    let near = record(b"v", T0 + 60_000, true);
    c.handle(T0, envelope(Body::Records(vec![near.clone()])));
    assert_eq!(c.configuration().get(&module()), Some(&near));
}

#[test]
fn unsigned_claims_never_raise_the_number_a_secure_node_issues() {
    let max = DeploymentNumber {
        time_ms: u64::MAX,
        origin: NodeId(u64::MAX),
    };
    let near = DeploymentNumber {
        time_ms: T0 + 600_000,
        origin: NodeId(9),
    };
    for claim in [max, near] {
        let mut secure = core(true, Configuration::new(), &[], Vec::new());
        secure.handle(T0, envelope(Body::Summary(vec![(module(), claim)])));
        let issued = secure.next_number(T0, &module());
        assert_eq!(
            issued.time_ms, T0,
            "an unsigned claim of {claim} moved a secure node"
        );
        let (d, _) = secure.deploy(T0, module(), b"code".to_vec(), "").unwrap();
        assert_eq!(
            secure.configuration().get(&module()),
            Some(&d),
            "its own deploy is adopted"
        );
    }
    // An insecure node takes claims (within the hour) into account, but never one at
    // the end of time.
    let mut insecure = core(false, Configuration::new(), &[], Vec::new());
    insecure.handle(T0, envelope(Body::Summary(vec![(module(), near)])));
    assert_eq!(insecure.next_number(T0, &module()).time_ms, near.time_ms + 1);
    let mut insecure = core(false, Configuration::new(), &[], Vec::new());
    insecure.handle(T0, envelope(Body::Summary(vec![(module(), max)])));
    assert_eq!(insecure.next_number(T0, &module()).time_ms, T0);
}

#[test]
fn stored_records_are_verified_again_at_start() {
    let good = record(b"v1", T0, true);
    let mut edited = good.clone();
    edited.params = "{\"evil\":true}".into();
    edited.module = ModuleName::new("other").unwrap();
    let unsigned = {
        let mut d = record(b"v2", T0, false);
        d.module = ModuleName::new("third").unwrap();
        d
    };
    let stored = Configuration::from(vec![good.clone(), edited, unsigned]);
    let mut c = core(true, stored, &[b"v1", b"v2"], Vec::new());
    assert_eq!(c.configuration().len(), 1);
    assert_eq!(c.configuration().get(&module()), Some(&good));
    assert_eq!(c.metrics().rejected_at_start, 2);
    let outputs = c.handle(T0, Input::Tick);
    let refused = outputs
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Event(hearsay_core::Event::DeploymentRefused { from: None, .. })
            )
        })
        .count();
    assert_eq!(refused, 2, "both dropped records are reported");
    let loads: Vec<_> = outputs
        .into_iter()
        .filter_map(|o| match o {
            Output::Load { deployment } => Some(deployment.module),
            _ => None,
        })
        .collect();
    assert_eq!(loads, vec![module()], "only the verified record runs");
}

#[test]
fn code_the_disk_refused_is_fetched_again_and_the_old_version_runs_on() {
    let v1 = record(b"v1", T0 - 1000, false);
    let mut c = core(false, Configuration::from(vec![v1.clone()]), &[b"v1"], Vec::new());
    c.handle(T0, Input::Tick);
    c.handle(
        T0,
        Input::Loaded {
            module: module(),
            number: v1.number,
        },
    );
    let v2 = record(b"v2", T0, false);
    c.handle(T0, envelope(Body::Records(vec![v2.clone()])));
    let out = c.handle(
        T0 + 10,
        Input::CodeFetched {
            version: v2.version.unwrap(),
            bytes: b"v2".to_vec(),
        },
    );
    assert!(out.iter().any(|o| matches!(o, Output::StoreCode { .. })));
    // The store refuses it: the core forgets it has it, pushes nothing, and the load
    // that was already asked for fails for want of code — no verdict on the code.
    c.handle(
        T0 + 10,
        Input::CodeStoreFailed {
            version: v2.version.unwrap(),
        },
    );
    assert!(!c.has_code(&v2.version.unwrap()));
    c.handle(
        T0 + 11,
        Input::LoadFailed {
            module: module(),
            number: v2.number,
            reason: "code store: No space left on device".into(),
        },
    );
    assert_eq!(c.running(&module()), Some(v1.number), "v1 still loaded");
    assert_eq!(c.metrics().load_failures, 0);
    // Five seconds later it is fetched again (from whoever backup gossip names).
    let refetch = (0..80)
        .flat_map(|k| c.handle(T0 + 100 * k, Input::Tick))
        .filter(|o| matches!(o, Output::FetchCode { .. }))
        .count();
    assert!(refetch >= 1, "fetched again");
    let out = c.handle(
        T0 + 9000,
        Input::CodeFetched {
            version: v2.version.unwrap(),
            bytes: b"v2".to_vec(),
        },
    );
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Load { deployment } if deployment.number == v2.number)));
}

#[test]
fn a_restart_runs_what_last_ran_while_the_configured_code_is_away() {
    let v1 = record(b"v1", T0 - 1000, false);
    let v2 = record(b"v2", T0, false);
    // Configured: v2, whose code is missing; v1 ran last and is in the store.
    let mut c = core(
        false,
        Configuration::from(vec![v2.clone()]),
        &[b"v1"],
        vec![v1.clone()],
    );
    let out = c.handle(T0, Input::Tick);
    let loads: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Load { deployment } => Some(deployment.number),
            _ => None,
        })
        .collect();
    assert_eq!(loads, vec![v1.number], "v1 runs until v2's code is here");
    c.handle(
        T0,
        Input::Loaded {
            module: module(),
            number: v1.number,
        },
    );
    // It runs, superseded: it answers, but never gossips with the new version.
    c.handle(
        T0,
        Input::ModuleSend {
            module: module(),
            to: addr(2),
            payload: vec![1],
        },
    );
    assert_eq!(c.metrics().drops_for(DropReason::SupersededSend), 1);
    // And when what runs is the configured deployment, it is remembered as what ran.
    let v3 = record(b"v3", T0 + 10, false);
    let mut fresh = core(false, Configuration::from(vec![v3.clone()]), &[b"v3"], Vec::new());
    fresh.handle(T0, Input::Tick);
    let out = fresh.handle(
        T0,
        Input::Loaded {
            module: module(),
            number: v3.number,
        },
    );
    let ran = out.iter().find_map(|o| match o {
        Output::Persist { ran, .. } => Some(ran.clone()),
        _ => None,
    });
    assert_eq!(ran, Some(vec![v3]));
}
