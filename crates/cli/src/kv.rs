//! `hearsay kv set|get|delete|list|watch`: keyed state through the kv module (module
//! ABI v2 commands, queries and events). `watch` opens the node's event stream and
//! prints each change of a key under a prefix as it happens, once per change.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use hearsay_client::event_client::EventQuery;
use hearsay_client::ApiClient;

/// Arguments of `hearsay kv`.
#[derive(Args)]
pub struct KvArgs {
    /// The node's API address.
    #[arg(long, global = true, default_value = "127.0.0.1:7001")]
    api: String,
    /// The kv module's name.
    #[arg(long, global = true, default_value = "kv")]
    module: String,
    #[command(subcommand)]
    op: KvOp,
}

#[derive(Subcommand)]
enum KvOp {
    /// Write a key at this node (the node owns it): `hearsay kv set service/web 10.0.0.7:80`.
    Set {
        /// The key (1–256 bytes).
        key: String,
        /// The value (at most 4 KiB).
        value: String,
        /// Delete it this long after, e.g. 30s, 5m (the writer deletes it).
        #[arg(long, value_parser = crate::deploy::parse_duration_ms)]
        ttl: Option<u64>,
    },
    /// Every live node's value of a key, one `NODE VALUE` line each.
    Get {
        /// The key.
        key: String,
        /// The answer's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a key this node wrote.
    Delete {
        /// The key.
        key: String,
    },
    /// Every live key starting with a prefix (all without one): `KEY NODE VALUE` lines.
    List {
        /// The prefix.
        #[arg(default_value = "")]
        prefix: String,
        /// The answer's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print each change of a key under a prefix as it happens: `set KEY NODE VALUE`
    /// or `removed KEY NODE REASON`.
    Watch {
        /// The prefix (all keys without one).
        #[arg(default_value = "")]
        prefix: String,
        /// Print each event's JSON.
        #[arg(long)]
        json: bool,
        /// Stop after this many changes.
        #[arg(long)]
        count: Option<usize>,
        /// Give up after this many seconds (exit status 1 if `--count` wasn't reached).
        #[arg(long)]
        timeout_s: Option<u64>,
    },
}

/// A query (or a command, with `command`) to the module: its answer, or its own
/// `error`.
fn ask(client: &ApiClient, module: &str, command: bool, args: &str) -> Result<serde_json::Value> {
    let answer = crate::block_on(async {
        Ok(if command {
            client.command(module, args).await?
        } else {
            client.query(module, args).await?
        })
    })?;
    if let Some(error) = answer.get("error").and_then(|e| e.as_str()) {
        bail!("{module}: {error}");
    }
    Ok(answer)
}

pub fn run(args: KvArgs) -> Result<()> {
    let client = ApiClient::new(&args.api)?;
    let module = args.module.clone();
    match args.op {
        KvOp::Set { key, value, ttl } => {
            let mut doc = json!({"op": "set", "key": key, "value": value});
            if let Some(ttl) = ttl {
                doc["ttl_ms"] = json!(ttl);
            }
            let answer = ask(&client, &module, true, &doc.to_string())?;
            say!("version {}", answer["version"]);
        }
        KvOp::Delete { key } => {
            let doc = json!({"op": "delete", "key": key});
            let answer = ask(&client, &module, true, &doc.to_string())?;
            if answer["deleted"] != true {
                bail!("{key}: no such key written at this node");
            }
        }
        KvOp::Get { key, json } => {
            let answer = ask(&client, &module, false, &format!("get {key}"))?;
            if json {
                say!("{answer}");
            } else {
                for v in answer["values"].as_array().into_iter().flatten() {
                    say!(
                        "{} {}",
                        v["node"].as_str().unwrap_or("?"),
                        v["value"].as_str().unwrap_or("")
                    );
                }
            }
        }
        KvOp::List { prefix, json } => {
            let answer = ask(&client, &module, false, &format!("list {prefix}"))?;
            if json {
                say!("{answer}");
            } else {
                for v in answer["keys"].as_array().into_iter().flatten() {
                    say!(
                        "{} {} {}",
                        v["key"].as_str().unwrap_or("?"),
                        v["node"].as_str().unwrap_or("?"),
                        v["value"].as_str().unwrap_or("")
                    );
                }
                if answer["truncated"] == true {
                    esay!("(truncated at {} entries)", answer["count"]);
                }
            }
        }
        KvOp::Watch {
            prefix,
            json,
            count,
            timeout_s,
        } => {
            let query = EventQuery {
                module: Some(module),
                kinds: vec!["key.set".to_string(), "key.removed".to_string()],
                after: None,
            };
            let api = args.api.clone();
            let stream = async move {
                let sub = client.events(&query).await?;
                // On stderr, so scripts (and tests) know no change from now on is missed.
                esay!("watching {prefix:?} at {api}");
                let mut printed = 0;
                crate::events::follow(&client, query, Some(sub), |record| {
                    let data = &record["data"];
                    let key = data["key"].as_str().unwrap_or("");
                    if !key.starts_with(prefix.as_str()) {
                        return true;
                    }
                    let node = data["node"].as_str().unwrap_or("?");
                    if json {
                        say!("{record}");
                    } else if record["kind"] == "key.set" {
                        say!("set {key} {node} {}", data["value"].as_str().unwrap_or(""));
                    } else {
                        say!("removed {key} {node} {}", data["reason"].as_str().unwrap_or(""));
                    }
                    printed += 1;
                    count.is_none_or(|c| printed < c)
                })
                .await
            };
            crate::events::with_timeout(timeout_s, count, stream)?;
        }
    }
    Ok(())
}
