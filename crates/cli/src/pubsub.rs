//! `hearsay publish` and `hearsay subscribe`: publish/subscribe through the
//! broadcast module (module ABI v2 commands and events). `subscribe` opens the node's
//! event stream, then subscribes the node to the topic, then prints each message
//! delivered on it as it arrives (the text, or the event's JSON with `--json`).

use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;

use hearsay_client::event_client::EventQuery;
use hearsay_client::ApiClient;

/// Arguments of `hearsay publish`.
#[derive(Args)]
pub struct PublishArgs {
    /// The node's API address.
    #[arg(long)]
    api: String,
    /// The broadcast module's name.
    #[arg(long, default_value = "broadcast")]
    module: String,
    /// The topic (1–64 bytes).
    topic: String,
    /// The message (text, at most 16 KiB).
    message: String,
}

/// Arguments of `hearsay subscribe`.
#[derive(Args)]
pub struct SubscribeArgs {
    /// The node's API address.
    #[arg(long)]
    api: String,
    /// The broadcast module's name.
    #[arg(long, default_value = "broadcast")]
    module: String,
    /// The topic (1–64 bytes).
    topic: String,
    /// Print each delivery's JSON (topic, id, hops, origin, message).
    #[arg(long)]
    json: bool,
    /// Stop after this many messages.
    #[arg(long)]
    count: Option<usize>,
    /// Give up after this many seconds (exit status 1 if `--count` wasn't reached).
    #[arg(long)]
    timeout_s: Option<u64>,
}

/// A module's command answer, or why it failed (the module's own `error`).
async fn command(client: &ApiClient, module: &str, args: serde_json::Value) -> Result<serde_json::Value> {
    let answer = client.command(module, &args.to_string()).await?;
    if let Some(error) = answer.get("error").and_then(|e| e.as_str()) {
        bail!("{module}: {error}");
    }
    Ok(answer)
}

pub fn publish(args: PublishArgs) -> Result<()> {
    let client = ApiClient::new(&args.api)?;
    let answer = crate::block_on(async move {
        command(
            &client,
            &args.module,
            json!({"op": "publish", "topic": args.topic, "message": args.message}),
        )
        .await
    })?;
    say!("{}", answer["id"].as_str().unwrap_or("?"));
    Ok(())
}

pub fn subscribe(args: SubscribeArgs) -> Result<()> {
    let client = ApiClient::new(&args.api)?;
    let query = EventQuery {
        module: Some(args.module.clone()),
        kinds: vec!["message".to_string()],
        after: None,
    };
    let topic = args.topic.clone();
    let (json, count) = (args.json, args.count);
    let stream = async move {
        // The stream first, so no message delivered after the subscription is missed.
        let sub = client.events(&query).await?;
        command(
            &client,
            &args.module,
            json!({"op": "subscribe", "topic": args.topic}),
        )
        .await?;
        let mut printed = 0;
        crate::events::follow(&client, query, Some(sub), |record| {
            let data = &record["data"];
            if data["topic"] != topic.as_str() {
                return true;
            }
            if json {
                say!("{data}");
            } else {
                say!("{}", data["message"].as_str().unwrap_or(""));
            }
            printed += 1;
            count.is_none_or(|c| printed < c)
        })
        .await
    };
    crate::events::with_timeout(args.timeout_s, count, stream)
}
