//! Starting an agent: open the data directory, resume the configuration and the code
//! store, build the core, the module host and the HTTP client, bind both listeners,
//! and run the actor, the sender and the listeners until shutdown.

use std::future::Future;
use std::sync::Arc;

use hearsay_core::trust::TrustedKeys;
use hearsay_core::{Core, CoreInit, Driver, Settings};
use hearsay_runtime::{Limits, ModuleHost, Runtime};
use tokio::net::TcpListener;

use crate::actor::Actor;
use crate::api_guard::Guard;
use crate::api_http::{self, ApiState};
use crate::config::AgentConfig;
use crate::counters::NodeCounters;
use crate::datadir::DataDir;
use crate::effects::NodeEffects;
use crate::error::NodeError;
use crate::fsutil::random_u64;
use crate::gossip_http::{self, GossipState};
use crate::inbox;
use crate::listener;
use crate::modules::Modules;
use crate::peer_client::PeerClient;
use crate::persister::Persister;
use crate::sender;
use crate::tls::Tls;

/// Runs an agent until `shutdown` completes or a listener fails.
pub async fn run(config: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    config.check()?;
    raise_open_file_limit();
    crate::one_malloc_arena();
    let counters = Arc::new(NodeCounters::default());
    let data = DataDir::open(&config.data_dir)?;
    let id = data.node_id()?;
    let configuration = data.configuration()?;
    let (store, scan) = data.code_store()?;
    for (path, reason) in &scan.rejected {
        tracing::warn!(path = %path.display(), "removed bad code from the store: {reason}");
        counters.store_rejected_files.inc();
    }

    let addr = config.advertised();
    let (rendezvous, unresolved) = crate::rendezvous::resolve(&config.rendezvous).await;
    for (name, why) in &unresolved {
        tracing::warn!(rendezvous = %name, "rendezvous name does not resolve (yet): {why}");
    }
    let settings = Settings {
        backup_interval_ms: config.backup_interval_ms,
        rendezvous: rendezvous.clone(),
        trusted_keys: TrustedKeys::new(config.trusted_keys.clone()),
        signing_key: config.signing_key.clone(),
        cluster_key: config.cluster_key.clone(),
        ..Settings::default()
    };
    let seed = random_u64();
    let configured = configuration.len();
    let core = Core::new(CoreInit {
        id,
        addr,
        settings,
        configuration,
        code: scan.versions,
        ran: data.ran(),
        seed,
    });

    let mut runtime = Runtime::with_disk_cache(Limits::default(), config.compile_cache.clone())
        .map_err(NodeError::Setup)?;
    if let Some(exe) = &config.compiler_process {
        runtime = runtime.with_compiler_process(exe.clone());
    }
    if config.baseline_compile {
        runtime = runtime.with_baseline_tier().map_err(NodeError::Setup)?;
    }
    let runtime = Arc::new(runtime);
    let bootstrap = crate::rendezvous::bootstrap_peers(&rendezvous);
    let mut host = ModuleHost::new(runtime.clone(), addr, bootstrap, seed.rotate_left(17));
    host.set_labels(config.labels.clone());
    // Ids start at the start time in µs: a client's last id is never reused after a
    // restart.
    let event_log = Arc::new(crate::event_log::EventLog::new(
        crate::now_ms().saturating_mul(1000),
    ));
    let tls = config.tls.as_ref().map(Tls::load).transpose()?;
    let client = PeerClient::new(tls.as_ref())?;

    let bind = |what: &'static str, at| async move {
        TcpListener::bind(at).await.map_err(|source| NodeError::Bind {
            what,
            addr: at,
            source,
        })
    };
    let gossip_listener = bind("gossip", config.gossip).await?;
    let api_listener = bind("api", config.api).await?;

    let (inbox, queues) = inbox::channels();
    let sender = sender::spawn(
        client.clone(),
        counters.clone(),
        inbox.events.clone(),
        sender::Impairment {
            loss: config.gossip_loss,
            delay_ms: config.gossip_delay_ms,
            jitter_ms: config.gossip_jitter_ms,
        },
    );
    let modules = Modules::new(
        host,
        runtime.clone(),
        store.clone(),
        inbox.events.clone(),
        counters.clone(),
        event_log.clone(),
    );
    let tls_acceptor = tls
        .as_ref()
        .map(|t| tokio_rustls::TlsAcceptor::from(t.server.clone()));
    let gossip = gossip_http::router(GossipState {
        inbox: inbox.clone(),
        store: store.clone(),
        counters: counters.clone(),
    });
    let (gossip_limits, api_limits) = config.listener_limits();
    let gossip_served = listener::serve(
        "gossip",
        gossip_listener,
        gossip,
        gossip_limits,
        tls_acceptor,
        counters.clone(),
    );
    let api = api_http::router(
        ApiState {
            events: event_log.clone(),
            api: inbox.api.clone(),
            runtime: runtime.clone(),
            counters: counters.clone(),
            self_addr: addr,
            token: config.api_token.as_deref().map(Arc::from),
        },
        Guard::new(config.api, &config.api_hosts, counters.clone()),
    );
    let api_served = listener::serve("api", api_listener, api, api_limits, None, counters.clone());
    let persister = Persister::spawn(data, counters.clone())
        .map_err(|e| NodeError::Setup(format!("cannot start the persisting thread: {e}")))?;
    let fx = NodeEffects::new(
        modules,
        store,
        persister,
        sender,
        inbox.events.clone(),
        client,
        counters,
        event_log,
    );
    let actor = Actor {
        labels: config.labels.clone(),
        driver: Driver::new(core, config.interval_ms, crate::now_ms()),
        fx,
        rendezvous: rendezvous.clone(),
        api_addr: config.api,
        security: crate::api_types::SecurityReport {
            secure: !config.trusted_keys.is_empty(),
            trusted_keys: config.trusted_keys.len(),
            signs_deployments: config.signing_key.is_some(),
            cluster_key: config.cluster_key.is_some(),
            tls: tls.is_some(),
        },
    };

    if config.trusted_keys.is_empty() {
        tracing::warn!(
            "INSECURE: no trusted deployment keys (--trusted-keys): anyone who reaches this node's \
             gossip port can deploy code to the whole cluster"
        );
    }
    if config.cluster_key.is_none() {
        tracing::warn!("gossip is not authenticated (no --cluster-key)");
    }
    if config.tls.is_none() {
        tracing::info!("gossip travels in clear text (no --tls-cert)");
    }
    tracing::info!(
        node_id = %id,
        gossip = %addr,
        api = %config.api,
        data_dir = %config.data_dir.display(),
        modules = configured,
        "hearsay agent ready"
    );
    let api_calls = inbox.api.clone();
    if crate::rendezvous::has_names(&config.rendezvous) {
        let calls = inbox.api.clone();
        tokio::spawn(crate::rendezvous::refresh_with(
            config.rendezvous.clone(),
            rendezvous,
            std::time::Duration::from_millis(config.rendezvous_refresh_ms.max(100)),
            |name| async move { tokio::net::lookup_host(name).await.map(|found| found.collect()) },
            move |now| {
                !matches!(
                    calls.try_send(inbox::ApiCall::Rendezvous(now)),
                    Err(tokio::sync::mpsc::error::TrySendError::Closed(_))
                )
            },
        ));
    }
    tokio::spawn(crate::trim::periodically());
    let actor = actor.run(queues);
    tokio::pin!(actor);
    tokio::select! {
        r = gossip_served => r.map_err(|source| NodeError::Serve { what: "gossip", source }),
        r = api_served => r.map_err(|source| NodeError::Serve { what: "api", source }),
        () = &mut actor => Ok(()),
        () = shutdown => {
            tracing::info!("shutting down: modules say goodbye");
            leave(api_calls, actor).await;
            Ok(())
        }
    }
}

/// A graceful leave: every module's `hearsay_leave` runs (ABI v2) while the actor
/// goes on, and what they send has a moment to go out; at most `LEAVE_TIMEOUT`.
async fn leave(api_calls: tokio::sync::mpsc::Sender<inbox::ApiCall>, actor: impl Future<Output = ()>) {
    const LEAVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
    const FLUSH: std::time::Duration = std::time::Duration::from_millis(300);
    let (reply, done) = tokio::sync::oneshot::channel();
    let farewell = async {
        if api_calls.send(inbox::ApiCall::Leave { reply }).await.is_ok() && done.await.is_ok() {
            tokio::time::sleep(FLUSH).await;
        }
    };
    let _ = tokio::time::timeout(LEAVE_TIMEOUT, async {
        tokio::select! {
            () = actor => {}
            () = farewell => {}
        }
    })
    .await;
}

/// Raises the soft limit on open files to the hard limit: each connection is a file,
/// and a listener at its connection cap must still be able to accept (and close) one
/// more, open the store and reach its peers.
fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }
}
