//! Names of things in the cluster: node identities, peer addresses and module names.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a peer's gossip listener is. The simulator uses synthetic addresses that are
/// never bound; the daemon uses the real ones.
pub type PeerAddr = SocketAddr;

/// A node's persistent identity: random at first start, kept in the data directory.
///
/// It breaks ties between deployment numbers issued in the same millisecond, so two
/// nodes must never share one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl FromStr for NodeId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(NodeId)
    }
}

/// Hex in JSON (what people read), a plain integer on the wire.
impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_u64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            u64::deserialize(d).map(NodeId)
        }
    }
}

/// Longest module name accepted anywhere (API, envelopes, records).
pub const MAX_MODULE_NAME_LEN: usize = 64;

/// The name of a module instance ("membership", "aggregate", …).
///
/// Names travel in every envelope and become file names in the data directory, so
/// they are restricted to `[a-z0-9][a-z0-9_-]{0,63}`; anything else is refused
/// wherever it enters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModuleName(String);

/// Why a string is not a module name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleNameError {
    /// The name is empty.
    #[error("module name is empty")]
    Empty,
    /// The name is longer than [`MAX_MODULE_NAME_LEN`].
    #[error("module name is longer than {MAX_MODULE_NAME_LEN} characters")]
    TooLong,
    /// The name holds a character outside `[a-z0-9_-]` or starts with `_`/`-`.
    #[error("module name {0:?} may only hold a-z, 0-9, '_' and '-', and must start with a letter or digit")]
    BadCharacter(String),
}

impl ModuleName {
    /// Checks and wraps a module name.
    pub fn new(name: impl Into<String>) -> Result<Self, ModuleNameError> {
        let name = name.into();
        if name.is_empty() {
            return Err(ModuleNameError::Empty);
        }
        if name.len() > MAX_MODULE_NAME_LEN {
            return Err(ModuleNameError::TooLong);
        }
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
        let first_ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !first_ok || !name.chars().all(ok_char) {
            return Err(ModuleNameError::BadCharacter(name));
        }
        Ok(ModuleName(name))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ModuleName {
    type Error = ModuleNameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ModuleName::new(s)
    }
}

impl From<ModuleName> for String {
    fn from(m: ModuleName) -> String {
        m.0
    }
}

impl FromStr for ModuleName {
    type Err = ModuleNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModuleName::new(s)
    }
}

impl fmt::Display for ModuleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ModuleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_are_checked() {
        assert!(ModuleName::new("membership").is_ok());
        assert!(ModuleName::new("kelips-2_b").is_ok());
        assert_eq!(ModuleName::new(""), Err(ModuleNameError::Empty));
        assert_eq!(ModuleName::new("a".repeat(65)), Err(ModuleNameError::TooLong));
        for bad in ["../etc", "Members", "a b", "-x", "_x", "é", "a/b", "a\0"] {
            assert!(
                matches!(ModuleName::new(bad), Err(ModuleNameError::BadCharacter(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_names_are_refused_when_decoding() {
        let err = serde_json::from_str::<ModuleName>("\"../x\"");
        assert!(err.is_err());
    }

    #[test]
    fn node_id_is_hex_in_json() {
        let id = NodeId(0xabc);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"0000000000000abc\"");
        assert_eq!(serde_json::from_str::<NodeId>(&json).unwrap(), id);
    }
}
