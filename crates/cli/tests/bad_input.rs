//! Bad input never changes what runs: malformed API requests, code that doesn't
//! validate, odd module names, bad params, broken gossip batches, stored code that no
//! longer matches its hash, and downloaded code whose hash doesn't match — each is
//! refused with a clear error and counted in /metrics, and the running configuration
//! stays as it was.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use base64::Engine as _;
use common::{fake_peer, frame, http, membership_wasm, variant, wait_for, Cluster};
use hearsay_core::envelope::{Seal, DEFAULT_MAX_ENVELOPE_BYTES};
use hearsay_core::{Body, CodeVersion, ConfigDigest, Configuration, Envelope};
use hearsay_node::api_types::{DeployResponse, ErrorBody};
use serde_json::json;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn bad_input_is_refused_counted_and_changes_nothing() {
    let mut c = Cluster::start("bad-input", 2, 1);
    let v1 = membership_wasm();
    let v2 = variant(&v1, "hearsay-e2e-bad-input");
    let api = c.agents[0].api();

    // A good deployment first, so there is a running configuration to protect.
    let body = json!({"module": "membership", "wasm_base64": b64(&v1)}).to_string();
    let (code, answer) = http(&api, "POST", "/deploy", body.as_bytes()).unwrap();
    assert_eq!(code, 200, "{answer}");
    let d1 = serde_json::from_str::<DeployResponse>(&answer)
        .unwrap()
        .deployment;
    wait_for("both nodes run v1", 30, || {
        c.agents.iter().all(|a| {
            a.status()
                .is_some_and(|s| s.module("membership").is_some_and(|m| m.runs(&d1.number)))
        })
    });
    let before = c.agents[0].status().unwrap();
    let config_path = c.agents[0].data_dir.join("configuration.json");
    let config_before = std::fs::read(&config_path).unwrap();

    let deploy = |module: &str, wasm: &[u8], params: serde_json::Value| {
        json!({"module": module, "wasm_base64": b64(wasm), "params": params}).to_string()
    };
    let cases: Vec<(&str, String, String, u16, &str)> = vec![
        ("POST", "/deploy".into(), "{not json".into(), 400, "bad_request"),
        (
            "POST",
            "/deploy".into(),
            json!({"module": "membership"}).to_string(),
            400,
            "bad_request",
        ),
        (
            "POST",
            "/deploy".into(),
            json!({"module": "membership", "wasm_base64": "***"}).to_string(),
            400,
            "bad_request",
        ),
        (
            "POST",
            "/deploy".into(),
            deploy("membership", b"garbage", json!(null)),
            400,
            "invalid_wasm",
        ),
        (
            "POST",
            "/deploy".into(),
            deploy("membership", &v2[..v2.len() / 2], json!(null)),
            400,
            "invalid_wasm",
        ),
        (
            "POST",
            "/deploy".into(),
            deploy("membership", b"\0asm\x01\0\0\0", json!(null)),
            400,
            "bad_abi",
        ),
        (
            "POST",
            "/deploy".into(),
            deploy("../etc", &v2, json!(null)),
            400,
            "invalid_module_name",
        ),
        (
            "POST",
            "/deploy".into(),
            deploy("Member Ship", &v2, json!(null)),
            400,
            "invalid_module_name",
        ),
        (
            "POST",
            "/deploy".into(),
            deploy("membership", &v2, json!({"fanout": "many"})),
            400,
            "init_failed",
        ),
        (
            "POST",
            "/rollback".into(),
            json!({"module": "nope"}).to_string(),
            404,
            "unknown_module",
        ),
        (
            "POST",
            "/rollback".into(),
            json!({"module": "membership", "to": "xyz"}).to_string(),
            400,
            "bad_version",
        ),
        (
            "POST",
            "/rollback".into(),
            json!({"module": "membership", "to": "0".repeat(64)}).to_string(),
            400,
            "code_missing",
        ),
        ("POST", "/stop".into(), "[]".into(), 400, "bad_request"),
        (
            "GET",
            "/modules/nope/query".into(),
            String::new(),
            404,
            "not_running",
        ),
        (
            "GET",
            "/modules/No!/query".into(),
            String::new(),
            400,
            "invalid_module_name",
        ),
        ("GET", "/nowhere".into(), String::new(), 404, "no_such_endpoint"),
    ];
    let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
    for (method, path, body, status, kind) in &cases {
        let (code, answer) = http(&api, method, path, body.as_bytes()).unwrap();
        let error: ErrorBody =
            serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{path}: {e}: {answer}"));
        assert_eq!(
            (code, error.kind.as_str()),
            (*status, *kind),
            "{method} {path} {body:.80}: {}",
            error.error
        );
        assert!(!error.error.is_empty());
        *expected.entry(kind).or_default() += 1;
    }
    for (kind, n) in &expected {
        let series = format!("hearsay_api_errors_total{{reason=\"{kind}\"}}");
        assert_eq!(c.agents[0].metric(&series), *n, "{series}");
    }

    // The gossip listener refuses broken batches; the core drops broken envelopes.
    let gossip = c.agents[0].gossip.to_string();
    let envelope_drops = |a: &common::Agent| -> u64 {
        ["truncated", "unsupported_format", "corrupt", "malformed"]
            .iter()
            .map(|r| a.metric(&format!("hearsay_drops_total{{reason=\"{r}\"}}")))
            .sum()
    };
    let drops_before = envelope_drops(&c.agents[0]);
    assert_eq!(http(&gossip, "POST", "/gossip", &[5, 0, 0, 0, 1]).unwrap().0, 400);
    assert_eq!(c.agents[0].metric("hearsay_gossip_bad_batches_total"), 1);
    let garbage = frame(&[b"\x01definitely not an envelope", b""]);
    assert_eq!(http(&gossip, "POST", "/gossip", &garbage).unwrap().0, 204);
    wait_for("the core counts both bad envelopes", 10, || {
        envelope_drops(&c.agents[0]) == drops_before + 2
    });
    assert_eq!(http(&gossip, "GET", "/code/xyz", b"").unwrap().0, 400);
    assert_eq!(
        http(&gossip, "GET", &format!("/code/{}", "0".repeat(64)), b"")
            .unwrap()
            .0,
        404
    );

    // Nothing changed: same digest, same deployment running, same bytes on disk, and
    // code refused at the API never reached the store.
    let after = c.agents[0].status().unwrap();
    assert_eq!(after.digest, before.digest);
    assert!(after.module("membership").unwrap().runs(&d1.number));
    assert_eq!(std::fs::read(&config_path).unwrap(), config_before);
    let v2_file = c.agents[0]
        .data_dir
        .join(format!("code/{}.wasm", CodeVersion::of(&v2).to_hex()));
    assert!(!v2_file.exists());

    // Stored code that no longer matches its hash is removed at startup (counted) and
    // fetched again from a peer.
    c.agents[0].kill9();
    let v1_file = c.agents[0]
        .data_dir
        .join(format!("code/{}.wasm", CodeVersion::of(&v1).to_hex()));
    std::fs::write(&v1_file, b"bit rot").unwrap();
    c.agents[0].start();
    wait_for("agent 0 answers again", 30, || c.agents[0].status().is_some());
    assert_eq!(c.agents[0].metric("hearsay_store_rejected_files_total"), 1);
    wait_for("agent 0 runs v1 again, fetched from its peer", 30, || {
        c.agents[0]
            .status()
            .is_some_and(|s| s.module("membership").is_some_and(|m| m.runs(&d1.number)))
    });
    assert_eq!(std::fs::read(&v1_file).unwrap(), v1);

    // A peer that serves code whose hash doesn't match: a fresh node learns the
    // (genuine) deployment from it, downloads the code from it, refuses the bytes,
    // counts it, and neither stores nor runs them.
    let (fake, served) = fake_peer(b"this is not the code you are looking for".to_vec());
    let fresh = c.add_agent(vec![fake]);
    let config: Configuration = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    let record = config.iter().next().unwrap().clone();
    let envelope = Envelope {
        sender_addr: fake,
        digest: ConfigDigest(1),
        body: Body::Records(vec![record]),
    }
    .encode(
        DEFAULT_MAX_ENVELOPE_BYTES,
        &Seal::Checksum,
        hearsay_node::now_ms(),
    )
    .unwrap();
    let fresh_gossip = c.agents[fresh].gossip.to_string();
    assert_eq!(
        http(&fresh_gossip, "POST", "/gossip", &frame(&[&envelope]))
            .unwrap()
            .0,
        204
    );
    wait_for("the fresh node refuses the wrong code", 30, || {
        c.agents[fresh].metric("hearsay_drops_total{reason=\"code_hash_mismatch\"}") >= 1
    });
    assert!(served.load(Ordering::SeqCst) >= 1);
    let s = c.agents[fresh].status().unwrap();
    let m = s.module("membership").unwrap();
    assert_eq!((m.state.as_str(), m.running.as_deref()), ("fetching", None));
    let stored = std::fs::read_dir(c.agents[fresh].data_dir.join("code"))
        .unwrap()
        .count();
    assert_eq!(stored, 0, "nothing was stored");
}
