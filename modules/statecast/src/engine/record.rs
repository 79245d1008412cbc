//! The gossiped record: `{version, value, check}`, where `check` is a 32-bit FNV-1a
//! checksum of `version` and `value`. A record whose check doesn't match is
//! *poisoned*: corrupted state that validating code must never accept.

/// The cluster-wide value record every node holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Record {
    /// Higher versions win.
    pub version: u64,
    /// The value; between equal versions the higher value wins.
    pub value: u64,
    /// [`checksum`] of `version` and `value` when the record is sound.
    pub check: u32,
}

/// FNV-1a (32-bit) of `version` then `value`, each as 8 little-endian bytes.
pub fn checksum(version: u64, value: u64) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in version.to_le_bytes().iter().chain(value.to_le_bytes().iter()) {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

impl Record {
    /// A sound record: its check computed from `version` and `value`.
    pub fn new(version: u64, value: u64) -> Record {
        Record {
            version,
            value,
            check: checksum(version, value),
        }
    }

    /// Version 0, value 0: what a node holds before it hears anything.
    pub fn genesis() -> Record {
        Record::new(0, 0)
    }

    /// Whether the check matches; a record that fails it is poisoned.
    pub fn is_valid(&self) -> bool {
        self.check == checksum(self.version, self.value)
    }

    /// The merge order: higher version wins, ties go to the higher value.
    pub fn is_newer_than(&self, other: &Record) -> bool {
        (self.version, self.value) > (other.version, other.value)
    }
}
