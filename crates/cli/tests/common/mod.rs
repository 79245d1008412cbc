//! A harness for end-to-end tests with real `hearsay agent` processes on 127.0.0.1:
//! start, SIGKILL, restart from the data directory, SIGSTOP/SIGCONT, a tiny HTTP/1.1
//! client and polling with deadlines. Agents are killed when the harness drops; on a
//! failing test their data directories and logs are kept and their path printed.
#![allow(dead_code)]

pub mod browser;
pub mod statecast;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hearsay_node::api_types::StatusReport;

pub const HEARSAY: &str = env!("CARGO_BIN_EXE_hearsay");

/// The binary the harness runs: `HEARSAY_TEST_BIN` when set (to show a test fails on
/// an older build), else the one cargo built.
pub fn hearsay_bin() -> String {
    std::env::var("HEARSAY_TEST_BIN").unwrap_or_else(|_| HEARSAY.to_string())
}

/// The committed membership module.
/// ABI v1's membership (the committed membership.wasm before module ABI v2): the
/// v1 module that must keep deploying and running, and handing its state over.
#[allow(dead_code)]
pub fn membership_v1_wasm() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules/abi-v1/membership.wasm");
    std::fs::read(path).expect("modules/abi-v1/membership.wasm")
}

pub fn membership_wasm() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules/dist/membership.wasm");
    std::fs::read(path).expect("modules/dist/membership.wasm")
}

/// The same module as another code version: an empty custom section appended.
pub fn variant(wasm: &[u8], name: &str) -> Vec<u8> {
    assert!(name.len() < 100);
    let mut out = wasm.to_vec();
    out.extend([0, name.len() as u8 + 1, name.len() as u8]);
    out.extend(name.as_bytes());
    out
}

/// `n` ports free right now on 127.0.0.1 (all bound at once, so distinct).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

pub struct Agent {
    pub index: usize,
    pub gossip: SocketAddr,
    pub api: SocketAddr,
    pub data_dir: PathBuf,
    rendezvous: Vec<SocketAddr>,
    /// More `hearsay agent` arguments (keys, tokens).
    pub extra_args: Vec<String>,
    child: Option<Child>,
}

impl Agent {
    pub fn api(&self) -> String {
        self.api.to_string()
    }

    /// Starts (or restarts, from the same data directory) the agent.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "agent {} already runs", self.index);
        std::fs::create_dir_all(&self.data_dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let rendezvous: Vec<String> = self.rendezvous.iter().map(|a| a.to_string()).collect();
        let child = Command::new(hearsay_bin())
            .arg("agent")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args([
                "--gossip",
                &self.gossip.to_string(),
                "--api",
                &self.api.to_string(),
            ])
            .args(["--rendezvous", &rendezvous.join(",")])
            .args(["--interval-ms", "200", "--backup-interval-ms", "1000"])
            .args(&self.extra_args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// The agent's log: beside its data directory, so a full data disk doesn't
    /// swallow it.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.with_extension("log")
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("agent runs").id() as i32
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }

    /// SIGTERM (a graceful stop), and waits until the agent has exited.
    pub fn sigterm(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("agent runs");
        signal(child.id() as i32, libc::SIGTERM);
        child.wait().unwrap()
    }

    pub fn sigstop(&self) {
        signal(self.pid(), libc::SIGSTOP);
    }

    pub fn sigcont(&self) {
        signal(self.pid(), libc::SIGCONT);
    }

    /// The agent's status, if its API answers.
    pub fn status(&self) -> Option<StatusReport> {
        let (code, body) = http(&self.api(), "GET", "/status", b"").ok()?;
        (code == 200).then(|| serde_json::from_str(&body).ok()).flatten()
    }

    pub fn metric(&self, series: &str) -> u64 {
        metric(&self.api(), series)
    }
}

fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: signalling a child process this harness started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

pub struct Cluster {
    pub dir: PathBuf,
    pub agents: Vec<Agent>,
    /// Filesystems the test mounted for it, unmounted when it drops.
    pub mounts: Vec<PathBuf>,
}

impl Cluster {
    /// Starts `n` agents; the first `rendezvous` are everyone's rendezvous nodes.
    pub fn start(name: &str, n: usize, rendezvous: usize) -> Cluster {
        Self::start_with(name, n, rendezvous, |_| Vec::new())
    }

    /// Like `start`, with more arguments for agent `i`.
    pub fn start_with(
        name: &str,
        n: usize,
        rendezvous: usize,
        args: impl Fn(usize) -> Vec<String>,
    ) -> Cluster {
        let mut cluster = Self::configure(name, n, rendezvous, args);
        cluster.start_all();
        cluster
    }

    /// Starts every agent of a configured cluster and waits until each answers.
    pub fn start_all(&mut self) {
        for a in &mut self.agents {
            a.start();
        }
        for a in &self.agents {
            wait_for(&format!("agent {} answers", a.index), 30, || a.status().is_some());
        }
    }

    /// A cluster's agents, addresses and directories, none started yet (a test may
    /// prepare a data directory first, e.g. mount a small disk there).
    pub fn configure(
        name: &str,
        n: usize,
        rendezvous: usize,
        args: impl Fn(usize) -> Vec<String>,
    ) -> Cluster {
        let dir = std::env::temp_dir().join(format!("hearsay-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ports = free_ports(2 * n);
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let rendezvous: Vec<SocketAddr> = (0..rendezvous).map(|i| addr(ports[2 * i])).collect();
        let agents: Vec<Agent> = (0..n)
            .map(|i| Agent {
                index: i,
                gossip: addr(ports[2 * i]),
                api: addr(ports[2 * i + 1]),
                data_dir: dir.join(format!("node-{i}")),
                rendezvous: rendezvous.clone(),
                extra_args: args(i),
                child: None,
            })
            .collect();
        std::fs::create_dir_all(&dir).unwrap();
        Cluster {
            dir,
            agents,
            mounts: Vec::new(),
        }
    }

    /// Mounts a tmpfs of `mib` MiB at agent `i`'s data directory (before it starts);
    /// false, with a message, where the test can't (not root, no mount).
    pub fn small_disk(&mut self, i: usize, mib: u64) -> bool {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: mounting a small disk needs root");
            return false;
        }
        let dir = self.agents[i].data_dir.clone();
        std::fs::create_dir_all(&dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here");
            return false;
        }
        self.mounts.push(dir);
        true
    }

    /// Starts one more agent, with its own rendezvous list.
    pub fn add_agent(&mut self, rendezvous: Vec<SocketAddr>) -> usize {
        self.add_agent_with(rendezvous, Vec::new())
    }

    /// Starts one more agent with more arguments.
    pub fn add_agent_with(&mut self, rendezvous: Vec<SocketAddr>, extra_args: Vec<String>) -> usize {
        let ports = free_ports(2);
        let index = self.agents.len();
        let mut a = Agent {
            index,
            gossip: SocketAddr::from(([127, 0, 0, 1], ports[0])),
            api: SocketAddr::from(([127, 0, 0, 1], ports[1])),
            data_dir: self.dir.join(format!("node-{index}")),
            rendezvous,
            extra_args,
            child: None,
        };
        a.start();
        wait_for(&format!("agent {index} answers"), 30, || a.status().is_some());
        self.agents.push(a);
        index
    }

    pub fn apis(&self) -> String {
        self.agents.iter().map(Agent::api).collect::<Vec<_>>().join(",")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for a in &mut self.agents {
            a.kill9();
        }
        for m in self.mounts.drain(..) {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
        if std::thread::panicking() {
            eprintln!("agent data and logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Polls `check` every 100 ms until it holds; panics after `secs` seconds.
/// Returns how long it took.
pub fn wait_for(what: &str, secs: u64, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if check() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out after {secs} s waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One HTTP/1.1 request; returns the status code and the body.
pub fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// One sample of `/metrics` (0 if absent), e.g. `hearsay_drops_total{reason="corrupt"}`.
pub fn metric(api: &str, series: &str) -> u64 {
    let (_, text) = http(api, "GET", "/metrics", b"").expect("metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Runs the hearsay CLI.
pub fn cli(args: &[&str]) -> Output {
    Command::new(hearsay_bin()).args(args).output().unwrap()
}

/// Runs the hearsay CLI and returns its stdout; panics (with stderr) if it fails.
/// `hearsay agent` with `extra` arguments (and addresses it never gets to bind):
/// asserts it refuses to start, and returns what it said on stderr.
#[allow(dead_code)]
pub fn agent_refused(extra: &[&str]) -> String {
    let mut args = vec![
        "agent",
        "--data-dir",
        "/nonexistent-hearsay",
        "--gossip",
        "127.0.0.1:1",
        "--api",
        "127.0.0.1:2",
    ];
    args.extend_from_slice(extra);
    let out = cli(&args);
    assert!(!out.status.success(), "hearsay agent {extra:?} started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn cli_ok(args: &[&str]) -> String {
    let out = cli(args);
    assert!(
        out.status.success(),
        "hearsay {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The first event after id `after` at the agent `api` passing the `hearsay events`
/// filters `filters` (e.g. `["--kind", "started"]`), waiting up to 20 s.
pub fn first_event(api: &str, after: u64, filters: &[&str]) -> serde_json::Value {
    let after = after.to_string();
    let mut args = vec![
        "events",
        "--api",
        api,
        "--after",
        &after,
        "--count",
        "1",
        "--json",
        "--timeout-s",
        "20",
    ];
    args.extend_from_slice(filters);
    let out = cli_ok(&args);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A `POST /gossip` body: each envelope framed by its u32 little-endian length.
pub fn frame(envelopes: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in envelopes {
        body.extend((e.len() as u32).to_le_bytes());
        body.extend(*e);
    }
    body
}

/// A gossip peer that accepts every batch and answers every code download with
/// `code`; returns its address and how many downloads it served.
pub fn fake_peer(code: Vec<u8>) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let response = if buf[..n].starts_with(b"GET /code/") {
                count.fetch_add(1, Ordering::SeqCst);
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/wasm\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    code.len()
                )
                .into_bytes();
                r.extend(&code);
                r
            } else {
                b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_vec()
            };
            let _ = s.write_all(&response);
        }
    });
    (addr, served)
}

/// A committed module from `modules/dist`, e.g. `dist_module("hostile-storm")`.
pub fn dist_module(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../modules/dist/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A hostile module written in WebAssembly text (`modules/hostile/NAME.wat`).
pub fn hostile_wat(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../modules/hostile/{name}.wat"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    wat::parse_str(text).expect("valid wat")
}

/// `POST /deploy` of `wasm` as `module` through `a`, with `extra` fields merged into
/// the request (`params`, `budget`, `auto_rollback_ms`): the status code and body.
pub fn try_deploy(a: &Agent, module: &str, wasm: &[u8], extra: serde_json::Value) -> (u16, String) {
    use base64::Engine as _;
    let mut body = serde_json::json!({
        "module": module,
        "wasm_base64": base64::engine::general_purpose::STANDARD.encode(wasm),
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    http(&a.api(), "POST", "/deploy", body.to_string().as_bytes()).unwrap()
}

/// Like [`try_deploy`]; panics unless accepted, returns the deployment.
pub fn deploy_module(
    a: &Agent,
    module: &str,
    wasm: &[u8],
    extra: serde_json::Value,
) -> hearsay_node::api_types::DeploymentInfo {
    let (code, answer) = try_deploy(a, module, wasm, extra);
    assert_eq!(code, 200, "deploy {module} at node {}: {answer}", a.index);
    serde_json::from_str::<hearsay_node::api_types::DeployResponse>(&answer)
        .unwrap()
        .deployment
}

/// True when `a` runs deployment `number` of `module`.
pub fn runs_module(a: &Agent, module: &str, number: &str) -> bool {
    a.status()
        .and_then(|s| s.module(module).cloned())
        .is_some_and(|m| m.runs(number))
}

/// A module's query answer at `a`, as JSON (None unless 200).
pub fn query_module(a: &Agent, module: &str, args: &str) -> Option<serde_json::Value> {
    let (code, body) = http(
        &a.api(),
        "GET",
        &format!("/modules/{module}/query?args={args}"),
        b"",
    )
    .ok()?;
    (code == 200).then(|| serde_json::from_str(&body).ok()).flatten()
}

/// A module's command answer at `a` (`POST /v1/modules/{module}/command`), as JSON
/// (None unless 200).
#[allow(dead_code)]
pub fn command_module(a: &Agent, module: &str, args: &str) -> Option<serde_json::Value> {
    let body = serde_json::json!({ "args": args }).to_string();
    let (code, body) = http(
        &a.api(),
        "POST",
        &format!("/v1/modules/{module}/command"),
        body.as_bytes(),
    )
    .ok()?;
    (code == 200).then(|| serde_json::from_str(&body).ok()).flatten()
}

/// The resident memory of a process, in bytes (Linux).
pub fn rss_bytes(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
