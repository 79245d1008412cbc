//! Serving a router on a TCP listener (plain, or TLS for gossip) with the limits every
//! listener needs against strangers: a cap on open connections, a deadline for a
//! request's headers (which is also how long a keep-alive connection may sit idle),
//! and bounded headers.
//!
//! When the cap is reached, the connection idle the longest — waiting for a request
//! that hasn't come, or hasn't finished arriving — is closed to make room: the
//! slowloris and the abandoned socket go, the peer that gossips every round stays.
//! Only when every open connection is in the middle of a request is a new one refused. Written on hyper-util directly: axum's `serve` has none of these knobs,
//! and axum-server's TLS feature pulls in aws-lc-rs (a long C/cmake build).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use tokio_rustls::TlsAcceptor;

use crate::counters::NodeCounters;
use crate::json_errors::JsonErrors;

/// A TLS peer that doesn't finish its handshake in this time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection younger than this is never closed to make room.
const GRACE: Duration = Duration::from_secs(1);

/// What one listener allows.
#[derive(Debug, Clone, Copy)]
pub struct ListenerLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Time to send a request's headers, from the connection's start or the end of
    /// the previous request.
    pub header_read_timeout: Duration,
    /// Bytes of a request's head hyper buffers; larger heads are refused.
    pub max_head_bytes: usize,
    /// Whether responses carry a `Date` header. Nobody reads it on a gossip answer,
    /// and there it was 37 of the ~300 bytes an idle exchange puts on the wire.
    pub date_header: bool,
}

impl ListenerLimits {
    /// The gossip listener: peers gossip every round, so an idle connection is a
    /// stranger's.
    pub const GOSSIP: ListenerLimits = ListenerLimits {
        max_connections: 1024,
        header_read_timeout: Duration::from_secs(30),
        max_head_bytes: 64 << 10,
        date_header: false,
    };
    /// The management API.
    pub const API: ListenerLimits = ListenerLimits {
        max_connections: 256,
        header_read_timeout: Duration::from_secs(30),
        max_head_bytes: 64 << 10,
        date_header: true,
    };
}

struct Conn {
    activity: Arc<Activity>,
    abort: AbortHandle,
}

/// What a connection is doing, shared with its task.
struct Activity {
    /// When the connection last started waiting for a request (its start, or the end
    /// of its last request).
    idle_since: Mutex<Option<Instant>>,
    /// True while a request is being handled.
    busy: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Activity {
            idle_since: Mutex::new(Some(Instant::now())),
            busy: AtomicBool::new(false),
        }
    }

    fn started(&self) {
        self.busy.store(true, Ordering::Relaxed);
    }

    fn finished(&self) {
        self.busy.store(false, Ordering::Relaxed);
        if let Ok(mut idle) = self.idle_since.lock() {
            *idle = Some(Instant::now());
        }
    }

    /// Since when it has been idle, if it is and has been for the grace period.
    fn idle_for_eviction(&self) -> Option<Instant> {
        if self.busy.load(Ordering::Relaxed) {
            return None;
        }
        let since = (*self.idle_since.lock().ok()?)?;
        (since.elapsed() >= GRACE).then_some(since)
    }
}

/// The open connections of one listener.
#[derive(Default)]
struct Conns {
    next_id: u64,
    open: BTreeMap<u64, Conn>,
}

impl Conns {
    /// Makes room for one more connection if the cap allows, closing the one idle the
    /// longest; false when every connection is busy (or just opened).
    fn make_room(&mut self, cap: usize) -> bool {
        if self.open.len() < cap {
            return true;
        }
        let victim = self
            .open
            .iter()
            .filter_map(|(id, c)| c.activity.idle_for_eviction().map(|since| (since, *id)))
            .min()
            .map(|(_, id)| id);
        match victim.and_then(|id| self.open.remove(&id)) {
            Some(conn) => {
                conn.abort.abort();
                true
            }
            None => false,
        }
    }
}

/// Serves `router` on `listener` until the task is dropped; over TLS when `tls` is set.
pub(crate) async fn serve(
    what: &'static str,
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    tls: Option<TlsAcceptor>,
    counters: Arc<NodeCounters>,
) -> std::io::Result<()> {
    let conns = Arc::new(Mutex::new(Conns::default()));
    loop {
        let (tcp, from) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                counters.connections.inc("accept_failed");
                tracing::warn!("{what} listener: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let room = conns
            .lock()
            .map(|mut c| c.make_room(limits.max_connections))
            .unwrap_or(false);
        if !room {
            counters.connections.inc("refused");
            tracing::debug!(%from, "{what} listener: {} connections open, refusing one", limits.max_connections);
            continue;
        }
        let _ = tcp.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let task = tokio::spawn(connection(
            what,
            tcp,
            router.clone(),
            limits,
            tls.clone(),
            activity.clone(),
            counters.clone(),
        ));
        let Ok(mut c) = conns.lock() else { continue };
        let id = c.next_id;
        c.next_id += 1;
        c.open.insert(
            id,
            Conn {
                activity,
                abort: task.abort_handle(),
            },
        );
        drop(c);
        let conns = conns.clone();
        tokio::spawn(async move {
            let _ = task.await; // ended, or closed to make room
            if let Ok(mut c) = conns.lock() {
                c.open.remove(&id);
            }
        });
        counters.connections.inc("accepted");
    }
}

/// One connection: the TLS handshake if any, then HTTP/1.1 with the limits.
async fn connection(
    what: &'static str,
    tcp: TcpStream,
    router: Router,
    limits: ListenerLimits,
    tls: Option<TlsAcceptor>,
    activity: Arc<Activity>,
    counters: Arc<NodeCounters>,
) {
    let router = TowerToHyperService::new(router);
    let service = hyper::service::service_fn(move |request| {
        activity.started();
        let response = hyper::service::Service::call(&router, request);
        let activity = activity.clone();
        async move {
            let response = response.await;
            activity.finished();
            response
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_head_bytes.max(8192))
        .auto_date_header(limits.date_header);
    let result = match tls {
        None => {
            if speaks_tls(&tcp, limits.header_read_timeout).await {
                return tls_on_plain(what, &counters);
            }
            http.serve_connection(TokioIo::new(JsonErrors::new(tcp)), service)
                .await
        }
        Some(acceptor) => {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return crate::tls::handshake_refused(&counters, &e.to_string()),
                Err(_) => return crate::tls::handshake_refused(&counters, "timed out"),
            };
            http.serve_connection(TokioIo::new(JsonErrors::new(stream)), service)
                .await
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection ended: {e}");
    }
}

/// True when the first byte a client sends opens a TLS handshake (a record of type
/// 22): a peer set up for TLS talking to this clear-text listener.
async fn speaks_tls(tcp: &TcpStream, wait: Duration) -> bool {
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout(wait, tcp.peek(&mut first)).await,
        Ok(Ok(1)) if first[0] == 0x16
    )
}

/// Says (rarely) that a TLS client reached a clear-text listener, and counts it.
fn tls_on_plain(what: &'static str, counters: &NodeCounters) {
    let n = counters.tls_on_plain.get() + 1;
    counters.tls_on_plain.inc();
    if n.is_power_of_two() {
        tracing::warn!(
            seen = n,
            "TLS: a client opened a TLS handshake on the clear-text {what} listener: a peer is set up \
             with --tls-cert and this node is not (or it was given a TLS address)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(idle_for: Option<u64>, task: &tokio::task::JoinHandle<()>) -> Conn {
        let activity = Activity::new();
        match idle_for {
            Some(s) => *activity.idle_since.lock().unwrap() = Some(Instant::now() - Duration::from_secs(s)),
            None => activity.started(),
        }
        Conn {
            activity: Arc::new(activity),
            abort: task.abort_handle(),
        }
    }

    #[tokio::test]
    async fn room_is_made_by_closing_the_connection_idle_the_longest() {
        let mut conns = Conns::default();
        let busy = tokio::spawn(std::future::pending::<()>());
        let idle_long = tokio::spawn(std::future::pending::<()>());
        let idle_short = tokio::spawn(std::future::pending::<()>());
        conns.open.insert(0, conn(None, &busy));
        conns.open.insert(1, conn(Some(5), &idle_short));
        conns.open.insert(2, conn(Some(50), &idle_long));
        assert!(conns.make_room(4), "under the cap");
        assert!(conns.make_room(3), "at the cap: the longest idle goes");
        assert!(idle_long.await.unwrap_err().is_cancelled());
        assert!(conns.make_room(2));
        assert!(idle_short.await.unwrap_err().is_cancelled());
        assert!(!conns.make_room(1), "only a busy connection left: refuse");
        busy.abort();
    }
}
