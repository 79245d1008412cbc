//! `GET /v1/events`: the node's event stream as Server-Sent Events. Each event is one
//! `data:` line of JSON (an [`EventRecord`]) with its `id:`; a client that reconnects
//! with `Last-Event-ID` (or `?after=ID`) first gets what it missed from the kept ring,
//! then the live feed. Filters: `?module=NAME` and `?kind=K1,K2`. A subscriber too
//! slow to keep up is told how many events it missed (`kind: "lagged"`) and goes on.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::api_error::ApiError;
use crate::api_http::ApiState;
use crate::error_kind::ErrorKind;
use crate::event_log::{EventFilter, EventRecord};

/// How often an idle stream sends a comment, so proxies and clients see it alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The query of `GET /v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    /// Only events about this module.
    module: Option<String>,
    /// Only these kinds, comma-separated.
    kind: Option<String>,
    /// Resume after this id (as `Last-Event-ID`).
    after: Option<u64>,
}

/// What a stream still has to send.
struct Feed {
    replay: VecDeque<Arc<EventRecord>>,
    live: broadcast::Receiver<Arc<EventRecord>>,
    filter: EventFilter,
}

impl Feed {
    /// The next event to send, or `None` when the agent stops.
    async fn next(&mut self) -> Option<SseEvent> {
        while let Some(record) = self.replay.pop_front() {
            if self.filter.admits(&record) {
                return Some(sse(&record));
            }
        }
        loop {
            match self.live.recv().await {
                Ok(record) if self.filter.admits(&record) => return Some(sse(&record)),
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    let data = serde_json::json!({"kind": "lagged", "source": "stream", "missed": missed});
                    return Some(SseEvent::default().data(data.to_string()));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

fn sse(record: &EventRecord) -> SseEvent {
    let data = serde_json::to_string(record).unwrap_or_else(|_| "{}".to_string());
    SseEvent::default().id(record.id.to_string()).data(data)
}

pub(crate) async fn events(
    State(s): State<ApiState>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => {
            return s.respond(Err(ApiError::bad(
                ErrorKind::BadRequest,
                format!("bad events query: {e}"),
            )))
        }
    };
    let last_id = match headers.get("last-event-id") {
        Some(v) => match v.to_str().ok().and_then(|t| t.trim().parse::<u64>().ok()) {
            Some(id) => Some(id),
            None => {
                return s.respond(Err(ApiError::bad(
                    ErrorKind::BadRequest,
                    "Last-Event-ID must be an event id (a number)",
                )))
            }
        },
        None => None,
    };
    let filter = EventFilter {
        module: q.module,
        kinds: q
            .kind
            .map(|k| {
                k.split(',')
                    .map(|k| k.trim().to_string())
                    .filter(|k| !k.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    };
    let (replay, live) = s.events.subscribe(last_id.or(q.after));
    let feed = Feed {
        replay: replay.into(),
        live,
        filter,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok::<_, Infallible>(event), feed))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}
