//! A client of a node's event stream (`GET /v1/events`, Server-Sent Events): each
//! event comes back as its JSON record, and the id of the last one is kept so a
//! client that lost the connection resumes after it. `eventsource-stream` parses the
//! SSE framing.

use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};

use crate::client::{ApiClient, ClientError};

/// Longest silence before the stream counts as broken: the agent sends a keep-alive
/// comment every 15 s.
const READ_TIMEOUT: Duration = Duration::from_secs(45);

/// What to subscribe to.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only events about this module.
    pub module: Option<String>,
    /// Only these kinds.
    pub kinds: Vec<String>,
    /// Resume after this id (the kept events after it first).
    pub after: Option<u64>,
}

type SseStream = Pin<Box<dyn Stream<Item = Result<eventsource_stream::Event, String>> + Send>>;

/// A live subscription.
pub struct EventSubscription {
    stream: SseStream,
    /// The id of the last event received.
    pub last_id: Option<u64>,
}

impl EventSubscription {
    /// The next event's JSON record; `None` when the stream ended; an error when it
    /// broke (resume with `last_id`).
    pub async fn next(&mut self) -> Option<Result<serde_json::Value, String>> {
        let event = match self.stream.next().await? {
            Ok(event) => event,
            Err(e) => return Some(Err(e)),
        };
        if let Ok(id) = event.id.parse() {
            self.last_id = Some(id);
        }
        Some(serde_json::from_str(&event.data).map_err(|e| format!("an event that is not JSON: {e}")))
    }
}

impl ApiClient {
    /// Subscribes to the node's event stream.
    pub async fn events(&self, query: &EventQuery) -> Result<EventSubscription, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .read_timeout(READ_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| ClientError::Unreachable {
                addr: self.addr.clone(),
                reason: e.to_string(),
            })?;
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(m) = &query.module {
            params.push(("module", m.clone()));
        }
        if !query.kinds.is_empty() {
            params.push(("kind", query.kinds.join(",")));
        }
        let mut req = http
            .get(self.url("/events"))
            .query(&params)
            .header("accept", "text/event-stream");
        if let Some(after) = query.after {
            req = req.header("last-event-id", after.to_string());
        }
        let response = self.send(req).await?;
        // Ends after the first error: the caller resumes with a new subscription.
        let chunks = futures_util::stream::unfold(Some(response), |state| async move {
            let mut response = state?;
            match response.chunk().await {
                Ok(Some(bytes)) => Some((Ok(bytes), Some(response))),
                Ok(None) => None,
                Err(e) => Some((Err(e.to_string()), None)),
            }
        });
        let stream = chunks.eventsource().map(|r| r.map_err(|e| e.to_string()));
        Ok(EventSubscription {
            stream: Box::pin(stream),
            last_id: query.after,
        })
    }
}
