//! TLS for gossip, through real agents: a cluster whose nodes hold certificates of
//! one CA gossips and ships code over HTTPS; plain HTTP on its gossip port gets no
//! answer, and a node whose certificate comes from another CA is never heard and
//! never learns the configuration.

mod common;

use std::path::Path;

use common::{cli, cli_ok, http, membership_wasm, wait_for, Cluster};
use hearsay_core::CodeVersion;

/// `hearsay keygen --tls --out DIR/NAME [--ca CA]`; returns the agent flags.
fn cert(dir: &Path, name: &str, ca: Option<&str>) -> Vec<String> {
    let out = dir.join(name).display().to_string();
    let mut args = vec!["keygen", "--tls", "--out", &out];
    if let Some(ca) = ca {
        args.extend(["--ca", ca]);
    }
    cli_ok(&args);
    let ca_pem = format!("{}.pem", ca.map_or(format!("{out}-ca"), str::to_string));
    vec![
        "--tls-cert".into(),
        format!("{out}.pem"),
        "--tls-key".into(),
        format!("{out}.key"),
        "--tls-ca".into(),
        ca_pem,
    ]
}

#[test]
fn a_tls_cluster_gossips_over_https_and_strangers_are_refused() {
    let keys = std::env::temp_dir().join(format!("hearsay-e2e-tls-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&keys);
    std::fs::create_dir_all(&keys).unwrap();
    // One CA; node 2's certificate is issued separately from the same CA.
    let shared = cert(&keys, "node", None);
    let ca = keys.join("node-ca").display().to_string();
    let own = cert(&keys, "node2", Some(&ca));
    let secret_mode = std::fs::metadata(keys.join("node.key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&secret_mode.permissions()) & 0o777,
        0o600
    );
    let mut c = Cluster::start_with("tls", 3, 1, |i| if i == 2 { own.clone() } else { shared.clone() });
    assert!(c.agents[0].status().unwrap().security.tls);
    let status = cli_ok(&["status", "--api", &c.agents[0].api()]);
    assert!(status.contains("encrypted (TLS)"), "{status}");

    // A deployment — records over HTTPS, code fetched over HTTPS — reaches everyone.
    let v1 = membership_wasm();
    let file = c.dir.join("v1.wasm");
    std::fs::write(&file, &v1).unwrap();
    cli_ok(&[
        "deploy",
        "--api",
        &c.agents[0].api(),
        "membership",
        file.to_str().unwrap(),
    ]);
    let version = CodeVersion::of(&v1).to_hex();
    let runs = |c: &Cluster, i: usize| {
        c.agents[i].status().is_some_and(|s| {
            s.module("membership")
                .is_some_and(|m| m.state == "running" && m.deployment.version.as_deref() == Some(&version))
        })
    };
    wait_for("every TLS node runs v1", 30, || (0..3).all(|i| runs(&c, i)));
    assert!(c.agents[1].metric("hearsay_gossip_batches_in_total") > 0);

    // Clear-text HTTP on a TLS gossip port: no HTTP answer, a refused handshake.
    let before = c.agents[1].metric("hearsay_tls_handshakes_failed_total");
    let plain = http(
        &c.agents[1].gossip.to_string(),
        "GET",
        &format!("/code/{version}"),
        b"",
    );
    assert!(
        !matches!(plain, Ok((code, _)) if code != 0),
        "a plain request got an HTTP answer: {plain:?}"
    );
    wait_for("the plain request is counted", 10, || {
        c.agents[1].metric("hearsay_tls_handshakes_failed_total") > before
    });

    // A node with a certificate from another CA: its handshakes fail, it learns nothing.
    let other = cert(&keys, "stranger", None);
    let before = c.agents[0].metric("hearsay_tls_handshakes_failed_total");
    let stranger = c.add_agent_with(vec![c.agents[0].gossip], other);
    wait_for("node 0 refuses the stranger's certificate", 30, || {
        c.agents[0].metric("hearsay_tls_handshakes_failed_total") > before
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        c.agents[stranger].status().unwrap().modules.is_empty(),
        "the stranger learned the configuration"
    );

    // Half a TLS setup is refused at start, with the reason.
    let out = cli(&[
        "agent",
        "--data-dir",
        c.dir.join("half").to_str().unwrap(),
        "--tls-cert",
        &shared[1],
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--tls-key") || err.contains("--tls-ca"), "{err}");
    let _ = std::fs::remove_dir_all(&keys);
}
