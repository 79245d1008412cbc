//! `hearsay keygen`: a deployment key pair (ed25519), or a cluster key.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use hearsay_node::keys::{public_path, write_cluster_key, write_deployment_key};

/// Arguments of `hearsay keygen`.
#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the secret (mode 0600); the public key goes to FILE.pub.
    #[arg(long)]
    out: PathBuf,
    /// Write a cluster key (authenticates gossip) instead of a deployment key pair.
    #[arg(long)]
    cluster: bool,
}

/// 32 bytes from the operating system's random source.
pub fn secret_bytes() -> Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).context("no randomness from the operating system")?;
    Ok(bytes)
}

pub fn run(args: KeygenArgs) -> Result<()> {
    let secret = secret_bytes()?;
    if args.cluster {
        write_cluster_key(&args.out, secret)?;
        say!(
            "cluster key written to {} (give it to every agent: --cluster-key)",
            args.out.display()
        );
    } else {
        let public = write_deployment_key(&args.out, secret)?;
        say!(
            "deployment key written to {} (secret) and {} (public {})",
            args.out.display(),
            public_path(&args.out).display(),
            hex::encode(public.as_bytes())
        );
        say!(
            "trust it with: hearsay agent --trusted-keys {} …",
            public_path(&args.out).display()
        );
    }
    Ok(())
}
