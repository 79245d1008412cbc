//! The module's parameters, from the deployment's params JSON; missing fields take
//! their defaults, unknown ones are ignored (params for a newer version still load).
//!
//! `{"active":5,"passive":30,"shuffle_ms":10000,"fail_after_ms":1500,
//! "heartbeat_ms":500,"graft_after_ms":300,"optimize_hops":0,"own_trees":64,"own_optimize_hops":1,"own_after_ms":30000,
//! "announce_ms":10000}`

use crate::hyparview::ViewParams;
use crate::plumtree::TreeParams;
use hearsay_guest::json;

/// Everything tunable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Views of every overlay.
    pub view: ViewParams,
    /// Broadcast of every overlay.
    pub tree: TreeParams,
    /// A subscriber with no topic peer for this long announces itself (again) over
    /// the base overlay.
    pub announce_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            view: ViewParams::default(),
            tree: TreeParams::default(),
            announce_ms: 10_000,
        }
    }
}

impl Params {
    /// Parses and checks params; empty text means defaults.
    pub fn parse(text: &str) -> Result<Params, String> {
        let mut p = Params::default();
        let doc = json::Params::parse(text)?;
        let get = |key: &str, lo: u64, hi: u64, default: u64| doc.u64_in(key, lo, hi, default);
        p.view.active = get("active", 1, 32, p.view.active as u64)? as usize;
        p.view.passive = get("passive", 1, 256, p.view.passive as u64)? as usize;
        p.view.shuffle_ms = get("shuffle_ms", 100, 3_600_000, p.view.shuffle_ms)?;
        p.view.fail_after_ms = get("fail_after_ms", 100, 600_000, p.view.fail_after_ms)?;
        p.view.heartbeat_ms = get("heartbeat_ms", 50, 600_000, p.view.heartbeat_ms)?;
        p.tree.graft_after_ms = get("graft_after_ms", 10, 60_000, p.tree.graft_after_ms)?;
        p.tree.optimize_hops = get("optimize_hops", 0, 64, p.tree.optimize_hops as u64)? as u32;
        p.tree.own_trees = get("own_trees", 0, 4096, p.tree.own_trees as u64)? as usize;
        p.tree.own_after_ms = get("own_after_ms", 0, 3_600_000, p.tree.own_after_ms)?;
        p.tree.own_optimize_hops = get("own_optimize_hops", 0, 64, p.tree.own_optimize_hops as u64)? as u32;
        p.announce_ms = get("announce_ms", 1_000, 3_600_000, p.announce_ms)?;
        if p.view.heartbeat_ms >= p.view.fail_after_ms {
            return Err("params: heartbeat_ms must be below fail_after_ms".to_string());
        }
        Ok(p)
    }
}
