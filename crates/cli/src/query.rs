//! `hearsay query`: asks a module on one node its own query and prints the JSON
//! answer (for membership: `{"self":…,"live":[…],"suspected":[…]}`; args `count` or
//! `table` for other views).

use anyhow::Result;
use clap::Args;

use hearsay_node::ApiClient;

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
