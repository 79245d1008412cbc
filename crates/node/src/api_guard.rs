//! Who may talk to the management API at all. A loopback API is still reachable by
//! every web page the machine's user opens: a page can `POST /deploy` with
//! `Content-Type: text/plain` (no preflight), and through DNS rebinding its own
//! hostname can point at 127.0.0.1. So every request must name one of the API's own
//! addresses in `Host` (or a name the operator allowed), a request from a browser
//! must come from the API's own origin, and a body must be `application/json` — which
//! no page can send cross-origin without a preflight this API never grants.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api_error::ApiError;
use crate::counters::NodeCounters;
use crate::error_kind::ErrorKind;

/// What the guard accepts.
#[derive(Clone)]
pub(crate) struct Guard {
    /// Accepted `Host` values (lower case, with the port); empty = any host (the API
    /// is bound to every address, and a token protects it).
    hosts: Arc<BTreeSet<String>>,
    counters: Arc<NodeCounters>,
}

impl Guard {
    /// The hosts of an API bound at `bind`, plus `names` (each accepted as it is and
    /// with the API's port).
    pub(crate) fn new(bind: SocketAddr, names: &[String], counters: Arc<NodeCounters>) -> Self {
        let port = bind.port();
        let mut hosts = BTreeSet::new();
        if !bind.ip().is_unspecified() {
            hosts.insert(bind.to_string());
            if bind.ip().is_loopback() {
                for name in ["localhost", "127.0.0.1", "[::1]"] {
                    hosts.insert(format!("{name}:{port}"));
                }
            }
            for name in names {
                let name = name.trim().to_ascii_lowercase();
                hosts.insert(format!("{name}:{port}"));
                hosts.insert(name);
            }
        }
        Guard {
            hosts: Arc::new(hosts),
            counters,
        }
    }

    fn host_ok(&self, host: &str) -> bool {
        self.hosts.is_empty() || self.hosts.contains(&host.to_ascii_lowercase())
    }

    fn check(&self, request: &Request) -> Result<(), ApiError> {
        let headers = request.headers();
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let host = text(header::HOST.as_str()).unwrap_or("");
        if !self.host_ok(host) {
            return Err(forbidden(
                ErrorKind::ForbiddenHost,
                format!("Host {host:?} is not an address of this API (a page rebinding its name to this machine?)"),
            ));
        }
        if let Some(origin) = text(header::ORIGIN.as_str()) {
            let own = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .is_some_and(|o| o.eq_ignore_ascii_case(host));
            if !own {
                return Err(forbidden(
                    ErrorKind::ForbiddenOrigin,
                    format!("requests from {origin} are refused: only this API's own pages may call it"),
                ));
            }
        }
        if text("sec-fetch-site") == Some("cross-site") {
            return Err(forbidden(
                ErrorKind::ForbiddenOrigin,
                "cross-site requests are refused",
            ));
        }
        if request.method() == Method::POST {
            let json = text(header::CONTENT_TYPE.as_str())
                .and_then(|t| t.split(';').next())
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
            if !json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ErrorKind::UnsupportedMediaType,
                    "request bodies must be Content-Type: application/json",
                ));
            }
        }
        Ok(())
    }
}

fn forbidden(kind: ErrorKind, message: impl ToString) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, kind, message)
}

/// The middleware.
pub(crate) async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    match guard.check(&request) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            guard.counters.api_errors.inc(e.kind.as_str());
            tracing::debug!(kind = e.kind.as_str(), "API request refused: {}", e.message);
            e.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, headers: &[(&str, &str)]) -> Request {
        let mut b = Request::builder().method(method).uri("/deploy");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn only_own_hosts_own_origins_and_json_bodies_pass() {
        let g = Guard::new(
            "127.0.0.1:7001".parse().unwrap(),
            &["ops.example".into()],
            Arc::default(),
        );
        let ok = |m, h: &[(&str, &str)]| g.check(&request(m, h)).map_err(|e| e.kind.as_str());
        assert_eq!(ok("GET", &[("host", "127.0.0.1:7001")]), Ok(()));
        assert_eq!(ok("GET", &[("host", "localhost:7001")]), Ok(()));
        assert_eq!(ok("GET", &[("host", "ops.example")]), Ok(()));
        assert_eq!(ok("GET", &[("host", "evil.example:7001")]), Err("forbidden_host"));
        assert_eq!(ok("GET", &[]), Err("forbidden_host"));
        let json = ("content-type", "application/json; charset=utf-8");
        assert_eq!(ok("POST", &[("host", "127.0.0.1:7001"), json]), Ok(()));
        assert_eq!(
            ok(
                "POST",
                &[("host", "127.0.0.1:7001"), ("content-type", "text/plain")]
            ),
            Err("unsupported_media_type")
        );
        assert_eq!(
            ok(
                "POST",
                &[
                    ("host", "127.0.0.1:7001"),
                    json,
                    ("origin", "http://evil.example")
                ]
            ),
            Err("forbidden_origin")
        );
        assert_eq!(
            ok(
                "POST",
                &[
                    ("host", "127.0.0.1:7001"),
                    json,
                    ("origin", "http://127.0.0.1:7001")
                ]
            ),
            Ok(())
        );
        assert_eq!(
            ok(
                "GET",
                &[("host", "127.0.0.1:7001"), ("sec-fetch-site", "cross-site")]
            ),
            Err("forbidden_origin")
        );
        let any = Guard::new("0.0.0.0:7001".parse().unwrap(), &[], Arc::default());
        assert!(any.check(&request("GET", &[("host", "10.1.2.3:7001")])).is_ok());
    }
}
