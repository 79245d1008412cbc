//! The replicated state and its merge rules (scuttlebutt, as in van Renesse et al.'s
//! "Efficient reconciliation and flow control for anti-entropy protocols" and
//! chitchat): every node owns the keys it writes; each write takes the next *version*
//! of its writer, so a replica's knowledge of a node is one number, its *watermark*
//! (every write of that node up to it is here). A delta carries a node's writes above
//! the receiver's watermark in version order, so a delta cut short still leaves a
//! consistent prefix.
//!
//! - A node restarted (a fresh instance) is a new *generation*: its old keys are dropped
//!   everywhere when the new one is heard.
//! - A delete is a tombstone (a write with no value). The writer drops its tombstones
//!   after `tombstone_ms` and gives every live key a new version above the old
//!   watermark (`gc_version`); a replica below `gc_version` then gets the writer's
//!   keys anew (a *reset*), so a delete it never saw can't linger there.
//! - Liveness: every node's heartbeat grows each tick; digests carry it.
//! - Only writers are replicated: a node that has written nothing in its generation
//!   is in no digest and no delta, so no replica holds it (whom a node gossips with
//!   is [`crate::peers`]' business).
//!
//! Nothing here touches the host: changes come back as [`Change`]s for the events.

use std::collections::BTreeMap;

use crate::keys::Keys;

/// Bytes a node delta takes on the wire besides its address and writes, at most.
pub const DELTA_HEADER: usize = 64;
/// Bytes a write takes on the wire besides its key and value, at most.
pub const WRITE_OVERHEAD: usize = 24;

/// One key of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// None: deleted (a tombstone).
    pub value: Option<String>,
    /// The writer's version of this write.
    pub version: u64,
    /// When this replica learned of the delete (for the writer's GC), local ms.
    pub deleted_at: u64,
    /// The writer's own expiry time (only the writer acts on it), local ms; 0: none.
    pub expires_at: u64,
}

/// What a replica knows of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    /// The node's instance: its start time, from its own clock.
    pub generation: u64,
    /// Grows every tick at the node.
    pub heartbeat: u64,
    /// Every write of the node up to this version is here.
    pub watermark: u64,
    /// The node dropped its tombstones up to this version.
    pub gc_version: u64,
    /// The node's keys.
    pub keys: Keys,
    /// When its heartbeat last grew here, local ms.
    pub heard_at: u64,
    /// Whether it was alive at the last liveness check (its keys are read).
    pub alive: bool,
}

impl NodeState {
    /// A node known of from nothing but its generation and heartbeat.
    pub fn new(generation: u64, heartbeat: u64, now: u64) -> NodeState {
        NodeState {
            generation,
            heartbeat,
            watermark: 0,
            gc_version: 0,
            keys: Keys::default(),
            heard_at: now,
            alive: true,
        }
    }

    /// Whether the node wrote anything in this generation: only writers are known to
    /// replicas (a node that never writes is in no digest).
    pub fn has_written(&self) -> bool {
        self.watermark > 0 || self.gc_version > 0
    }

    /// The node's live keys and values.
    pub fn live(&self) -> impl Iterator<Item = (&String, &String)> {
        self.keys
            .iter()
            .filter_map(|(k, e)| e.value.as_ref().map(|v| (k, v)))
    }

    /// Its writes above `version`, in version order.
    pub fn writes_above(&self, version: u64) -> Vec<(&String, &Entry)> {
        let mut out: Vec<(&String, &Entry)> = self.keys.iter().filter(|(_, e)| e.version > version).collect();
        out.sort_by_key(|(_, e)| e.version);
        out
    }
}

/// A node's line of a digest: what the sender knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestEntry {
    /// The node's address.
    pub node: String,
    /// Its generation as known by the sender.
    pub generation: u64,
    /// Its heartbeat as known by the sender.
    pub heartbeat: u64,
    /// The sender's watermark of it.
    pub watermark: u64,
}

/// One node's writes for a receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDelta {
    /// The node's address.
    pub node: String,
    /// Its generation.
    pub generation: u64,
    /// Its heartbeat as the sender knows it.
    pub heartbeat: u64,
    /// Its `gc_version` as the sender knows it.
    pub gc_version: u64,
    /// The receiver must drop what it holds of the node first (a new generation, or a
    /// receiver below `gc_version`).
    pub reset: bool,
    /// The writes start above this watermark (the receiver's, or `gc_version` for a
    /// reset).
    pub from: u64,
    /// The receiver's watermark once applied.
    pub to: u64,
    /// (key, version, value; None = deleted), in version order.
    pub writes: Vec<(String, u64, Option<String>)>,
}

/// A change of what a node reads: a key of `node` now has `value` (None: gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The writer.
    pub node: String,
    /// The key.
    pub key: String,
    /// Its value now; None: deleted, expired, or its writer dead or restarted.
    pub value: Option<String>,
    /// Why it is gone, when it is: "deleted", "dead", "restarted".
    pub reason: &'static str,
}

/// Every node's state as this replica knows it, and the nodes it forgot.
#[derive(Debug, Clone, Default)]
pub struct Store {
    /// By address; this node's own state among them.
    pub nodes: BTreeMap<String, NodeState>,
    /// Nodes forgotten (dead too long): (generation, heartbeat) when forgotten, and
    /// when. Older news of them is ignored.
    pub forgotten: BTreeMap<String, (u64, u64, u64)>,
}

/// The live keys of a node, for diffing.
fn live_map(state: Option<&NodeState>) -> BTreeMap<String, String> {
    match state {
        Some(s) if s.alive => s.live().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => BTreeMap::new(),
    }
}

/// The changes between two live maps of `node`.
pub fn diff(
    node: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    gone: &'static str,
    out: &mut Vec<Change>,
) {
    for (k, v) in after {
        if before.get(k) != Some(v) {
            out.push(Change {
                node: node.to_string(),
                key: k.clone(),
                value: Some(v.clone()),
                reason: "",
            });
        }
    }
    for k in before.keys() {
        if !after.contains_key(k) {
            out.push(Change {
                node: node.to_string(),
                key: k.clone(),
                value: None,
                reason: gone,
            });
        }
    }
}

impl Store {
    /// Whether news of `node` at (`generation`, `heartbeat`) is older than when it was
    /// forgotten.
    pub fn is_forgotten(&self, node: &str, generation: u64, heartbeat: u64) -> bool {
        match self.forgotten.get(node) {
            Some(&(g, h, _)) => generation < g || (generation == g && heartbeat <= h),
            None => false,
        }
    }

    /// What this replica knows of the writers, for a digest.
    pub fn digest(&self) -> Vec<DigestEntry> {
        self.nodes
            .iter()
            .filter(|(_, s)| s.has_written())
            .map(|(node, s)| DigestEntry {
                node: node.clone(),
                generation: s.generation,
                heartbeat: s.heartbeat,
                watermark: s.watermark,
            })
            .collect()
    }

    /// Takes the heartbeats of a peer's digest (liveness travels in digests alone).
    pub fn note_heartbeats(&mut self, digest: &[DigestEntry], now: u64) {
        for d in digest {
            if let Some(s) = self.nodes.get_mut(&d.node) {
                if s.generation == d.generation && d.heartbeat > s.heartbeat {
                    s.heartbeat = d.heartbeat;
                    s.heard_at = now;
                }
            }
        }
    }

    /// The deltas a peer whose digest is `theirs` lacks, in `order` (node addresses:
    /// which first), within `budget` bytes on the wire (counted with the upper bounds
    /// [`DELTA_HEADER`] and [`WRITE_OVERHEAD`]). With `complete` false the digest was
    /// sampled: only the nodes it names are considered.
    pub fn deltas_for(
        &self,
        theirs: &[DigestEntry],
        complete: bool,
        order: &[&str],
        mut budget: usize,
    ) -> Vec<NodeDelta> {
        let known: BTreeMap<&str, &DigestEntry> = theirs.iter().map(|d| (d.node.as_str(), d)).collect();
        let mut out = Vec::new();
        for &node in order {
            let s = match self.nodes.get(node) {
                Some(s) if s.has_written() => s,
                _ => continue,
            };
            let (reset, from) = match known.get(node) {
                None if !complete => continue,
                None => (true, s.gc_version),
                Some(d) if d.generation < s.generation => (true, s.gc_version),
                Some(d) if d.generation > s.generation => continue,
                Some(d) if d.watermark >= s.watermark => continue,
                Some(d) if d.watermark < s.gc_version => (true, s.gc_version),
                Some(d) => (false, d.watermark),
            };
            let mut delta = NodeDelta {
                node: node.to_string(),
                generation: s.generation,
                heartbeat: s.heartbeat,
                gc_version: s.gc_version,
                reset,
                from,
                to: from,
                writes: Vec::new(),
            };
            let mut used = DELTA_HEADER + node.len();
            if used > budget {
                break;
            }
            let mut cut = false;
            for (key, e) in s.writes_above(from) {
                let w = (key.clone(), e.version, e.value.clone());
                let one = WRITE_OVERHEAD + key.len() + e.value.as_ref().map_or(0, |v| v.len());
                if used + one > budget {
                    cut = true;
                    break;
                }
                used += one;
                delta.to = e.version;
                delta.writes.push(w);
            }
            if !cut {
                delta.to = s.watermark;
            }
            if delta.writes.is_empty() && cut {
                // Not even one write fits: nothing consistent to send of this node.
                continue;
            }
            budget -= used.min(budget);
            out.push(delta);
        }
        out
    }

    /// Applies a delta from a peer (never about `me`, whose writes are only its own);
    /// returns whether anything was new.
    pub fn apply(&mut self, me: &str, d: &NodeDelta, now: u64, changes: &mut Vec<Change>) -> bool {
        if d.node == me || self.is_forgotten(&d.node, d.generation, d.heartbeat) {
            return false;
        }
        let before = live_map(self.nodes.get(&d.node));
        let mut new = false;
        let mut gone = "deleted";
        match self.nodes.get(&d.node) {
            Some(s) if s.generation > d.generation => return false,
            Some(s) if s.generation == d.generation => {}
            _ => {
                // Unknown, or a new generation: only a delta that says all of it — a
                // reset, or writes from the start (a writer's first pushes).
                if !d.reset && d.from > d.gc_version {
                    return false;
                }
                if self.nodes.contains_key(&d.node) {
                    gone = "restarted";
                }
                self.forgotten.remove(&d.node);
                self.nodes
                    .insert(d.node.clone(), NodeState::new(d.generation, d.heartbeat, now));
                new = true;
            }
        }
        let s = self.nodes.get_mut(&d.node).expect("inserted above");
        if d.heartbeat > s.heartbeat {
            s.heartbeat = d.heartbeat;
            s.heard_at = now;
        }
        if d.reset && s.watermark < d.gc_version.max(d.from) {
            s.keys.clear();
            s.watermark = d.from;
            new = true;
        }
        if d.from <= s.watermark && d.to > s.watermark {
            for (key, version, value) in &d.writes {
                if *version <= s.watermark {
                    continue;
                }
                let newer = s.keys.get(key).map_or(true, |e| e.version < *version);
                if newer {
                    s.keys.insert(
                        key.clone(),
                        Entry {
                            value: value.clone(),
                            version: *version,
                            deleted_at: if value.is_none() { now } else { 0 },
                            expires_at: 0,
                        },
                    );
                }
            }
            s.watermark = d.to;
            new = true;
        }
        if d.gc_version > s.gc_version && s.watermark >= d.gc_version {
            s.gc_version = d.gc_version;
            let gc = d.gc_version;
            s.keys.retain(|_, e| e.value.is_some() || e.version > gc);
        }
        let after = live_map(self.nodes.get(&d.node));
        diff(&d.node, &before, &after, gone, changes);
        new
    }

    /// Marks nodes dead or alive again by their heartbeats, and forgets those dead too
    /// long; `me` is always alive.
    pub fn check_liveness(
        &mut self,
        me: &str,
        now: u64,
        dead_after: u64,
        forget_after: u64,
        changes: &mut Vec<Change>,
    ) {
        let mut forget = Vec::new();
        for (node, s) in self.nodes.iter_mut() {
            if node == me {
                continue;
            }
            let alive = now.saturating_sub(s.heard_at) < dead_after;
            if alive != s.alive {
                let live: BTreeMap<String, String> = s.live().map(|(k, v)| (k.clone(), v.clone())).collect();
                let empty = BTreeMap::new();
                if alive {
                    diff(node, &empty, &live, "", changes);
                } else {
                    diff(node, &live, &empty, "dead", changes);
                }
                s.alive = alive;
            }
            if now.saturating_sub(s.heard_at) >= forget_after {
                forget.push(node.clone());
            }
        }
        for node in forget {
            if let Some(s) = self.nodes.remove(&node) {
                self.forgotten.insert(node, (s.generation, s.heartbeat, now));
            }
        }
        self.forgotten
            .retain(|_, &mut (_, _, at)| now.saturating_sub(at) < forget_after);
    }
}
