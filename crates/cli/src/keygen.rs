//! `hearsay keygen`: a deployment key pair (ed25519), a cluster key, or a TLS
//! certificate (and its cluster CA).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use hearsay_node::keys::{public_path, write_cluster_key, write_deployment_key};

use crate::keygen_tls::{self, CertFiles};

/// Arguments of `hearsay keygen`.
#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the secret (mode 0600); the public key goes to FILE.pub.
    #[arg(long)]
    out: PathBuf,
    /// Write a cluster key (authenticates gossip) instead of a deployment key pair.
    #[arg(long, conflicts_with = "tls")]
    cluster: bool,
    /// Write a TLS certificate OUT.pem and its key OUT.key, issued by the cluster CA
    /// given with --ca (or by a new one written to OUT-ca.pem / OUT-ca.key).
    #[arg(long)]
    tls: bool,
    /// With --tls: the CA to issue from, as the prefix of its .pem and .key files.
    #[arg(long, requires = "tls")]
    ca: Option<PathBuf>,
    /// With --tls: the certificate's name (informational: peers check the CA, not names).
    #[arg(long, requires = "tls", default_value = "hearsay-node")]
    name: String,
}

/// 32 bytes from the operating system's random source.
pub fn secret_bytes() -> Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).context("no randomness from the operating system")?;
    Ok(bytes)
}

fn tls(args: &KeygenArgs) -> Result<()> {
    let ca_prefix = match &args.ca {
        Some(ca) => ca.clone(),
        None => {
            let mut p = args.out.as_os_str().to_owned();
            p.push("-ca");
            let prefix = PathBuf::from(p);
            keygen_tls::new_ca(&CertFiles::at(&prefix))?;
            say!(
                "cluster CA written to {} (secret: keep it off the nodes) and {}",
                CertFiles::at(&prefix).key.display(),
                CertFiles::at(&prefix).cert.display()
            );
            prefix
        }
    };
    let (ca, out) = (CertFiles::at(&ca_prefix), CertFiles::at(&args.out));
    keygen_tls::issue(&ca, &out, &args.name)?;
    say!(
        "certificate written to {} and {} (secret)",
        out.cert.display(),
        out.key.display()
    );
    say!(
        "use it with: hearsay agent --tls-cert {} --tls-key {} --tls-ca {} …",
        out.cert.display(),
        out.key.display(),
        ca.cert.display()
    );
    Ok(())
}

pub fn run(args: KeygenArgs) -> Result<()> {
    if args.tls {
        return tls(&args);
    }
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
