//! Serving the gossip router over TLS: accept, handshake (bounded in time), then
//! HTTP/1.1 on the encrypted stream. Written on tokio-rustls and hyper-util directly
//! because axum-server's rustls feature pulls in aws-lc-rs (a long C/cmake build)
//! and axum's own `serve` takes only plain TCP.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::counters::NodeCounters;

/// A peer that doesn't finish its handshake in this time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until the task is dropped.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    config: Arc<ServerConfig>,
    counters: Arc<NodeCounters>,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!("gossip listener: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, router, counters) = (acceptor.clone(), router.clone(), counters.clone());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!("TLS handshake refused: {e}");
                    counters.tls_handshakes_failed.inc();
                    return;
                }
                Err(_) => {
                    counters.tls_handshakes_failed.inc();
                    return;
                }
            };
            let service = TowerToHyperService::new(router);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("gossip connection ended: {e}");
            }
        });
    }
}
