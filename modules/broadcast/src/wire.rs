//! The broadcast module's messages and their encoding. Decoding is total: anything
//! malformed is `None`, never a panic, because these bytes come off the network.
//!
//! ```text
//! message = version:u8 (=1)  kind:u8  topic:text(0..=64; "" = the base overlay)  body
//! text    = len:varint  utf8
//! body    = Join | Heartbeat | Disconnect | TopicContact:  (nothing)
//!           ForwardJoin:   node:text  ttl:u8
//!           Neighbor:      high:u8 (0|1)
//!           NeighborReply: accepted:u8 (0|1)
//!           Shuffle:       origin:text  ttl:u8  nodes
//!           ShuffleReply:  nodes
//!           Gossip, OwnGossip: id:u64le  round:varint  origin:text  data:bytes(≤ MAX_DATA)
//!           IHave:         count:varint (≤ 256)  (id:u64le  round:varint)*
//!           Graft:         id:u64le  round:varint
//!           OwnGraft:      id:u64le  round:varint  origin:text
//!           Prune:         (nothing)
//!           OwnPrune:      origin:text
//!           FindTopic:     origin:text  ttl:u8
//!           Bridge:        room:u8 (0|1)  count:varint (≤ 16)  id:u64le*
//! nodes   = count:varint (≤ 64)  text*
//! ```
//!
//! `OwnGossip` (kind 14) is a `Gossip` that travels its origin's own tree (see
//! [`crate::plumtree`]); `OwnPrune` (15) and `OwnGraft` (16) are a `Prune` and a
//! `Graft` about that origin's tree, the plain ones about the shared tree. Versions
//! before kind 14 know only the plain kinds, which mean what they meant.
//!
//! `Bridge` (kind 17) is a `Neighbor` request from a settled view, granted if the two
//! nodes are apart (see [`crate::overlay`]) or, with `room`, if the asked view has room; a version before it drops it
//! unanswered, as it drops any kind it does not know, and the asker's request times out.

use hearsay_guest::codec::{put_text, put_varint, Reader};

/// The encoding version.
pub const VERSION: u8 = 1;
/// Longest topic name.
pub const MAX_TOPIC: usize = 64;
/// Longest node address.
pub const MAX_ADDR: usize = 255;
/// Largest message payload (published data).
pub const MAX_DATA: usize = 16 * 1024;
/// Most nodes in a shuffle.
pub const MAX_NODES: usize = 64;
/// Most ids in one IHave.
pub const MAX_IHAVE: usize = 256;
/// Most ids in one Bridge.
pub const MAX_BRIDGE: usize = 16;

/// A message of one overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// A node asks the receiver to let it into the overlay.
    Join,
    /// A join travelling a random walk: `node` is the newcomer.
    ForwardJoin {
        /// The joining node.
        node: String,
        /// Hops left.
        ttl: u8,
    },
    /// Please make me one of your active peers (`high`: I have none at all).
    Neighbor {
        /// High priority: the sender's active view is empty.
        high: bool,
    },
    /// The answer to `Neighbor` (or to `Join`: accepted).
    NeighborReply {
        /// Whether the receiver is now an active peer of the sender.
        accepted: bool,
    },
    /// The sender dropped the receiver from its active view.
    Disconnect,
    /// A sample of the origin's views, on a random walk.
    Shuffle {
        /// Who started the shuffle (the reply goes there).
        origin: String,
        /// Hops left.
        ttl: u8,
        /// The sample.
        nodes: Vec<String>,
    },
    /// A sample of the replier's passive view.
    ShuffleReply {
        /// The sample.
        nodes: Vec<String>,
    },
    /// A broadcast message, pushed eagerly.
    Gossip {
        /// Its id.
        id: u64,
        /// Hops from its origin.
        round: u32,
        /// The node that published it.
        origin: String,
        /// The payload.
        data: Vec<u8>,
        /// It travels its origin's own tree (a repeat publisher's), not the shared one.
        own: bool,
    },
    /// Messages the sender has (lazy push).
    IHave {
        /// (id, round) of each.
        ids: Vec<(u64, u32)>,
    },
    /// Please push me this message, and make me an eager peer.
    Graft {
        /// The message missing here.
        id: u64,
        /// Its round as announced.
        round: u32,
        /// For a link-only graft (`id` 0): whose own tree the link joins (None: the
        /// shared tree).
        origin: Option<String>,
    },
    /// Stop pushing to me eagerly: I got it from someone else first.
    Prune {
        /// Whose own tree the link leaves (None: the shared tree).
        origin: Option<String>,
    },
    /// Keep-alive to an active peer that was sent nothing else for a while.
    Heartbeat,
    /// Who subscribes this message's topic? A random walk; the answer goes to origin.
    FindTopic {
        /// The asking node.
        origin: String,
        /// Hops left.
        ttl: u8,
    },
    /// The sender subscribes this message's topic (the answer to `FindTopic`).
    TopicContact,
    /// Make me an active peer if we are apart: here are messages I delivered lately
    /// (the answer is a `NeighborReply`).
    Bridge {
        /// The sender's view has room: a view with room may grant it as a `Neighbor`.
        room: bool,
        /// Ids of messages the sender delivered a little while ago, newest first.
        recent: Vec<u64>,
    },
}

const JOIN: u8 = 0;
const FORWARD_JOIN: u8 = 1;
const NEIGHBOR: u8 = 2;
const NEIGHBOR_REPLY: u8 = 3;
const DISCONNECT: u8 = 4;
const SHUFFLE: u8 = 5;
const SHUFFLE_REPLY: u8 = 6;
const GOSSIP: u8 = 7;
const IHAVE: u8 = 8;
const GRAFT: u8 = 9;
const PRUNE: u8 = 10;
const HEARTBEAT: u8 = 11;
const FIND_TOPIC: u8 = 12;
const TOPIC_CONTACT: u8 = 13;
const OWN_GOSSIP: u8 = 14;
const OWN_PRUNE: u8 = 15;
const OWN_GRAFT: u8 = 16;
const BRIDGE: u8 = 17;

fn put_nodes(out: &mut Vec<u8>, nodes: &[String]) {
    let n = nodes.len().min(MAX_NODES);
    put_varint(out, n as u64);
    for node in &nodes[..n] {
        put_text(out, node);
    }
}

/// Encodes `msg` for `topic`.
pub fn encode(topic: &str, msg: &Msg) -> Vec<u8> {
    let mut out = vec![VERSION];
    let kind = match msg {
        Msg::Join => JOIN,
        Msg::ForwardJoin { .. } => FORWARD_JOIN,
        Msg::Neighbor { .. } => NEIGHBOR,
        Msg::NeighborReply { .. } => NEIGHBOR_REPLY,
        Msg::Disconnect => DISCONNECT,
        Msg::Shuffle { .. } => SHUFFLE,
        Msg::ShuffleReply { .. } => SHUFFLE_REPLY,
        Msg::Gossip { own: false, .. } => GOSSIP,
        Msg::Gossip { own: true, .. } => OWN_GOSSIP,
        Msg::IHave { .. } => IHAVE,
        Msg::Graft { origin: None, .. } => GRAFT,
        Msg::Graft { origin: Some(_), .. } => OWN_GRAFT,
        Msg::Prune { origin: None } => PRUNE,
        Msg::Prune { origin: Some(_) } => OWN_PRUNE,
        Msg::Heartbeat => HEARTBEAT,
        Msg::FindTopic { .. } => FIND_TOPIC,
        Msg::TopicContact => TOPIC_CONTACT,
        Msg::Bridge { .. } => BRIDGE,
    };
    out.push(kind);
    put_text(&mut out, topic);
    match msg {
        Msg::Join | Msg::Disconnect | Msg::Heartbeat | Msg::TopicContact => {}
        Msg::Prune { origin } => put_origin(&mut out, origin),
        Msg::ForwardJoin { node, ttl } => {
            put_text(&mut out, node);
            out.push(*ttl);
        }
        Msg::Neighbor { high } => out.push(*high as u8),
        Msg::NeighborReply { accepted } => out.push(*accepted as u8),
        Msg::Shuffle { origin, ttl, nodes } => {
            put_text(&mut out, origin);
            out.push(*ttl);
            put_nodes(&mut out, nodes);
        }
        Msg::ShuffleReply { nodes } => put_nodes(&mut out, nodes),
        Msg::Gossip {
            id,
            round,
            origin,
            data,
            own: _,
        } => {
            out.extend_from_slice(&id.to_le_bytes());
            put_varint(&mut out, *round as u64);
            put_text(&mut out, origin);
            put_varint(&mut out, data.len() as u64);
            out.extend_from_slice(data);
        }
        Msg::IHave { ids } => {
            let n = ids.len().min(MAX_IHAVE);
            put_varint(&mut out, n as u64);
            for (id, round) in &ids[..n] {
                out.extend_from_slice(&id.to_le_bytes());
                put_varint(&mut out, *round as u64);
            }
        }
        Msg::Graft { id, round, origin } => {
            out.extend_from_slice(&id.to_le_bytes());
            put_varint(&mut out, *round as u64);
            put_origin(&mut out, origin);
        }
        Msg::FindTopic { origin, ttl } => {
            put_text(&mut out, origin);
            out.push(*ttl);
        }
        Msg::Bridge { room, recent } => {
            out.push(*room as u8);
            let n = recent.len().min(MAX_BRIDGE);
            put_varint(&mut out, n as u64);
            for id in &recent[..n] {
                out.extend_from_slice(&id.to_le_bytes());
            }
        }
    }
    out
}

/// The origin of an own-tree `Prune` or `Graft` (its kind says whether there is one).
fn put_origin(out: &mut Vec<u8>, origin: &Option<String>) {
    if let Some(o) = origin {
        put_text(out, o);
    }
}

/// A hop count: a varint that fits a `u32`.
fn round(r: &mut Reader) -> Option<u32> {
    let v = r.varint()?;
    if v > u32::MAX as u64 {
        return None;
    }
    Some(v as u32)
}

/// A node address: 1 to `MAX_ADDR` bytes.
fn node(r: &mut Reader) -> Option<String> {
    let s = r.text(MAX_ADDR)?;
    if s.is_empty() {
        return None;
    }
    Some(s)
}

fn nodes(r: &mut Reader) -> Option<Vec<String>> {
    let n = r.varint()?;
    if n > MAX_NODES as u64 {
        return None;
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        out.push(node(r)?);
    }
    Some(out)
}

/// Decodes a message: its topic and what it says.
pub fn decode(bytes: &[u8]) -> Option<(String, Msg)> {
    let mut r = Reader::new(bytes);
    if r.u8()? != VERSION {
        return None;
    }
    let kind = r.u8()?;
    let topic = r.text(MAX_TOPIC)?;
    let msg = match kind {
        JOIN => Msg::Join,
        FORWARD_JOIN => Msg::ForwardJoin {
            node: node(&mut r)?,
            ttl: r.u8()?,
        },
        NEIGHBOR => Msg::Neighbor { high: r.flag()? },
        NEIGHBOR_REPLY => Msg::NeighborReply { accepted: r.flag()? },
        DISCONNECT => Msg::Disconnect,
        SHUFFLE => Msg::Shuffle {
            origin: node(&mut r)?,
            ttl: r.u8()?,
            nodes: nodes(&mut r)?,
        },
        SHUFFLE_REPLY => Msg::ShuffleReply {
            nodes: nodes(&mut r)?,
        },
        GOSSIP | OWN_GOSSIP => Msg::Gossip {
            id: r.u64le()?,
            round: round(&mut r)?,
            origin: node(&mut r)?,
            data: r.bytes(MAX_DATA)?.to_vec(),
            own: kind == OWN_GOSSIP,
        },
        IHAVE => {
            let n = r.varint()?;
            if n > MAX_IHAVE as u64 {
                return None;
            }
            let mut ids = Vec::with_capacity(n as usize);
            for _ in 0..n {
                ids.push((r.u64le()?, round(&mut r)?));
            }
            Msg::IHave { ids }
        }
        GRAFT | OWN_GRAFT => Msg::Graft {
            id: r.u64le()?,
            round: round(&mut r)?,
            origin: if kind == OWN_GRAFT {
                Some(node(&mut r)?)
            } else {
                None
            },
        },
        PRUNE => Msg::Prune { origin: None },
        OWN_PRUNE => Msg::Prune {
            origin: Some(node(&mut r)?),
        },
        HEARTBEAT => Msg::Heartbeat,
        FIND_TOPIC => Msg::FindTopic {
            origin: node(&mut r)?,
            ttl: r.u8()?,
        },
        TOPIC_CONTACT => Msg::TopicContact,
        BRIDGE => {
            let room = r.flag()?;
            let n = r.varint()?;
            if n > MAX_BRIDGE as u64 {
                return None;
            }
            let mut recent = Vec::with_capacity(n as usize);
            for _ in 0..n {
                recent.push(r.u64le()?);
            }
            Msg::Bridge { room, recent }
        }
        _ => return None,
    };
    if !r.is_done() {
        return None;
    }
    Some((topic, msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Msg> {
        vec![
            Msg::Join,
            Msg::ForwardJoin {
                node: "10.0.0.1:7000".into(),
                ttl: 6,
            },
            Msg::Neighbor { high: true },
            Msg::NeighborReply { accepted: false },
            Msg::Disconnect,
            Msg::Shuffle {
                origin: "a:1".into(),
                ttl: 3,
                nodes: vec!["b:2".into(), "c:3".into()],
            },
            Msg::ShuffleReply { nodes: vec![] },
            Msg::Gossip {
                id: u64::MAX,
                round: 7,
                origin: "a:1".into(),
                data: b"hello".to_vec(),
                own: false,
            },
            Msg::Gossip {
                id: 5,
                round: 0,
                origin: "a:1".into(),
                data: vec![],
                own: true,
            },
            Msg::IHave {
                ids: vec![(1, 2), (3, 4)],
            },
            Msg::Graft {
                id: 9,
                round: 1,
                origin: None,
            },
            Msg::Graft {
                id: 0,
                round: 2,
                origin: Some("10.0.0.3:7000".into()),
            },
            Msg::Prune { origin: None },
            Msg::Prune {
                origin: Some("10.0.0.3:7000".into()),
            },
            Msg::Heartbeat,
            Msg::FindTopic {
                origin: "a:1".into(),
                ttl: 8,
            },
            Msg::TopicContact,
            Msg::Bridge {
                room: false,
                recent: vec![],
            },
            Msg::Bridge {
                room: true,
                recent: vec![1, u64::MAX],
            },
        ]
    }

    #[test]
    fn every_message_round_trips_and_every_cut_is_refused() {
        for msg in all() {
            let bytes = encode("news", &msg);
            assert_eq!(decode(&bytes), Some(("news".to_string(), msg.clone())));
            for cut in 0..bytes.len() {
                assert_eq!(decode(&bytes[..cut]), None, "{:?} cut at {}", msg, cut);
            }
            let mut trailing = bytes.clone();
            trailing.push(0);
            assert_eq!(decode(&trailing), None);
        }
    }

    #[test]
    fn limits_are_enforced() {
        let long_topic = "t".repeat(MAX_TOPIC + 1);
        assert_eq!(decode(&encode(&long_topic, &Msg::Join)), None);
        let big = Msg::Gossip {
            id: 1,
            round: 0,
            origin: "a:1".into(),
            data: vec![0; MAX_DATA + 1],
            own: false,
        };
        assert_eq!(decode(&encode("", &big)), None);
        let mut bad_kind = encode("", &Msg::Join);
        bad_kind[1] = 99;
        assert_eq!(decode(&bad_kind), None);
        let mut bad_flag = encode("", &Msg::Neighbor { high: true });
        *bad_flag.last_mut().unwrap() = 2;
        assert_eq!(decode(&bad_flag), None);
    }
}
