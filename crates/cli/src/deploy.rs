//! `hearsay deploy`, `rollback` and `stop`: operators' commands through one node's
//! API. Each prints the new deployment (or its JSON with `--json`) and, with
//! `--watch A,B,…`, follows it until every listed node runs it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

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
    crate::block_on(async move {
        let d = client.deploy(&module, &wasm, params).await?;
        finish("deployed", &client, d, &args.out).await
    })
}

pub fn rollback(args: RollbackArgs) -> Result<()> {
    let client = ApiClient::new(&args.api)?;
    crate::block_on(async move {
        let d = client.rollback(&args.module, args.to.clone()).await?;
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
