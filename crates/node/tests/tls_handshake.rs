//! The TLS configurations an agent builds, handshaking with each other in memory:
//! peers of one CA connect whatever name their certificate carries; a server or a
//! client whose certificate comes from another CA, or a client without one, is
//! refused.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hearsay_node::tls::{Tls, TlsFiles};
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A CA and one node identity issued by it, as the files an agent is given.
fn identity(dir: &Path, name: &str) -> TlsFiles {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![format!("{name}.example")]).unwrap();
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.signed_by(&key, &Issuer::new(ca, ca_key)).unwrap();
    let file = |ext: &str, text: String| {
        let path = dir.join(format!("{name}.{ext}"));
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    };
    TlsFiles {
        cert: file("pem", cert.pem()),
        key: file("key", key.serialize_pem()),
        ca: file("ca.pem", ca_cert.pem()),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hearsay-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Handshakes `client` with `server` over an in-memory pipe and sends one byte;
/// true when it arrives.
async fn handshake(client: rustls::ClientConfig, server: Arc<rustls::ServerConfig>) -> bool {
    let (c, s) = tokio::io::duplex(64 * 1024);
    let server = async move {
        let mut stream = TlsAcceptor::from(server).accept(s).await.ok()?;
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.ok()?;
        Some(byte[0])
    };
    let client = async move {
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut stream = TlsConnector::from(Arc::new(client)).connect(name, c).await.ok()?;
        stream.write_all(&[42]).await.ok()?;
        stream.flush().await.ok()?;
        Some(stream)
    };
    let (got, _client) = tokio::join!(server, client);
    got == Some(42)
}

#[tokio::test]
async fn only_peers_of_the_same_ca_complete_a_handshake() {
    hearsay_node::tls::install_crypto();
    let dir = temp_dir("handshake");
    let a = identity(&dir, "a");
    let cluster = Tls::load(&a).unwrap();
    // A second node of the same cluster: same CA, its own certificate and name.
    let b = identity(&dir, "b");
    let b_same_ca = TlsFiles {
        ca: a.ca.clone(),
        ..b.clone()
    };
    // b's certificate is from b's CA, so it is "another cluster" to a.
    let stranger = Tls::load(&b_same_ca).unwrap();

    assert!(
        handshake(cluster.client.clone(), cluster.server.clone()).await,
        "same cluster"
    );
    assert!(
        !handshake(stranger.client.clone(), cluster.server.clone()).await,
        "a client of another CA was accepted"
    );
    // A server of another CA that asks nothing of clients: only our client's own
    // check can refuse it.
    let open_server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            CertificateDer::pem_file_iter(&b.cert)
                .unwrap()
                .map(Result::unwrap)
                .collect(),
            PrivateKeyDer::from_pem_file(&b.key).unwrap(),
        )
        .unwrap();
    assert!(
        !handshake(cluster.client.clone(), Arc::new(open_server)).await,
        "a server of another CA was accepted"
    );
    let no_client_cert = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer))
        .with_no_client_auth();
    assert!(
        !handshake(no_client_cert, cluster.server.clone()).await,
        "a client without a certificate was accepted"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_files_are_refused_with_the_file_named() {
    let dir = temp_dir("files");
    let a = identity(&dir, "a");
    let b = identity(&dir, "b");
    let mismatched = TlsFiles {
        key: b.key.clone(),
        ..a.clone()
    };
    let err = Tls::load(&mismatched)
        .err()
        .expect("a key of another certificate");
    assert!(err.to_string().contains("b.key"), "{err}");
    std::fs::set_permissions(&a.key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Tls::load(&a).err().expect("a readable key");
    assert!(err.to_string().contains("readable by others"), "{err}");
    let missing = TlsFiles {
        ca: dir.join("nope.pem"),
        ..b.clone()
    };
    assert!(Tls::load(&missing)
        .err()
        .unwrap()
        .to_string()
        .contains("nope.pem"));
    std::fs::write(&b.ca, "not pem\n").unwrap();
    assert!(Tls::load(&b)
        .err()
        .unwrap()
        .to_string()
        .contains("no certificate"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A client that checks nothing: only the server's demand for a certificate stops it.
#[derive(Debug)]
struct AcceptAnyServer;

impl rustls::client::danger::ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
