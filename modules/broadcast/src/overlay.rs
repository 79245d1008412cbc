//! One overlay: HyParView's views and Plumtree's links over them, kept in step
//! (a peer that becomes active is an eager link; one that stops being active is no
//! link at all; a full view making room drops a lazy link before an eager one), and
//! their outgoing messages gathered.
//!
//! **Islands.** A settled view asks a random subscriber to be a neighbour with a
//! `Bridge`, listing the messages it delivered lately; the asked node grants it
//! (dropping a random peer of its own if full) if the two are apart — one delivered a
//! message the other never saw ([`Plumtree::apart`]) — or if both views have room.
//! Inside one connected overlay of full views neither holds, so its links, and the
//! trees over them, stay put; two islands that carry any traffic are bridged by the
//! first such request between them.

use crate::hyparview::{HyParView, ViewParams};
use crate::plumtree::{Plumtree, TreeParams};
use crate::wire::Msg;
use hearsay_guest::Host;

/// Views and tree of one overlay.
#[derive(Debug, Clone)]
pub struct Overlay {
    /// Peer sampling.
    pub view: HyParView,
    /// Broadcast.
    pub tree: Plumtree,
}

impl Overlay {
    /// An empty overlay for node `me`.
    pub fn new(me: &str, view: ViewParams, tree: TreeParams, now_ms: u64) -> Overlay {
        Overlay {
            view: HyParView::new(me.to_string(), view, now_ms),
            tree: Plumtree::new(tree, now_ms),
        }
    }

    /// Hands the view's neighbour changes to the tree.
    fn sync(&mut self) {
        for down in std::mem::take(&mut self.view.downs) {
            self.tree.neighbor_down(&down);
        }
        for up in std::mem::take(&mut self.view.ups) {
            if self.view.is_active(&up) {
                self.tree.neighbor_up(&up);
            }
        }
    }

    /// A message of this overlay from `from`.
    pub fn receive(&mut self, from: &str, msg: &Msg, now_ms: u64, host: &mut dyn Host) {
        self.view.prefer(self.tree.eager_peers());
        if let Msg::Bridge { room, recent } = msg {
            let apart = self.tree.apart(recent, now_ms);
            self.view.heard(from, now_ms);
            self.view.neighbor_request(from, apart, *room, now_ms, host);
        } else if !self.view.receive(from, msg, now_ms, host)
            && (self.view.is_active(from) || matches!(msg, Msg::Gossip { .. }))
        {
            self.tree.receive(from, msg, now_ms);
        }
        self.sync();
    }

    /// Time passed.
    pub fn tick(&mut self, now_ms: u64, host: &mut dyn Host) {
        self.view.prefer(self.tree.eager_peers());
        self.view.tick(now_ms, host);
        self.sync();
        self.tree.tick(now_ms);
    }

    /// Everything to send, views' and tree's (what the tree sends to an active peer
    /// spares it a heartbeat).
    pub fn take_out(&mut self, now_ms: u64) -> Vec<(String, Msg)> {
        let mut out = std::mem::take(&mut self.view.out);
        for (to, _) in &self.tree.out {
            self.view.note_sent(to, now_ms);
        }
        out.append(&mut self.tree.out);
        out
    }
}
