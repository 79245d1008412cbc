//! TLS for the gossip listener and for this node's requests to peers (rustls, ring).
//!
//! A cluster has one certificate authority. Each agent presents a certificate it
//! issued — as a server and, mutually, as a client — and accepts only peers whose
//! certificate chains to it, so nobody outside the cluster can read the gossip on the
//! wire, post envelopes, or download code (`GET /code/…`). Peers are addressed by the
//! ip:port they gossip, learned at run time, so names are not checked: the CA is
//! the cluster's boundary (as with Consul's `verify_server_hostname = false`). Who may
//! deploy is still decided by the signed records, and envelope authenticity by the
//! cluster key; TLS adds confidentiality and keeps strangers off the port.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme,
};

use crate::error::NodeError;

/// The PEM files of a node's TLS identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// This node's certificate (chain), issued by the cluster CA.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
    /// The cluster CA certificate(s): peers must chain to one of them.
    pub ca: PathBuf,
}

/// Both sides of a node's TLS, loaded and checked.
#[derive(Clone)]
pub struct Tls {
    /// For the gossip listener (client certificates required).
    pub server: Arc<ServerConfig>,
    /// For requests to peers (presents this node's certificate).
    pub client: ClientConfig,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes ring the process's rustls provider. reqwest builds a TLS configuration for
/// every client (we build it without a default provider so aws-lc-rs isn't compiled),
/// so this runs before any client is made; later calls are no-ops.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Counts a handshake refused on the gossip listener and says why in the log: the
/// first, then ever more rarely (1, 2, 4, 8, … so far), so a peer set up without this
/// cluster's TLS — clear text, another CA — is visible without flooding the log.
pub(crate) fn handshake_refused(counters: &crate::counters::NodeCounters, why: &str) {
    let n = counters.tls_handshakes_failed.get() + 1;
    counters.tls_handshakes_failed.inc();
    if n.is_power_of_two() {
        tracing::warn!(
            refused = n,
            "TLS: refused a handshake on the gossip listener ({why}): a peer without this cluster's TLS \
             (clear text, or a certificate of another CA) is talking to this node"
        );
    }
}

/// Refuses a "CA" file whose first certificate is not a certificate authority (a
/// node's own certificate given as `--tls-ca` would make the node refuse every peer).
fn ensure_ca(path: &Path, ca: &CertificateDer<'_>) -> Result<(), NodeError> {
    let (_, cert) = x509_parser::parse_x509_certificate(ca)
        .map_err(|e| bad(path, format!("not an X.509 certificate: {e}")))?;
    let is_ca = cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|b| b.value.ca);
    if !is_ca {
        return Err(bad(
            path,
            "this certificate is not a certificate authority (no CA:true): give the cluster CA (hearsay keygen --tls makes PREFIX-ca.pem), not a node's certificate",
        ));
    }
    Ok(())
}

fn bad(path: &Path, what: impl std::fmt::Display) -> NodeError {
    NodeError::Config(format!("TLS: {}: {what}", path.display()))
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, NodeError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(path, e))?;
    if certs.is_empty() {
        return Err(bad(path, "no certificate in this PEM file"));
    }
    Ok(certs)
}

impl Tls {
    /// Reads the files and builds both configurations; any unreadable file, a key
    /// that doesn't match the certificate, or a CA that isn't one is refused here,
    /// before the agent binds anything.
    pub fn load(files: &TlsFiles) -> Result<Tls, NodeError> {
        let chain = certs(&files.cert)?;
        crate::keys::ensure_private(&files.key).map_err(|e| NodeError::Config(format!("TLS: {e}")))?;
        let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad(&files.key, e))?;
        let mut roots = RootCertStore::empty();
        for ca in certs(&files.ca)? {
            ensure_ca(&files.ca, &ca)?;
            roots.add(ca).map_err(|e| bad(&files.ca, e))?;
        }
        let roots = Arc::new(roots);
        let versions = |e: rustls::Error| NodeError::Config(format!("TLS: {e}"));

        let clients = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| bad(&files.ca, e))?;
        let server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(versions)?
            .with_client_cert_verifier(clients)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| bad(&files.key, e))?;

        let servers = WebPkiServerVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(|e| bad(&files.ca, e))?;
        let client = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(versions)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ClusterCa(servers)))
            .with_client_auth_cert(chain, key)
            .map_err(|e| bad(&files.key, e))?;
        Ok(Tls {
            server: Arc::new(server),
            client,
        })
    }
}

/// Verifies a peer's certificate chain against the cluster CA, but not its name:
/// peers are reached at gossiped ip:port addresses.
#[derive(Debug)]
struct ClusterCa(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ClusterCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain (and validity dates) before the name, so a name
        // error means the chain to the cluster CA is good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
