//! Encodings, the checksum, params, queries, state handover — and hostile input,
//! which must never panic.

mod common;

use common::{addr, fixed, parse_view, Cluster, NodeHost};
use hearsay_guest::testing::splitmix;
use hearsay_guest::{factory, Factory};
use statecast::engine::record::checksum;
use statecast::engine::wire::{self, Message, State};
use statecast::{Flood, Loop, Poison, Record, Silent, Statecast};

#[test]
fn any_single_bit_flip_fails_the_check() {
    let r = Record::new(0x0123_4567_89ab_cdef, 42);
    assert!(r.is_valid());
    assert_eq!(checksum(0, 0), Record::genesis().check);
    for bit in 0..64 {
        assert!(!Record {
            version: r.version ^ (1 << bit),
            ..r
        }
        .is_valid());
        assert!(!Record {
            value: r.value ^ (1 << bit),
            ..r
        }
        .is_valid());
    }
    for bit in 0..32 {
        assert!(!Record {
            check: r.check ^ (1 << bit),
            ..r
        }
        .is_valid());
    }
}

#[test]
fn messages_and_state_round_trip() {
    let rec = Record::new(7, 8);
    let peers = ["a:1", "b:2", "c:3", "d:4", "e:5"];
    let bytes = wire::encode_message(true, &rec, &peers);
    assert_eq!(bytes.len(), 2 + wire::RECORD_LEN + 1 + 4 * 4);
    assert_eq!(
        wire::decode_message(&bytes),
        Some(Message {
            want_reply: true,
            record: rec,
            peers: peers[..4].iter().map(|s| s.to_string()).collect(),
        })
    );
    let long = "x".repeat(256);
    let bytes = wire::encode_state(&rec, &Record::genesis(), &["", &long, "ok:1"]);
    assert_eq!(
        wire::decode_state(&bytes),
        Some(State {
            held: rec,
            last_valid: Record::genesis(),
            peers: vec!["ok:1".to_string()],
        })
    );
}

#[test]
fn malformed_encodings_decode_to_none() {
    let msg = wire::encode_message(false, &Record::new(1, 2), &["p:1", "q:2"]);
    let state = wire::encode_state(&Record::new(1, 2), &Record::new(1, 2), &["p:1"]);
    for cut in 0..msg.len() {
        assert_eq!(wire::decode_message(&msg[..cut]), None);
    }
    for cut in 0..state.len() {
        assert_eq!(wire::decode_state(&state[..cut]), None);
    }
    let mut trailing = msg.clone();
    trailing.push(0);
    assert_eq!(wire::decode_message(&trailing), None);
    let mut bad = msg.clone();
    bad[0] = 2;
    assert_eq!(wire::decode_message(&bad), None, "unknown version");
    let mut bad = msg.clone();
    bad[1] = 2;
    assert_eq!(wire::decode_message(&bad), None, "unknown kind");
    let mut bad = msg.clone();
    bad[22] = 5;
    assert_eq!(wire::decode_message(&bad), None, "too many peers");
    let mut bad = msg;
    bad[24] = 0xff;
    assert_eq!(wire::decode_message(&bad), None, "not UTF-8");
    let mut empty_addr = wire::encode_message(false, &Record::genesis(), &[]);
    empty_addr[22] = 1;
    empty_addr.push(0);
    assert_eq!(wire::decode_message(&empty_addr), None, "empty address");
}

#[test]
fn hostile_input_never_panics_nor_changes_state() {
    let codes: [Factory; 5] = [
        fixed(),
        factory::<Statecast<Poison>>(),
        factory::<Statecast<Silent>>(),
        factory::<Statecast<Flood>>(),
        // Loop's receive is sound until its third tick, which is never run here.
        factory::<Statecast<Loop>>(),
    ];
    let real = wire::encode_message(true, &Record::new(3, 4), &["p:1", "q:2"]);
    let state = wire::encode_state(&Record::new(3, 4), &Record::new(3, 4), &["p:1"]);
    let mut rng = 99u64;
    for code in codes {
        let mut host = NodeHost::new(addr(0), vec![], 1);
        let mut m = code("", &mut host).expect("init");
        let before = m.query("", &mut host);
        for cut in 0..real.len() {
            m.receive(&addr(1), &real[..cut], &mut host);
        }
        for len in 0..300 {
            let noise: Vec<u8> = (0..len).map(|_| splitmix(&mut rng) as u8).collect();
            // Don't let noise pass for a message: the first byte is never VERSION.
            let mut noise = noise;
            if let Some(b) = noise.first_mut() {
                *b |= 0x80;
            }
            m.receive(&addr(1), &noise, &mut host);
            assert!(!m.import_state(&noise, &mut host));
            let cut = splitmix(&mut rng) as usize % state.len();
            assert!(!m.import_state(&state[..cut], &mut host));
            let arg: String = String::from_utf8_lossy(&noise).chars().take(len / 2).collect();
            let _ = m.query(&arg, &mut host);
            let _ = m.command(&arg, &mut host);
        }
        m.receive("", &real[..5], &mut host);
        assert_eq!(m.query("", &mut host), before, "garbage changed the state");
        assert!(host.outbox.is_empty(), "answered garbage");
        // Random flips of a real message: any outcome but a panic.
        for _ in 0..500 {
            let mut flipped = real.clone();
            let bit = splitmix(&mut rng) as usize % (real.len() * 8);
            flipped[bit / 8] ^= 1 << (bit % 8);
            m.receive(&addr(1), &flipped, &mut host);
        }
    }
}

#[test]
fn export_import_round_trips() {
    let mut c = Cluster::new(6, fixed(), "", 8);
    c.command(2, r#"{"set":77}"#);
    c.converge_on(1, 77, 10);
    for _ in 0..10 {
        c.round();
    }
    let node = &mut c.nodes[0];
    let state = node.module.export_state().expect("has state");
    let before = node.module.query("", &mut node.host);
    let mut fresh = fixed()("", &mut node.host).unwrap();
    assert!(fresh.import_state(&state, &mut node.host));
    assert_eq!(fresh.query("", &mut node.host), before);
    assert_eq!(fresh.export_state().unwrap(), state);
    assert_eq!(parse_view(&before).peers, 5);
}

#[test]
fn params_and_queries() {
    let mut host = NodeHost::new(addr(0), vec![], 1);
    for good in [
        "",
        "  ",
        r#"{"fanout":1}"#,
        r#"{"fanout":16,"other":[1]}"#,
        r#"{"poison_at":null}"#,
    ] {
        assert!(fixed()(good, &mut host).is_ok(), "{:?}", good);
    }
    for bad in [
        "{",
        "[]",
        "3",
        r#"{"fanout":0}"#,
        r#"{"fanout":17}"#,
        r#"{"fanout":-1}"#,
        r#"{"fanout":"3"}"#,
        r#"{"poison_at":1}"#,
    ] {
        assert!(fixed()(bad, &mut host).is_err(), "{:?}", bad);
    }
    let mut empty = NodeHost::new(String::new(), vec![], 1);
    assert!(fixed()("", &mut empty).is_err(), "no self address");

    let mut m = fixed()("", &mut host).unwrap();
    assert_eq!(
        m.query("", &mut host),
        r#"{"self":"10.0.0.1:7000","version":0,"value":0,"poisoned":false,"peers":0}"#
    );
    m.command(r#"{"set":5}"#, &mut host);
    let v = parse_view(&m.command(r#"{"set":6}"#, &mut host));
    assert_eq!((v.version, v.value, v.poisoned), (2, 6, false));
    for ignored in [r#"{"set":-1}"#, r#"{"set":"x"}"#, "set", "[1]"] {
        assert!(m.command(ignored, &mut host).contains("error"), "{}", ignored);
        assert_eq!(parse_view(&m.query("", &mut host)).version, 2);
    }
    // A query reads: it never writes.
    m.query(r#"{"set":9}"#, &mut host);
    assert_eq!(parse_view(&m.query("", &mut host)).value, 6);
}
