//! `hearsay kelips put|get|delete`: the one-hop lookup through the kelips module
//! (module ABI v2 commands and events). A request for a key of another affinity group
//! travels to a contact there and its outcome comes back later, so the command opens
//! the node's event stream first, sends the request, and waits for the `result` event
//! with its id.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use hearsay_client::event_client::EventQuery;
use hearsay_client::ApiClient;

/// Arguments of `hearsay kelips`.
#[derive(Args)]
pub struct KelipsArgs {
    /// The node's API address.
    #[arg(long, global = true, default_value = "127.0.0.1:7001")]
    api: String,
    /// The kelips module's name.
    #[arg(long, global = true, default_value = "kelips")]
    module: String,
    /// Print the outcome's JSON (id, op, key, status, value, version, home, hops).
    #[arg(long, global = true)]
    json: bool,
    /// Give up waiting for the outcome after this many seconds.
    #[arg(long, global = true, default_value_t = 10)]
    timeout_s: u64,
    #[command(subcommand)]
    op: KelipsOp,
}

#[derive(Subcommand)]
enum KelipsOp {
    /// Store a value under a key in the key's affinity group: `hearsay kelips put file/a 10.0.0.7`.
    Put {
        /// The key (1–256 bytes).
        key: String,
        /// The value (at most 1 KiB).
        value: String,
    },
    /// Read a key's value (exit status 1 when there is none).
    Get {
        /// The key.
        key: String,
    },
    /// Delete a key.
    Delete {
        /// The key.
        key: String,
    },
}

/// Sends the request and returns its outcome: at once when the node answered it
/// itself, else from the event stream.
async fn request(client: &ApiClient, module: &str, args: serde_json::Value) -> Result<serde_json::Value> {
    let query = EventQuery {
        module: Some(module.to_string()),
        kinds: vec!["result".to_string()],
        after: None,
    };
    // The stream first, so the outcome cannot go by before we listen.
    let sub = client.events(&query).await?;
    let answer = client.command(module, &args.to_string()).await?;
    if let Some(error) = answer.get("error").and_then(|e| e.as_str()) {
        bail!("{module}: {error}");
    }
    if answer["done"] == true {
        return Ok(answer);
    }
    let id = answer["id"]
        .as_u64()
        .context("the module's answer has no request id")?;
    let mut outcome = None;
    crate::events::follow(client, query, Some(sub), |record| {
        if record["data"]["id"].as_u64() == Some(id) {
            outcome = Some(record["data"].clone());
            return false;
        }
        true
    })
    .await?;
    outcome.context("the event stream ended before the outcome")
}

pub fn run(args: KelipsArgs) -> Result<()> {
    let client = ApiClient::new(&args.api)?;
    let (doc, key) = match &args.op {
        KelipsOp::Put { key, value } => (json!({"op": "put", "key": key, "value": value}), key.clone()),
        KelipsOp::Get { key } => (json!({"op": "get", "key": key}), key.clone()),
        KelipsOp::Delete { key } => (json!({"op": "delete", "key": key}), key.clone()),
    };
    let module = args.module.clone();
    let timeout = Duration::from_secs(args.timeout_s);
    let outcome = crate::block_on(async move {
        match tokio::time::timeout(timeout, request(&client, &module, doc)).await {
            Ok(outcome) => outcome,
            Err(_) => bail!("no outcome within {timeout:?}"),
        }
    })?;
    if args.json {
        say!("{outcome}");
    }
    let hops = outcome["hops"].as_u64().unwrap_or(0);
    let deleted = matches!(args.op, KelipsOp::Delete { .. });
    match outcome["status"].as_str().unwrap_or("") {
        "found" if !args.json => say!("{}", outcome["value"].as_str().unwrap_or("")),
        "found" => {}
        "stored" if !args.json => say!(
            "{} {key} version {} at {} ({hops} hop{})",
            if deleted { "deleted" } else { "stored" },
            outcome["version"],
            outcome["home"].as_str().unwrap_or("?"),
            if hops == 1 { "" } else { "s" }
        ),
        "stored" => {}
        "not_found" => bail!("{key}: not found"),
        _ => bail!("{key}: no node of the key's group answered"),
    }
    Ok(())
}
