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
use std::collections::BTreeSet;

/// The first byte of this module's state.
pub const STATE_VERSION: u8 = 0x53;

/// The view, for the next instance.
pub fn export(view: &View) -> Vec<u8> {
    let mut out = vec![STATE_VERSION];
    put_text(&mut out, view.self_addr());
    put_varint(&mut out, view.own().generation);
    put_varint(&mut out, view.own().counter);
    put_varint(&mut out, view.members().len() as u64);
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
        let member = Member {
            incarnation: h.heartbeat,
            state: State::Alive,
            since_ms: now,
            labels: h.labels.cloned(),
            labels_stale: false,
            suspecters: BTreeSet::new(),
        };
        view.restore(h.addr, member);
    }
    for g in table.gone() {
        let member = Member {
            incarnation: g.heartbeat,
            state: if g.left { State::Left } else { State::Failed },
            since_ms: g.removed_at_ms.min(now),
            labels: table.labels_of(g.addr).cloned(),
            labels_stale: false,
            suspecters: BTreeSet::new(),
        };
        view.restore(g.addr, member);
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
        members.push((
            addr,
            Member {
                incarnation,
                state,
                since_ms,
                labels,
                labels_stale: false,
                suspecters: BTreeSet::new(),
            },
        ));
    }
    if !r.is_done() {
        return None;
    }
    Some((addr, own, members))
}

/// Answers a query in membership's formats: any args → `{"self","live","suspected"}`;
/// `count`; `members`; `member ADDR`; `table`. All but `table` (every entry, for
/// debugging) list only announced members: those whose labels are known.
pub fn query(view: &View, removals: u64, left: bool, arg: &str, now: u64) -> String {
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
    let mut live = vec![view.self_addr().to_string()];
    let mut suspected = Vec::new();
    for (addr, m) in view.members().iter().filter(|(_, m)| m.labels.is_some()) {
        match m.state {
            State::Alive => live.push(addr.clone()),
            State::Suspected => suspected.push(addr.clone()),
            _ => {}
        }
    }
    live.sort();
    match arg {
        "members" => {
            out.push_str(",\"members\":[");
            let mut addrs: Vec<&str> = vec![view.self_addr()];
            addrs.extend(
                view.members()
                    .iter()
                    .filter(|(_, m)| m.labels.is_some())
                    .map(|(a, _)| a.as_str()),
            );
            addrs.sort_unstable();
            for (i, addr) in addrs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let Some(member) = member_json(view, left, addr, now) {
                    out.push_str(&member);
                }
            }
            out.push_str("]}");
        }
        "count" => out.push_str(&format!(
            ",\"live\":{},\"suspected\":{},\"removed\":{}}}",
            live.len(),
            suspected.len(),
            removals
        )),
        "table" => {
            let own = view.own();
            out.push_str(&format!(
                ",\"generation\":{},\"heartbeat\":{},\"members\":[",
                own.generation, own.counter
            ));
            let mut first = true;
            for (addr, m) in view.members().iter().filter(|(_, m)| m.state.is_member()) {
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
            let dead = view.members().values().filter(|m| !m.state.is_member()).count();
            out.push_str(&format!("],\"dead\":{}}}", dead));
        }
        _ => {
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
    let (state, incarnation, age, labels) = if addr == view.self_addr() {
        let state = if left { "left" } else { "alive" };
        (state, view.own(), 0, Some(view.own_labels()))
    } else {
        let m = view.get(addr).filter(|m| m.labels.is_some())?;
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
            m.labels.as_ref(),
        )
    };
    let mut out = String::from("{\"addr\":");
    push_quoted(&mut out, addr);
    out.push_str(&format!(",\"state\":\"{}\",\"labels\":", state));
    match labels {
        Some(labels) => labels.push_json(&mut out),
        None => out.push_str("{}"),
    }
    out.push_str(&format!(
        ",\"age_ms\":{},\"generation\":{},\"heartbeat\":{}}}",
        age, incarnation.generation, incarnation.counter
    ));
    Some(out)
}
