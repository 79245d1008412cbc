//! Local clusters of real agent processes (`hearsay cluster`, `hearsay-lab`): a
//! `hearsay` binary started as `hearsay agent` children on 127.0.0.1 (or each in a
//! network namespace of its host, see `netns`), each with its
//! own data directory and log file, stopped together — on Linux also when the parent
//! dies (PR_SET_PDEATHSIG), so no agent outlives its cluster.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use hearsay_client::ApiClient;

use crate::keygen_tls::{self, CertFiles};
use crate::netns::Placement;

/// How to lay out a local cluster.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The `hearsay` binary the agents run.
    pub exe: PathBuf,
    pub nodes: usize,
    pub rendezvous: usize,
    pub port_base: u16,
    pub interval_ms: u64,
    pub backup_interval_ms: u64,
    /// Gossip over TLS with a CA and certificate made for this cluster.
    pub tls: bool,
    /// More `hearsay agent` arguments for every agent.
    pub extra_args: Vec<String>,
    /// More arguments for agent `i` alone (e.g. its zone label).
    pub agent_args: Option<fn(usize) -> Vec<String>>,
    /// Each agent compiles into a cache of its own, as on separate hosts (else one
    /// cache for the cluster, as agents of one host share it).
    pub own_compile_cache: bool,
    /// Each agent on a host of its own (a network namespace, see `netns`) instead of
    /// all on 127.0.0.1; ports are numbered across the whole cluster either way.
    pub hosts: Option<Placement>,
}

impl Layout {
    /// Agent `i`'s address on port `port`: its host's, else 127.0.0.1.
    fn addr(&self, i: usize, port: u16) -> SocketAddr {
        match &self.hosts {
            Some(p) => SocketAddr::new(p.ips[p.host_of(i)], port),
            None => SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// The network namespace agent `i` runs in, if not this one.
    fn namespace(&self, i: usize) -> Option<&str> {
        let p = self.hosts.as_ref()?;
        Some(&p.namespaces[p.host_of(i)])
    }
}

/// A CA and one certificate for the whole local cluster (made once in `dir`), as
/// agent flags.
fn cluster_tls(dir: &Path) -> Result<Vec<String>> {
    let (ca, node) = (
        CertFiles::at(&dir.join("tls-ca")),
        CertFiles::at(&dir.join("tls")),
    );
    if !node.cert.exists() {
        keygen_tls::new_ca(&ca)?;
        keygen_tls::issue(&ca, &node, "hearsay-node")?;
    }
    let s = |p: &Path| p.display().to_string();
    Ok(vec![
        "--tls-cert".into(),
        s(&node.cert),
        "--tls-key".into(),
        s(&node.key),
        "--tls-ca".into(),
        s(&ca.cert),
    ])
}

/// One agent of a local cluster.
pub struct AgentProc {
    pub index: usize,
    pub gossip: SocketAddr,
    pub api: SocketAddr,
    pub data_dir: PathBuf,
    pub child: Child,
}

impl AgentProc {
    pub fn log(&self) -> PathBuf {
        self.data_dir.join("agent.log")
    }
}

/// A running local cluster; dropping it stops every agent and removes a temporary
/// directory.
pub struct Cluster {
    pub dir: PathBuf,
    pub agents: Vec<AgentProc>,
    remove_dir: bool,
    exe: PathBuf,
    layout: Layout,
    rendezvous: Vec<String>,
    agent_args: Vec<String>,
}

impl Cluster {
    /// Starts every agent (node `i` gossips on `port_base + 2i`, serves its API on the
    /// next port; the first `rendezvous` nodes are the rendezvous list) and waits until
    /// each API answers.
    pub async fn start(layout: &Layout, dir: Option<PathBuf>) -> Result<Cluster> {
        let last_port = layout.port_base as usize + 2 * layout.nodes;
        if layout.nodes == 0 || last_port > u16::MAX as usize {
            bail!(
                "{} nodes don't fit in ports {}..65535",
                layout.nodes,
                layout.port_base
            );
        }
        if layout.hosts.is_some() && std::env::var("HEARSAY_API_TOKEN").is_err() {
            bail!("agents on hosts of their own serve their API beyond 127.0.0.1: set HEARSAY_API_TOKEN (the agents and the clients read it)");
        }
        let (dir, remove_dir) = match dir {
            Some(d) => (d, false),
            None => {
                let d = std::env::temp_dir().join(format!("hearsay-cluster-{}", std::process::id()));
                let _ = fs::remove_dir_all(&d);
                (d, true)
            }
        };
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let exe = layout.exe.clone();
        // Secure by default: a deployment key made for this cluster, trusted by every
        // node, and held by the nodes so `hearsay deploy` through any of them is signed.
        let key = dir.join("deploy.key");
        if !key.exists() {
            hearsay_node::keys::write_deployment_key(&key, crate::keygen::secret_bytes()?)?;
        }
        let mut security = vec![
            "--trusted-keys".to_string(),
            hearsay_node::keys::public_path(&key).display().to_string(),
            "--signing-key".to_string(),
            key.display().to_string(),
        ];
        if layout.tls {
            security.extend(cluster_tls(&dir)?);
        }
        security.extend(layout.extra_args.iter().cloned());
        let rendezvous: Vec<String> = (0..layout.rendezvous.min(layout.nodes))
            .map(|i| layout.addr(i, layout.port_base + 2 * i as u16).to_string())
            .collect();
        let mut cluster = Cluster {
            dir: dir.clone(),
            agents: Vec::new(),
            remove_dir,
            exe,
            layout: layout.clone(),
            rendezvous,
            agent_args: security,
        };
        for _ in 0..layout.nodes {
            cluster.spawn_next()?;
        }
        // A minute, and a little more per agent for large clusters on a busy machine.
        let ready = Duration::from_secs(60 + layout.nodes as u64 / 5);
        cluster.wait_ready(ready).await?;
        Ok(cluster)
    }

    /// Starts agent number `agents.len()` (ports `port_base + 2i`, `+ 2i + 1`).
    fn spawn_next(&mut self) -> Result<usize> {
        let exe = self.exe.clone();
        self.spawn_next_running(&exe)
    }

    /// The same, with another `hearsay` binary.
    fn spawn_next_running(&mut self, exe: &Path) -> Result<usize> {
        let i = self.agents.len();
        let port = |k: usize| self.layout.port_base as usize + 2 * i + k;
        if port(1) > u16::MAX as usize {
            bail!("agent {i} doesn't fit in the ports below 65536");
        }
        let addr = |k: usize| self.layout.addr(i, port(k) as u16);
        let data_dir = self.dir.join(format!("node-{i}"));
        let (gossip, api) = (addr(0), addr(1));
        let mut args = self.agent_args.clone();
        if let Some(own) = self.layout.agent_args {
            args.extend(own(i));
        }
        let child = spawn(
            exe,
            self.layout.namespace(i),
            &data_dir,
            (gossip, api),
            &self.rendezvous,
            &self.layout,
            &args,
        )?;
        self.agents.push(AgentProc {
            index: i,
            gossip,
            api,
            data_dir,
            child,
        });
        Ok(i)
    }

    /// Starts one more agent like the others (a node joining) and returns its index
    /// once its API answers.
    pub async fn add_agent(&mut self) -> Result<usize> {
        let exe = self.exe.clone();
        self.add_agent_running(&exe).await
    }

    /// The same, running another `hearsay` binary (a copy of the cluster's: an agent
    /// that shares no code pages with the others, as alone on its host).
    pub async fn add_agent_running(&mut self, exe: &Path) -> Result<usize> {
        let i = self.spawn_next_running(exe)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = ApiClient::new(&self.agents[i].api.to_string())?;
        while client.status().await.is_err() {
            self.check_alive(i)?;
            if Instant::now() > deadline {
                bail!("agent {i} did not start within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(i)
    }

    /// SIGKILL to agent `i` (a crash), reaped.
    pub fn kill9(&mut self, i: usize) {
        let child = &mut self.agents[i].child;
        let _ = child.kill();
        let _ = child.wait();
    }

    pub fn apis(&self) -> Vec<String> {
        self.agents.iter().map(|a| a.api.to_string()).collect()
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut pending: Vec<usize> = (0..self.agents.len()).collect();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for i in pending {
                self.check_alive(i)?;
                let client = ApiClient::new(&self.agents[i].api.to_string())?;
                if client.status().await.is_err() {
                    still.push(i);
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "{} agents did not start within {} s",
                    pending.len(),
                    timeout.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Keeps the data directory (and the agents' logs) when the cluster drops, e.g.
    /// after a failed check.
    pub fn keep_dir(&mut self) {
        self.remove_dir = false;
    }

    /// An error (with the end of its log) if agent `i` has exited.
    pub fn check_alive(&mut self, i: usize) -> Result<()> {
        let a = &mut self.agents[i];
        if let Ok(Some(status)) = a.child.try_wait() {
            let log = fs::read_to_string(a.log()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(3).collect();
            bail!(
                "agent {} exited ({status}): {} [log: {}]",
                a.index,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
                a.log().display()
            );
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        stop_all(&mut self.agents);
        if self.remove_dir {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn spawn(
    exe: &Path,
    namespace: Option<&str>,
    data_dir: &Path,
    (gossip, api): (SocketAddr, SocketAddr),
    rendezvous: &[String],
    layout: &Layout,
    security: &[String],
) -> Result<Child> {
    fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let log = fs::File::create(data_dir.join("agent.log")).context("cannot create the agent's log")?;
    // `ip netns exec` enters the namespace and execs the agent: the child is the agent.
    let mut cmd = match namespace {
        Some(ns) => {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", ns]).arg(exe);
            cmd
        }
        None => Command::new(exe),
    };
    cmd.arg("agent")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--gossip", &gossip.to_string(), "--api", &api.to_string()])
        .args(["--interval-ms", &layout.interval_ms.to_string()])
        .args(["--backup-interval-ms", &layout.backup_interval_ms.to_string()])
        .args(security)
        .arg("--compile-cache")
        .arg(match layout.own_compile_cache {
            true => data_dir.join("compiled"),
            false => data_dir.parent().unwrap_or(data_dir).join("compiled"),
        })
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    if !rendezvous.is_empty() {
        cmd.arg("--rendezvous").arg(rendezvous.join(","));
    }
    stop_with_parent(&mut cmd);
    cmd.spawn()
        .with_context(|| format!("cannot start {}", exe.display()))
}

/// Asks the kernel to stop the child when its parent dies (Linux only; elsewhere the
/// cluster stops its agents when it drops, and a killed parent leaves them running).
#[cfg(target_os = "linux")]
fn stop_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to send SIGTERM to
    // the child when this (single-threaded runtime's) thread exits.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn stop_with_parent(_cmd: &mut Command) {}

/// SIGTERM to every agent, then SIGKILL to any still running after 3 s.
pub fn stop_all(agents: &mut [AgentProc]) {
    for a in agents.iter_mut() {
        // Not one already reaped (killed on purpose): its pid may belong to another
        // process by now.
        if matches!(a.child.try_wait(), Ok(None)) {
            signal(a.child.id(), libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    for a in agents.iter_mut() {
        while matches!(a.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(a.child.try_wait(), Ok(None)) {
            let _ = a.child.kill();
            let _ = a.child.wait();
        }
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: sending a signal to a child we started (and have not yet reaped).
        unsafe {
            libc::kill(pid, sig);
        }
    }
}
