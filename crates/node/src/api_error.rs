//! Why the management API refused a request: an HTTP status, a stable `kind` (the
//! `reason` label of `hearsay_api_errors_total`) and a message for people.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use hearsay_core::CommandError;
use hearsay_runtime::LoadError;

use crate::api_types::ErrorBody;

/// A refused API request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable word for the error.
    pub kind: &'static str,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    /// A 400: the request itself is wrong.
    pub fn bad(kind: &'static str, message: impl ToString) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, message)
    }

    /// A 404.
    pub fn not_found(kind: &'static str, message: impl ToString) -> Self {
        Self::new(StatusCode::NOT_FOUND, kind, message)
    }

    /// Any status.
    pub fn new(status: StatusCode, kind: &'static str, message: impl ToString) -> Self {
        ApiError {
            status,
            kind,
            message: message.to_string(),
        }
    }

    /// The agent's actor is gone (shutting down).
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the agent is shutting down",
        )
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        let kind = match e {
            CommandError::UnknownModule(_) => return ApiError::not_found("unknown_module", e),
            CommandError::NoPrevious(_) => "no_previous",
            CommandError::CodeMissing(_) => "code_missing",
            CommandError::ParamsTooLong => "params_too_long",
            CommandError::BadRecord(hearsay_core::deployment::RecordError::ParamsTooLong) => {
                "params_too_long"
            }
            CommandError::BadRecord(hearsay_core::deployment::RecordError::SignatureTooLong) => {
                "signature_too_long"
            }
            CommandError::FutureNumber(..) => "future_number",
            CommandError::Unsigned | CommandError::Untrusted(_) => {
                let kind = if matches!(e, CommandError::Unsigned) {
                    "unsigned"
                } else {
                    "untrusted"
                };
                return ApiError::new(StatusCode::FORBIDDEN, kind, e);
            }
            CommandError::StaleNumber(..) => return ApiError::new(StatusCode::CONFLICT, "stale_number", e),
            CommandError::CodeNotGiven(_) => "code_missing",
            CommandError::CodeMismatch(_) => "code_mismatch",
        };
        ApiError::bad(kind, e)
    }
}

impl From<LoadError> for ApiError {
    fn from(e: LoadError) -> Self {
        let kind = match e {
            LoadError::InvalidWasm(_) => "invalid_wasm",
            LoadError::BadAbi(_) => "bad_abi",
            LoadError::WrongCode => "code_mismatch",
            LoadError::InitFailed(_) | LoadError::Failed(_) => "init_failed",
        };
        ApiError::bad(kind, e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
            kind: self.kind.to_string(),
        };
        (self.status, Json(body)).into_response()
    }
}
