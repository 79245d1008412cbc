//! The HTTP client this node reaches its peers with (gossip batches, code downloads):
//! plain HTTP, or HTTPS with the cluster's TLS identity.

use std::time::Duration;

use hearsay_core::PeerAddr;

use crate::error::NodeError;
use crate::tls::Tls;

/// A client for peers' gossip listeners; cheap to clone (shares its connection pool).
#[derive(Clone)]
pub(crate) struct PeerClient {
    pub http: reqwest::Client,
    scheme: &'static str,
}

impl PeerClient {
    /// Short timeouts (gossip is periodic: a late batch is superseded) and one
    /// keep-alive connection per peer: the sender has at most one batch in flight per
    /// peer, and every idle connection holds buffers on both ends.
    pub fn new(tls: Option<&Tls>) -> Result<PeerClient, NodeError> {
        crate::tls::install_crypto();
        let builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(20))
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            // Without reqwest's default `Accept: */*`: peers answer gossip with no
            // body and code as it is; the header was bytes on every idle exchange.
            .default_headers(reqwest::header::HeaderMap::new())
            .no_proxy();
        let (builder, scheme) = match tls {
            Some(tls) => (
                builder.use_preconfigured_tls(tls.client.clone()).https_only(true),
                "https",
            ),
            None => (builder, "http"),
        };
        let http = builder
            .build()
            .map_err(|e| NodeError::Setup(format!("HTTP client: {e}")))?;
        Ok(PeerClient { http, scheme })
    }

    /// `scheme://peer/path`.
    pub fn url(&self, peer: PeerAddr, path: &str) -> String {
        format!("{}://{peer}{path}", self.scheme)
    }

    /// The same, parsed: for a URL used again and again (a peer's gossip endpoint),
    /// so each request doesn't format and parse it anew.
    pub fn parsed_url(&self, peer: PeerAddr, path: &str) -> Option<reqwest::Url> {
        reqwest::Url::parse(&self.url(peer, path)).ok()
    }
}
