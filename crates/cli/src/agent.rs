//! `hearsay agent`: runs one node until Ctrl-C or SIGTERM. Settings come from flags,
//! then an optional TOML file (`--config`), then defaults.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use hearsay_node::keys;
use hearsay_node::tls::TlsFiles;
use serde::Deserialize;

use hearsay_node::rendezvous::RendezvousEntry;
use hearsay_node::AgentConfig;

/// Arguments of `hearsay agent`.
#[derive(Args, Default)]
pub struct AgentArgs {
    /// Data directory: node id, configuration, code store.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Gossip listener address [default: 127.0.0.1:7000].
    #[arg(long)]
    gossip: Option<SocketAddr>,
    /// Management API address [default: 127.0.0.1:7001].
    #[arg(long)]
    api: Option<SocketAddr>,
    /// The gossip address peers reach this node at, if not --gossip.
    #[arg(long)]
    advertise: Option<SocketAddr>,
    /// Rendezvous nodes' gossip addresses, comma-separated: IP:PORT, [IPv6]:PORT or
    /// NAME:PORT (a DNS name, resolved at start and again every
    /// --rendezvous-refresh-ms, e.g. a Kubernetes headless Service's pods).
    #[arg(long, value_delimiter = ',', value_parser = RendezvousEntry::parse)]
    rendezvous: Option<Vec<RendezvousEntry>>,
    /// How often rendezvous DNS names are resolved again, in ms [default: 30000].
    #[arg(long)]
    rendezvous_refresh_ms: Option<u64>,
    /// Module gossip interval in ms [default: 200].
    #[arg(long)]
    interval_ms: Option<u64>,
    /// Backup gossip interval in ms [default: 1000]; it doubles while every exchange
    /// agrees, up to 8 times this.
    #[arg(long)]
    backup_interval_ms: Option<u64>,
    /// Directory of compiled module code, shared by the agents of this host so each
    /// version is compiled once [default: $XDG_CACHE_HOME/hearsay/compiled or
    /// ~/.cache/hearsay/compiled]. Its files are executable code: keep it as private
    /// as the hearsay binary.
    #[arg(long)]
    compile_cache: Option<PathBuf>,
    /// Run a new version first on code from the baseline compiler (Winch, a few ms),
    /// then move it onto optimised code compiled in the background; false: wait for the
    /// optimised code [default: true].
    #[arg(long)]
    baseline_compile: Option<bool>,
    /// Public deployment keys (FILE.pub from `hearsay keygen`) whose signed deployments
    /// this node accepts, comma-separated. Without any, the node runs INSECURE and
    /// accepts unsigned deployments from anyone who reaches its gossip port.
    #[arg(long, value_delimiter = ',')]
    trusted_keys: Option<Vec<PathBuf>>,
    /// A deployment secret key this node signs its own API deployments with.
    #[arg(long)]
    signing_key: Option<PathBuf>,
    /// The cluster key (`hearsay keygen --cluster`): authenticates every envelope.
    #[arg(long)]
    cluster_key: Option<PathBuf>,
    /// Bearer token the management API requires (mandatory when --api is not
    /// loopback), at least 16 characters. On the command line every local user can
    /// read it: prefer --api-token-file or $HEARSAY_API_TOKEN.
    #[arg(long)]
    api_token: Option<String>,
    /// A file holding the API token (mode 0600).
    #[arg(long, conflicts_with = "api_token")]
    api_token_file: Option<PathBuf>,
    /// A name the management API answers to besides its own address (the Host a
    /// client sends, e.g. a DNS name in front of it); repeatable. Requests naming any
    /// other host are refused (DNS rebinding).
    #[arg(long = "api-host", value_name = "NAME")]
    api_hosts: Vec<String>,
    /// A label of this node, KEY=VALUE (repeatable; e.g. zone=/eu/r1, role=db): shown
    /// in status and readable by modules (ABI v2). Keys `[a-z0-9_.-]`, 1–64 bytes;
    /// values at most 256 bytes.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// TLS for gossip: this node's certificate (PEM; `hearsay keygen --tls`). Needs
    /// --tls-key and --tls-ca; then the node serves and speaks only HTTPS to peers,
    /// both sides presenting certificates of the cluster CA.
    #[arg(long, requires_all = ["tls_key", "tls_ca"])]
    tls_cert: Option<PathBuf>,
    /// TLS: the certificate's private key (PEM, mode 0600).
    #[arg(long, requires_all = ["tls_cert", "tls_ca"])]
    tls_key: Option<PathBuf>,
    /// TLS: the cluster CA certificate(s) peers must chain to (PEM).
    #[arg(long, requires_all = ["tls_cert", "tls_key"])]
    tls_ca: Option<PathBuf>,
    /// For experiments: drop this fraction of outgoing gossip batches (0–1), to
    /// measure the protocols under loss with real agents [default: 0].
    #[arg(long)]
    gossip_loss: Option<f64>,
    /// For experiments: delay every outgoing gossip batch by this many ms, to emulate
    /// latency between hosts where the kernel has no netem [default: 0].
    #[arg(long)]
    gossip_delay_ms: Option<u64>,
    /// For experiments: vary that delay by up to this many ms either way, uniformly
    /// (at most the delay) [default: 0].
    #[arg(long)]
    gossip_jitter_ms: Option<u64>,
    /// Connections the gossip listener keeps open at once; at the cap, the longest idle
    /// one is closed for a new one (the API keeps a quarter as many) [default: 1024].
    #[arg(long)]
    max_connections: Option<usize>,
    /// Time a client has to send a request's headers, which is also how long a
    /// keep-alive connection may sit idle, in ms [default: 30000].
    #[arg(long)]
    header_timeout_ms: Option<u64>,
    /// How log lines are written to stderr: `text` for people, `json` (one object a
    /// line) for log collectors [default: text].
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Which log lines are written: `error`, `warn`, `info`, `debug` or `trace`, or a
    /// filter such as `info,hearsay_node=debug`; $RUST_LOG wins when set [default:
    /// info].
    #[arg(long)]
    log_level: Option<String>,
    /// A TOML file with any of the settings above (snake_case keys); flags win.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// How log lines look.
#[derive(clap::ValueEnum, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// Where the agent's logs go, from flags and file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Logging {
    format: LogFormat,
    filter: String,
}

/// The TOML file's keys.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    gossip: Option<SocketAddr>,
    api: Option<SocketAddr>,
    advertise: Option<SocketAddr>,
    rendezvous: Option<Vec<String>>,
    rendezvous_refresh_ms: Option<u64>,
    interval_ms: Option<u64>,
    backup_interval_ms: Option<u64>,
    compile_cache: Option<PathBuf>,
    baseline_compile: Option<bool>,
    trusted_keys: Option<Vec<PathBuf>>,
    signing_key: Option<PathBuf>,
    cluster_key: Option<PathBuf>,
    api_token: Option<String>,
    api_token_file: Option<PathBuf>,
    api_hosts: Option<Vec<String>>,
    labels: Option<std::collections::BTreeMap<String, String>>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    gossip_loss: Option<f64>,
    gossip_delay_ms: Option<u64>,
    gossip_jitter_ms: Option<u64>,
    max_connections: Option<usize>,
    header_timeout_ms: Option<u64>,
    log_format: Option<LogFormat>,
    log_level: Option<String>,
}

fn config(args: AgentArgs) -> Result<(AgentConfig, Logging)> {
    let file = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let file = toml::from_str::<FileConfig>(&text)
                .with_context(|| format!("{} is not a valid agent config", path.display()))?;
            if file.api_token.is_some() {
                keys::ensure_private(path)
                    .with_context(|| format!("{} holds api_token, so it is a secret", path.display()))?;
            }
            file
        }
        None => FileConfig::default(),
    };
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .context("no data directory: pass --data-dir DIR (or data_dir in --config)")?;
    let gossip = args
        .gossip
        .or(file.gossip)
        .unwrap_or(([127, 0, 0, 1], 7000).into());
    let api = args.api.or(file.api).unwrap_or(([127, 0, 0, 1], 7001).into());
    let mut c = AgentConfig::new(data_dir, gossip, api);
    c.advertise = args.advertise.or(file.advertise);
    c.rendezvous = match (args.rendezvous, file.rendezvous) {
        (Some(entries), _) => entries,
        (None, Some(texts)) => texts
            .iter()
            .map(|t| RendezvousEntry::parse(t))
            .collect::<Result<_, _>>()
            .map_err(anyhow::Error::msg)?,
        (None, None) => Vec::new(),
    };
    c.rendezvous_refresh_ms = args
        .rendezvous_refresh_ms
        .or(file.rendezvous_refresh_ms)
        .unwrap_or(c.rendezvous_refresh_ms);
    c.interval_ms = args.interval_ms.or(file.interval_ms).unwrap_or(c.interval_ms);
    c.backup_interval_ms = args
        .backup_interval_ms
        .or(file.backup_interval_ms)
        .unwrap_or(c.backup_interval_ms);
    c.compile_cache = args
        .compile_cache
        .or(file.compile_cache)
        .or_else(default_compile_cache);
    c.baseline_compile = args
        .baseline_compile
        .or(file.baseline_compile)
        .unwrap_or(c.baseline_compile);
    // This very binary, even if its file was replaced since (an upgrade in progress):
    // the compiler process must build the agent's own engine.
    c.compiler_process = Some(PathBuf::from("/proc/self/exe"));
    for path in args.trusted_keys.or(file.trusted_keys).unwrap_or_default() {
        c.trusted_keys.push(keys::read_public_key(&path)?);
    }
    c.signing_key = args
        .signing_key
        .or(file.signing_key)
        .map(|p| keys::read_signing_key(&p))
        .transpose()?;
    c.cluster_key = args
        .cluster_key
        .or(file.cluster_key)
        .map(|p| keys::read_cluster_key(&p))
        .transpose()?;
    if args.api_token.is_some() {
        esay!(
            "hearsay agent: warning: --api-token is visible to every local user in the process list; use --api-token-file or $HEARSAY_API_TOKEN"
        );
    }
    let token_file = match args.api_token_file.or(file.api_token_file) {
        Some(path) => {
            keys::ensure_private(&path)?;
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            Some(text.trim().to_string())
        }
        None => None,
    };
    c.api_token = args
        .api_token
        .or(token_file)
        .or(file.api_token)
        .or_else(|| std::env::var("HEARSAY_API_TOKEN").ok());
    c.api_hosts = if args.api_hosts.is_empty() {
        file.api_hosts.unwrap_or_default()
    } else {
        args.api_hosts
    };
    c.labels = file.labels.unwrap_or_default();
    for text in &args.labels {
        let (key, value) = text
            .split_once('=')
            .with_context(|| format!("--label {text:?}: expected KEY=VALUE"))?;
        c.labels.insert(key.to_string(), value.to_string());
    }
    for (key, value) in &c.labels {
        check_label(key, value)?;
    }
    c.tls = match (
        args.tls_cert.or(file.tls_cert),
        args.tls_key.or(file.tls_key),
        args.tls_ca.or(file.tls_ca),
    ) {
        (Some(cert), Some(key), Some(ca)) => Some(TlsFiles { cert, key, ca }),
        (None, None, None) => None,
        _ => anyhow::bail!("TLS needs all three of tls_cert, tls_key and tls_ca"),
    };
    c.gossip_loss = args.gossip_loss.or(file.gossip_loss).unwrap_or(0.0);
    c.gossip_delay_ms = args.gossip_delay_ms.or(file.gossip_delay_ms).unwrap_or(0);
    c.gossip_jitter_ms = args.gossip_jitter_ms.or(file.gossip_jitter_ms).unwrap_or(0);
    c.max_connections = args
        .max_connections
        .or(file.max_connections)
        .unwrap_or(c.max_connections);
    c.header_timeout_ms = args
        .header_timeout_ms
        .or(file.header_timeout_ms)
        .unwrap_or(c.header_timeout_ms);
    let logging = Logging {
        format: args.log_format.or(file.log_format).unwrap_or_default(),
        filter: args
            .log_level
            .or(file.log_level)
            .unwrap_or_else(|| "info".to_string()),
    };
    Ok((c, logging))
}

/// Starts writing the agent's logs to stderr: $RUST_LOG if set, else the level asked.
fn start_logging(logging: &Logging) -> Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => tracing_subscriber::EnvFilter::try_new(&env)
            .with_context(|| format!("RUST_LOG={env:?} is not a log filter"))?,
        _ => tracing_subscriber::EnvFilter::try_new(&logging.filter).with_context(|| {
            format!(
                "--log-level {:?}: expected error, warn, info, debug, trace or a filter like info,hearsay_node=debug",
                logging.filter
            )
        })?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match logging.format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_current_span(false).init(),
    }
    Ok(())
}

/// `$XDG_CACHE_HOME/hearsay/compiled`, else `~/.cache/hearsay/compiled`.
fn default_compile_cache() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("hearsay").join("compiled"))
}

pub fn run(args: AgentArgs) -> Result<()> {
    let (config, logging) = config(args)?;
    start_logging(&logging)?;
    crate::block_on(async move {
        hearsay_node::run(config, shutdown_signal()).await?;
        Ok(())
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// Refuses a label a module or a table could not carry safely.
fn check_label(key: &str, value: &str) -> Result<()> {
    let key_ok = (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if !key_ok {
        anyhow::bail!("label key {key:?} must be 1-64 bytes of a-z, 0-9, '_', '.', '-'");
    }
    if value.len() > 256 || value.chars().any(char::is_control) {
        anyhow::bail!("label {key}: the value must be at most 256 bytes, without control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file() {
        let dir = std::env::temp_dir().join(format!("hearsay-agent-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("agent.toml");
        std::fs::write(
            &file,
            "data_dir = \"/d\"\ngossip = \"127.0.0.1:9000\"\nrendezvous = [\"127.0.0.1:9000\"]\ninterval_ms = 50\n",
        )
        .unwrap();
        let args = AgentArgs {
            api: Some("127.0.0.1:9101".parse().unwrap()),
            interval_ms: Some(100),
            config: Some(file),
            ..AgentArgs::default()
        };
        let (c, logging) = config(args).unwrap();
        assert_eq!(logging.format, LogFormat::Text);
        assert_eq!(logging.filter, "info");
        assert_eq!(c.data_dir, PathBuf::from("/d"));
        assert_eq!(c.gossip.port(), 9000);
        assert_eq!(c.api.port(), 9101);
        assert_eq!(c.rendezvous.len(), 1);
        assert_eq!(c.interval_ms, 100);
        assert_eq!(c.backup_interval_ms, 1000);
        std::fs::write(dir.join("bad.toml"), "colour = 1\n").unwrap();
        let mut args = AgentArgs {
            config: Some(dir.join("bad.toml")),
            ..AgentArgs::default()
        };
        assert!(config(args).is_err());
        args = AgentArgs::default();
        assert!(config(args).unwrap_err().to_string().contains("--data-dir"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_flag_is_a_key_of_the_file() {
        use clap::Args as _;
        let command = AgentArgs::augment_args(clap::Command::new("agent"));
        let mut keys = 0;
        for arg in command.get_arguments() {
            let key = arg.get_id().as_str();
            if key == "config" {
                continue;
            }
            keys += 1;
            // A value of the wrong type is another error than an unknown key.
            let error = toml::from_str::<FileConfig>(&format!("{key} = 0"))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                !error.contains("unknown field"),
                "--{key} has no key in the file: {error}"
            );
        }
        assert!(keys >= 20, "{keys}");
    }

    #[test]
    fn the_example_file_and_the_log_settings_parse() {
        let example: FileConfig = toml::from_str(include_str!("../../../packaging/agent.toml")).unwrap();
        assert_eq!(example.labels.unwrap()["zone"], "/eu/rack1");
        let file: FileConfig = toml::from_str("log_format = \"json\"\nlog_level = \"debug\"").unwrap();
        assert_eq!(file.log_format, Some(LogFormat::Json));
        assert!(toml::from_str::<FileConfig>("log_format = \"xml\"").is_err());
        let bad = Logging {
            format: LogFormat::Text,
            filter: "=nonsense=".to_string(),
        };
        std::env::remove_var("RUST_LOG");
        assert!(start_logging(&bad)
            .unwrap_err()
            .to_string()
            .contains("--log-level"));
    }
}
