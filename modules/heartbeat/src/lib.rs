//! heartbeat: gossip-style membership and failure detection, after van Renesse,
//! Minsky and Hayden, "A gossip-style failure detection service" (Middleware 1998) —
//! the evaluation application of the hearsay paper, as a hearsay module. It was the
//! `membership` module until that became watcher-based (its state is taken over by a
//! hot swap to it); its messages carry the whole table, so its cost per node grows with
//! the cluster.
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
//! Module ABI v2 adds what applications expect of membership (Serf's members, tags and
//! leave): each node's labels (`hearsay agent --label KEY=VALUE`) travel with its
//! entry — always in its own, and in others' while they are news — so every view
//! shows every member's labels; a node shutting down gracefully sends a *leave* (its
//! entry, one heartbeat on, flagged left) to every member it knows, and each one
//! removes it at once and passes the leave on for `remove_after_ms`; and every change
//! of view is an event (`member.joined`, `member.suspected`, `member.recovered`,
//! `member.updated`, `member.failed`, `member.left`, data
//! `{"addr":…,"labels":{…}}`).
//!
//! A hot swap (a new version, a rollback) hands the table over, and every member's
//! silence then starts counting only `remove_after_ms` after the swap: while the
//! cluster changes versions the core delivers gossip only between nodes running the
//! same deployment, so without that grace an update that takes the cluster longer than
//! `remove_after_ms` to complete made its early nodes remove the late ones (and all
//! 100 members of a local cluster were removed by someone in one 1.2 s update). A node
//! that crashes during an update is removed that much later.
//!
//! What it does not do: indirect probing (SWIM), authentication (the core's
//! envelopes carry that), or bounding how many members a peer may invent.
//!
//! # Layout
//!
//! - [`params`]: tuning, parsed from the deployment's params JSON.
//! - [`labels`]: a member's labels, their limits and wire form.
//! - [`table`]: the heartbeat table — merge, suspicion, removal, leaves,
//!   tombstones, the changes they make, and the state handed over on a hot swap
//!   (ABI v1 membership's state included).
//! - [`wire`]: the versioned binary gossip message and its total decoder.
//! - this file: the [`Membership`] module — who to gossip with, what goes in a
//!   message under the size cap, joining through bootstrap peers, queries.
//!
//! # Queries
//!
//! Any args: `{"self":"a","live":["a","b"],"suspected":["c"]}` (sorted; `live`
//! includes this node). `count`: the same with counts instead of lists.
//! `table`: every member with its heartbeat and age, for debugging.
//! `members`: `{"self":"a","members":[{"addr","state","labels","age_ms",
//! "generation","heartbeat"}]}`, this node included, `state` one of `alive`,
//! `suspected`, `left`, `failed` (removed members are listed while remembered).
//! `member ADDR`: that one member, or `{"error":…}`.

#![warn(missing_docs)]

pub mod labels;
pub mod params;
pub mod table;
pub mod wire;

use hearsay_guest::json::{push_quoted, push_strings};
use hearsay_guest::random::{sample as pick, shuffle};
use hearsay_guest::{Host, Level, Module};
use labels::Labels;
use params::{Params, Timeouts};
use std::collections::BTreeMap;
use table::{Change, Heard, Status, Table};
use wire::{Entry, EntryRef};

/// One in this many ticks, a node that knows others also gossips with a bootstrap
/// peer it doesn't currently see as live, so partitions heal once links come back.
const REJOIN_ONE_IN: u64 = 16;

/// Labels heard for a member are passed on with pushes for this long, so they
/// spread epidemically as the member's first heartbeats do; later, a node that lacks
/// them asks (`want_labels`) and replies carry them.
const LABEL_RUMOR_MS: u64 = 3000;

/// Most members a leave is sent to directly; the rest hear it passed on.
const LEAVE_DIRECT_MAX: usize = 128;

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
    /// This node has left (`hearsay_leave`): it gossips no more.
    left: bool,
}

#[cfg(feature = "export")]
hearsay_guest::export_module_v2!(Membership);

impl Module for Membership {
    fn init(params: &str, host: &mut dyn Host) -> Result<Self, String> {
        let params = Params::parse(params)?;
        let self_addr = host.self_addr();
        if self_addr.is_empty() || self_addr.len() > wire::MAX_ADDR_LEN {
            return Err(format!("self address must be 1 to {} bytes", wire::MAX_ADDR_LEN));
        }
        let now_ms = host.now_ms();
        // The start time is the generation: a restart outranks the previous life.
        let mut table = Table::new(self_addr, now_ms);
        let (labels, dropped) = Labels::from_json(&host.labels());
        if dropped > 0 {
            host.log(
                Level::Warn,
                &format!(
                    "{} labels left out: at most {} of at most {} bytes in all, keys of 1 to {} bytes, values of at most {}",
                    dropped,
                    labels::MAX_LABELS,
                    labels::MAX_ENCODED,
                    labels::MAX_KEY,
                    labels::MAX_VALUE
                ),
            );
        }
        table.set_own_labels(labels);
        let own = EntryRef {
            labels: Some(table.own_labels()),
            ..EntryRef::plain(table.self_addr(), table.own())
        };
        if wire::message_len(1, own.len()) + 16 > params.max_message_bytes as usize {
            return Err("max_message_bytes is too small for this node's address and labels".to_string());
        }
        Ok(Membership {
            timeouts: params.timeouts(1),
            params,
            table,
            now_ms,
            removals: 0,
            left: false,
        })
    }

    fn tick(&mut self, now_ms: u64, host: &mut dyn Host) {
        if self.left {
            return;
        }
        self.now_ms = now_ms;
        self.table.beat();
        self.timeouts = self.params.timeouts(self.table.len() + 1);
        let t = self.timeouts;
        let changes = self
            .table
            .expire(now_ms, t.suspect_after_ms, t.remove_after_ms, t.forget_after_ms);
        for change in &changes {
            if let Change::Failed(addr) = change {
                self.removals += 1;
                host.log(Level::Info, &format!("removed {}", addr));
            }
        }
        self.emit(&changes, host);

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
        let mut changes = Vec::new();
        for entry in &gossip.entries {
            self.table.merge(entry, now, &mut changes);
        }
        for change in &changes {
            if let Change::Left(addr) = change {
                host.log(Level::Info, &format!("{} left", addr));
            }
        }
        self.emit(&changes, host);
        if gossip.want_reply && !self.left {
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
        if let Some(addr) = arg.strip_prefix("member ") {
            return self.member_json(addr.trim(), now).unwrap_or_else(|| {
                let mut err = String::from("{\"error\":");
                push_quoted(&mut err, &format!("no member {}", addr.trim()));
                err.push('}');
                err
            });
        }
        match arg {
            "members" => {
                out.push_str(",\"members\":[");
                let mut addrs: Vec<&str> = vec![self.table.self_addr()];
                addrs.extend(self.table.heard().map(|h| h.addr));
                addrs.extend(self.table.gone().map(|g| g.addr));
                addrs.sort_unstable();
                for (i, addr) in addrs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if let Some(member) = self.member_json(addr, now) {
                        out.push_str(&member);
                    }
                }
                out.push_str("]}");
            }
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
                push_strings(&mut out, &live);
                out.push_str(",\"suspected\":");
                push_strings(&mut out, &suspected);
                out.push('}');
            }
        }
        out
    }

    fn leave(&mut self, host: &mut dyn Host) {
        if self.left {
            return;
        }
        self.left = true;
        // One heartbeat on, so the leave outranks everything gossiped before it.
        self.table.beat();
        let message = wire::encode_gossip(
            false,
            &[EntryRef {
                left: true,
                labels: Some(self.table.own_labels()),
                ..EntryRef::plain(self.table.self_addr(), self.table.own())
            }],
        );
        let members: Vec<String> = self.table.heard().map(|h| h.addr.to_string()).collect();
        let targets = pick(&members, LEAVE_DIRECT_MAX, host);
        host.log(
            Level::Info,
            &format!("leaving: told {} of {} members", targets.len(), members.len()),
        );
        for peer in targets {
            host.send(&peer, &message);
        }
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
            return false;
        }
        // Gossip between versions is cut until every node has swapped (see
        // `Table::hold_silence_until`): each member gets `remove_after_ms` of grace
        // before its silence starts counting, so an update that takes the cluster up
        // to about twice the removal timeout removes nobody.
        self.timeouts = self.params.timeouts(self.table.len() + 1);
        let now = host.now_ms();
        self.now_ms = self.now_ms.max(now);
        self.table
            .hold_silence_until(now.saturating_add(self.timeouts.remove_after_ms));
        true
    }
}

impl Membership {
    /// This node's gossip message: its own entry, then every other member it
    /// considers live — or, when they don't fit `max_message_bytes`, a sample of them
    /// that does, chosen so that what the peer most likely lacks comes first:
    ///
    /// - A reply (`told` is the push it answers) leaves out what the pusher holds
    ///   as new or newer, and leads with the members the push carried that this node
    ///   holds newer heartbeats for (or labels the pusher asked for), suspected ones
    ///   included.
    /// - A push gives `request_percent` of its room to the members this node heard
    ///   from least recently, suspected ones included: a request for newer heartbeats,
    ///   which the reply answers first.
    /// - The rest of the room holds a random sample of the other live members, so over
    ///   rounds every entry still gets carried.
    ///
    /// Leaves heard within `remove_after_ms` go first, as news. Labels ride along
    /// with this node's own entry always, with a member's entry in a push while they
    /// are fresh here ([`LABEL_RUMOR_MS`]), and in a reply where the pusher lacks them;
    /// a member whose labels this node lacks is flagged `want_labels`.
    fn gossip(&self, want_reply: bool, told: Option<&[Entry]>, host: &mut dyn Host) -> Vec<u8> {
        let own = EntryRef {
            labels: Some(self.table.own_labels()),
            ..EntryRef::plain(self.table.self_addr(), self.table.own())
        };
        let told: BTreeMap<&str, &Entry> = told.unwrap_or(&[]).iter().map(|e| (e.addr.as_str(), e)).collect();
        let requests = want_reply && self.params.request_percent > 0;
        let suspect = self.timeouts.suspect_after_ms;
        let is_reply = !want_reply;
        // (entry, when its heartbeat last rose here)
        let mut news: Vec<(EntryRef, u64)> = Vec::new();
        let mut live: Vec<(EntryRef, u64)> = Vec::new();
        let mut suspected: Vec<(EntryRef, u64)> = Vec::new();
        for g in self.table.gone() {
            let fresh = self.now_ms.saturating_sub(g.removed_at_ms) < self.timeouts.remove_after_ms;
            let known = told
                .get(g.addr)
                .map_or(false, |t| t.left && t.heartbeat >= g.heartbeat);
            if g.left && fresh && !known {
                let entry = EntryRef {
                    left: true,
                    ..EntryRef::plain(g.addr, g.heartbeat)
                };
                news.push((entry, g.removed_at_ms));
            }
        }
        for h in self.table.heard() {
            let is_live = self.now_ms.saturating_sub(h.last_increase_ms) < suspect;
            let theirs = told.get(h.addr);
            let entry = self.entry(&h, is_reply, theirs.copied());
            match theirs {
                Some(t) if t.heartbeat >= h.heartbeat && !(t.want_labels && entry.labels.is_some()) => {}
                Some(_) => news.push((entry, h.last_increase_ms)),
                None if is_live => live.push((entry, h.last_increase_ms)),
                None if requests => suspected.push((entry, h.last_increase_ms)),
                None => {}
            }
        }
        let max = self.params.max_message_bytes as usize;
        let mut sample = Sample {
            entries: vec![own],
            bytes: own.len(),
        };
        let candidates = news.len() + live.len() + suspected.len();
        let all: usize = sample.bytes
            + news
                .iter()
                .chain(&live)
                .chain(&suspected)
                .map(|(e, _)| e.len())
                .sum::<usize>();
        if wire::message_len(candidates + 1, all) <= max {
            for list in [&news, &live, &suspected] {
                sample.entries.extend(list.iter().map(|(e, _)| *e));
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
            pool.sort_by_key(|(_, heard)| *heard);
            let used = wire::message_len(sample.entries.len(), sample.bytes);
            let room = max.saturating_sub(used);
            let asked =
                sample.take_while_fits(&pool, used + room * self.params.request_percent as usize / 100);
            live = pool.split_off(asked);
            live.retain(|(_, heard)| self.now_ms.saturating_sub(*heard) < suspect);
            shuffle(&mut live, host);
        }
        sample.fill(&live, max);
        wire::encode_gossip(want_reply, &sample.entries)
    }

    /// A member's entry in a message: in a reply, with its labels where the pusher
    /// lacks them (`theirs` is what the push said of the member); in a push, with
    /// them while they are fresh here.
    fn entry<'a>(&self, h: &Heard<'a>, is_reply: bool, theirs: Option<&Entry>) -> EntryRef<'a> {
        let send_labels = if is_reply {
            theirs.map_or(true, |t| {
                t.want_labels || t.heartbeat.generation != h.heartbeat.generation
            })
        } else {
            self.now_ms.saturating_sub(h.labels_since_ms) < LABEL_RUMOR_MS
        };
        EntryRef {
            want_labels: h.labels.is_none(),
            labels: if send_labels { h.labels } else { None },
            ..EntryRef::plain(h.addr, h.heartbeat)
        }
    }

    /// Publishes each change as an event: `{"addr":…,"labels":{…}}`.
    fn emit(&self, changes: &[Change], host: &mut dyn Host) {
        for change in changes {
            let mut data = String::from("{\"addr\":");
            push_quoted(&mut data, change.addr());
            data.push_str(",\"labels\":");
            self.table
                .labels_of(change.addr())
                .cloned()
                .unwrap_or_default()
                .push_json(&mut data);
            data.push('}');
            host.emit(change.kind(), data.as_bytes());
        }
    }

    /// One member (this node, another, or a remembered removed one) as the `members`
    /// query lists it.
    fn member_json(&self, addr: &str, now: u64) -> Option<String> {
        let (state, hb, age) = if addr == self.table.self_addr() {
            let state = if self.left { "left" } else { "alive" };
            (state, self.table.own(), 0)
        } else if let Some((_, status, hb)) = self
            .table
            .members(now, self.timeouts.suspect_after_ms)
            .find(|(a, _, _)| *a == addr)
        {
            let state = match status {
                Status::Live => "alive",
                Status::Suspected => "suspected",
            };
            (state, hb, self.table.age_ms(addr, now).unwrap_or(0))
        } else {
            let g = self.table.gone().find(|g| g.addr == addr)?;
            let state = if g.left { "left" } else { "failed" };
            (state, g.heartbeat, now.saturating_sub(g.removed_at_ms))
        };
        let mut out = String::from("{\"addr\":");
        push_quoted(&mut out, addr);
        out.push_str(&format!(",\"state\":\"{}\",\"labels\":", state));
        match self.table.labels_of(addr) {
            Some(labels) => labels.push_json(&mut out),
            None => out.push_str("{}"),
        }
        out.push_str(&format!(
            ",\"age_ms\":{},\"generation\":{},\"heartbeat\":{}}}",
            age, hb.generation, hb.counter
        ));
        Some(out)
    }

    fn bootstrap_peers(&self, host: &mut dyn Host) -> Vec<String> {
        bootstrap_peers(host, self.table.self_addr())
    }
}

/// The host's bootstrap peers a node can gossip with: not itself, addresses of 1 to
/// `MAX_ADDR_LEN` bytes, sorted, once each.
pub fn bootstrap_peers(host: &mut dyn Host, self_addr: &str) -> Vec<String> {
    let mut peers: Vec<String> = host
        .bootstrap_peers()
        .into_iter()
        .filter(|p| p != self_addr && !p.is_empty() && p.len() <= wire::MAX_ADDR_LEN)
        .collect();
    peers.sort();
    peers.dedup();
    peers
}

/// A gossip message being put together under the size cap.
struct Sample<'a> {
    entries: Vec<EntryRef<'a>>,
    bytes: usize,
}

impl<'a> Sample<'a> {
    fn fits(&self, len: usize, max: usize) -> bool {
        wire::message_len(self.entries.len() + 1, self.bytes + len) <= max
    }

    /// Adds every candidate that still fits, in order.
    fn fill(&mut self, candidates: &[(EntryRef<'a>, u64)], max: usize) {
        for (entry, _) in candidates {
            let len = entry.len();
            if self.fits(len, max) {
                self.bytes += len;
                self.entries.push(*entry);
            }
        }
    }

    /// Adds candidates in order until one doesn't fit; returns how many were added.
    fn take_while_fits(&mut self, candidates: &[(EntryRef<'a>, u64)], max: usize) -> usize {
        for (i, (entry, _)) in candidates.iter().enumerate() {
            let len = entry.len();
            if !self.fits(len, max) {
                return i;
            }
            self.bytes += len;
            self.entries.push(*entry);
        }
        candidates.len()
    }
}
