//! The gossip listener: `POST /gossip` (a batch of envelopes for the core) and
//! `GET /code/{version}` (code by hash, from the store). Peers are untrusted: framing
//! errors are refused and counted, envelopes are checked by the core, and a full
//! inbox sheds load instead of queueing without bound. Each batch is split by whose
//! traffic its envelopes are: the core's go to the actor's core queue, ahead of
//! modules' payloads, so a batch full of a storming module's messages can't hold up
//! the deployment record in it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hearsay_core::envelope::traffic_of;
use hearsay_core::{CodeVersion, Traffic};

use crate::api_error::ApiError;
use crate::batch::{self, MAX_BATCH_BYTES};
use crate::body_budget::{self, BodyBudget};
use crate::counters::NodeCounters;
use crate::error::StoreError;
use crate::error_kind::ErrorKind;
use crate::inbox::Inbox;
use crate::store::CodeStore;

/// What the handlers share; behind an `Arc`, so a request clones one pointer (not
/// five channel senders).
pub(crate) struct GossipState {
    pub inbox: Inbox,
    pub store: CodeStore,
    pub counters: Arc<NodeCounters>,
}

/// Gossip bodies being read at once, all connections together: eight full batches.
const BODIES_AT_ONCE: usize = 8 * MAX_BATCH_BYTES;

pub(crate) fn router(state: GossipState) -> Router {
    let bodies = BodyBudget::new(BODIES_AT_ONCE, MAX_BATCH_BYTES, state.counters.clone());
    Router::new()
        .route("/gossip", post(gossip))
        .route("/code/{version}", get(code))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                ErrorKind::NoSuchEndpoint,
                "the gossip listener serves POST /gossip and GET /code/{sha256}",
            )
        })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorKind::MethodNotAllowed,
                "POST /gossip, GET /code/{sha256}",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BATCH_BYTES))
        .layer(axum::middleware::from_fn_with_state(bodies, body_budget::limit))
        .with_state(Arc::new(state))
}

/// A JSON error answer, like every error of both listeners.
fn error(status: StatusCode, kind: ErrorKind, message: &str) -> Response {
    ApiError::new(status, kind, message).into_response()
}

async fn gossip(State(s): State<Arc<GossipState>>, body: Result<Bytes, BytesRejection>) -> Response {
    let Ok(body) = body else {
        s.counters.gossip_bad_batches.inc();
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::TooLarge,
            "a gossip batch is at most 4 MiB",
        );
    };
    let envelopes = match batch::decode(&body) {
        Ok(envelopes) => envelopes,
        Err(e) => {
            tracing::debug!("refused a gossip batch: {e}");
            s.counters.gossip_bad_batches.inc();
            return error(StatusCode::BAD_REQUEST, ErrorKind::BadBatch, &e.to_string());
        }
    };
    let (core, module): (Vec<_>, Vec<_>) = envelopes
        .into_iter()
        .partition(|e| traffic_of(e) == Traffic::Core);
    let mut shed = false;
    for (envelopes, queue, lost) in [
        (core, &s.inbox.core_gossip, "core_inbox_full"),
        (module, &s.inbox.module_gossip, "inbox_full"),
    ] {
        let count = envelopes.len() as u64;
        if count > 0 && queue.try_send(envelopes).is_err() {
            s.counters.envelopes_lost.add(lost, count);
            shed = true;
        }
    }
    s.counters.gossip_batches_in.inc();
    if shed {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Overloaded,
            "this node is behind; part of the batch was dropped",
        )
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

async fn code(State(s): State<Arc<GossipState>>, Path(version): Path<String>) -> Response {
    let Ok(version) = version.parse::<CodeVersion>() else {
        s.counters.code_requests.inc("bad_request");
        return error(
            StatusCode::BAD_REQUEST,
            ErrorKind::BadVersion,
            "a code version is 64 hex digits",
        );
    };
    let store = s.store.clone();
    let read = tokio::task::spawn_blocking(move || store.read(&version)).await;
    match read {
        Ok(Ok(bytes)) => {
            s.counters.code_requests.inc("served");
            ([(header::CONTENT_TYPE, "application/wasm")], bytes).into_response()
        }
        Ok(Err(StoreError::Io { source, .. })) if source.kind() == std::io::ErrorKind::NotFound => {
            s.counters.code_requests.inc("not_found");
            error(StatusCode::NOT_FOUND, ErrorKind::CodeMissing, "no such code here")
        }
        Ok(Err(e)) => {
            // A stored file that no longer matches its hash is never served: the peer
            // would refuse it anyway, and it says the disk needs attention.
            tracing::error!(version = %version.short(), "cannot serve code: {e}");
            s.counters.code_requests.inc("corrupt");
            s.counters.store_failures.inc();
            error(
                StatusCode::NOT_FOUND,
                ErrorKind::CodeCorrupt,
                "code unavailable here",
            )
        }
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Internal,
            "reading the store crashed",
        ),
    }
}
