//! Who may deploy: deployment records signed with ed25519 by an operator's key, and the
//! set of public keys a node trusts. A gossip port that accepts code is a door into
//! every node, so once a node trusts any key, an unsigned or wrongly signed record is
//! refused, counted and never gossiped on.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::deployment::Deployment;

/// Domain separation: a signature over a deployment can't be taken for anything else.
const CONTEXT: &[u8] = b"hearsay deployment v2\0";

/// The bytes a deployment's signature covers: module, version (or "stopped"), number,
/// params, the version it replaced, its budget and its rollback policy — everything
/// but the signature itself (a record whose budget could be changed in transit would
/// let anyone lift a module's limits).
pub fn signed_bytes(d: &Deployment) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + d.params.len());
    out.extend_from_slice(CONTEXT);
    let mut field = |bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    };
    field(d.module.as_str().as_bytes());
    field(d.version.as_ref().map_or(&[][..], |v| &v.0[..]));
    field(&d.number.time_ms.to_le_bytes());
    field(&d.number.origin.0.to_le_bytes());
    field(d.params.as_bytes());
    field(d.previous.as_ref().map_or(&[][..], |v| &v.0[..]));
    for (key, value) in d.budget.iter() {
        field(key.as_bytes());
        field(&value.to_le_bytes());
    }
    field(b"");
    match d.auto_rollback_ms {
        Some(ms) => field(&ms.to_le_bytes()),
        None => field(b""),
    }
    out
}

/// Signs a deployment in place.
pub fn sign(d: &mut Deployment, key: &SigningKey) {
    d.signature = Some(key.sign(&signed_bytes(d)).to_bytes().to_vec());
}

/// Why a record was not trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// No signature, and this node requires one.
    #[error("deployment is not signed")]
    Unsigned,
    /// A signature no trusted key made (forged, altered, or an untrusted key).
    #[error("deployment signature is not from a trusted key")]
    BadSignature,
}

/// The public keys whose signatures a node accepts. Empty means insecure: every record
/// is accepted, signed or not.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys(Vec<VerifyingKey>);

impl TrustedKeys {
    /// Trusts these keys.
    pub fn new(keys: Vec<VerifyingKey>) -> Self {
        TrustedKeys(keys)
    }

    /// True when no key is trusted: the node runs insecure.
    pub fn is_insecure(&self) -> bool {
        self.0.is_empty()
    }

    /// The trusted keys.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.0
    }

    /// Accepts a record signed by any trusted key (any record, when insecure).
    pub fn check(&self, d: &Deployment) -> Result<(), TrustError> {
        if self.is_insecure() {
            return Ok(());
        }
        let raw = d.signature.as_deref().ok_or(TrustError::Unsigned)?;
        let signature = Signature::from_slice(raw).map_err(|_| TrustError::BadSignature)?;
        let message = signed_bytes(d);
        // Strict verification, and never by a weak (small-order) key: with the
        // identity point as a trusted key, plain verification accepts a forged
        // signature for any record.
        self.0
            .iter()
            .filter(|k| !k.is_weak())
            .any(|k| k.verify_strict(&message, &signature).is_ok())
            .then_some(())
            .ok_or(TrustError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::{CodeVersion, DeploymentNumber};
    use ed25519_dalek::Verifier;

    #[test]
    fn a_weak_trusted_key_accepts_no_forged_signature() {
        // The identity point: any signature (R = identity, s = 0) verifies under it
        // with non-strict verification, for any message.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = VerifyingKey::from_bytes(&identity).unwrap();
        assert!(weak.is_weak());
        let mut forged_sig = [0u8; 64];
        forged_sig[0] = 1;
        let mut d = record();
        d.signature = Some(forged_sig.to_vec());
        let signature = Signature::from_slice(&forged_sig).unwrap();
        assert!(
            weak.verify(&signed_bytes(&d), &signature).is_ok(),
            "the attack works on plain verify"
        );
        let trusted = TrustedKeys::new(vec![weak]);
        assert_eq!(trusted.check(&d), Err(TrustError::BadSignature));
    }
    use crate::ids::{ModuleName, NodeId};

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn record() -> Deployment {
        Deployment {
            module: ModuleName::new("membership").unwrap(),
            version: Some(CodeVersion::of(b"v1")),
            number: DeploymentNumber {
                time_ms: 5,
                origin: NodeId(1),
            },
            params: "{}".into(),
            previous: None,
            budget: Default::default(),
            auto_rollback_ms: None,
            signature: None,
        }
    }

    #[test]
    fn only_trusted_unaltered_records_pass() {
        let trusted = TrustedKeys::new(vec![key(1).verifying_key(), key(2).verifying_key()]);
        let mut d = record();
        assert_eq!(trusted.check(&d), Err(TrustError::Unsigned));
        sign(&mut d, &key(2));
        assert_eq!(trusted.check(&d), Ok(()));
        // Any altered field breaks the signature.
        let alterations: [fn(&mut Deployment); 8] = [
            |d| d.module = ModuleName::new("other").unwrap(),
            |d| d.version = Some(CodeVersion::of(b"evil")),
            |d| d.version = None,
            |d| d.number.time_ms += 1,
            |d| d.params.push(' '),
            |d| d.previous = Some(CodeVersion::of(b"v0")),
            |d| d.budget.set("fuel_per_s", u64::MAX).unwrap(),
            |d| d.auto_rollback_ms = Some(1),
        ];
        for alter in alterations {
            let mut forged = d.clone();
            alter(&mut forged);
            assert_eq!(
                trusted.check(&forged),
                Err(TrustError::BadSignature),
                "{forged:?}"
            );
        }
        let mut untrusted = record();
        sign(&mut untrusted, &key(3));
        assert_eq!(trusted.check(&untrusted), Err(TrustError::BadSignature));
        let mut garbage = record();
        garbage.signature = Some(vec![0; 10]);
        assert_eq!(trusted.check(&garbage), Err(TrustError::BadSignature));
        assert_eq!(
            TrustedKeys::default().check(&record()),
            Ok(()),
            "insecure accepts all"
        );
    }
}
