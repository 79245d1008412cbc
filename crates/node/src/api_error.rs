//! Why the management API refused a request: an HTTP status, a stable `kind` (the
//! `reason` label of `hearsay_api_errors_total`) and a message for people.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use hearsay_core::CommandError;
use hearsay_runtime::LoadError;

use crate::api_types::ErrorBody;
pub use crate::error_kind::ErrorKind;

/// A refused request (of either listener).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable word for the error.
    pub kind: ErrorKind,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    /// A 400: the request itself is wrong.
    pub fn bad(kind: ErrorKind, message: impl ToString) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, message)
    }

    /// A 404.
    pub fn not_found(kind: ErrorKind, message: impl ToString) -> Self {
        Self::new(StatusCode::NOT_FOUND, kind, message)
    }

    /// Any status.
    pub fn new(status: StatusCode, kind: ErrorKind, message: impl ToString) -> Self {
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
            ErrorKind::Unavailable,
            "the agent is shutting down",
        )
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        let kind = match e {
            CommandError::UnknownModule(_) => return ApiError::not_found(ErrorKind::UnknownModule, e),
            CommandError::NoPrevious(_) => ErrorKind::NoPrevious,
            CommandError::CodeMissing(_) => ErrorKind::CodeMissing,
            CommandError::ParamsTooLong => ErrorKind::ParamsTooLong,
            CommandError::BadRecord(hearsay_core::deployment::RecordError::ParamsTooLong) => {
                ErrorKind::ParamsTooLong
            }
            CommandError::BadRecord(hearsay_core::deployment::RecordError::SignatureTooLong) => {
                ErrorKind::SignatureTooLong
            }
            CommandError::FutureNumber(..) => ErrorKind::FutureNumber,
            CommandError::Unsigned | CommandError::Untrusted(_) => {
                let kind = if matches!(e, CommandError::Unsigned) {
                    ErrorKind::Unsigned
                } else {
                    ErrorKind::Untrusted
                };
                return ApiError::new(StatusCode::FORBIDDEN, kind, e);
            }
            CommandError::StaleNumber(..) => {
                return ApiError::new(StatusCode::CONFLICT, ErrorKind::StaleNumber, e)
            }
            CommandError::CodeNotGiven(_) => ErrorKind::CodeMissing,
            CommandError::CodeMismatch(_) => ErrorKind::CodeMismatch,
        };
        ApiError::bad(kind, e)
    }
}

impl From<LoadError> for ApiError {
    fn from(e: LoadError) -> Self {
        let kind = match e {
            LoadError::InvalidWasm(_) => ErrorKind::InvalidWasm,
            LoadError::BadAbi(_) => ErrorKind::BadAbi,
            LoadError::WrongCode => ErrorKind::CodeMismatch,
            LoadError::InitFailed(_) | LoadError::Failed(_) => ErrorKind::InitFailed,
        };
        ApiError::bad(kind, e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
            kind: self.kind.as_str().to_string(),
        };
        (self.status, Json(body)).into_response()
    }
}
