//! A bound on request bodies read at once, all connections together. Each request
//! is capped on its own (4 MiB for a gossip batch), but 150 strangers each sending
//! most of one would still make the agent hold 600 MB; here a request waits (briefly)
//! for its share of a fixed budget before its body is read, or is turned away with
//! `503` — gossip tolerates a lost batch, and the core's traffic is small.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::api_error::ApiError;
use crate::counters::NodeCounters;
use crate::error_kind::ErrorKind;

/// Bodies are counted in units of this many bytes.
const UNIT: usize = 64 << 10;
/// How long a request waits for its share.
const WAIT: Duration = Duration::from_secs(1);

/// The shared budget of one listener.
#[derive(Clone)]
pub(crate) struct BodyBudget {
    units: Arc<Semaphore>,
    total_units: u32,
    /// The largest body a request may have (what one without a length is charged).
    max_body: usize,
    counters: Arc<NodeCounters>,
}

impl BodyBudget {
    /// `total` bytes of bodies at once; no single request over `max_body`.
    pub(crate) fn new(total: usize, max_body: usize, counters: Arc<NodeCounters>) -> Self {
        let total_units = (total / UNIT).max(1) as u32;
        BodyBudget {
            units: Arc::new(Semaphore::new(total_units as usize)),
            total_units,
            max_body,
            counters,
        }
    }

    fn units_for(&self, request: &Request) -> Option<u32> {
        let length = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        match length {
            Some(0) => None,
            Some(n) => Some(n.min(self.max_body).div_ceil(UNIT) as u32),
            // Chunked, or a body of unknown length: charged as the largest allowed.
            None if request.headers().contains_key(header::TRANSFER_ENCODING) => {
                Some(self.max_body.div_ceil(UNIT) as u32)
            }
            None => None,
        }
    }
}

/// The middleware: takes the request's share of the budget while it is handled.
pub(crate) async fn limit(State(budget): State<BodyBudget>, request: Request, next: Next) -> Response {
    let Some(units) = budget.units_for(&request) else {
        return next.run(request).await;
    };
    let units = units.clamp(1, budget.total_units);
    // Usually there is room at once: no timer for that case (one per gossip batch
    // showed in an idle agent's profile).
    if let Ok(_permit) = budget.units.clone().try_acquire_many_owned(units) {
        return next.run(request).await;
    }
    match tokio::time::timeout(WAIT, budget.units.clone().acquire_many_owned(units)).await {
        Ok(Ok(_permit)) => next.run(request).await,
        _ => {
            budget.counters.connections.inc("body_budget_busy");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Busy,
                "too many request bodies are being read at once; try again",
            )
            .into_response()
        }
    }
}
