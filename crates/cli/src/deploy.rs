//! `hearsay deploy`, `rollback` and `stop`: operators' commands through one node's
//! API. Each prints the new deployment (or its JSON with `--json`) and, with
//! `--watch A,B,…`, follows it until every listed node runs it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use ed25519_dalek::SigningKey;
use hearsay_core::{CodeVersion, Deployment, ModuleName};
use hearsay_node::client::ClientError;
use hearsay_node::keys::read_signing_key;
use hearsay_node::{ApiClient, DeploymentInfo};

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
    #[command(flatten)]
    out: Output,
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
                signed(&client, &module, &key, Some(&wasm), |current| {
                    Ok((Some(version), params.clone(), current))
                })
                .await?
            }
            None => client.deploy(&module, &wasm, params).await?,
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
    make: impl Fn(Option<Deployment>) -> Result<(Option<CodeVersion>, String, Option<Deployment>)>,
) -> Result<DeploymentInfo> {
    let name = ModuleName::new(module).map_err(|e| anyhow::anyhow!("{e}"))?;
    for _ in 0..3 {
        let next = client.next(module).await?;
        let (version, params, current) = make(next.current)?;
        let mut record = Deployment {
            module: name.clone(),
            version,
            number: next.number,
            params,
            previous: current.and_then(|c| c.version),
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
                    Ok((Some(target), current.params.clone(), Some(current)))
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
    crate::block_on(async move {
        let d = client.stop(&args.module).await?;
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
