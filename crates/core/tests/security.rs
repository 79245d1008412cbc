//! Signed deployments and an authenticated cluster, at the core: who may deploy (API
//! and gossip), forged, altered and replayed records, envelopes without the cluster
//! key, code whose hash is wrong, and a key rotation that never stops the cluster.

use std::collections::BTreeSet;

use ed25519_dalek::SigningKey;
use hearsay_core::envelope::ClusterKey;
use hearsay_core::trust::{sign, TrustedKeys};
use hearsay_core::{
    Body, CodeVersion, CommandError, Configuration, Core, CoreInit, Deployment, DropReason, Envelope, Input,
    ModuleName, NodeId, Output, PeerAddr, Settings,
};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn addr(i: u16) -> PeerAddr {
    PeerAddr::from(([127, 0, 0, 1], 7000 + i))
}

fn module() -> ModuleName {
    ModuleName::new("membership").unwrap()
}

fn node(i: u16, trusted: &[&SigningKey], signing: Option<SigningKey>, cluster: Option<[u8; 32]>) -> Core {
    Core::new(CoreInit {
        id: NodeId(i as u64),
        addr: addr(i),
        settings: Settings {
            trusted_keys: TrustedKeys::new(trusted.iter().map(|k| k.verifying_key()).collect()),
            signing_key: signing,
            cluster_key: cluster.map(ClusterKey),
            ..Settings::default()
        },
        configuration: Configuration::new(),
        code: BTreeSet::new(),
        ran: Vec::new(),
        seed: i as u64,
    })
}

/// Everything `from` sent, delivered to `to`; returns `to`'s outputs.
fn deliver(outputs: Vec<Output>, to: &mut Core, now: u64) -> Vec<Output> {
    let mut out = Vec::new();
    for o in outputs {
        if let Output::Send { bytes, .. } = o {
            out.extend(to.handle(now, Input::Receive { bytes }));
        }
    }
    out
}

/// A records envelope from `sender`, sealed with `cluster` if given.
fn records_from(sender: u16, records: Vec<Deployment>, cluster: Option<[u8; 32]>, now: u64) -> Vec<u8> {
    let env = Envelope {
        sender_addr: addr(sender),
        digest: Default::default(),
        body: Body::Records(records),
    };
    let seal = match cluster {
        Some(k) => hearsay_core::envelope::Seal::Mac {
            key: ClusterKey(k),
            window_ms: 60_000,
        },
        None => hearsay_core::envelope::Seal::Checksum,
    };
    env.encode(65536, &seal, now).unwrap()
}

fn record(version: &[u8], time_ms: u64, signer: Option<&SigningKey>) -> Deployment {
    let mut d = Deployment {
        module: module(),
        version: Some(CodeVersion::of(version)),
        number: hearsay_core::DeploymentNumber {
            time_ms,
            origin: NodeId(99),
        },
        params: String::new(),
        previous: None,
        budget: Default::default(),
        auto_rollback_ms: None,
        signature: None,
    };
    if let Some(k) = signer {
        sign(&mut d, k);
    }
    d
}

#[test]
fn without_a_trusted_key_nobody_can_deploy_through_the_api() {
    let operator = key(1);
    let mut secure = node(1, &[&operator], None, None);
    let err = secure
        .deploy(1000, module(), b"wasm".to_vec(), String::new())
        .unwrap_err();
    assert_eq!(err, CommandError::Unsigned);
    // A record signed by someone else is refused; one signed by the operator is taken.
    let forged = record(b"wasm", 2000, Some(&key(2)));
    assert!(matches!(
        secure.deploy_record(2000, forged, Some(b"wasm".to_vec())),
        Err(CommandError::Untrusted(_))
    ));
    assert!(secure.configuration().is_empty());
    let mut good = record(b"wasm", 0, None);
    good.number = secure.next_number(3000, &module());
    sign(&mut good, &operator);
    let out = secure
        .deploy_record(3000, good.clone(), Some(b"wasm".to_vec()))
        .unwrap();
    assert!(out.iter().any(|o| matches!(o, Output::Load { .. })));
    // Its number must still be above everything seen: a stale one is refused.
    let mut stale = record(b"wasm", good.number.time_ms, None);
    stale.number = good.number;
    sign(&mut stale, &operator);
    assert!(matches!(
        secure.deploy_record(3001, stale, None),
        Err(CommandError::StaleNumber(..))
    ));
    // Code that doesn't hash to the signed version is refused.
    let mut wrong = record(b"other", 0, None);
    wrong.number = secure.next_number(4000, &module());
    sign(&mut wrong, &operator);
    assert!(matches!(
        secure.deploy_record(4000, wrong, Some(b"evil".to_vec())),
        Err(CommandError::CodeMismatch(_))
    ));
    // A node with the signing key deploys as usual, signing its own records.
    let mut signer = node(2, &[&operator], Some(operator.clone()), None);
    let (d, _) = signer
        .deploy(1000, module(), b"wasm".to_vec(), String::new())
        .unwrap();
    assert!(d.signature.is_some());
}

#[test]
fn unsigned_forged_altered_and_replayed_records_are_refused_over_gossip() {
    let operator = key(1);
    let mut victim = node(1, &[&operator], None, None);
    let mut signed = record(b"v2", 5000, Some(&operator));
    let mut altered = signed.clone();
    altered.version = Some(CodeVersion::of(b"evil"));
    let attempts = vec![
        record(b"evil", 9000, None),
        record(b"evil", 9000, Some(&key(3))),
        altered,
    ];
    let mut reported = 0;
    for (i, bad) in attempts.into_iter().enumerate() {
        let outputs = victim.handle(
            6000,
            Input::Receive {
                bytes: records_from(2, vec![bad], None, 6000),
            },
        );
        reported += outputs
            .iter()
            .filter(|o| matches!(o, Output::Event(hearsay_core::Event::DeploymentRefused { .. })))
            .count();
        assert!(
            victim.configuration().is_empty(),
            "attempt {i} changed the configuration"
        );
    }
    assert_eq!(victim.metrics().drops_for(DropReason::Untrusted), 3);
    assert_eq!(reported, 1, "reported once per source");
    // The genuine record is taken; replaying an older genuine one changes nothing.
    victim.handle(
        6000,
        Input::Receive {
            bytes: records_from(2, vec![signed.clone()], None, 6000),
        },
    );
    assert_eq!(victim.configuration().number(&module()), Some(signed.number));
    let old = record(b"v1", 4000, Some(&operator));
    victim.handle(
        7000,
        Input::Receive {
            bytes: records_from(3, vec![old], None, 7000),
        },
    );
    assert_eq!(victim.configuration().number(&module()), Some(signed.number));
    // A refused record is never gossiped on: the victim's summary names only the genuine one.
    signed.params = "tampered".into();
    victim.handle(
        7000,
        Input::Receive {
            bytes: records_from(4, vec![signed], None, 7000),
        },
    );
    assert_eq!(victim.configuration().summary().len(), 1);
}

#[test]
fn envelopes_without_the_cluster_key_are_dropped() {
    let secret = [5; 32];
    let mut keyed = node(1, &[], None, Some(secret));
    let d = record(b"v1", 5000, None);
    keyed.handle(
        6000,
        Input::Receive {
            bytes: records_from(2, vec![d.clone()], None, 6000),
        },
    );
    keyed.handle(
        6000,
        Input::Receive {
            bytes: records_from(2, vec![d.clone()], Some([6; 32]), 6000),
        },
    );
    assert!(keyed.configuration().is_empty());
    assert_eq!(keyed.metrics().drops_for(DropReason::Unauthenticated), 2);
    // A captured envelope replayed after the window is refused too.
    let captured = records_from(2, vec![d.clone()], Some(secret), 6000);
    keyed.handle(
        6000 + 61_000,
        Input::Receive {
            bytes: captured.clone(),
        },
    );
    assert!(keyed.configuration().is_empty());
    assert_eq!(keyed.metrics().drops_for(DropReason::Replayed), 1);
    keyed.handle(6000, Input::Receive { bytes: captured });
    // …and the clock moved on: the core never goes back in time, so it stays refused.
    assert!(keyed.configuration().is_empty());
    // Two keyed nodes talk normally.
    let mut other = node(2, &[], None, Some(secret));
    let (_, _) = other
        .deploy(70_000, module(), b"v1".to_vec(), String::new())
        .unwrap();
    let summary = other.handle(71_000, Input::Tick);
    let _ = summary;
    let fresh = records_from(
        2,
        vec![other.configuration().get(&module()).unwrap().clone()],
        Some(secret),
        71_000,
    );
    keyed.handle(71_000, Input::Receive { bytes: fresh });
    assert_eq!(
        keyed.configuration().number(&module()),
        other.configuration().number(&module())
    );
}

#[test]
fn code_whose_hash_does_not_match_the_signed_version_is_refused() {
    let operator = key(1);
    let mut a = node(1, &[&operator], Some(operator.clone()), None);
    let mut b = node(2, &[&operator], None, None);
    let (d, _) = a
        .deploy(1000, module(), b"genuine".to_vec(), String::new())
        .unwrap();
    let fetch = b.handle(
        1000,
        Input::Receive {
            bytes: records_from(1, vec![d.clone()], None, 1000),
        },
    );
    let Some(Output::FetchCode { version, .. }) =
        fetch.into_iter().find(|o| matches!(o, Output::FetchCode { .. }))
    else {
        panic!("b must fetch the code")
    };
    let out = b.handle(
        1001,
        Input::CodeFetched {
            version,
            bytes: b"impostor".to_vec(),
        },
    );
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::StoreCode { .. } | Output::Load { .. })));
    assert_eq!(b.metrics().drops_for(DropReason::CodeHashMismatch), 1);
    assert!(!b.has_code(&version));
}

#[test]
fn key_rotation_keeps_the_cluster_deploying() {
    let (old, new) = (key(1), key(2));
    let mut a = node(1, &[&old], Some(old.clone()), None);
    let mut b = node(2, &[&old], None, None);
    let (d1, _) = a.deploy(1000, module(), b"v1".to_vec(), String::new()).unwrap();
    b.handle(
        1000,
        Input::Receive {
            bytes: records_from(1, vec![d1], None, 1000),
        },
    );
    // Step 1: every node also trusts the new key (a config reload, no restart needed).
    for n in [&mut a, &mut b] {
        n.set_trusted_keys(TrustedKeys::new(vec![old.verifying_key(), new.verifying_key()]));
    }
    // Step 2: deploy with the new key; it spreads.
    let mut d2 = record(b"v2", 0, None);
    d2.number = a.next_number(2000, &module());
    sign(&mut d2, &new);
    let out = a.deploy_record(2000, d2.clone(), Some(b"v2".to_vec())).unwrap();
    deliver(out, &mut b, 2000);
    b.handle(
        2000,
        Input::Receive {
            bytes: records_from(1, vec![d2.clone()], None, 2000),
        },
    );
    assert_eq!(b.configuration().number(&module()), Some(d2.number));
    // Step 3: retire the old key. What runs stays; the old key can't deploy any more.
    for n in [&mut a, &mut b] {
        n.set_trusted_keys(TrustedKeys::new(vec![new.verifying_key()]));
    }
    assert_eq!(b.configuration().number(&module()), Some(d2.number));
    let late = record(b"v3", 9000, Some(&old));
    b.handle(
        3000,
        Input::Receive {
            bytes: records_from(1, vec![late], None, 3000),
        },
    );
    assert_eq!(b.configuration().number(&module()), Some(d2.number));
}
