//! A client of the hearsay agent's management API (docs/api.md): the JSON documents
//! it speaks ([`api_types`]), the calls ([`ApiClient`]) and the event stream
//! ([`event_client`]). The `hearsay` command line is built on it; it links neither
//! wasmtime nor a server, so a program that only talks to agents stays small.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hearsay_client::ClientError> {
//! let agent = hearsay_client::ApiClient::new("127.0.0.1:7001")?;
//! let status = agent.status().await?;
//! println!("{} runs {} modules", status.node_id, status.modules.len());
//! let members = agent.query("membership", "members").await?;
//! println!("{members}");
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod api_types;
pub mod client;
pub mod event_client;

pub use api_types::{DeploymentInfo, ModuleReport, StatusReport};
pub use client::{ApiClient, ClientError};
pub use event_client::{EventQuery, EventSubscription};
