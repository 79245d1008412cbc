//! `hearsay keygen --tls`: a cluster certificate authority and the certificates it
//! issues (ECDSA P-256, by rcgen). Every agent presents one and trusts the CA; names
//! are not checked (peers are gossiped ip:ports), the CA is the boundary: see
//! SECURITY.md. Validity is rcgen's default (1975–4096): rotation is a rolling
//! restart with new files, not an expiry.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hearsay_node::keys::{ensure_private, write_new};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The CA's subject: an issuer rebuilt from the CA's key must carry the same one for
/// the chains it signs to verify.
const CA_NAME: &str = "hearsay cluster CA";

/// The files of one identity: `PREFIX.pem` (certificate) and `PREFIX.key` (secret).
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    pub fn at(prefix: &Path) -> CertFiles {
        let with = |ext: &str| {
            let mut p = prefix.as_os_str().to_owned();
            p.push(ext);
            PathBuf::from(p)
        };
        CertFiles {
            cert: with(".pem"),
            key: with(".key"),
        }
    }
}

fn ca_params() -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

fn write(files: &CertFiles, cert_pem: &str, key: &KeyPair) -> Result<()> {
    write_new(&files.key, &key.serialize_pem(), 0o600)?;
    write_new(&files.cert, cert_pem, 0o644)?;
    Ok(())
}

/// Makes a new CA at `ca` (`.pem`, `.key`).
pub fn new_ca(ca: &CertFiles) -> Result<()> {
    let key = KeyPair::generate()?;
    let cert = ca_params()?.self_signed(&key)?;
    write(ca, &cert.pem(), &key)
}

/// Issues a node certificate (server and client auth) at `out`, signed by the CA
/// whose secret key is `ca.key`.
pub fn issue(ca: &CertFiles, out: &CertFiles, name: &str) -> Result<()> {
    ensure_private(&ca.key)?;
    let ca_pem =
        std::fs::read_to_string(&ca.key).with_context(|| format!("cannot read {}", ca.key.display()))?;
    let ca_key =
        KeyPair::from_pem(&ca_pem).with_context(|| format!("{} is not a CA key", ca.key.display()))?;
    let issuer = Issuer::new(ca_params()?, ca_key);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![name.to_string()])?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.signed_by(&key, &issuer)?;
    write(out, &cert.pem(), &key)
}
