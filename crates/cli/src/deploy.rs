//! `hearsay deploy`, `rollback` and `stop`: operators' commands through one node's
//! API. Each prints the new deployment (or its JSON with `--json`) and, with
//! `--watch A,B,…`, follows it until every listed node runs it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use ed25519_dalek::SigningKey;
use hearsay_client::api_types::DeployRequest;
use hearsay_client::client::ClientError;
use hearsay_client::{ApiClient, DeploymentInfo};
use hearsay_core::{BudgetOverrides, CodeVersion, DeploySpec, Deployment, ModuleName};
use hearsay_node::keys::read_signing_key;

use crate::watch::{self, Target, WatchOpts};

/// Arguments of `hearsay deploy`.
#[derive(Args)]
pub struct DeployArgs {
    /// The node's API address.
    #[arg(long)]
    api: String,
    /// The module name ([a-z0-9][a-z0-9_-]*).
    module: String,
    /// The module's WebAssembly file.
    file: PathBuf,
    /// Params handed to the module at start (JSON).
    #[arg(long)]
    params: Option<String>,
    /// Sign the deployment with this deployment key (secret file from `hearsay keygen`).
    #[arg(long)]
    key: Option<PathBuf>,
    /// What the module may consume where it differs from the node's defaults,
    /// KEY=VALUE, repeatable: messages_per_s, bytes_per_s, receive_per_peer_per_s,
    /// fuel_per_s, logs_per_s, memory_bytes, state_bytes, fail_after_s.
    #[arg(long = "budget", value_name = "KEY=VALUE")]
    budget: Vec<String>,
    /// Roll back automatically (to the version this deployment replaces) on a node
    /// where it stays failed this long, e.g. 30s, 2m, 500ms. Off by default.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    auto_rollback: Option<u64>,
    #[command(flatten)]
    out: Output,
}

/// A duration as milliseconds: `500ms`, `30s`, `2m`, or a plain number of ms.
pub(crate) fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "ms"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s"))?;
    let ms = match unit {
        "ms" => n,
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        _ => return Err(format!("unknown unit {unit:?} in {text:?} (ms, s, m, h)")),
    };
    if ms == 0 {
        return Err("the duration must be more than 0".into());
    }
    Ok(ms)
}

/// Arguments of `hearsay rollback`.
#[derive(Args)]
pub struct RollbackArgs {
    /// The node's API address.
    #[arg(long)]
    api: String,
    /// The module name.
    module: String,
    /// The code version to go back to (64 hex digits or a unique prefix of 8+)
    /// [default: the version the current deployment replaced].
    #[arg(long)]
    to: Option<String>,
    /// Sign the rollback with this deployment key.
    #[arg(long)]
    key: Option<PathBuf>,
    #[command(flatten)]
    out: Output,
}

/// Arguments of `hearsay stop`.
#[derive(Args)]
pub struct StopArgs {
    /// The node's API address.
    #[arg(long)]
    api: String,
    /// The module name.
    module: String,
    /// Sign the stop with this deployment key (needed where nodes take only signed
    /// deployments and the node doesn't sign its own).
    #[arg(long)]
    key: Option<PathBuf>,
    #[command(flatten)]
    out: Output,
}

#[derive(Args)]
struct Output {
    /// Print the deployment as one line of JSON.
    #[arg(long)]
    json: bool,
    /// Then wait until every node of this comma-separated list of API addresses runs
    /// it, printing progress.
    #[arg(long, value_delimiter = ',')]
    watch: Vec<String>,
    #[command(flatten)]
    opts: WatchOpts,
}

pub fn deploy(args: DeployArgs) -> Result<()> {
    let wasm = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let params = match &args.params {
        Some(p) => Some(serde_json::from_str(p).context("--params must be JSON")?),
        None => None,
    };
    let mut budget = BudgetOverrides::none();
    for text in &args.budget {
        budget.set_text(text).context("--budget")?;
    }
    let client = ApiClient::new(&args.api)?;
    let module = args.module.clone();
    let key = args.key.as_deref().map(read_signing_key).transpose()?;
    crate::block_on(async move {
        let d = match key {
            Some(key) => {
                let params = match params {
                    None | Some(serde_json::Value::Null) => String::new(),
                    Some(serde_json::Value::String(p)) => p,
                    Some(v) => v.to_string(),
                };
                let version = CodeVersion::of(&wasm);
                let spec = DeploySpec {
                    params,
                    budget,
                    auto_rollback_ms: args.auto_rollback,
                };
                signed(&client, &module, &key, Some(&wasm), |current| {
                    Ok((Some(version), spec.clone(), current))
                })
                .await?
            }
            None => {
                let mut req = DeployRequest::new(&module, &wasm, params);
                req.budget =
                    (!budget.is_empty()).then(|| budget.iter().map(|(k, v)| (k.to_string(), v)).collect());
                req.auto_rollback_ms = args.auto_rollback;
                client.deploy_request(&req).await?
            }
        };
        finish("deployed", &client, d, &args.out).await
    })
}

/// Deploys a record signed here: asks the node for the number to use, signs, sends;
/// if another deployment took the number meanwhile, asks again.
async fn signed(
    client: &ApiClient,
    module: &str,
    key: &SigningKey,
    wasm: Option<&[u8]>,
    make: impl Fn(Option<Deployment>) -> Result<(Option<CodeVersion>, DeploySpec, Option<Deployment>)>,
) -> Result<DeploymentInfo> {
    let name = ModuleName::new(module).map_err(|e| anyhow::anyhow!("{e}"))?;
    for _ in 0..3 {
        let next = client.next(module).await?;
        let (version, spec, current) = make(next.current)?;
        let mut record = Deployment {
            module: name.clone(),
            version,
            number: next.number,
            params: spec.params,
            previous: current.and_then(|c| c.version),
            budget: spec.budget,
            auto_rollback_ms: spec.auto_rollback_ms,
            signature: None,
        };
        hearsay_core::trust::sign(&mut record, key);
        match client.deploy_record(&record, wasm).await {
            Err(ClientError::Refused(body)) if body.kind == "stale_number" => continue,
            other => return Ok(other?),
        }
    }
    anyhow::bail!("the deployment number kept being taken by other deployments; try again")
}

pub fn rollback(args: RollbackArgs) -> Result<()> {
    let client = ApiClient::new(&args.api)?;
    let key = args.key.as_deref().map(read_signing_key).transpose()?;
    crate::block_on(async move {
        let d = match key {
            Some(key) => {
                let to =
                    match &args.to {
                        Some(t) => Some(t.trim().trim_start_matches('v').parse::<CodeVersion>().map_err(
                            |e| anyhow::anyhow!("{e} (a signed rollback names the full version)"),
                        )?),
                        None => None,
                    };
                let module = args.module.clone();
                signed(&client, &args.module, &key, None, move |current| {
                    let Some(current) = current else {
                        anyhow::bail!("module {module} is not deployed");
                    };
                    let Some(target) = to.or(current.previous) else {
                        anyhow::bail!(
                            "module {module} has no previous version to roll back to; name one with --to"
                        );
                    };
                    // As a rollback through the API: same params and budget, no policy.
                    let spec = DeploySpec {
                        params: current.params.clone(),
                        budget: current.budget.clone(),
                        auto_rollback_ms: None,
                    };
                    Ok((Some(target), spec, Some(current)))
                })
                .await
                .with_context(|| format!("signed rollback of {}", args.module))?
            }
            None => client.rollback(&args.module, args.to.clone()).await?,
        };
        finish("rolled back", &client, d, &args.out).await
    })
}

pub fn stop(args: StopArgs) -> Result<()> {
    let client = ApiClient::new(&args.api)?;
    let key = args.key.as_deref().map(read_signing_key).transpose()?;
    crate::block_on(async move {
        let d = match key {
            Some(key) => {
                let module = args.module.clone();
                signed(&client, &args.module, &key, None, move |current| {
                    let Some(current) = current else {
                        anyhow::bail!("module {module} is not deployed");
                    };
                    // A deployment with no code, as a stop through the API.
                    Ok((None, DeploySpec::default(), Some(current)))
                })
                .await
                .with_context(|| format!("signed stop of {}", args.module))?
            }
            None => client.stop(&args.module).await?,
        };
        finish("stopped", &client, d, &args.out).await
    })
}

async fn finish(what: &str, client: &ApiClient, d: DeploymentInfo, out: &Output) -> Result<()> {
    if out.json {
        say!("{}", serde_json::to_string(&d)?);
    } else {
        let version = d
            .version
            .as_deref()
            .map_or("(no code)".to_string(), crate::watch::short_version);
        say!(
            "{what} {} {version} as deployment {} through {}",
            d.module,
            d.number,
            client.addr()
        );
    }
    if !out.watch.is_empty() {
        let clients = watch::clients(&out.watch)?;
        watch::converge(&clients, &Target::of(&d, out.opts.label.clone()), &out.opts).await?;
    }
    Ok(())
}
