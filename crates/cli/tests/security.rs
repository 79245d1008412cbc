//! Signed deployments and the cluster key, through real agents: a secure cluster takes
//! only deployments signed by its key — from the API and from gossip alike — and drops
//! gossip from a node without the cluster key; the API off loopback needs a token.

mod common;

use std::path::Path;

use common::{cli, cli_ok, membership_wasm, variant, wait_for, Cluster};
use hearsay_core::CodeVersion;

fn keygen(dir: &Path, name: &str, cluster: bool) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    let mut args = vec!["keygen", "--out", path.to_str().unwrap()];
    if cluster {
        args.push("--cluster");
    }
    cli_ok(&args);
    path.display().to_string()
}

fn runs(c: &Cluster, i: usize, version: &CodeVersion) -> bool {
    c.agents[i].status().is_some_and(|s| {
        s.module("membership").is_some_and(|m| {
            m.state == "running" && m.deployment.version.as_deref() == Some(&version.to_hex())
        })
    })
}

#[test]
fn only_signed_deployments_spread_and_strangers_are_not_heard() {
    let keys = std::env::temp_dir().join(format!("hearsay-e2e-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&keys);
    let ops = keygen(&keys, "ops.key", false);
    let cluster_key = keygen(&keys, "cluster.key", true);
    let public = format!("{ops}.pub");
    let mut c = Cluster::start_with("security", 3, 1, |_| {
        vec![
            "--trusted-keys".into(),
            public.clone(),
            "--cluster-key".into(),
            cluster_key.clone(),
        ]
    });
    let status = c.agents[0].status().unwrap();
    assert!(status.security.secure && status.security.cluster_key);
    let v1 = membership_wasm();
    let file = c.dir.join("v1.wasm");
    std::fs::write(&file, &v1).unwrap();
    let file = file.to_str().unwrap();

    // Unsigned: refused at the API, nothing changes.
    let out = cli(&["deploy", "--api", &c.agents[0].api(), "membership", file]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("only signed deployments") && err.contains("(unsigned)"),
        "{err}"
    );
    assert!(c.agents[0].status().unwrap().modules.is_empty());

    // Signed with the operator's key: it spreads to every node.
    cli_ok(&[
        "deploy",
        "--key",
        &ops,
        "--api",
        &c.agents[0].api(),
        "membership",
        file,
    ]);
    let version = CodeVersion::of(&v1);
    wait_for("every node runs the signed v1", 30, || {
        (0..3).all(|i| runs(&c, i, &version))
    });

    // A node with the cluster key but no trusted keys (insecure) deploys unsigned v2:
    // the secure nodes refuse the record it gossips, count it, and keep v1.
    let rendezvous = vec![c.agents[0].gossip];
    let rogue = c.add_agent_with(
        rendezvous.clone(),
        vec!["--cluster-key".into(), cluster_key.clone()],
    );
    let v2 = variant(&v1, "rogue-v2");
    let v2_file = c.dir.join("v2.wasm");
    std::fs::write(&v2_file, &v2).unwrap();
    cli_ok(&[
        "deploy",
        "--api",
        &c.agents[rogue].api(),
        "membership",
        v2_file.to_str().unwrap(),
    ]);
    // Its only contact, node 0, refuses the record and never passes it on.
    wait_for("node 0 refuses the rogue's record", 30, || {
        c.agents[0].metric("hearsay_drops_total{reason=\"untrusted\"}") > 0
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        (0..3).all(|i| runs(&c, i, &version)),
        "a secure node took an unsigned deployment"
    );

    // A node without the cluster key is not heard at all.
    let stranger = c.add_agent_with(rendezvous, vec!["--trusted-keys".into(), public.clone()]);
    wait_for("its envelopes are dropped as unauthenticated", 30, || {
        c.agents[0].metric("hearsay_drops_total{reason=\"unauthenticated\"}") > 0
    });
    assert!(
        c.agents[stranger].status().unwrap().modules.is_empty(),
        "the stranger learned the configuration"
    );

    // A signed rollback works too (to the previous version, here: none → refused clearly).
    let out = cli(&[
        "rollback",
        "--key",
        &ops,
        "--api",
        &c.agents[1].api(),
        "membership",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no previous version"),
        "{err}"
    );

    // A stop: unsigned it is refused, signed (`stop --key`) it stops the module
    // everywhere.
    let out = cli(&["stop", "--api", &c.agents[1].api(), "membership"]);
    assert!(!out.status.success(), "an unsigned stop on a secure node");
    cli_ok(&["stop", "--key", &ops, "--api", &c.agents[1].api(), "membership"]);
    wait_for("every node has stopped membership", 30, || {
        (0..3).all(|i| {
            c.agents[i]
                .status()
                .and_then(|s| s.module("membership").map(|m| m.deployment.version.is_none()))
                .unwrap_or(false)
        })
    });
    let _ = std::fs::remove_dir_all(&keys);
}

#[test]
fn an_api_beyond_loopback_needs_a_token() {
    let dir = std::env::temp_dir().join(format!("hearsay-e2e-token-{}", std::process::id()));
    let ports = common::free_ports(2);
    let out = cli(&[
        "agent",
        "--data-dir",
        dir.to_str().unwrap(),
        "--gossip",
        &format!("127.0.0.1:{}", ports[0]),
        "--api",
        &format!("0.0.0.0:{}", ports[1]),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--api-token"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Rotation by rolling restart: trust old+new, deploy with the new key, retire the old
/// one. The module runs on every node throughout; the old key can't deploy afterwards.
#[test]
fn key_rotation_by_rolling_restart_keeps_the_cluster_running() {
    let keys = std::env::temp_dir().join(format!("hearsay-keys-rotation-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&keys);
    let old = keygen(&keys, "old.key", false);
    let new = keygen(&keys, "new.key", false);
    let trust = |files: &[&str]| -> Vec<String> {
        let list: Vec<String> = files.iter().map(|f| format!("{f}.pub")).collect();
        vec!["--trusted-keys".into(), list.join(",")]
    };
    let mut c = Cluster::start_with("rotation", 3, 1, |_| trust(&[&old]));
    let v1 = membership_wasm();
    let v1_file = c.dir.join("v1.wasm");
    std::fs::write(&v1_file, &v1).unwrap();
    cli_ok(&[
        "deploy",
        "--key",
        &old,
        "--api",
        &c.agents[0].api(),
        "membership",
        v1_file.to_str().unwrap(),
    ]);
    let v1_version = CodeVersion::of(&v1);
    wait_for("v1 everywhere", 30, || (0..3).all(|i| runs(&c, i, &v1_version)));

    let rolling_restart = |c: &mut Cluster, files: &[&str]| {
        for i in 0..3 {
            c.agents[i].kill9();
            c.agents[i].extra_args = trust(files);
            c.agents[i].start();
            wait_for("the restarted node runs its module again", 30, || {
                c.agents[i]
                    .status()
                    .is_some_and(|s| s.module("membership").is_some_and(|m| m.state == "running"))
            });
            // The others never stopped.
            assert!((0..3).filter(|j| *j != i).all(|j| c.agents[j].status().is_some()));
        }
    };
    rolling_restart(&mut c, &[&old, &new]);
    let v2 = variant(&v1, "rotated-v2");
    let v2_file = c.dir.join("v2.wasm");
    std::fs::write(&v2_file, &v2).unwrap();
    cli_ok(&[
        "deploy",
        "--key",
        &new,
        "--api",
        &c.agents[1].api(),
        "membership",
        v2_file.to_str().unwrap(),
    ]);
    let v2_version = CodeVersion::of(&v2);
    wait_for("v2, signed with the new key, everywhere", 30, || {
        (0..3).all(|i| runs(&c, i, &v2_version))
    });

    rolling_restart(&mut c, &[&new]);
    let out = cli(&[
        "deploy",
        "--key",
        &old,
        "--api",
        &c.agents[2].api(),
        "membership",
        v1_file.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("untrusted"), "{err}");
    assert!((0..3).all(|i| runs(&c, i, &v2_version)));
    let _ = std::fs::remove_dir_all(&keys);
}
