//! `hearsay events`: a node's event stream printed as it happens, as `serf monitor`
//! does — deployments adopted, code fetched, instances started, failed, rolled back,
//! peers unreachable — one line each (or the JSON records with `--json`). A broken
//! connection is resumed after the last event seen, so nothing is printed twice or
//! lost while the node keeps it (the last 1,024 events).

use std::time::Duration;

use anyhow::Result;
use clap::Args;

use hearsay_client::event_client::{EventQuery, EventSubscription};
use hearsay_client::ApiClient;

/// Arguments of `hearsay events`.
#[derive(Args)]
pub struct EventsArgs {
    /// The node's API address.
    #[arg(long)]
    api: String,
    /// Only events about this module.
    #[arg(long)]
    module: Option<String>,
    /// Only these kinds (comma-separated: deployment_adopted, started, failed, …).
    #[arg(long, value_delimiter = ',')]
    kind: Vec<String>,
    /// Start after this event id (the node's kept events after it first).
    #[arg(long)]
    after: Option<u64>,
    /// Stop after this many events.
    #[arg(long)]
    count: Option<usize>,
    /// Print each event's JSON record, one per line.
    #[arg(long)]
    json: bool,
    /// Give up after this many seconds (exit status 1 if `--count` wasn't reached).
    #[arg(long)]
    timeout_s: Option<u64>,
}

pub fn run(args: EventsArgs) -> Result<()> {
    let client = ApiClient::new(&args.api)?;
    let query = EventQuery {
        module: args.module.clone(),
        kinds: args.kind.clone(),
        after: args.after,
    };
    let count = args.count;
    let json = args.json;
    let mut printed = 0;
    let stream = async move {
        follow(&client, query, None, |record| {
            print(record, json);
            printed += 1;
            count.is_none_or(|c| printed < c)
        })
        .await
    };
    with_timeout(args.timeout_s, count, stream)
}

/// Runs `stream` to its end, or for `timeout_s` seconds: running out of time is an
/// error only when a `count` of events was asked for.
pub fn with_timeout(
    timeout_s: Option<u64>,
    count: Option<usize>,
    stream: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    let timeout = timeout_s.map(Duration::from_secs);
    crate::block_on(async move {
        match timeout {
            None => stream.await,
            Some(t) => match tokio::time::timeout(t, stream).await {
                Ok(result) => result,
                Err(_) if count.is_some() => {
                    anyhow::bail!("fewer than {} events within {t:?}", count.unwrap_or(0))
                }
                Err(_) => Ok(()),
            },
        }
    })
}

/// Follows a node's event stream, calling `each` with every record until it returns
/// false. A broken connection is resumed after the last event seen (the first
/// connection's error is the answer). `first` is a subscription already open (so a
/// caller can act once the stream is live without missing what follows).
pub async fn follow(
    client: &ApiClient,
    mut query: EventQuery,
    first: Option<EventSubscription>,
    mut each: impl FnMut(&serde_json::Value) -> bool,
) -> Result<()> {
    let mut open = first;
    let mut connected = open.is_some();
    loop {
        let mut sub = match open.take() {
            Some(sub) => sub,
            None => match client.events(&query).await {
                Ok(sub) => sub,
                Err(e) if !connected => return Err(e.into()),
                Err(e) => {
                    esay!("hearsay: event stream: {e}; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        connected = true;
        while let Some(event) = sub.next().await {
            match event {
                Ok(record) => {
                    if !each(&record) {
                        return Ok(());
                    }
                }
                Err(e) => {
                    esay!("hearsay: event stream: {e}; resuming");
                    break;
                }
            }
        }
        query.after = sub.last_id.or(query.after);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn print(record: &serde_json::Value, json: bool) {
    if json {
        say!("{record}");
        return;
    }
    let text = |k: &str| record[k].as_str().unwrap_or("-").to_string();
    say!(
        "{} {:<5} {:<18} {}",
        record["time_ms"].as_u64().unwrap_or(0),
        text("severity"),
        text("kind"),
        record["message"].as_str().unwrap_or(""),
    );
}
