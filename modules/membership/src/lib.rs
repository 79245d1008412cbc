//! membership: gossip-style membership and failure detection, after van Renesse,
//! Minsky and Hayden, "A gossip-style failure detection service" (Middleware 1998) —
//! the evaluation application of the hearsay paper, as a hearsay module.
//!
//! Every node keeps a "last heard from" table: each member's heartbeat counter and
//! the local time it last rose. A node increments its own heartbeat every tick and
//! push-pulls its table with `fanout` random members; the receiver keeps the higher
//! heartbeat per member and answers with its own table. A member whose heartbeat
//! hasn't risen for `suspect_after_ms` is *suspected*, for `remove_after_ms`
//! *removed* — and remembered as dead for `forget_after_ms` so stale gossip can't
//! bring it back; a restarted node, whose heartbeat carries a new generation, can.
//! Nothing here reads a clock or an rng: time and randomness come from the host.
//!
//! A table too big for one message (`max_message_bytes`, about 350 members) is
//! sampled, and a member's heartbeat then reaches a node only when some sample
//! carries it: at 1,000 members and 10% loss, random samples let live members go
//! unheard for seconds often enough for hundreds of false removals in 1,000 rounds. So
//! samples are steered, push-pull style: a push gives part of its room to the members
//! its sender heard from least recently (suspected ones too) — a request — and the
//! reply leads with newer heartbeats for what the push carried and leaves out what
//! the push showed the pusher already has. And the timeouts grow with `log10` of the
//! cluster size (`scale_timeouts`), as news takes longer to reach everyone in a bigger
//! cluster; up to 100 members they are as configured.
//!
//! What it does not do: indirect probing (SWIM), authentication (the core's
//! envelopes carry that), or bounding how many members a peer may invent.
//!
//! # Layout
//!
//! - [`params`]: tuning, parsed from the deployment's params JSON.
//! - [`table`]: the heartbeat table — merge, suspicion, removal, tombstones, and
//!   the state handed over on a hot swap.
//! - [`wire`]: the versioned binary gossip message and its total decoder.
//! - this file: the [`Membership`] module — who to gossip with, what goes in a
//!   message under the size cap, joining through bootstrap peers, queries.
//!
//! # Queries
//!
//! Any args: `{"self":"a","live":["a","b"],"suspected":["c"]}` (sorted; `live`
//! includes this node). `count`: the same with counts instead of lists.
//! `table`: every member with its heartbeat and age, for debugging.

#![warn(missing_docs)]

pub mod params;
pub mod table;
pub mod wire;

use hearsay_guest::json::push_quoted;
use hearsay_guest::{export_module, Host, Level, Module};
use params::{Params, Timeouts};
use std::collections::BTreeMap;
use table::{Heartbeat, Status, Table};

/// One in this many ticks, a node that knows others also gossips with a bootstrap
/// peer it doesn't currently see as live, so partitions heal once links come back.
const REJOIN_ONE_IN: u64 = 16;

/// The membership module.
#[derive(Debug, Clone)]
pub struct Membership {
    params: Params,
    /// The timeouts in force, for the cluster size seen at the last tick.
    timeouts: Timeouts,
    table: Table,
    /// The host time of the last event, for views computed outside of one.
    now_ms: u64,
    /// Members this node removed since it started: with no crashes, each one is a
    /// false removal, so operators (and the simulator tests) watch this number.
    removals: u64,
}

export_module!(Membership);

impl Module for Membership {
    fn init(params: &str, host: &mut dyn Host) -> Result<Self, String> {
        let params = Params::parse(params)?;
        let self_addr = host.self_addr();
        if self_addr.is_empty() || self_addr.len() > wire::MAX_ADDR_LEN {
            return Err(format!("self address must be 1 to {} bytes", wire::MAX_ADDR_LEN));
        }
        let now_ms = host.now_ms();
        // The start time is the generation: a restart outranks the previous life.
        let table = Table::new(self_addr, now_ms);
        let own = wire::entry_len(table.self_addr(), table.own());
        if wire::message_len(1, own) + 16 > params.max_message_bytes as usize {
            return Err("max_message_bytes is too small for this node's address".to_string());
        }
        Ok(Membership {
            timeouts: params.timeouts(1),
            params,
            table,
            now_ms,
            removals: 0,
        })
    }

    fn tick(&mut self, now_ms: u64, host: &mut dyn Host) {
        self.now_ms = now_ms;
        self.table.beat();
        self.timeouts = self.params.timeouts(self.table.len() + 1);
        let t = self.timeouts;
        for addr in self.table.expire(now_ms, t.remove_after_ms, t.forget_after_ms) {
            self.removals += 1;
            host.log(Level::Info, &format!("removed {}", addr));
        }

        let members: Vec<String> = self
            .table
            .members(now_ms, u64::MAX)
            .map(|(a, _, _)| a.to_string())
            .collect();
        let live_others = self
            .table
            .members(now_ms, t.suspect_after_ms)
            .filter(|(_, s, _)| *s == Status::Live)
            .count();
        let mut targets = pick(&members, self.params.fanout as usize, host);

        if live_others == 0 {
            // Alone (just started, or cut off): gossip with bootstrap peers until
            // someone answers.
            let bootstrap = self.bootstrap_peers(host);
            for peer in pick(&bootstrap, self.params.fanout as usize, host) {
                if !targets.contains(&peer) {
                    targets.push(peer);
                }
            }
        } else if host.random_u64() % REJOIN_ONE_IN == 0 {
            let unseen: Vec<String> = self
                .bootstrap_peers(host)
                .into_iter()
                .filter(|p| {
                    self.table
                        .age_ms(p, now_ms)
                        .map_or(true, |age| age >= t.suspect_after_ms)
                })
                .collect();
            targets.extend(pick(&unseen, 1, host));
        }

        for peer in targets {
            let message = self.gossip(true, None, host);
            host.send(&peer, &message);
        }
    }

    fn receive(&mut self, from: &str, payload: &[u8], host: &mut dyn Host) {
        let gossip = match wire::decode_gossip(payload) {
            Some(g) => g,
            None => {
                host.log(
                    Level::Debug,
                    &format!("ignored a malformed message from {}", from),
                );
                return;
            }
        };
        let now = host.now_ms();
        self.now_ms = self.now_ms.max(now);
        for (addr, heartbeat) in &gossip.entries {
            self.table.merge(addr, *heartbeat, now);
        }
        if gossip.want_reply {
            let message = self.gossip(false, Some(&gossip.entries), host);
            host.send(from, &message);
        }
    }

    fn query(&mut self, args: &str, host: &mut dyn Host) -> String {
        let now = host.now_ms().max(self.now_ms);
        let arg = args.trim().trim_matches('"');
        let mut live = vec![self.table.self_addr().to_string()];
        let mut suspected = Vec::new();
        for (addr, status, _) in self.table.members(now, self.timeouts.suspect_after_ms) {
            match status {
                Status::Live => live.push(addr.to_string()),
                Status::Suspected => suspected.push(addr.to_string()),
            }
        }
        live.sort();
        let mut out = String::from("{\"self\":");
        push_quoted(&mut out, self.table.self_addr());
        match arg {
            "count" => out.push_str(&format!(
                ",\"live\":{},\"suspected\":{},\"removed\":{}}}",
                live.len(),
                suspected.len(),
                self.removals
            )),
            "table" => {
                let own = self.table.own();
                out.push_str(&format!(
                    ",\"generation\":{},\"heartbeat\":{},\"members\":[",
                    own.generation, own.counter
                ));
                for (i, (addr, status, hb)) in self
                    .table
                    .members(now, self.timeouts.suspect_after_ms)
                    .enumerate()
                {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"addr\":");
                    push_quoted(&mut out, addr);
                    let status = if status == Status::Live {
                        "live"
                    } else {
                        "suspected"
                    };
                    let age = self.table.age_ms(addr, now).unwrap_or(0);
                    out.push_str(&format!(
                        ",\"status\":\"{}\",\"generation\":{},\"heartbeat\":{},\"age_ms\":{}}}",
                        status, hb.generation, hb.counter, age
                    ));
                }
                out.push_str(&format!("],\"dead\":{}}}", self.table.dead_count()));
            }
            _ => {
                out.push_str(",\"live\":");
                push_list(&mut out, &live);
                out.push_str(",\"suspected\":");
                push_list(&mut out, &suspected);
                out.push('}');
            }
        }
        out
    }

    fn export_state(&self) -> Option<Vec<u8>> {
        Some(self.table.export())
    }

    fn import_state(&mut self, state: &[u8], host: &mut dyn Host) -> bool {
        let accepted = self.table.import(state);
        if !accepted {
            host.log(
                Level::Warn,
                "previous membership state was malformed; starting fresh",
            );
        }
        accepted
    }
}

impl Membership {
    /// This node's gossip message: its own entry, then every other member it
    /// considers live — or, when they don't fit `max_message_bytes`, a sample of them
    /// that does, chosen so that what the peer most likely lacks comes first:
    ///
    /// - A reply (`told` is the push it answers) leaves out what the pusher holds
    ///   as new or newer, and leads with the members the push carried that this node
    ///   holds newer heartbeats for, suspected ones included.
    /// - A push gives `request_percent` of its room to the members this node heard
    ///   from least recently, suspected ones included: a request for newer heartbeats,
    ///   which the reply answers first.
    /// - The rest of the room holds a random sample of the other live members, so over
    ///   rounds every entry still gets carried.
    fn gossip(&self, want_reply: bool, told: Option<&[(String, Heartbeat)]>, host: &mut dyn Host) -> Vec<u8> {
        let own = (self.table.self_addr(), self.table.own());
        let told: BTreeMap<&str, Heartbeat> = told
            .unwrap_or(&[])
            .iter()
            .map(|(a, hb)| (a.as_str(), *hb))
            .collect();
        let requests = want_reply && self.params.request_percent > 0;
        let suspect = self.timeouts.suspect_after_ms;
        // (address, heartbeat, when it last rose here)
        let mut news: Vec<(&str, Heartbeat, u64)> = Vec::new();
        let mut live: Vec<(&str, Heartbeat, u64)> = Vec::new();
        let mut suspected: Vec<(&str, Heartbeat, u64)> = Vec::new();
        for (addr, hb, heard) in self.table.heard() {
            let is_live = self.now_ms.saturating_sub(heard) < suspect;
            match told.get(addr) {
                Some(theirs) if *theirs >= hb => {}
                Some(_) => news.push((addr, hb, heard)),
                None if is_live => live.push((addr, hb, heard)),
                None if requests => suspected.push((addr, hb, heard)),
                None => {}
            }
        }
        let max = self.params.max_message_bytes as usize;
        let mut sample = Sample {
            entries: vec![own],
            bytes: wire::entry_len(own.0, own.1),
        };
        let candidates = news.len() + live.len() + suspected.len();
        let all: usize = sample.bytes
            + news
                .iter()
                .chain(&live)
                .chain(&suspected)
                .map(|(a, hb, _)| wire::entry_len(a, *hb))
                .sum::<usize>();
        if wire::message_len(candidates + 1, all) <= max {
            for list in [&news, &live, &suspected] {
                sample.entries.extend(list.iter().map(|(a, hb, _)| (*a, *hb)));
            }
            return wire::encode_gossip(want_reply, &sample.entries);
        }
        shuffle(&mut news, host);
        sample.fill(&news, max);
        shuffle(&mut live, host);
        if requests {
            let mut pool = live;
            pool.append(&mut suspected);
            // Least recently heard first; the shuffle orders ties at random.
            shuffle(&mut pool, host);
            pool.sort_by_key(|(_, _, heard)| *heard);
            let used = wire::message_len(sample.entries.len(), sample.bytes);
            let room = max.saturating_sub(used);
            let asked =
                sample.take_while_fits(&pool, used + room * self.params.request_percent as usize / 100);
            live = pool.split_off(asked);
            live.retain(|(_, _, heard)| self.now_ms.saturating_sub(*heard) < suspect);
            shuffle(&mut live, host);
        }
        sample.fill(&live, max);
        wire::encode_gossip(want_reply, &sample.entries)
    }

    fn bootstrap_peers(&self, host: &mut dyn Host) -> Vec<String> {
        let mut peers: Vec<String> = host
            .bootstrap_peers()
            .into_iter()
            .filter(|p| p != self.table.self_addr() && !p.is_empty() && p.len() <= wire::MAX_ADDR_LEN)
            .collect();
        peers.sort();
        peers.dedup();
        peers
    }
}

/// A gossip message being put together under the size cap.
struct Sample<'a> {
    entries: Vec<(&'a str, Heartbeat)>,
    bytes: usize,
}

impl<'a> Sample<'a> {
    fn fits(&self, len: usize, max: usize) -> bool {
        wire::message_len(self.entries.len() + 1, self.bytes + len) <= max
    }

    /// Adds every candidate that still fits, in order.
    fn fill(&mut self, candidates: &[(&'a str, Heartbeat, u64)], max: usize) {
        for (addr, hb, _) in candidates {
            let len = wire::entry_len(addr, *hb);
            if self.fits(len, max) {
                self.bytes += len;
                self.entries.push((*addr, *hb));
            }
        }
    }

    /// Adds candidates in order until one doesn't fit; returns how many were added.
    fn take_while_fits(&mut self, candidates: &[(&'a str, Heartbeat, u64)], max: usize) -> usize {
        for (i, (addr, hb, _)) in candidates.iter().enumerate() {
            let len = wire::entry_len(addr, *hb);
            if !self.fits(len, max) {
                return i;
            }
            self.bytes += len;
            self.entries.push((*addr, *hb));
        }
        candidates.len()
    }
}

/// A uniform index below `n` (> 0).
fn below(n: usize, host: &mut dyn Host) -> usize {
    ((host.random_u64() as u128 * n as u128) >> 64) as usize
}

fn shuffle<T>(items: &mut [T], host: &mut dyn Host) {
    for i in (1..items.len()).rev() {
        let j = below(i + 1, host);
        items.swap(i, j);
    }
}

/// Up to `k` distinct random items (a partial Fisher–Yates shuffle).
fn pick(items: &[String], k: usize, host: &mut dyn Host) -> Vec<String> {
    let mut pool: Vec<&String> = items.iter().collect();
    let k = k.min(pool.len());
    for i in 0..k {
        let j = i + below(pool.len() - i, host);
        pool.swap(i, j);
    }
    pool.into_iter().take(k).cloned().collect()
}

fn push_list(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_quoted(out, item);
    }
    out.push(']');
}
