//! Hosts of their own on one machine: Linux network namespaces, one per host, each
//! joined to this namespace by a veth pair, with this namespace routing between them
//! (as a top-of-rack router would). Agents in different hosts talk over a real
//! (virtual) link with an address of their own, and the machine's own namespace
//! reaches every host directly. Routed, not bridged: on one bridge a thousand hosts
//! are one broadcast domain, every ARP request is copied to all of them, and the
//! machine spends its time in softirq. Made with iproute2's `ip` (root only) and
//! removed when the `Hosts` drop, or by [`remove_all`] when a signal stops the process; loss and delay are the agents' own
//! (`--gossip-loss`, `--gossip-delay-ms`), since this kernel has no netem.
//!
//! Hand-written over a netlink crate: a few fixed `ip` commands per host, run once per
//! test or bench, and `ip -batch` makes a thousand hosts in seconds.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

/// Where the agents of a local cluster run when not all on 127.0.0.1: agent `i` is on
/// host `i % hosts`, in that namespace, at that address.
#[derive(Debug, Clone)]
pub struct Placement {
    pub namespaces: Vec<String>,
    pub ips: Vec<IpAddr>,
}

impl Placement {
    pub fn host_of(&self, agent: usize) -> usize {
        agent % self.ips.len()
    }
}

/// A set of namespaces routed through this one; dropped, they are removed and the
/// kernel settings changed for them put back.
pub struct Hosts {
    /// Names the set: namespaces `hs{tag}-{h}`, veths `hs{tag}v{h}`.
    tag: u8,
    placement: Placement,
    /// Kernel settings changed, with their value before (see `set_at_least`).
    settings: Vec<Setting>,
}

/// A kernel setting changed for a set of hosts: its path, the value before, ours.
type Setting = (String, u64, u64);

/// The sets of hosts that exist now (tag, settings changed for them), for
/// [`remove_all`]: a process that is told to stop goes without running `Drop`.
static LIVE: Mutex<Vec<(u8, Vec<Setting>)>> = Mutex::new(Vec::new());

/// Removes every set of hosts this process made and puts the kernel settings back:
/// for a signal handler, before the process exits without running `Drop`.
pub fn remove_all() {
    // Held throughout: a `Drop` on another thread (the bench ending as its hosts
    // vanish) waits for this instead of letting the process exit halfway.
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    for (tag, settings) in std::mem::take(&mut *live) {
        // Not waiting for the veths: the agents inside hold them until this process
        // has exited (they stop when it does), and the next set waits instead.
        undo(tag, &settings, false);
    }
}

/// Removes set `tag` and puts its settings back (unless someone, another set of hosts,
/// changed one since).
fn undo(tag: u8, settings: &[Setting], wait: bool) {
    remove(tag, wait);
    for (path, before, ours) in settings.iter().rev() {
        if read_u64(path) == Some(*ours) {
            let _ = std::fs::write(path, before.to_string());
        }
    }
}

/// Why namespaces can't be made here, if they can't (not root, no `ip`).
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("network namespaces need root".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => None,
        _ => Some("network namespaces need iproute2's `ip` (apt-get install iproute2)".into()),
    }
}

impl Hosts {
    /// Makes `n` hosts on 10.(200 + tag).0.0/16: host `h` is namespace `hs{tag}-{h}`
    /// at the (h + 2)th address, its veth `hs{tag}v{h}` here; every veth here holds
    /// the gateway address 10.(200 + tag).0.1. `tag` (0–49) keeps two sets apart (a
    /// bench and a test at once); leftovers of an earlier set with the same tag are
    /// removed first.
    pub fn create(tag: u8, n: usize) -> Result<Hosts> {
        if let Some(why) = unavailable() {
            bail!("{why}");
        }
        if tag >= 50 || n == 0 || n > 60_000 {
            bail!("namespaces: tag {tag} (0–49), {n} hosts (1–60000)");
        }
        let net = 200 + tag;
        remove(tag, true);
        let namespaces: Vec<String> = (0..n).map(|h| format!("hs{tag}-{h}")).collect();
        let ips: Vec<Ipv4Addr> = (0..n)
            .map(|h| Ipv4Addr::new(10, net, ((h + 2) >> 8) as u8, ((h + 2) & 255) as u8))
            .collect();
        let mut hosts = Hosts {
            tag,
            placement: Placement {
                namespaces: namespaces.clone(),
                ips: ips.iter().map(|&ip| IpAddr::V4(ip)).collect(),
            },
            settings: vec![],
        };
        // This namespace routes between the hosts; its ARP table (one for all
        // namespaces, 1,024 entries by default) holds an entry per host.
        hosts.set_at_least("/proc/sys/net/ipv4/ip_forward", 1);
        hosts.set_at_least(
            "/proc/sys/net/ipv4/neigh/default/gc_thresh3",
            (n as u64 * 8).max(1024),
        );
        hosts.set_at_least(
            "/proc/sys/net/ipv4/neigh/default/gc_thresh2",
            (n as u64 * 4).max(512),
        );
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((tag, hosts.settings.clone()));
        let gateway = format!("10.{net}.0.1");
        let mut here = String::new();
        for (h, (ns, ip)) in namespaces.iter().zip(&ips).enumerate() {
            let veth = format!("hs{tag}v{h}");
            here += &format!("netns add {ns}\n");
            here += &format!("link add {veth} type veth peer name eth0 netns {ns}\n");
            here += &format!("addr add {gateway}/32 dev {veth}\n");
            here += &format!("link set {veth} up\n");
            here += &format!("route add {ip}/32 dev {veth}\n");
        }
        batch(&[], &here)?;
        for (ns, ip) in namespaces.iter().zip(&ips) {
            batch(
                &["-n", ns],
                &format!(
                    "link set lo up\naddr add {ip}/32 dev eth0\nlink set eth0 up\n\
                     route add {gateway}/32 dev eth0 scope link\n\
                     route add 10.{net}.0.0/16 via {gateway} dev eth0\n"
                ),
            )?;
        }
        Ok(hosts)
    }

    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Sets `HEARSAY_API_TOKEN` for this process and the agents it starts, unless set:
    /// an agent's API beyond 127.0.0.1 needs a token, and the API clients send it. Call
    /// it before starting other threads (it changes the environment).
    pub fn api_token_in_env() -> Result<()> {
        if std::env::var("HEARSAY_API_TOKEN").is_err() {
            let token: String = crate::keygen::secret_bytes()?
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            std::env::set_var("HEARSAY_API_TOKEN", token);
        }
        Ok(())
    }

    /// Raises a kernel setting to at least `value`, remembering the value before.
    fn set_at_least(&mut self, path: &str, value: u64) {
        if let Some(before) = read_u64(path) {
            if before < value && std::fs::write(path, value.to_string()).is_ok() {
                self.settings.push((path.to_string(), before, value));
            }
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        let ours = live.iter().position(|(tag, _)| *tag == self.tag);
        // Gone already if `remove_all` ran.
        if let Some(at) = ours {
            live.remove(at);
            drop(live);
            undo(self.tag, &self.settings, true);
        }
    }
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Runs `ip ARGS -batch -` with these commands, one per line.
fn batch(args: &[&str], commands: &str) -> Result<()> {
    let mut child = Command::new("ip")
        .args(args)
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run ip")?;
    child
        .stdin
        .take()
        .context("ip's stdin")?
        .write_all(commands.as_bytes())
        .context("writing to ip")?;
    let out = child.wait_with_output().context("waiting for ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Deletes every namespace of set `tag` and its veths here, quiet about what isn't
/// there. A deleted namespace lingers while anything holds it — a process still in it,
/// or one of its TCP sockets in TIME_WAIT, for a minute — and its veth with it, so the
/// veths are deleted here too (that takes the routes along); with `wait`, waits (up to
/// 30 s) until they are gone, since a new set can't reuse the names before.
fn remove(tag: u8, wait: bool) {
    let listed = Command::new("ip").args(["netns", "list"]).output();
    let listed = listed.map(|out| out.stdout).unwrap_or_default();
    let prefix = format!("hs{tag}-");
    let mut commands: String = String::from_utf8_lossy(&listed)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(&prefix))
        .map(|name| format!("netns delete {name}\n"))
        .collect();
    let veths = format!("hs{tag}v");
    let ours = || -> Vec<String> {
        std::fs::read_dir("/sys/class/net")
            .map(|dir| {
                dir.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| name.starts_with(&veths))
                    .collect()
            })
            .unwrap_or_default()
    };
    for veth in ours() {
        commands += &format!("link delete {veth}\n");
    }
    if !commands.is_empty() {
        // `-force`: go on past a line that fails.
        let _ = batch(&["-force"], &commands);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while wait && !ours().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
