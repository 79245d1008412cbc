//! Nobody in, with real agents, tried as an attacker would: a web page's request to
//! the loopback API, idle and slow connections by the thousand, bodies and summaries
//! meant to grow memory, weak and misplaced keys and tokens, malformed requests — and
//! a TLS agent and a clear-text one pointed at each other.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::statecast::serial;
use common::{
    cli_ok, deploy_module, dist_module, free_ports, http, rss_bytes, runs_module, wait_for, Cluster,
};
use hearsay_core::envelope::Seal;
use hearsay_core::{Body, ConfigDigest, DeploymentNumber, Envelope, ModuleName, NodeId, PeerAddr};
use serde_json::json;

/// A raw request; returns the status and the body.
fn raw(addr: &str, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

fn kind(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["kind"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("(not JSON: {body:?})"))
}

#[test]
fn a_web_page_cannot_deploy_through_the_loopback_api() {
    let _serial = serial();
    let c = Cluster::start("origin", 1, 1);
    let api = c.agents[0].api();
    let body = json!({"module": "evil", "wasm_base64": "AGFzbQEAAAA="}).to_string();
    let post = |headers: &str| {
        let request = format!(
            "POST /deploy HTTP/1.1\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        raw(&api, request.as_bytes())
    };
    // What a page can send without a preflight: text/plain, its own origin.
    let (code, answer) = post(&format!(
        "Host: {api}\r\nContent-Type: text/plain\r\nOrigin: http://evil.example\r\n"
    ));
    assert_eq!(
        (code, kind(&answer).as_str()),
        (403, "forbidden_origin"),
        "{answer}"
    );
    let (code, answer) = post(&format!("Host: {api}\r\nContent-Type: text/plain\r\n"));
    assert_eq!((code, kind(&answer).as_str()), (415, "unsupported_media_type"));
    // DNS rebinding: the page's own name, resolving to 127.0.0.1.
    let port = c.agents[0].api.port();
    let (code, answer) = post(&format!(
        "Host: evil.example:{port}\r\nContent-Type: application/json\r\n"
    ));
    assert_eq!((code, kind(&answer).as_str()), (403, "forbidden_host"));
    let (code, answer) = post(&format!(
        "Host: {api}\r\nContent-Type: application/json\r\nSec-Fetch-Site: cross-site\r\n"
    ));
    assert_eq!((code, kind(&answer).as_str()), (403, "forbidden_origin"));
    assert!(
        c.agents[0].status().unwrap().modules.is_empty(),
        "nothing was deployed"
    );
    // The API's own pages, and the CLI, still get through.
    let (code, answer) = post(&format!(
        "Host: localhost:{port}\r\nContent-Type: application/json\r\nOrigin: http://localhost:{port}\r\n"
    ));
    assert_eq!(
        code, 400,
        "refused only for its content (not a hearsay module): {answer}"
    );
    assert_eq!(kind(&answer), "bad_abi");
    // State changes are POST only, and every refusal is JSON.
    let (code, answer) = raw(
        &api,
        format!("GET /deploy HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!((code, kind(&answer).as_str()), (405, "method_not_allowed"));
}

#[test]
fn every_error_answer_is_json_and_named_for_what_failed() {
    let _serial = serial();
    let c = Cluster::start("errors", 1, 1);
    let api = c.agents[0].api();
    let gossip = c.agents[0].gossip.to_string();
    for addr in [&api, &gossip] {
        let long_uri = format!(
            "GET /{} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
            "a".repeat(70_000)
        );
        let (code, answer) = raw(addr, long_uri.as_bytes());
        assert!(code == 414 || code == 431, "{code} {answer}");
        assert!(
            kind(&answer) == "uri_too_long" || kind(&answer) == "headers_too_large",
            "{answer}"
        );
        let big_headers = format!(
            "GET /status HTTP/1.1\r\nHost: {addr}\r\nX-Filler: {}\r\nConnection: close\r\n\r\n",
            "b".repeat(500_000)
        );
        let (code, answer) = raw(addr, big_headers.as_bytes());
        assert_eq!(
            (code, kind(&answer).as_str()),
            (431, "headers_too_large"),
            "{answer}"
        );
        let (code, answer) = raw(addr, b"NONSENSE\r\n\r\n");
        assert_eq!(code, 400, "{answer}");
        assert_eq!(kind(&answer), "bad_request");
    }
    let (code, answer) = raw(
        &gossip,
        format!("GET /gossip HTTP/1.1\r\nHost: {gossip}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!((code, kind(&answer).as_str()), (405, "method_not_allowed"));
    let (code, answer) = raw(
        &gossip,
        format!("GET /code/zz HTTP/1.1\r\nHost: {gossip}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!((code, kind(&answer).as_str()), (400, "bad_version"));
    // A 300-byte signature is refused as what it is.
    let mut record = hearsay_core::Deployment::new(
        ModuleName::new("m").unwrap(),
        None,
        DeploymentNumber {
            time_ms: 5,
            origin: NodeId(1),
        },
    );
    record.signature = Some(vec![7; 300]);
    let body = json!({"record": record}).to_string();
    let (code, answer) = http(&api, "POST", "/deploy-record", body.as_bytes()).unwrap();
    assert_eq!(code, 400, "{answer}");
    assert_eq!(kind(&answer), "signature_too_long", "{answer}");
}

/// Raises this process's open-file limit so a test can hold thousands of sockets.
fn raise_fd_limit(want: u64) {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
        l.rlim_cur = want.min(l.rlim_max);
        libc::setrlimit(libc::RLIMIT_NOFILE, &l);
    }
}

#[test]
fn idle_and_slow_connections_cannot_stop_a_node() {
    let _serial = serial();
    raise_fd_limit(30_000);
    let c = Cluster::start_with("connections", 2, 1, |_| {
        vec!["--header-timeout-ms".into(), "2000".into()]
    });
    let gossip = c.agents[0].gossip;
    // Thousands of idle connections, and slowloris ones sending headers a byte at a time.
    let idle: Vec<TcpStream> = (0..5000)
        .filter_map(|_| TcpStream::connect(gossip).ok())
        .collect();
    let mut slow: Vec<TcpStream> = (0..300).filter_map(|_| TcpStream::connect(gossip).ok()).collect();
    for s in &mut slow {
        let _ = s.write_all(b"POST /gossip HTTP/1.1\r\nHost: x\r\n");
    }
    assert!(
        idle.len() > 4000,
        "the test could open only {} connections",
        idle.len()
    );
    // The node still answers its API and still gossips: a deploy reaches its peer.
    assert!(c.agents[0].status().is_some());
    let d = deploy_module(&c.agents[1], "statecast", &dist_module("statecast"), json!({}));
    wait_for("the deployment reaches the node under siege", 30, || {
        runs_module(&c.agents[0], "statecast", &d.number)
    });
    // Slowloris connections are closed after the header timeout (2 s here).
    let started = Instant::now();
    let mut open: Vec<TcpStream> = slow;
    while !open.is_empty() && started.elapsed() < Duration::from_secs(20) {
        open.retain(|s| {
            s.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 16];
            // Still open while a read would block; closed (or reset) otherwise.
            matches!((&*s).read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        });
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        open.is_empty(),
        "{} slowloris connections still open after 20 s",
        open.len()
    );
    eprintln!(
        "connections: every slowloris connection closed within {:?}",
        started.elapsed()
    );
    assert!(c.agents[0].metric("hearsay_connections_total{result=\"accepted\"}") >= 4000);
    drop(idle);
    assert!(c.agents[0].status().is_some());
}

/// Sends `len` bytes of body after a `POST /gossip` head claiming `claimed`, and
/// keeps the connection open.
fn partial_batch(addr: std::net::SocketAddr, claimed: usize, len: usize) -> Option<TcpStream> {
    let mut s = TcpStream::connect(addr).ok()?;
    let head = format!("POST /gossip HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {claimed}\r\n\r\n");
    s.write_all(head.as_bytes()).ok()?;
    let chunk = vec![0u8; 64 << 10];
    let mut sent = 0;
    while sent < len {
        let n = chunk.len().min(len - sent);
        if s.write_all(&chunk[..n]).is_err() {
            break;
        }
        sent += n;
    }
    Some(s)
}

#[test]
fn strangers_cannot_grow_a_nodes_memory() {
    let _serial = serial();
    let c = Cluster::start("memory", 1, 1);
    let pid = c.agents[0].pid();
    std::thread::sleep(Duration::from_millis(500));
    let base = rss_bytes(pid);
    // 150 connections, each sending most of a 4 MiB batch and stalling.
    let addr = c.agents[0].gossip;
    let senders: Vec<_> = (0..150)
        .map(|_| std::thread::spawn(move || partial_batch(addr, 4 << 20, (4 << 20) - 4096)))
        .collect();
    let held: Vec<_> = senders
        .into_iter()
        .filter_map(|t| t.join().ok().flatten())
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let grown = rss_bytes(pid).saturating_sub(base);
    eprintln!(
        "memory: {} stalled batches grew the agent by {} MiB",
        held.len(),
        grown >> 20
    );
    assert!(grown < 100 << 20, "grew by {} MiB", grown >> 20);
    drop(held);

    // Summaries naming a million distinct modules.
    let peer = PeerAddr::from(([127, 0, 0, 1], 9));
    let gossip = addr.to_string();
    let mut named = 0;
    for batch in 0..50 {
        let mut envelopes = Vec::new();
        for e in 0..20 {
            let entries: Vec<_> = (0..1000)
                .map(|i| {
                    let name = format!("m{}", (batch * 20 + e) * 1000 + i);
                    (
                        ModuleName::new(name).unwrap(),
                        DeploymentNumber {
                            time_ms: 1,
                            origin: NodeId(1),
                        },
                    )
                })
                .collect();
            named += entries.len();
            let env = Envelope {
                sender_addr: peer,
                digest: ConfigDigest(batch as u64),
                body: Body::Summary(entries),
            };
            envelopes.push(env.encode(65536, &Seal::Checksum, 0).unwrap());
        }
        let refs: Vec<&[u8]> = envelopes.iter().map(Vec::as_slice).collect();
        let _ = http(&gossip, "POST", "/gossip", &common::frame(&refs));
    }
    std::thread::sleep(Duration::from_millis(1000));
    let grown = rss_bytes(pid).saturating_sub(base);
    eprintln!(
        "memory: summaries naming {named} modules grew the agent by {} MiB",
        grown >> 20
    );
    assert!(grown < 60 << 20, "grew by {} MiB", grown >> 20);
    assert!(c.agents[0].status().is_some());
}

fn keygen(dir: &std::path::Path, name: &str, extra: &[&str]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    let mut args = vec!["keygen", "--out", path.to_str().unwrap()];
    args.extend(extra);
    cli_ok(&args);
    path.display().to_string()
}

/// Starts an agent with `args` and expects it to refuse to start, saying `says`.
fn refused(dir: &std::path::Path, args: &[&str], says: &str) {
    let ports = free_ports(2);
    let data = dir.join(format!("data-{}", ports[0]));
    let mut all = vec![
        "agent".to_string(),
        "--data-dir".into(),
        data.display().to_string(),
        "--gossip".into(),
        format!("127.0.0.1:{}", ports[0]),
        "--api".into(),
        format!("127.0.0.1:{}", ports[1]),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let mut child = std::process::Command::new(common::hearsay_bin())
        .args(&all)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the agent started with {args:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with {args:?}");
    assert!(err.contains(says), "{args:?}: {err}");
}

#[test]
fn weak_keys_and_misplaced_secrets_are_refused_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("hearsay-e2e-misconfig-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ops = keygen(&dir, "ops.key", &[]);
    // The identity point as a trusted key.
    let weak = dir.join("weak.pub");
    let mut identity = [0u8; 32];
    identity[0] = 1;
    std::fs::write(&weak, format!("{}\n", hex::encode(identity))).unwrap();
    refused(&dir, &["--trusted-keys", weak.to_str().unwrap()], "weak");
    // A secret key given as a trusted key.
    refused(&dir, &["--trusted-keys", &ops], "secret");
    // A trusted-keys file anyone may change.
    let shared = dir.join("shared.pub");
    std::fs::copy(format!("{ops}.pub"), &shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o666)).unwrap();
    refused(
        &dir,
        &["--trusted-keys", shared.to_str().unwrap()],
        "written by other users",
    );
    // A node's certificate given as the cluster CA.
    let node = keygen(&dir, "node", &["--tls"]);
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect::<Vec<_>>();
    let find = |suffix: &str| {
        files
            .iter()
            .find(|p| p.to_str().unwrap().ends_with(suffix) && p.to_str().unwrap().contains(&node))
            .unwrap_or_else(|| panic!("no {suffix} among {files:?}"))
            .display()
            .to_string()
    };
    let (cert, key) = (find("node.pem"), find("node.key"));
    refused(
        &dir,
        &["--tls-cert", &cert, "--tls-key", &key, "--tls-ca", &cert],
        "not a certificate authority",
    );
    // Guessable and blank API tokens.
    refused(&dir, &["--api-token", "x"], "at least 16");
    let blank = dir.join("blank.token");
    std::fs::write(&blank, "   \n").unwrap();
    std::fs::set_permissions(&blank, std::fs::Permissions::from_mode(0o600)).unwrap();
    refused(
        &dir,
        &["--api-token-file", blank.to_str().unwrap()],
        "at least 16",
    );
    // A token in a config file everyone can read, or a token file everyone can read.
    let config = dir.join("agent.toml");
    std::fs::write(&config, "api_token = \"0123456789abcdef0123\"\n").unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    refused(
        &dir,
        &["--config", config.to_str().unwrap()],
        "readable by others",
    );
    let token = dir.join("api.token");
    std::fs::write(&token, "0123456789abcdef0123\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    refused(
        &dir,
        &["--api-token-file", token.to_str().unwrap()],
        "readable by others",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tls_agent_and_a_clear_text_one_say_so_in_their_logs() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("hearsay-e2e-tlsmix-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let prefix = keygen(&dir, "node", &["--tls"]);
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().display().to_string())
        .collect();
    let find = |suffix: &str| {
        files
            .iter()
            .find(|p| p.ends_with(suffix) && p.contains(&prefix))
            .unwrap_or_else(|| panic!("no {suffix} among {files:?}"))
            .clone()
    };
    let (cert, key, ca) = (find("node.pem"), find("node.key"), find("node-ca.pem"));
    let c = Cluster::start_with("tlsmix", 2, 2, |i| {
        if i == 0 {
            vec![
                "--tls-cert".into(),
                cert.clone(),
                "--tls-key".into(),
                key.clone(),
                "--tls-ca".into(),
                ca.clone(),
            ]
        } else {
            Vec::new()
        }
    });
    deploy_module(&c.agents[0], "statecast", &dist_module("statecast"), json!({}));
    deploy_module(&c.agents[1], "membership", &common::membership_wasm(), json!({}));
    wait_for("both logs say what is wrong", 30, || {
        c.agents[0].log().contains("refused a handshake")
            && c.agents[1].log().contains("TLS handshake on the clear-text")
    });
    let _ = std::fs::remove_dir_all(&dir);
}
