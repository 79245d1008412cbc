//! The management listener: a small JSON REST API (documented in docs/api.md). Input
//! is validated here — module name, base64, size, params, and the code itself (it
//! must compile, speak the ABI and start with the given params) — before anything
//! reaches the core, so a bad request changes nothing and is counted by reason.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use hearsay_core::deployment::MAX_PARAMS_LEN;
use hearsay_core::{BudgetOverrides, DeploySpec, Deployment, ModuleName, PeerAddr};
use hearsay_runtime::{Instance, InstanceContext, QueryError, Runtime};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::api_error::ApiError;
use crate::api_events;
use crate::api_guard::{self, Guard};
use crate::api_types::{
    CommandRequest, DeployRecordRequest, DeployRequest, DeployResponse, RollbackRequest, StopRequest,
};
use crate::body_budget::{self, BodyBudget};
use crate::counters::NodeCounters;
use crate::error_kind::ErrorKind;
use crate::event_log::EventLog;
use crate::inbox::ApiCall;
use crate::metrics::render;
use crate::now_ms;
use crate::store::MAX_CODE_BYTES;

/// Largest request body: base64 of the largest code, plus room for the rest.
const MAX_BODY: usize = MAX_CODE_BYTES / 3 * 4 + (64 << 10);

#[derive(Clone)]
pub(crate) struct ApiState {
    pub api: mpsc::Sender<ApiCall>,
    pub runtime: Arc<Runtime>,
    pub counters: Arc<NodeCounters>,
    pub self_addr: PeerAddr,
    /// The bearer token every request must carry, if set.
    pub token: Option<Arc<str>>,
    /// The node's event stream.
    pub events: Arc<EventLog>,
}

/// Request bodies being read at once, all API connections together.
const BODIES_AT_ONCE: usize = 2 * MAX_BODY;

/// The API's routes, each under `/v1` (the documented API) and, for clients of
/// before the versioned API, at the root.
fn routes() -> Router<ApiState> {
    Router::new()
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/events", get(api_events::events))
        .route("/deploy", post(deploy))
        .route("/rollback", post(rollback))
        .route("/stop", post(stop))
        .route("/modules/{name}/query", get(query))
        .route("/modules/{name}/command", post(command))
        .route("/modules/{name}/next", get(next))
        .route("/deploy-record", post(deploy_record))
        .route("/openapi.json", get(openapi_json))
}

/// The API, behind (outermost first) the Host/Origin/Content-Type guard, the token,
/// and the bound on bodies read at once; and the live map (`/ui`), behind the guard.
pub(crate) fn router(state: ApiState, guard: Guard) -> Router {
    let bodies = BodyBudget::new(BODIES_AT_ONCE, MAX_BODY, state.counters.clone());
    let api = Router::new()
        .nest("/v1", routes())
        .merge(routes())
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(bodies, body_budget::limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), require_token));
    // The map's page holds no secret: it is served without the token (its script
    // sends one), but behind the same Host/Origin guard.
    crate::ui::routes()
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(guard, api_guard::guard))
        .with_state(state)
}

async fn method_not_allowed(State(s): State<ApiState>) -> Response {
    s.respond(Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::MethodNotAllowed,
        "this endpoint does not take that method (state changes are POST; see docs/api.md)",
    )))
}

/// With an API token set, every request needs `Authorization: Bearer TOKEN`.
async fn require_token(
    State(s): State<ApiState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(token) = &s.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // Compared in constant time: the token is a secret.
        let ok = given.is_some_and(|g| {
            g.len() == token.len() && g.bytes().zip(token.bytes()).fold(0, |acc, (a, b)| acc | (a ^ b)) == 0
        });
        if !ok {
            return s.respond(Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorKind::Unauthorized,
                "this API needs Authorization: Bearer TOKEN (--api-token)",
            )));
        }
    }
    next.run(request).await
}

async fn next(State(s): State<ApiState>, Path(name): Path<String>) -> Response {
    let r = async {
        let module = module_name(name)?;
        let report = s.call(|reply| ApiCall::Next { module, reply }).await?;
        Ok(Json(report).into_response())
    }
    .await;
    s.respond(r)
}

async fn deploy_record(State(s): State<ApiState>, body: Result<Bytes, BytesRejection>) -> Response {
    let r = async {
        let req: DeployRecordRequest = json_body(body)?;
        let wasm = match req.wasm_base64 {
            Some(text) => {
                let wasm = base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|e| {
                        ApiError::bad(
                            ErrorKind::BadRequest,
                            format!("wasm_base64 is not valid base64: {e}"),
                        )
                    })?;
                if wasm.len() > MAX_CODE_BYTES {
                    return Err(too_large());
                }
                Some(validate(&s, wasm, &req.record.params, &req.record.budget).await?)
            }
            None => None,
        };
        let record = req.record;
        let d = s
            .call(|reply| ApiCall::DeployRecord { record, wasm, reply })
            .await??;
        Ok(deployed(&d))
    }
    .await;
    s.respond(r)
}

impl ApiState {
    /// Sends a call to the actor and waits for its answer.
    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> ApiCall) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.api
            .send(make(tx))
            .await
            .map_err(|_| ApiError::unavailable())?;
        rx.await.map_err(|_| ApiError::unavailable())
    }

    /// The response for a handler's result; errors are counted and logged.
    pub(crate) fn respond(&self, result: Result<Response, ApiError>) -> Response {
        match result {
            Ok(r) => r,
            Err(e) => {
                self.counters.api_errors.inc(e.kind.as_str());
                tracing::debug!(kind = e.kind.as_str(), "API request refused: {}", e.message);
                e.into_response()
            }
        }
    }
}

async fn status(State(s): State<ApiState>) -> Response {
    let r = s.call(ApiCall::Status).await.map(|r| Json(r).into_response());
    s.respond(r)
}

async fn metrics(State(s): State<ApiState>) -> Response {
    let r = s.call(ApiCall::Metrics).await.map(|snapshot| {
        let text = render(&snapshot, &s.counters);
        ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
    });
    s.respond(r)
}

async fn deploy(State(s): State<ApiState>, body: Result<Bytes, BytesRejection>) -> Response {
    let r = async {
        let req: DeployRequest = json_body(body)?;
        let module = module_name(req.module)?;
        let wasm = base64::engine::general_purpose::STANDARD
            .decode(req.wasm_base64.trim())
            .map_err(|e| {
                ApiError::bad(
                    ErrorKind::BadRequest,
                    format!("wasm_base64 is not valid base64: {e}"),
                )
            })?;
        if wasm.len() > MAX_CODE_BYTES {
            return Err(too_large());
        }
        let params = match req.params {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(p)) => p,
            Some(v) => v.to_string(),
        };
        if params.len() > MAX_PARAMS_LEN {
            return Err(ApiError::bad(
                ErrorKind::ParamsTooLong,
                format!("params are longer than {MAX_PARAMS_LEN} bytes"),
            ));
        }
        let mut budget = BudgetOverrides::none();
        for (key, value) in req.budget.unwrap_or_default() {
            budget
                .set(&key, value)
                .map_err(|e| ApiError::bad(ErrorKind::BadBudget, e))?;
        }
        if req.auto_rollback_ms == Some(0) {
            return Err(ApiError::bad(
                ErrorKind::BadBudget,
                "auto_rollback_ms must be at least 1 (leave it out for no automatic rollback)",
            ));
        }
        let wasm = validate(&s, wasm, &params, &budget).await?;
        let spec = DeploySpec {
            params,
            budget,
            auto_rollback_ms: req.auto_rollback_ms,
        };
        let d = s
            .call(|reply| ApiCall::Deploy {
                module,
                wasm,
                spec,
                reply,
            })
            .await??;
        Ok(deployed(&d))
    }
    .await;
    s.respond(r)
}

async fn rollback(State(s): State<ApiState>, body: Result<Bytes, BytesRejection>) -> Response {
    let r = async {
        let req: RollbackRequest = json_body(body)?;
        let module = module_name(req.module)?;
        let to = req.to;
        let d = s.call(|reply| ApiCall::Rollback { module, to, reply }).await??;
        Ok(deployed(&d))
    }
    .await;
    s.respond(r)
}

async fn stop(State(s): State<ApiState>, body: Result<Bytes, BytesRejection>) -> Response {
    let r = async {
        let req: StopRequest = json_body(body)?;
        let module = module_name(req.module)?;
        let d = s.call(|reply| ApiCall::Stop { module, reply }).await??;
        Ok(deployed(&d))
    }
    .await;
    s.respond(r)
}

#[derive(Deserialize)]
struct QueryArgs {
    #[serde(default)]
    args: String,
}

async fn query(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    args: Result<Query<QueryArgs>, QueryRejection>,
) -> Response {
    let r = async {
        let module = module_name(name)?;
        let Query(QueryArgs { args }) =
            args.map_err(|e| ApiError::bad(ErrorKind::BadRequest, e.body_text()))?;
        let answer = s
            .call(|reply| ApiCall::Query { module, args, reply })
            .await?
            .map_err(|e| ApiError::not_found(ErrorKind::NotRunning, e))?;
        Ok(([(header::CONTENT_TYPE, "application/json")], answer).into_response())
    }
    .await;
    s.respond(r)
}

/// `POST /v1/modules/{name}/command`: a state-changing call (ABI v2); `query` stays
/// read-only. Needs the API token where one is set, like every route.
async fn command(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let r = async {
        let module = module_name(name)?;
        let CommandRequest { args } = json_body(body)?;
        if args.len() > MAX_PARAMS_LEN {
            return Err(ApiError::bad(
                ErrorKind::ParamsTooLong,
                format!("command args over {MAX_PARAMS_LEN} bytes"),
            ));
        }
        let answer = s
            .call(|reply| ApiCall::Command { module, args, reply })
            .await?
            .map_err(|e| match e {
                QueryError::NoCommands(_) => ApiError::bad(ErrorKind::NoCommands, e),
                _ => ApiError::not_found(ErrorKind::NotRunning, e),
            })?;
        Ok(([(header::CONTENT_TYPE, "application/json")], answer).into_response())
    }
    .await;
    s.respond(r)
}

/// `GET /v1/openapi.json`: the API's OpenAPI 3.1 description (docs/openapi.json).
async fn openapi_json() -> Response {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let text = DOCUMENT.get_or_init(crate::openapi::document).clone();
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

async fn fallback(State(s): State<ApiState>) -> Response {
    s.respond(Err(ApiError::not_found(
        ErrorKind::NoSuchEndpoint,
        "no such endpoint; see docs/api.md",
    )))
}

fn deployed(d: &Deployment) -> Response {
    Json(DeployResponse { deployment: d.into() }).into_response()
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::TooLarge,
        format!("code is limited to {MAX_CODE_BYTES} bytes"),
    )
}

fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = body.map_err(|_| too_large())?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad(ErrorKind::BadRequest, format!("request body: {e}")))
}

fn module_name(name: String) -> Result<ModuleName, ApiError> {
    ModuleName::new(name).map_err(|e| ApiError::bad(ErrorKind::InvalidModuleName, e))
}

/// The code must compile, speak the ABI and start with these params; a trial instance
/// is started and dropped. Off the async threads: compiling takes a while.
async fn validate(
    s: &ApiState,
    wasm: Vec<u8>,
    params: &str,
    budget: &BudgetOverrides,
) -> Result<Vec<u8>, ApiError> {
    let runtime = s.runtime.clone();
    let params = params.to_string();
    let ctx = InstanceContext {
        labels: Default::default(),
        node: Default::default(),
        self_addr: s.self_addr.to_string(),
        bootstrap: Vec::new(),
        seed: 0,
        now_ms: now_ms(),
        budget: budget.resolve(&runtime.limits().budget),
    };
    tokio::task::spawn_blocking(move || {
        let result = runtime
            .compile(&wasm)
            .and_then(|code| Instance::start(&runtime, &code, &params, &ctx).map(drop));
        crate::release_memory();
        result.map(|()| wasm).map_err(ApiError::from)
    })
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Internal,
            "validation crashed",
        )
    })?
}
