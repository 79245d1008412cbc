//! `hearsay query` and `hearsay command`: a module's own read-only query, or a
//! state-changing command (ABI v2), on one node, and its JSON answer (membership's
//! query: `{"self":…,"live":[…],"suspected":[…]}`; args `count` or `table` for other
//! views).

use anyhow::Result;
use clap::Args;

use hearsay_client::ApiClient;

/// Arguments of `hearsay query`.
#[derive(Args)]
pub struct QueryArgs {
    /// The node's API address.
    #[arg(long)]
    api: String,
    /// The module.
    module: String,
    /// The query's arguments (module-defined).
    #[arg(default_value = "")]
    args: String,
}

pub fn run(args: QueryArgs) -> Result<()> {
    let client = ApiClient::new(&args.api)?;
    let answer = crate::block_on(async move { Ok(client.query(&args.module, &args.args).await?) })?;
    say!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

/// `hearsay command`: the same arguments as `query`.
pub fn command(args: QueryArgs) -> Result<()> {
    let client = ApiClient::new(&args.api)?;
    let answer = crate::block_on(async move { Ok(client.command(&args.module, &args.args).await?) })?;
    say!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}
