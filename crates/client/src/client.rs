//! [`ApiClient`]: the calls of the management API, and [`ClientError`]: why one
//! failed.

use std::time::Duration;

use base64::Engine as _;
use serde::de::DeserializeOwned;

use crate::api_types::{
    DeployRequest, DeployResponse, DeploymentInfo, ErrorBody, RollbackRequest, StatusReport, StopRequest,
};

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address is not usable.
    #[error("bad API address {0:?}: expected HOST:PORT")]
    BadAddress(String),
    /// No answer (not running, wrong port, timeout).
    #[error("cannot reach the agent API at {addr}: {reason}")]
    Unreachable {
        /// The API address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The agent refused the request.
    #[error("{} ({})", .0.error, .0.kind)]
    Refused(ErrorBody),
    /// The agent answered something unexpected.
    #[error("unexpected answer from {addr}: {reason}")]
    Protocol {
        /// The API address.
        addr: String,
        /// What was wrong.
        reason: String,
    },
}

/// The management API of one agent.
#[derive(Debug, Clone)]
pub struct ApiClient {
    pub(crate) addr: String,
    http: reqwest::Client,
    /// Bearer token for an API that requires one (`HEARSAY_API_TOKEN`).
    token: Option<String>,
}

impl ApiClient {
    /// A client of the agent whose API listens at `addr` (`HOST:PORT`, or an
    /// `http://` URL).
    pub fn new(addr: &str) -> Result<Self, ClientError> {
        let addr = addr
            .trim()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        if addr.is_empty() || !addr.contains(':') || addr.contains('/') {
            return Err(ClientError::BadAddress(addr));
        }
        // reqwest is built with rustls (the agent speaks TLS to peers), which needs a
        // process-wide provider even for plain-HTTP API calls.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .map_err(|e| ClientError::Unreachable {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
        let token = std::env::var("HEARSAY_API_TOKEN").ok().filter(|t| !t.is_empty());
        Ok(ApiClient { addr, http, token })
    }

    /// The address this client talks to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `GET /status`.
    pub async fn status(&self) -> Result<StatusReport, ClientError> {
        self.json(self.http.get(self.url("/status"))).await
    }

    /// `POST /deploy`.
    pub async fn deploy(
        &self,
        module: &str,
        wasm: &[u8],
        params: Option<serde_json::Value>,
    ) -> Result<DeploymentInfo, ClientError> {
        self.deploy_request(&DeployRequest::new(module, wasm, params))
            .await
    }

    /// `POST /deploy` with everything a request may say (budget, rollback policy).
    pub async fn deploy_request(&self, req: &DeployRequest) -> Result<DeploymentInfo, ClientError> {
        let r: DeployResponse = self.json(self.http.post(self.url("/deploy")).json(req)).await?;
        Ok(r.deployment)
    }

    /// `POST /rollback`.
    pub async fn rollback(&self, module: &str, to: Option<String>) -> Result<DeploymentInfo, ClientError> {
        let req = RollbackRequest {
            module: module.to_string(),
            to,
        };
        let r: DeployResponse = self
            .json(self.http.post(self.url("/rollback")).json(&req))
            .await?;
        Ok(r.deployment)
    }

    /// `POST /stop`.
    pub async fn stop(&self, module: &str) -> Result<DeploymentInfo, ClientError> {
        let req = StopRequest {
            module: module.to_string(),
        };
        let r: DeployResponse = self.json(self.http.post(self.url("/stop")).json(&req)).await?;
        Ok(r.deployment)
    }

    /// `GET /modules/{module}/query?args=…`: the module's JSON answer.
    pub async fn query(&self, module: &str, args: &str) -> Result<serde_json::Value, ClientError> {
        let url = self.url(&format!("/modules/{module}/query"));
        self.json(self.http.get(url).query(&[("args", args)])).await
    }

    /// `POST /modules/{name}/command`: a module's command (ABI v2) and its answer.
    pub async fn command(&self, module: &str, args: &str) -> Result<serde_json::Value, ClientError> {
        let url = self.url(&format!("/modules/{module}/command"));
        let body = crate::api_types::CommandRequest {
            args: args.to_string(),
        };
        self.json(self.http.post(url).json(&body)).await
    }

    /// `GET /metrics`: Prometheus text.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let r = self.send(self.http.get(self.url("/metrics"))).await?;
        r.text().await.map_err(|e| self.protocol(e))
    }

    /// The URL of an API route (`/status` → `http://ADDR/v1/status`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}/v1{path}", self.addr)
    }

    /// `GET /modules/{name}/next`: the number to sign a new deployment with.
    pub async fn next(&self, module: &str) -> Result<crate::api_types::NextReport, ClientError> {
        self.json(self.http.get(self.url(&format!("/modules/{module}/next"))))
            .await
    }

    /// `POST /deploy-record`: a record signed here, with its code unless stored there.
    pub async fn deploy_record(
        &self,
        record: &hearsay_core::Deployment,
        wasm: Option<&[u8]>,
    ) -> Result<DeploymentInfo, ClientError> {
        let body = crate::api_types::DeployRecordRequest {
            record: record.clone(),
            wasm_base64: wasm.map(|w| base64::engine::general_purpose::STANDARD.encode(w)),
        };
        let r: DeployResponse = self
            .json(self.http.post(self.url("/deploy-record")).json(&body))
            .await?;
        Ok(r.deployment)
    }

    pub(crate) async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let req = match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        };
        let r = req.send().await.map_err(|e| ClientError::Unreachable {
            addr: self.addr.clone(),
            reason: if e.is_timeout() {
                "timed out".to_string()
            } else if e.is_connect() {
                "connection refused (is the agent running?)".to_string()
            } else {
                e.to_string()
            },
        })?;
        if r.status().is_success() {
            return Ok(r);
        }
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(ClientError::Refused(body)),
            Err(_) => Err(self.protocol(format!("HTTP {status}: {}", text.trim()))),
        }
    }

    async fn json<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, ClientError> {
        let r = self.send(req).await?;
        let bytes = r.bytes().await.map_err(|e| self.protocol(e))?;
        serde_json::from_slice(&bytes).map_err(|e| self.protocol(e))
    }

    fn protocol(&self, reason: impl ToString) -> ClientError {
        ClientError::Protocol {
            addr: self.addr.clone(),
            reason: reason.to_string(),
        }
    }
}
