//! The messages, in LEB128 varints. Decoding is total — malformed input gives `None`,
//! never a panic — because these bytes come straight off the network.
//!
//! ```text
//! message = version:u8 (=3)  kind:u8  body
//! kind 0  beat:        incarnation digest:u64le members:varint  notes   (to a watcher)
//! kind 1  rumors:      notes                                          (passed on)
//! kind 2  sync:        cursor:text  note                              (asks a page)
//! kind 3  page:        next:text  notes                               (the answer)
//! kind 4  who:         (empty)                                        (asks a note)
//! kind 5  iam:         note                                           (the answer)
//! kind 6  diff:        cursor:text  count:varint  digest:u64le*count  note
//!                                                       (asks a page of differing arcs)
//! kind 7  near:        point:u64le  note  notes           (asks for the members nearest)
//! kind 8  nearest:     point:u64le  notes                                (the answer)
//! notes   = count:varint  note*count
//! note    = addr:text (1..=255)  generation:varint  counter:varint  state:u8
//!           flags:u8  [by:text if flags & 1]  [labels if flags & 2]
//! state   = 0 alive, 1 suspected, 2 failed, 3 left
//! ```
//!
//! A beat tells a watcher that its sender lives (at that incarnation) and how its
//! view stands (a digest and a size); every message but a sync carries rumors. A sync
//! carries the asker's own note and asks for the members after `cursor` in address
//! order; a page answers with as many as fit and the cursor to ask next ("" when done).
//! A node that knows a member but not its labels (heard of it in a beat, or in a page
//! from a node that lacked them too) asks it `who`; it answers `iam` with its own note.
//! A diff is a sync that asks only for the members in the arcs of the ring whose
//! digests differ from the asker's: `count` equal arcs (a power of two, at most
//! [`RANGES`]) with the asker's digest of each; the answer is the same page, of those
//! arcs alone, and the next diff carries the asker's digests as they are then.
//! With partial views (`ring_neighbours`), a node finds its place on the ring by
//! asking `near` a point (its own hash, or a finger's), with its own members nearest
//! the asked (T-Man's exchange: both ends learn): the answer holds the answerer's
//! members nearest that point, on either side, and itself; the asker goes on asking
//! the nearest of them before the point until none is nearer (Chord's lookup, done
//! by the asker).
//! Kinds 4 to 6 came after the rest: a node running an earlier build of this version
//! refuses them as malformed, and the asker keeps waiting for the labels' rumor.

use crate::view::{Note, State, RANGES};
use hearsay_guest::codec::{put_text, put_varint, varint_len, Reader};
use heartbeat::labels::Labels;
use heartbeat::table::Heartbeat;

/// The encoding version this code writes and reads (heartbeat's, membership's before, was 1 and 2).
pub const VERSION: u8 = 3;
/// Longest address carried.
pub const MAX_ADDR_LEN: usize = 255;

const BEAT: u8 = 0;
const RUMORS: u8 = 1;
const SYNC: u8 = 2;
const PAGE: u8 = 3;
const WHO: u8 = 4;
const IAM: u8 = 5;
const DIFF: u8 = 6;
const NEAR: u8 = 7;
const NEAREST: u8 = 8;

/// Each kind's name, by its number: what the `traffic` query reports.
pub const KIND_NAMES: [&str; 9] = [
    "beat", "rumors", "sync", "page", "who", "iam", "diff", "near", "nearest",
];

/// A message's kind as its name; None when the bytes are no message of this version.
pub fn kind_name(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [VERSION, kind, ..] => KIND_NAMES.get(*kind as usize).copied(),
        _ => None,
    }
}

const FLAG_BY: u8 = 1;
const FLAG_LABELS: u8 = 2;

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// "I live": from a node to each of its watchers, every tick.
    Beat {
        /// The sender's incarnation.
        incarnation: Heartbeat,
        /// A digest of the sender's view (see `View::digest`).
        digest: u64,
        /// How many members the sender knows (itself included).
        members: u64,
        /// Rumors riding along.
        rumors: Vec<Note>,
    },
    /// Rumors passed on.
    Rumors(Vec<Note>),
    /// The asker's own note, and where its page starts.
    Sync {
        /// Members after this one are asked for ("" from the start): the last address
        /// of the page before, in the order the answerer pages in (its own).
        cursor: String,
        /// The asker's own note.
        asker: Note,
    },
    /// Members after the cursor, as many as fit.
    Page {
        /// The cursor to ask next; "" when this page ends the view.
        next: String,
        /// The members.
        notes: Vec<Note>,
    },
    /// "Who are you?": asks the receiver for its own note (its labels).
    Who,
    /// The answer to a `Who`: the sender's own note.
    Iam(Note),
    /// A sync of the arcs whose digests differ.
    Diff {
        /// As in `Sync`.
        cursor: String,
        /// The asker's digest of each of so many equal arcs of the ring.
        arcs: Vec<u64>,
        /// The asker's own note.
        asker: Note,
    },
    /// Asks for the members nearest a point of the ring (partial views).
    Near {
        /// The point (a ring hash).
        point: u64,
        /// The asker's own note.
        asker: Note,
        /// The asker's members nearest the asked.
        notes: Vec<Note>,
    },
    /// The answer to a `Near`: the answerer's members nearest the point, and itself.
    Nearest {
        /// The point asked about.
        point: u64,
        /// The members.
        notes: Vec<Note>,
    },
}

/// Bytes a note takes.
pub fn note_len(n: &Note) -> usize {
    varint_len(n.addr.len() as u64)
        + n.addr.len()
        + varint_len(n.incarnation.generation)
        + varint_len(n.incarnation.counter)
        + 2
        + n.by.as_ref().map_or(0, |b| varint_len(b.len() as u64) + b.len())
        + n.labels.as_ref().map_or(0, Labels::encoded_len)
}

/// Bytes of a message's header before its notes (the largest: a beat).
pub const HEADER_MAX: usize = 2 + 20 + 8 + 10 + 10;

fn put_note(out: &mut Vec<u8>, n: &Note) {
    put_text(out, &n.addr);
    put_varint(out, n.incarnation.generation);
    put_varint(out, n.incarnation.counter);
    out.push(n.state as u8);
    let mut flags = 0;
    if n.by.is_some() {
        flags |= FLAG_BY;
    }
    if n.labels.is_some() {
        flags |= FLAG_LABELS;
    }
    out.push(flags);
    if let Some(by) = &n.by {
        put_text(out, by);
    }
    if let Some(labels) = &n.labels {
        labels.encode(out);
    }
}

fn put_notes<'a>(out: &mut Vec<u8>, notes: impl ExactSizeIterator<Item = &'a Note>) {
    put_varint(out, notes.len() as u64);
    for n in notes {
        put_note(out, n);
    }
}

/// Encodes a message.
pub fn encode(m: &Message) -> Vec<u8> {
    let mut out = vec![VERSION];
    match m {
        Message::Beat {
            incarnation,
            digest,
            members,
            rumors,
        } => {
            out.push(BEAT);
            put_varint(&mut out, incarnation.generation);
            put_varint(&mut out, incarnation.counter);
            out.extend_from_slice(&digest.to_le_bytes());
            put_varint(&mut out, *members);
            put_notes(&mut out, rumors.iter());
        }
        Message::Rumors(notes) => {
            out.push(RUMORS);
            put_notes(&mut out, notes.iter());
        }
        Message::Sync { cursor, asker } => {
            out.push(SYNC);
            put_text(&mut out, cursor);
            put_note(&mut out, asker);
        }
        Message::Page { next, notes } => {
            out.push(PAGE);
            put_text(&mut out, next);
            put_notes(&mut out, notes.iter());
        }
        Message::Who => out.push(WHO),
        Message::Iam(note) => {
            out.push(IAM);
            put_note(&mut out, note);
        }
        Message::Diff { cursor, arcs, asker } => {
            out.push(DIFF);
            put_text(&mut out, cursor);
            put_varint(&mut out, arcs.len() as u64);
            for digest in arcs {
                out.extend_from_slice(&digest.to_le_bytes());
            }
            put_note(&mut out, asker);
        }
        Message::Near { point, asker, notes } => {
            out.push(NEAR);
            out.extend_from_slice(&point.to_le_bytes());
            put_note(&mut out, asker);
            put_notes(&mut out, notes.iter());
        }
        Message::Nearest { point, notes } => {
            out.push(NEAREST);
            out.extend_from_slice(&point.to_le_bytes());
            put_notes(&mut out, notes.iter());
        }
    }
    out
}

fn read_addr(r: &mut Reader) -> Option<String> {
    let addr = r.text(MAX_ADDR_LEN)?;
    if addr.is_empty() {
        return None;
    }
    Some(addr)
}

fn read_note(r: &mut Reader) -> Option<Note> {
    let addr = read_addr(r)?;
    let incarnation = Heartbeat {
        generation: r.varint()?,
        counter: r.varint()?,
    };
    let state = State::from_u8(r.u8()?)?;
    let flags = r.u8()?;
    if flags & !(FLAG_BY | FLAG_LABELS) != 0 {
        return None;
    }
    let by = if flags & FLAG_BY != 0 {
        Some(read_addr(r)?)
    } else {
        None
    };
    let labels = if flags & FLAG_LABELS != 0 {
        Some(Labels::decode(r)?)
    } else {
        None
    };
    Some(Note {
        addr,
        incarnation,
        state,
        by,
        labels,
    })
}

fn read_notes(r: &mut Reader) -> Option<Vec<Note>> {
    let count = r.varint()?;
    // Every note takes at least 6 bytes: a lying count can't make us allocate.
    let mut notes = Vec::with_capacity((count as usize).min(r.remaining() / 6));
    for _ in 0..count {
        notes.push(read_note(r)?);
    }
    Some(notes)
}

/// Decodes a message; `None` if it is malformed in any way.
pub fn decode(bytes: &[u8]) -> Option<Message> {
    let mut r = Reader::new(bytes);
    if r.u8()? != VERSION {
        return None;
    }
    let m = match r.u8()? {
        BEAT => Message::Beat {
            incarnation: Heartbeat {
                generation: r.varint()?,
                counter: r.varint()?,
            },
            digest: r.u64le()?,
            members: r.varint()?,
            rumors: read_notes(&mut r)?,
        },
        RUMORS => Message::Rumors(read_notes(&mut r)?),
        SYNC => {
            let cursor = r.text(MAX_ADDR_LEN)?;
            Message::Sync {
                cursor,
                asker: read_note(&mut r)?,
            }
        }
        PAGE => {
            let next = r.text(MAX_ADDR_LEN)?;
            Message::Page {
                next,
                notes: read_notes(&mut r)?,
            }
        }
        WHO => Message::Who,
        IAM => Message::Iam(read_note(&mut r)?),
        DIFF => {
            let cursor = r.text(MAX_ADDR_LEN)?;
            let count = r.varint()?;
            if count == 0 || count > RANGES as u64 || !count.is_power_of_two() {
                return None;
            }
            let arcs = (0..count).map(|_| r.u64le()).collect::<Option<Vec<u64>>>()?;
            Message::Diff {
                cursor,
                arcs,
                asker: read_note(&mut r)?,
            }
        }
        NEAR => Message::Near {
            point: r.u64le()?,
            asker: read_note(&mut r)?,
            notes: read_notes(&mut r)?,
        },
        NEAREST => Message::Nearest {
            point: r.u64le()?,
            notes: read_notes(&mut r)?,
        },
        _ => return None,
    };
    if !r.is_done() {
        return None;
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(addr: &str, state: State) -> Note {
        Note {
            addr: addr.to_string(),
            incarnation: Heartbeat {
                generation: 1_700_000_000_000,
                counter: 3,
            },
            state,
            by: None,
            labels: None,
        }
    }

    fn samples() -> Vec<Message> {
        let mut suspected = note("10.0.0.2:7000", State::Suspected);
        suspected.by = Some("10.0.0.3:7000".to_string());
        let mut alive = note("10.0.0.1:7000", State::Alive);
        alive.labels = Some(Labels::from_pairs(vec![("zone".into(), "/eu/r1".into())]));
        vec![
            Message::Beat {
                incarnation: alive.incarnation,
                digest: 0xdead_beef_0123_4567,
                members: 100,
                rumors: vec![alive.clone(), suspected.clone()],
            },
            Message::Rumors(vec![note("a:1", State::Failed), note("b:2", State::Left)]),
            Message::Sync {
                cursor: "10.0.0.1:7000".into(),
                asker: alive.clone(),
            },
            Message::Page {
                next: String::new(),
                notes: vec![alive.clone(), suspected],
            },
            Message::Who,
            Message::Iam(alive.clone()),
            Message::Diff {
                cursor: String::new(),
                arcs: vec![7, 0, u64::MAX, 1],
                asker: alive.clone(),
            },
            Message::Near {
                point: u64::MAX - 3,
                asker: alive.clone(),
                notes: vec![note("d:4", State::Suspected)],
            },
            Message::Nearest {
                point: 42,
                notes: vec![alive, note("c:3", State::Alive)],
            },
        ]
    }

    #[test]
    fn round_trips_and_note_sizes_match() {
        for m in samples() {
            assert_eq!(decode(&encode(&m)), Some(m.clone()));
            if let Message::Rumors(notes) = &m {
                let sum: usize = notes.iter().map(note_len).sum();
                assert_eq!(encode(&m).len(), 2 + 1 + sum);
            }
        }
    }

    #[test]
    fn every_truncation_and_corruption_is_refused() {
        for m in samples() {
            let good = encode(&m);
            for cut in 0..good.len() {
                assert_eq!(decode(&good[..cut]), None, "{:?} cut at {}", m, cut);
            }
            let mut trailing = good.clone();
            trailing.push(0);
            assert_eq!(decode(&trailing), None);
            let mut version = good.clone();
            version[0] = 2;
            assert_eq!(decode(&version), None);
        }
        assert_eq!(decode(&[VERSION, 9]), None);
        // A state byte out of range, an unknown flag, a count far beyond the bytes.
        let mut bad_state = encode(&Message::Rumors(vec![note("a:1", State::Alive)]));
        let at = bad_state.len() - 2;
        bad_state[at] = 7;
        assert_eq!(decode(&bad_state), None);
        let mut bad_flag = encode(&Message::Rumors(vec![note("a:1", State::Alive)]));
        *bad_flag.last_mut().unwrap() = 4;
        assert_eq!(decode(&bad_flag), None);
        assert_eq!(decode(&[VERSION, RUMORS, 0xff, 0xff, 0xff, 0xff, 0x0f]), None);
        // Arcs: none, not a power of two, more than a view keeps.
        for count in [0u64, 3, 2 * RANGES as u64] {
            let mut bad = vec![VERSION, DIFF, 0];
            put_varint(&mut bad, count);
            bad.extend(std::iter::repeat(0).take(8 * count as usize));
            put_note(&mut bad, &note("a:1", State::Alive));
            assert_eq!(decode(&bad), None, "{} arcs", count);
        }
    }
}
