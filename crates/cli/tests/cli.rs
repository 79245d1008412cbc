//! The CLI as a user meets it: every error is one clear line and a non-zero exit,
//! never a panic; `hearsay cluster` starts agents, deploys membership, and stops them
//! all on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use common::{cli, wait_for, HEARSAY};

fn fails_with(args: &[&str], needle: &str) {
    let out = cli(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "hearsay {args:?} succeeded");
    assert_eq!(out.status.code(), Some(1), "hearsay {args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("hearsay: "), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn errors_are_one_clear_line() {
    // Nothing listens on port 1.
    let dead = "127.0.0.1:1".to_string();
    fails_with(&["status", "--api", &dead], "cannot reach the agent API");
    fails_with(&["status", "--api", "nonsense"], "bad API address");
    fails_with(
        &["deploy", "--api", &dead, "membership", "/no/such/file.wasm"],
        "cannot read /no/such/file.wasm",
    );
    fails_with(
        &["rollback", "--api", &dead, "membership"],
        "cannot reach the agent API",
    );
    fails_with(
        &["query", "--api", &dead, "membership"],
        "cannot reach the agent API",
    );
    fails_with(&["agent"], "--data-dir");
    fails_with(
        &["agent", "--data-dir", "/tmp/x", "--config", "/no/such.toml"],
        "cannot read /no/such.toml",
    );
    fails_with(
        &["agent", "--data-dir", "/tmp/x", "--interval-ms", "1"],
        "gossip interval",
    );
    fails_with(&["cluster", "--nodes", "0"], "--nodes");
    let file = std::env::temp_dir().join(format!("hearsay-cli-{}.wasm", std::process::id()));
    std::fs::write(&file, b"x").unwrap();
    fails_with(
        &[
            "deploy",
            "--api",
            &dead,
            "m",
            file.to_str().unwrap(),
            "--params",
            "{",
        ],
        "--params must be JSON",
    );
    std::fs::remove_file(&file).unwrap();

    // A port in use is a clear error too.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();
    let dir = std::env::temp_dir().join(format!("hearsay-cli-busy-{}", std::process::id()));
    fails_with(
        &["agent", "--data-dir", dir.to_str().unwrap(), "--gossip", &busy],
        "cannot listen on",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// 2n consecutive free ports.
fn free_port_base(n: usize) -> u16 {
    for base in (40_000..60_000).step_by(97) {
        let all: Option<Vec<TcpListener>> = (0..2 * n as u16)
            .map(|i| TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if all.is_some() {
            return base;
        }
    }
    panic!("no free port range");
}

#[test]
fn cluster_starts_deploys_and_stops_its_agents() {
    let base = free_port_base(3);
    let mut child = Command::new(HEARSAY)
        .args([
            "cluster",
            "--nodes",
            "3",
            "--rendezvous",
            "1",
            "--port-base",
            &base.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        let ready = line.starts_with("ready:");
        lines.push(line);
        if ready {
            break;
        }
    }
    assert!(
        lines.iter().any(|l| l.starts_with("deployed membership")),
        "{lines:?}"
    );
    let apis = lines
        .iter()
        .find_map(|l| l.strip_prefix("apis: "))
        .expect("apis line")
        .to_string();
    let apis: Vec<&str> = apis.split(',').collect();
    assert_eq!(apis.len(), 3);
    wait_for("every cluster node runs membership", 30, || {
        apis.iter().all(|a| {
            let out = cli(&["status", "--api", a]);
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("running")
        })
    });
    let pids: Vec<i32> = lines
        .iter()
        .filter_map(|l| {
            l.split_whitespace()
                .collect::<Vec<_>>()
                .get(3)
                .and_then(|p| p.parse().ok())
        })
        .collect();
    assert_eq!(pids.len(), 3, "{lines:?}");

    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    for pid in pids {
        // SAFETY: signal 0 only asks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!alive, "agent {pid} outlived its cluster");
    }
    assert!(cli(&["status", "--api", apis[0]]).status.code() == Some(1));
}
