//! Nothing lost, with real agents: a full disk never costs a node the version it runs
//! (nor gives the cluster a deployment whose code exists nowhere), a restart runs the
//! last version that ran, a deployment number can't be pushed to the end of time, and
//! a configuration file edited by hand is not run.

mod common;

use std::time::Duration;

use common::statecast::serial;
use common::{cli_ok, deploy_module, dist_module, http, try_deploy, variant, wait_for, Agent, Cluster};
use hearsay_core::envelope::Seal;
use hearsay_core::{Body, ConfigDigest, DeploymentNumber, Envelope, ModuleName, NodeId, PeerAddr};
use hearsay_node::api_types::ModuleReport;
use serde_json::json;

fn report(a: &Agent, module: &str) -> Option<ModuleReport> {
    a.status().and_then(|s| s.module(module).cloned())
}

/// The deployment number whose instance runs `module` at `a`.
fn running(a: &Agent, module: &str) -> Option<String> {
    report(a, module).and_then(|m| m.running)
}

/// A module of `extra` more bytes: a custom section of that size appended.
fn padded(wasm: &[u8], extra: usize) -> Vec<u8> {
    let mut out = wasm.to_vec();
    let name = b"padding";
    let mut content = vec![name.len() as u8];
    content.extend(name);
    content.extend(std::iter::repeat_n(0u8, extra));
    out.push(0);
    let mut n = content.len() as u64;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        out.push(if n == 0 { byte } else { byte | 0x80 });
        if n == 0 {
            break;
        }
    }
    out.extend(content);
    out
}

/// Fills the filesystem holding `dir` with a file; returns its path.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 << 10];
    while std::io::Write::write_all(&mut f, &block).is_ok() {}
    let _ = f.sync_all();
    path
}

#[test]
fn a_full_disk_loses_nothing() {
    let _serial = serial();
    let mut c = Cluster::configure("fulldisk", 2, 1, |_| Vec::new());
    if !c.small_disk(1, 8) {
        return;
    }
    c.start_all();
    let v1 = dist_module("statecast");
    let first = deploy_module(&c.agents[0], "statecast", &v1, json!({}));
    wait_for("both run v1", 30, || {
        c.agents
            .iter()
            .all(|a| running(a, "statecast") == Some(first.number.clone()))
    });
    let filler = fill(&c.agents[1].data_dir);
    let big = padded(&v1, 3 << 20);

    // Deployed at the full node: refused with a clear error, nothing changes anywhere.
    let (code, body) = try_deploy(&c.agents[1], "statecast", &big, json!({}));
    assert_eq!(code, 507, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["kind"], "disk_full", "{body}");
    std::thread::sleep(Duration::from_millis(1500));
    for a in &c.agents {
        let m = report(a, "statecast").unwrap();
        assert_eq!(
            m.deployment.number, first.number,
            "node {} adopted nothing",
            a.index
        );
        assert_eq!(m.running, Some(first.number.clone()));
    }

    // Deployed elsewhere: the full node adopts it but keeps running v1 while it can't
    // store the code — and says so.
    let second = deploy_module(&c.agents[0], "statecast", &big, json!({}));
    wait_for("node 0 runs the big version", 30, || {
        running(&c.agents[0], "statecast") == Some(second.number.clone())
    });
    wait_for("node 1 failed to store the big version", 30, || {
        c.agents[1].metric("hearsay_code_store_failures_total") >= 1
    });
    let m = report(&c.agents[1], "statecast").unwrap();
    assert_eq!(m.deployment.number, second.number);
    assert_eq!(m.running, Some(first.number.clone()), "v1 runs on: {m:?}");
    assert!(m.state == "fetching" || m.state == "loading", "{m:?}");

    // A restart with the disk still full runs the last version that ran.
    c.agents[1].kill9();
    c.agents[1].start();
    wait_for("the restarted node runs v1 again", 30, || {
        running(&c.agents[1], "statecast") == Some(first.number.clone())
    });

    // Space returns: the node fetches, stores and runs the new version.
    std::fs::remove_file(&filler).unwrap();
    wait_for("node 1 runs the big version once there is space", 60, || {
        running(&c.agents[1], "statecast") == Some(second.number.clone())
    });

    // And after restarting both, both run it.
    for i in 0..2 {
        c.agents[i].kill9();
    }
    for i in 0..2 {
        c.agents[i].start();
    }
    wait_for("both run the big version after a restart", 60, || {
        c.agents
            .iter()
            .all(|a| running(a, "statecast") == Some(second.number.clone()))
    });
}

fn keygen(dir: &std::path::Path, name: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    cli_ok(&["keygen", "--out", path.to_str().unwrap()]);
    path.display().to_string()
}

/// An unsigned summary from a made-up peer claiming `number` for `module`.
fn summary(module: &str, number: DeploymentNumber) -> Vec<u8> {
    let env = Envelope {
        sender_addr: PeerAddr::from(([127, 0, 0, 1], 9)),
        digest: ConfigDigest(1),
        body: Body::Summary(vec![(ModuleName::new(module).unwrap(), number)]),
    };
    env.encode(65536, &Seal::Checksum, 0).unwrap()
}

#[test]
fn a_deployment_number_cannot_be_pushed_to_the_end_of_time() {
    let _serial = serial();
    let keys = std::env::temp_dir().join(format!("hearsay-e2e-numbers-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&keys);
    let ops = keygen(&keys, "ops.key");
    let public = format!("{ops}.pub");
    let c = Cluster::start_with("numbers", 2, 1, |i| {
        let mut args = vec!["--trusted-keys".to_string(), public.clone()];
        if i == 0 {
            args.extend(["--signing-key".to_string(), ops.clone()]);
        }
        args
    });
    let max = DeploymentNumber {
        time_ms: u64::MAX,
        origin: NodeId(u64::MAX),
    };
    // A stranger's unsigned claim of the highest number there is.
    let batch = common::frame(&[&summary("membership", max)]);
    let (code, _) = http(&c.agents[0].gossip.to_string(), "POST", "/gossip", &batch).unwrap();
    assert_eq!(code, 204);
    std::thread::sleep(Duration::from_millis(300));

    // A deploy through the node that signs its own still gets a number, and runs.
    let wasm = dist_module("statecast");
    let d = deploy_module(&c.agents[0], "membership", &common::membership_wasm(), json!({}));
    assert!(d.time_ms < u64::MAX / 2, "{d:?}");
    wait_for("both run it", 30, || {
        c.agents
            .iter()
            .all(|a| running(a, "membership") == Some(d.number.clone()))
    });

    // An operator's signed deploy (asks for the next number, signs it) works too.
    let file = c.dir.join("statecast.wasm");
    std::fs::write(&file, &wasm).unwrap();
    cli_ok(&[
        "deploy",
        "--key",
        &ops,
        "--api",
        &c.agents[1].api(),
        "statecast",
        file.to_str().unwrap(),
    ]);

    // A trusted key signing a number at the end of time is refused, by the API…
    let ops_key = hearsay_node::keys::read_signing_key(std::path::Path::new(&ops)).unwrap();
    let mut record = hearsay_core::Deployment::new(
        ModuleName::new("membership").unwrap(),
        Some(hearsay_core::CodeVersion::of(&variant(
            &common::membership_wasm(),
            "late",
        ))),
        max,
    );
    hearsay_core::trust::sign(&mut record, &ops_key);
    let body = json!({"record": record, "wasm_base64": null}).to_string();
    let (code, answer) = http(&c.agents[1].api(), "POST", "/deploy-record", body.as_bytes()).unwrap();
    assert_eq!(code, 400, "{answer}");
    assert!(answer.contains("future_number"), "{answer}");
    // …and by gossip.
    let env = Envelope {
        sender_addr: PeerAddr::from(([127, 0, 0, 1], 9)),
        digest: ConfigDigest(1),
        body: Body::Records(vec![record]),
    };
    let batch = common::frame(&[&env.encode(65536, &Seal::Checksum, 0).unwrap()]);
    http(&c.agents[1].gossip.to_string(), "POST", "/gossip", &batch).unwrap();
    wait_for("the record was dropped and counted", 10, || {
        c.agents[1].metric("hearsay_drops_total{reason=\"future_number\"}") >= 1
    });
    assert_eq!(
        report(&c.agents[1], "membership").unwrap().deployment.number,
        d.number
    );
    // Deploys still go through.
    let again = deploy_module(
        &c.agents[0],
        "membership",
        &variant(&common::membership_wasm(), "v2"),
        json!({}),
    );
    wait_for("both run the next deployment", 30, || {
        c.agents
            .iter()
            .all(|a| running(a, "membership") == Some(again.number.clone()))
    });
    let _ = std::fs::remove_dir_all(&keys);
}

#[test]
fn a_configuration_edited_by_hand_is_not_run() {
    let _serial = serial();
    let keys = std::env::temp_dir().join(format!("hearsay-e2e-edited-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&keys);
    let ops = keygen(&keys, "ops.key");
    let public = format!("{ops}.pub");
    let mut c = Cluster::start_with("edited", 2, 1, |_| vec!["--trusted-keys".into(), public.clone()]);
    let file = c.dir.join("statecast.wasm");
    std::fs::write(&file, dist_module("statecast")).unwrap();
    cli_ok(&[
        "deploy",
        "--key",
        &ops,
        "--api",
        &c.agents[0].api(),
        "statecast",
        file.to_str().unwrap(),
        "--params",
        "{\"fanout\":2}",
    ]);
    wait_for("both run statecast", 30, || {
        c.agents
            .iter()
            .all(|a| report(a, "statecast").is_some_and(|m| m.state == "running"))
    });
    // Node 1's configuration, edited: other params under the same signature.
    c.agents[1].kill9();
    let path = c.agents[1].data_dir.join("configuration.json");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("fanout\\\":2"), "{text}");
    std::fs::write(&path, text.replace("fanout\\\":2", "fanout\\\":16")).unwrap();
    c.agents[1].start();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        c.agents[1]
            .log()
            .contains("stored in the data directory; dropped"),
        "the node says it dropped the edited record"
    );
    assert_eq!(c.agents[1].metric("hearsay_rejected_at_start_total"), 1);
    // It never ran the edited record; it learns the real one from its peer.
    wait_for("node 1 runs the real deployment again", 30, || {
        report(&c.agents[1], "statecast")
            .is_some_and(|m| m.state == "running" && m.deployment.params == "{\"fanout\":2}")
    });
    let _ = std::fs::remove_dir_all(&keys);
}
