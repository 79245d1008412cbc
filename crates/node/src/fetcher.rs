//! Code downloads asked for by the core (`Output::FetchCode`): `GET /code/{version}`
//! on the peer, run as a task that reports back to the actor. The hash is checked by
//! the core, not here, so every path into the store goes through one check.

use std::sync::Arc;
use std::time::Duration;

use hearsay_core::{CodeVersion, PeerAddr};
use tokio::sync::mpsc;

use crate::counters::NodeCounters;
use crate::inbox::Event;
use crate::peer_client::PeerClient;
use crate::store::MAX_CODE_BYTES;

/// How long one download may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(8);

/// Starts a download; the actor gets `Event::Fetched` whatever happens.
pub(crate) fn spawn(
    client: PeerClient,
    counters: Arc<NodeCounters>,
    events: mpsc::Sender<Event>,
    version: CodeVersion,
    from: PeerAddr,
) {
    tokio::spawn(async move {
        let bytes = match fetch(&client, version, from).await {
            Ok(bytes) => {
                counters.code_fetches.inc("ok");
                Some(bytes)
            }
            Err(result) => {
                tracing::debug!(%from, version = %version.short(), result, "code download failed");
                counters.code_fetches.inc(result);
                None
            }
        };
        let _ = events.send(Event::Fetched { version, from, bytes }).await;
    });
}

async fn fetch(client: &PeerClient, version: CodeVersion, from: PeerAddr) -> Result<Vec<u8>, &'static str> {
    let mut response = client
        .http
        .get(client.url(from, &format!("/code/{}", version.to_hex())))
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(|_| "error")?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Err("not_found");
    }
    if !response.status().is_success() {
        return Err("error");
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_CODE_BYTES as u64)
    {
        return Err("too_large");
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| "error")? {
        if body.len() + chunk.len() > MAX_CODE_BYTES {
            return Err("too_large");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
