//! A realistic membership exchange for measurements (the criterion benches and
//! `hearsay bench`): a peer that has heard from `members` nodes, its push-pull
//! message, and a fresh instance to receive it — so both measure the same message.

use crate::{Code, Instance, InstanceContext, Runtime};

/// The receiving node's address in the sample.
pub const ME: &str = "127.0.0.1:7000";
/// The sending peer's address (every member's bootstrap peer).
pub const PEER: &str = "127.0.0.1:7001";

fn ctx(self_addr: &str) -> InstanceContext {
    InstanceContext {
        labels: Default::default(),
        node: Default::default(),
        self_addr: self_addr.into(),
        bootstrap: vec![PEER.into()],
        seed: 1,
        now_ms: 1000,
        // A measurement: the budget must not throttle what is measured.
        budget: hearsay_core::Budget::unmetered(),
    }
}

/// A fresh instance of `code` at [`ME`], unmetered, [`PEER`] its bootstrap peer.
pub fn instance_at_me(rt: &Runtime, code: &Code) -> Result<Instance, String> {
    Instance::start(rt, code, "", &ctx(ME))
        .map(|(instance, _)| instance)
        .map_err(|e| e.to_string())
}

/// `(me, message)`: a fresh membership instance at [`ME`], and the message the peer
/// at [`PEER`] pushes once `members` nodes have introduced themselves to it.
pub fn membership_push(rt: &Runtime, code: &Code, members: usize) -> Result<(Instance, Vec<u8>), String> {
    let s = |e: &dyn std::fmt::Display| e.to_string();
    let mut peer = Instance::start(rt, code, "", &ctx(PEER)).map_err(|e| s(&e))?.0;
    for i in 0..members {
        let addr = format!("127.0.0.1:{}", 8000 + i);
        let mut member = Instance::start(rt, code, "", &ctx(&addr)).map_err(|e| s(&e))?.0;
        for (to, hello) in member.tick(1100).map_err(|e| s(&e))?.sends {
            if to == PEER {
                peer.receive(1100, &addr, &hello).map_err(|e| s(&e))?;
            }
        }
    }
    let message = peer
        .tick(1200)
        .map_err(|e| s(&e))?
        .sends
        .into_iter()
        .next()
        .map(|(_, m)| m)
        .unwrap_or_default();
    let me = Instance::start(rt, code, "", &ctx(ME)).map_err(|e| s(&e))?.0;
    Ok((me, message))
}
