//! Key files: deployment key pairs (ed25519) and the cluster key, as one line of hex
//! each. A secret is written with mode 0600 and refused when others can read it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use hearsay_core::envelope::ClusterKey;

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file can't be read or written.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// Not 64 hex digits.
    #[error("{0} does not hold a key (64 hex digits)")]
    Format(PathBuf),
    /// Not a valid ed25519 public key.
    #[error("{0} is not an ed25519 public key")]
    NotAPublicKey(PathBuf),
    /// A secret readable by group or others.
    #[error("{0} is readable by others (chmod 600 it): refusing to use a leaked secret")]
    Exposed(PathBuf),
    /// Would overwrite an existing key.
    #[error("{0} exists: refusing to overwrite a key")]
    Exists(PathBuf),
    /// A weak (small-order) public key: signatures "by" it can be forged.
    #[error("{0} is a weak ed25519 key (a small-order point): anyone could forge its signatures")]
    Weak(PathBuf),
    /// A secret key where a public one belongs.
    #[error(
        "{0} is a secret deployment key: trust its public half ({0}.pub), and keep the secret off this node"
    )]
    SecretGivenAsPublic(PathBuf),
    /// A trusted-keys file others may change.
    #[error(
        "{0} can be written by other users (chmod go-w it): anyone could make this node trust their key"
    )]
    Writable(PathBuf),
}

/// The first line of a secret deployment key file (files from older versions have
/// none; `#` lines are comments).
const SECRET_MARK: &str = "# hearsay deployment secret key";
/// The first line of a public deployment key file.
const PUBLIC_MARK: &str = "# hearsay deployment public key";

/// The key in a file: 64 hex digits, after any `#` comment lines.
fn read_hex_text(path: &Path, text: &str) -> Result<[u8; 32], KeyError> {
    let key = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let mut out = [0u8; 32];
    hex::decode_to_slice(key, &mut out).map_err(|_| KeyError::Format(path.into()))?;
    Ok(out)
}

fn read_hex(path: &Path) -> Result<[u8; 32], KeyError> {
    let text = fs::read_to_string(path).map_err(|e| KeyError::Io(path.into(), e))?;
    read_hex_text(path, &text)
}

/// Refuses a secret file that group or others can read.
pub fn ensure_private(path: &Path) -> Result<(), KeyError> {
    let mode = fs::metadata(path)
        .map_err(|e| KeyError::Io(path.into(), e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Exposed(path.into()));
    }
    Ok(())
}

fn read_secret(path: &Path) -> Result<[u8; 32], KeyError> {
    ensure_private(path)?;
    read_hex(path)
}

fn write_line(path: &Path, mark: Option<&str>, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let text = match mark {
        Some(mark) => format!("{mark}\n{}\n", hex::encode(bytes)),
        None => format!("{}\n", hex::encode(bytes)),
    };
    write_new(path, &text, mode)
}

/// Writes a new file with `mode`, never overwriting one (keys are not replaced by
/// accident), and syncs it.
pub fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), KeyError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KeyError::Exists(path.into()),
            _ => KeyError::Io(path.into(), e),
        })?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| KeyError::Io(path.into(), e))
}

/// The public key file of a secret key file: `FILE.pub`.
pub fn public_path(secret: &Path) -> PathBuf {
    let mut p = secret.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// Writes a new deployment key pair from `seed`: `path` (secret, 0600) and `path.pub`.
pub fn write_deployment_key(path: &Path, seed: [u8; 32]) -> Result<VerifyingKey, KeyError> {
    let key = SigningKey::from_bytes(&seed);
    write_line(path, Some(SECRET_MARK), &seed, 0o600)?;
    write_line(
        &public_path(path),
        Some(PUBLIC_MARK),
        key.verifying_key().as_bytes(),
        0o644,
    )?;
    Ok(key.verifying_key())
}

/// Writes a new cluster key (0600).
pub fn write_cluster_key(path: &Path, secret: [u8; 32]) -> Result<(), KeyError> {
    write_line(path, None, &secret, 0o600)
}

/// Reads a deployment secret key.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    read_secret(path).map(|seed| SigningKey::from_bytes(&seed))
}

/// Reads a deployment public key to trust. Refused: a weak key, a secret key (marked
/// as one, or — for files from older versions — one with its `.pub` beside it), and a
/// file other users may write.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let meta = fs::metadata(path).map_err(|e| KeyError::Io(path.into(), e))?;
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(KeyError::Writable(path.into()));
    }
    let text = fs::read_to_string(path).map_err(|e| KeyError::Io(path.into(), e))?;
    if text.starts_with(SECRET_MARK) || public_path(path).exists() {
        return Err(KeyError::SecretGivenAsPublic(path.into()));
    }
    let key = VerifyingKey::from_bytes(&read_hex_text(path, &text)?)
        .map_err(|_| KeyError::NotAPublicKey(path.into()))?;
    if key.is_weak() {
        return Err(KeyError::Weak(path.into()));
    }
    Ok(key)
}

/// Reads the cluster key.
pub fn read_cluster_key(path: &Path) -> Result<ClusterKey, KeyError> {
    read_secret(path).map(ClusterKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_and_guard_secrets() {
        let dir = std::env::temp_dir().join(format!("hearsay-keys-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("ops.key");
        let public = write_deployment_key(&secret, [9; 32]).unwrap();
        assert_eq!(read_public_key(&public_path(&secret)).unwrap(), public);
        assert_eq!(read_signing_key(&secret).unwrap().verifying_key(), public);
        assert_eq!(fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(matches!(
            write_deployment_key(&secret, [1; 32]),
            Err(KeyError::Exists(_))
        ));
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(read_signing_key(&secret), Err(KeyError::Exposed(_))));
        fs::write(dir.join("bad.pub"), "zz\n").unwrap();
        assert!(matches!(
            read_public_key(&dir.join("bad.pub")),
            Err(KeyError::Format(_))
        ));
        // A secret, a weak key and a file others may write are refused as trusted keys.
        assert!(matches!(
            read_public_key(&secret),
            Err(KeyError::SecretGivenAsPublic(_))
        ));
        let mut identity = [0u8; 32];
        identity[0] = 1;
        fs::write(dir.join("weak.pub"), format!("{}\n", hex::encode(identity))).unwrap();
        assert!(matches!(
            read_public_key(&dir.join("weak.pub")),
            Err(KeyError::Weak(_))
        ));
        let shared = dir.join("shared.pub");
        fs::write(&shared, fs::read(public_path(&secret)).unwrap()).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(matches!(read_public_key(&shared), Err(KeyError::Writable(_))));
        let cluster = dir.join("cluster.key");
        write_cluster_key(&cluster, [3; 32]).unwrap();
        assert_eq!(read_cluster_key(&cluster).unwrap(), ClusterKey([3; 32]));
        fs::remove_dir_all(&dir).unwrap();
    }
}
