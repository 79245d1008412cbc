//! Deployment numbers, code versions and deployment records: what a node runs, and
//! the total order that decides which of two deployments wins.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::budget::BudgetOverrides;
use crate::ids::{ModuleName, NodeId};

/// Milliseconds. The driver decides the epoch: the daemon passes wall-clock time since
/// the UNIX epoch (deployment numbers are compared across nodes), the simulator a
/// virtual clock.
pub type Millis = u64;

/// Identifies one act of deploying: `(time_ms, origin)`, ordered lexicographically.
///
/// It says *when* and *where* a deployment was made, never *what* code it runs, so a
/// rollback to old code is a new, higher number and wins over the deployment it rolls
/// back — the rule that makes a rollback spread like any other fix.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct DeploymentNumber {
    /// Time at the origin when the deployment was made (or one past the highest seen).
    pub time_ms: Millis,
    /// The node that made the deployment; breaks ties within a millisecond.
    pub origin: NodeId,
}

/// A deployment's short name on the wire: 32 bits of BLAKE3 over the module and its
/// deployment number. A compact module envelope carries it instead of both, to a
/// peer known to hold the same configuration; the receiver finds the deployment it
/// names among its own (a handful of modules: a collision is a 1-in-2^32 event per
/// pair, and an unknown tag just starts a summary exchange).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeploymentTag(pub u32);

impl DeploymentTag {
    /// The tag of `module`'s deployment `number`.
    pub fn of(module: &crate::ids::ModuleName, number: DeploymentNumber) -> DeploymentTag {
        let mut h = blake3::Hasher::new();
        h.update(module.as_str().as_bytes());
        h.update(&number.time_ms.to_le_bytes());
        h.update(&number.origin.0.to_le_bytes());
        let bytes = h.finalize();
        let b = bytes.as_bytes();
        DeploymentTag(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

impl DeploymentNumber {
    /// The number a node issues for a new deployment at `now`: greater than every
    /// number it has seen for the module, even when its clock is behind
    /// (`max(now, highest_seen.time_ms + 1)`), so clock skew can't lose an update.
    pub fn next(now: Millis, highest_seen: Option<DeploymentNumber>, origin: NodeId) -> Self {
        let floor = highest_seen.map_or(0, |h| h.time_ms.saturating_add(1));
        DeploymentNumber {
            time_ms: now.max(floor),
            origin,
        }
    }
}

impl fmt::Display for DeploymentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.time_ms, self.origin)
    }
}

impl fmt::Debug for DeploymentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "d{self}")
    }
}

impl FromStr for DeploymentNumber {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (time, origin) = s
            .split_once('@')
            .ok_or_else(|| format!("deployment number {s:?} is not TIME@ORIGIN"))?;
        Ok(DeploymentNumber {
            time_ms: time.parse().map_err(|e| format!("bad time in {s:?}: {e}"))?,
            origin: origin.parse().map_err(|e| format!("bad origin in {s:?}: {e}"))?,
        })
    }
}

/// What code a module runs: the sha256 of its WebAssembly bytes. Says *what*, never
/// *when*; the same bytes built twice have the same version.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CodeVersion(pub [u8; 32]);

impl CodeVersion {
    /// The version of these bytes.
    pub fn of(code: &[u8]) -> Self {
        CodeVersion(Sha256::digest(code).into())
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex digits, for logs and tables.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl fmt::Display for CodeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for CodeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.short())
    }
}

/// Why a string is not a code version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("code version must be 64 hex digits (a sha256), got {0:?}")]
pub struct CodeVersionError(pub String);

impl FromStr for CodeVersion {
    type Err = CodeVersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| CodeVersionError(s.to_string()))?;
        Ok(CodeVersion(out))
    }
}

impl Serialize for CodeVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for CodeVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(d).map(CodeVersion)
        }
    }
}

/// Longest params string a deployment may carry.
pub const MAX_PARAMS_LEN: usize = 16 * 1024;
/// Longest signature a deployment may carry.
pub const MAX_SIGNATURE_LEN: usize = 256;

/// Which limit a deployment record breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Params over [`MAX_PARAMS_LEN`].
    #[error("params are longer than {MAX_PARAMS_LEN} bytes")]
    ParamsTooLong,
    /// A signature over [`MAX_SIGNATURE_LEN`] (an ed25519 signature is 64 bytes).
    #[error("the signature is longer than {MAX_SIGNATURE_LEN} bytes")]
    SignatureTooLong,
}

/// One act of deploying a module: the record nodes gossip and keep on disk.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Which module.
    pub module: ModuleName,
    /// The code to run, or `None` when this deployment stops the module.
    pub version: Option<CodeVersion>,
    /// When and where it was deployed; the highest wins.
    pub number: DeploymentNumber,
    /// Parameters handed to the module at start (opaque to the core; JSON by convention).
    pub params: String,
    /// The version this deployment replaced at its origin, so any node can roll back
    /// to it without having seen the older deployment.
    pub previous: Option<CodeVersion>,
    /// What the module may consume, where it differs from the node's defaults.
    #[serde(default)]
    pub budget: BudgetOverrides,
    /// Automatic rollback: when set, a node where this deployment's instance fails (a
    /// trap, fuel, its budget) and stays failed this long deploys `previous` again as
    /// a new deployment. Every such node issues the same old code, so the cluster
    /// converges on it. Off (`None`) by default.
    #[serde(default)]
    pub auto_rollback_ms: Option<Millis>,
    /// A signature over the record by a deployment key (checked once signing lands).
    #[serde(with = "serde_bytes_opt")]
    pub signature: Option<Vec<u8>>,
}

impl Deployment {
    /// A deployment of `version` (or a stop, `None`) with default params, budget and
    /// policy, unsigned: the start of every record made in code.
    pub fn new(module: ModuleName, version: Option<CodeVersion>, number: DeploymentNumber) -> Self {
        Deployment {
            module,
            version,
            number,
            params: String::new(),
            previous: None,
            budget: BudgetOverrides::none(),
            auto_rollback_ms: None,
            signature: None,
        }
    }

    /// Checks the limits a record from the network must respect.
    pub fn check_limits(&self) -> Result<(), RecordError> {
        if self.params.len() > MAX_PARAMS_LEN {
            return Err(RecordError::ParamsTooLong);
        }
        if self
            .signature
            .as_ref()
            .is_some_and(|s| s.len() > MAX_SIGNATURE_LEN)
        {
            return Err(RecordError::SignatureTooLong);
        }
        Ok(())
    }
}

impl fmt::Debug for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}={:?}/{:?}", self.module, v, self.number),
            None => write!(f, "{}=stopped/{:?}", self.module, self.number),
        }
    }
}

/// `Option<Vec<u8>>` as bytes rather than a sequence of integers.
mod serde_bytes_opt {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        v.as_deref().map(serde_bytes::Bytes::new).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<serde_bytes::ByteBuf>::deserialize(d)?.map(|b| b.into_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn number() -> impl Strategy<Value = DeploymentNumber> {
        (0u64..1000, 0u64..5).prop_map(|(t, o)| DeploymentNumber {
            time_ms: t,
            origin: NodeId(o),
        })
    }

    proptest! {
        /// Exactly one of <, =, > holds, and = means the same number.
        #[test]
        fn order_is_total_and_antisymmetric(a in number(), b in number()) {
            let relations = [a < b, a == b, a > b];
            prop_assert_eq!(relations.iter().filter(|r| **r).count(), 1);
            prop_assert_eq!(a == b, a.time_ms == b.time_ms && a.origin == b.origin);
        }

        #[test]
        fn order_is_transitive(a in number(), b in number(), c in number()) {
            if a <= b && b <= c {
                prop_assert!(a <= c);
            }
        }

        /// Whatever the clock says, a new number beats everything seen.
        #[test]
        fn next_is_greater_than_everything_seen(now in 0u64..2000, seen in proptest::option::of(number()), origin in 0u64..5) {
            let n = DeploymentNumber::next(now, seen, NodeId(origin));
            if let Some(seen) = seen {
                prop_assert!(n > seen);
            }
            prop_assert!(n.time_ms >= now);
        }
    }

    #[test]
    fn a_clock_behind_still_issues_a_higher_number() {
        let seen = DeploymentNumber {
            time_ms: 10_000,
            origin: NodeId(9),
        };
        let n = DeploymentNumber::next(5, Some(seen), NodeId(1));
        assert_eq!(n.time_ms, 10_001);
        assert!(n > seen);
    }

    #[test]
    fn text_forms_round_trip() {
        let n = DeploymentNumber {
            time_ms: 42,
            origin: NodeId(7),
        };
        assert_eq!(n.to_string().parse::<DeploymentNumber>().unwrap(), n);
        let v = CodeVersion::of(b"wasm");
        assert_eq!(v.to_hex().parse::<CodeVersion>().unwrap(), v);
        assert!("zz".parse::<CodeVersion>().is_err());
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, format!("\"{}\"", v.to_hex()));
    }
}
