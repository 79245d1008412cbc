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
//! What it does not do: indirect probing (SWIM), authentication (the core's
//! envelopes carry that), or bounding how many members a peer may invent.
//!
//! # Layout
//!
//! - [`params`]: tuning, parsed from the deployment's params JSON.
//! - [`table`]: the heartbeat table — merge, suspicion, removal, tombstones, and
//!   the state handed over on a hot swap.
//! - [`wire`]: the versioned binary gossip message and its total decoder.
//! - this file: the [`Membership`] module — who to gossip with, message sampling
//!   under the size cap, joining through bootstrap peers, queries.
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
use params::Params;
use table::{Heartbeat, Status, Table};

/// One in this many ticks, a node that knows others also gossips with a bootstrap
/// peer it doesn't currently see as live, so partitions heal once links come back.
const REJOIN_ONE_IN: u64 = 16;

/// The membership module.
#[derive(Debug, Clone)]
pub struct Membership {
    params: Params,
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
            params,
            table,
            now_ms,
            removals: 0,
        })
    }

    fn tick(&mut self, now_ms: u64, host: &mut dyn Host) {
        self.now_ms = now_ms;
        self.table.beat();
        for addr in self
            .table
            .expire(now_ms, self.params.remove_after_ms, self.params.forget_after_ms)
        {
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
            .members(now_ms, self.params.suspect_after_ms)
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
                        .map_or(true, |age| age >= self.params.suspect_after_ms)
                })
                .collect();
            targets.extend(pick(&unseen, 1, host));
        }

        for peer in targets {
            let message = self.gossip(true, host);
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
            let message = self.gossip(false, host);
            host.send(from, &message);
        }
    }

    fn query(&mut self, args: &str, host: &mut dyn Host) -> String {
        let now = host.now_ms().max(self.now_ms);
        let arg = args.trim().trim_matches('"');
        let mut live = vec![self.table.self_addr().to_string()];
        let mut suspected = Vec::new();
        for (addr, status, _) in self.table.members(now, self.params.suspect_after_ms) {
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
                for (i, (addr, status, hb)) in
                    self.table.members(now, self.params.suspect_after_ms).enumerate()
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
    /// This node's gossip message: its own entry and its live members, or — when
    /// they don't fit `max_message_bytes` — its own entry and a random sample of the
    /// rest that does (so over rounds every entry still gets carried).
    fn gossip(&self, want_reply: bool, host: &mut dyn Host) -> Vec<u8> {
        let own = (self.table.self_addr(), self.table.own());
        let mut others: Vec<(&str, Heartbeat)> = self
            .table
            .members(self.now_ms, self.params.suspect_after_ms)
            .filter(|(_, s, _)| *s == Status::Live)
            .map(|(a, _, hb)| (a, hb))
            .collect();
        let max = self.params.max_message_bytes as usize;
        let mut bytes = wire::entry_len(own.0, own.1);
        let all: usize = bytes
            + others
                .iter()
                .map(|(a, hb)| wire::entry_len(a, *hb))
                .sum::<usize>();
        let mut entries = vec![own];
        if wire::message_len(others.len() + 1, all) <= max {
            entries.extend(others);
        } else {
            shuffle(&mut others, host);
            for (addr, hb) in others {
                let len = wire::entry_len(addr, hb);
                if wire::message_len(entries.len() + 1, bytes + len) <= max {
                    bytes += len;
                    entries.push((addr, hb));
                }
            }
        }
        wire::encode_gossip(want_reply, &entries)
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
