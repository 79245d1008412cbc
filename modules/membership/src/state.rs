//! What a hot swap hands over, and the queries (membership's formats).
//!
//! ```text
//! state  = 0x53 ('S')  addr:text  generation:varint  counter:varint  count:varint
//!          member*count
//! member = addr:text  generation:varint  counter:varint  state:u8  since_ms:varint
//!          labels?:u8 [labels]
//! ```
//!
//! Labels kept from a member's earlier life are handed over as its own (the flag that
//! says they are stale is not): they stay until its next change of labels.
//!
//! The `heartbeat` module's state (its versions 1 and 2; membership's before this one) is taken over too: its members alive
//! at their heartbeats, its tombstones failed or left.

use crate::view::{Member, State, View};
use hearsay_guest::codec::{put_text, put_varint, Reader};
use hearsay_guest::json::{push_quoted, push_strings};
use heartbeat::labels::Labels;
use heartbeat::table::{Heartbeat, Table};

/// The first byte of this module's state.
pub const STATE_VERSION: u8 = 0x53;

/// The view, for the next instance.
pub fn export(view: &View) -> Vec<u8> {
    let mut out = vec![STATE_VERSION];
    put_text(&mut out, view.self_addr());
    put_varint(&mut out, view.own().generation);
    put_varint(&mut out, view.own().counter);
    put_varint(&mut out, view.known() as u64);
    for (addr, m) in view.members() {
        put_text(&mut out, addr);
        put_varint(&mut out, m.incarnation.generation);
        put_varint(&mut out, m.incarnation.counter);
        out.push(m.state as u8);
        put_varint(&mut out, m.since_ms);
        match &m.labels {
            Some(labels) => {
                out.push(1);
                labels.encode(&mut out);
            }
            None => out.push(0),
        }
    }
    out
}

/// Takes over a previous instance's state (this module's or heartbeat's); false,
/// leaving the view untouched, if it is malformed. Suspicions are not handed over.
pub fn import(view: &mut View, state: &[u8], now: u64) -> bool {
    if state.first() == Some(&STATE_VERSION) {
        return match decode(state) {
            Some((addr, own, members)) => {
                if addr == view.self_addr() {
                    view.restore_own(own);
                }
                for (addr, mut m) in members {
                    if m.state == State::Suspected {
                        m.state = State::Alive;
                        m.since_ms = now;
                    }
                    view.restore(&addr, m);
                }
                true
            }
            None => false,
        };
    }
    let mut table = Table::new(view.self_addr().to_string(), 0);
    if !table.import(state) {
        return false;
    }
    view.restore_own(table.own());
    for h in table.heard() {
        view.restore(h.addr, Member::new(h.heartbeat, State::Alive, now, h.labels));
    }
    for g in table.gone() {
        let state = if g.left { State::Left } else { State::Failed };
        let since_ms = g.removed_at_ms.min(now);
        view.restore(
            g.addr,
            Member::new(g.heartbeat, state, since_ms, table.labels_of(g.addr)),
        );
    }
    true
}

type Decoded = (String, Heartbeat, Vec<(String, Member)>);

fn decode(state: &[u8]) -> Option<Decoded> {
    let mut r = Reader::new(state);
    r.u8()?;
    let addr = r.text(crate::wire::MAX_ADDR_LEN)?;
    let own = Heartbeat {
        generation: r.varint()?,
        counter: r.varint()?,
    };
    let count = r.varint()?;
    let mut members = Vec::with_capacity((count as usize).min(r.remaining() / 6));
    for _ in 0..count {
        let addr = r.text(crate::wire::MAX_ADDR_LEN)?;
        let incarnation = Heartbeat {
            generation: r.varint()?,
            counter: r.varint()?,
        };
        let state = State::from_u8(r.u8()?)?;
        let since_ms = r.varint()?;
        let labels = match r.u8()? {
            0 => None,
            1 => Some(Labels::decode(&mut r)?),
            _ => return None,
        };
        members.push((addr, Member::new(incarnation, state, since_ms, labels.as_ref())));
    }
    if !r.is_done() {
        return None;
    }
    Some((addr, own, members))
}

/// Answers a query in membership's formats: any args → `{"self","live","suspected"}`;
/// `count`; `members`; `member ADDR`; `table`. All but `table` (every entry, for
/// debugging) list only announced members: those whose labels are known. `count` and
/// `member ADDR` cost little at any size; the lists grow with the cluster (a `members`
/// listing stops fitting one answer, 8 MiB, at about 50,000 members).
pub fn query(
    view: &View,
    removals: u64,
    penalty: u64,
    left: bool,
    arg: &str,
    now: u64,
    ring_neighbours: usize,
) -> String {
    let mut out = String::from("{\"self\":");
    push_quoted(&mut out, view.self_addr());
    if let Some(addr) = arg.strip_prefix("member ") {
        return member_json(view, left, addr.trim(), now).unwrap_or_else(|| {
            let mut err = String::from("{\"error\":");
            push_quoted(&mut err, &format!("no member {}", addr.trim()));
            err.push('}');
            err
        });
    }
    // Each form does only its own work: a view holds every member of the cluster,
    // and a query that burns more fuel than a call may would fail the module.
    let announced = || view.members().filter(|(_, m)| m.labels.is_some());
    match arg {
        "members" => {
            out.push_str(",\"members\":[");
            let mut members: Vec<(&str, Option<&Member>)> = vec![(view.self_addr(), None)];
            members.extend(announced().map(|(a, m)| (a, Some(m))));
            members.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (i, (addr, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_member(&mut out, view, left, addr, member, now);
            }
            out.push_str("]}");
        }
        "count" => {
            let (mut live, mut suspected) = (1, 0);
            for (_, m) in announced() {
                match m.state {
                    State::Alive => live += 1,
                    State::Suspected => suspected += 1,
                    _ => {}
                }
            }
            out.push_str(&format!(
                ",\"live\":{},\"suspected\":{},\"removed\":{},\"health_penalty\":{}",
                live, suspected, removals, penalty
            ));
            if ring_neighbours > 0 {
                push_ring(&mut out, view, ring_neighbours);
            }
            out.push('}');
        }
        "table" => {
            let own = view.own();
            out.push_str(&format!(
                ",\"generation\":{},\"heartbeat\":{},\"members\":[",
                own.generation, own.counter
            ));
            let mut first = true;
            for (addr, m) in view.members().filter(|(_, m)| m.state.is_member()) {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str("{\"addr\":");
                push_quoted(&mut out, addr);
                let status = if m.state == State::Alive {
                    "live"
                } else {
                    "suspected"
                };
                out.push_str(&format!(
                    ",\"status\":\"{}\",\"generation\":{},\"heartbeat\":{},\"age_ms\":{},\"suspecters\":{}}}",
                    status,
                    m.incarnation.generation,
                    m.incarnation.counter,
                    now.saturating_sub(m.since_ms),
                    m.suspecters.len()
                ));
            }
            let dead = view.members().filter(|(_, m)| !m.state.is_member()).count();
            out.push_str(&format!("],\"dead\":{}}}", dead));
        }
        _ => {
            let mut live = vec![view.self_addr()];
            let mut suspected = Vec::new();
            for (addr, m) in announced() {
                match m.state {
                    State::Alive => live.push(addr),
                    State::Suspected => suspected.push(addr),
                    _ => {}
                }
            }
            live.sort_unstable();
            suspected.sort_unstable();
            out.push_str(",\"live\":");
            push_strings(&mut out, &live);
            out.push_str(",\"suspected\":");
            push_strings(&mut out, &suspected);
            out.push('}');
        }
    }
    out
}

fn member_json(view: &View, left: bool, addr: &str, now: u64) -> Option<String> {
    let member = if addr == view.self_addr() {
        None
    } else {
        Some(view.get(addr).filter(|m| m.labels.is_some())?)
    };
    let mut out = String::new();
    push_member(&mut out, view, left, addr, member, now);
    Some(out)
}

/// One member as the queries list it: `member` is `None` for this node itself.
fn push_member(out: &mut String, view: &View, left: bool, addr: &str, member: Option<&Member>, now: u64) {
    let (state, incarnation, age, labels) = match member {
        None => {
            let state = if left { "left" } else { "alive" };
            (state, view.own(), 0, Some(view.own_labels()))
        }
        Some(m) => {
            let state = match m.state {
                State::Alive => "alive",
                State::Suspected => "suspected",
                State::Failed => "failed",
                State::Left => "left",
            };
            (
                state,
                m.incarnation,
                now.saturating_sub(m.since_ms),
                m.labels.as_deref(),
            )
        }
    };
    out.push_str("{\"addr\":");
    push_quoted(out, addr);
    out.push_str(&format!(",\"state\":\"{}\",\"labels\":", state));
    match labels {
        Some(labels) => labels.push_json(out),
        None => out.push_str("{}"),
    }
    out.push_str(&format!(
        ",\"age_ms\":{},\"generation\":{},\"heartbeat\":{}}}",
        age, incarnation.generation, incarnation.counter
    ));
}

/// With partial views, where this node stands on the ring and the neighbours it holds:
/// `"ring_key"` (its hash), `"ring_neighbours"` (k), `"successors"` and `"predecessors"` (`k` each, nearest
/// first) — what a simulator compares with the true ring to call views converged.
fn push_ring(out: &mut String, view: &View, k: usize) {
    out.push_str(&format!(
        ",\"ring_key\":{},\"ring_neighbours\":{}",
        view.self_hash(),
        k
    ));
    for (name, side) in [
        ("successors", view.watchers(k)),
        ("predecessors", view.watched(k)),
    ] {
        out.push_str(&format!(",\"{}\":[", name));
        for (i, addr) in side.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_quoted(out, addr);
        }
        out.push(']');
    }
}
