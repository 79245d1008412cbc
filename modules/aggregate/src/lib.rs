//! aggregate: Astrolabe-style aggregation over a hierarchy of zones, as a hearsay
//! module (module ABI v2) — a live "mashup" of the whole cluster that every node
//! holds and that changes within a few gossip rounds.
//!
//! A node's zone comes from its `zone` label (`/eu/rack1`; none: the root `/`). Every
//! node has a row of attributes: those set by commands (`set load 0.7`) and what its
//! host knows (`uptime_min`: whole minutes, so a row stays the same between changes; `zone`; and for every module running, `NAME_version`,
//! `NAME_deployment`, and all of them in `modules`). It holds one table per zone on
//! its path ([`tables`]): its own zone's table has a row per node in the zone; each
//! zone above has a row per child zone, the child's aggregates — functions declared
//! in the deployment's params ([`functions`]: `count()`, `sum`, `min`, `max`, `avg`,
//! `distinct`, `top(k, x)`, `list(k, x)`), so new aggregates spread by deploying new
//! params, like code.
//!
//! Gossip, each tick: a node exchanges its tables (push, then the reply) with
//! `fanout` random nodes of its own zone; at each level above, if it is one of its
//! zone's representatives (elected by the same bottom-up computation: the few members
//! whose address hashes lowest), also with a representative of a sibling zone, sharing
//! the tables of the zones both are in. Rows carry their age ([`row`]): the younger
//! copy wins, and a row not renewed for `expire_ms` is dropped — a node that stopped
//! leaves its zone's count within that time. Messages stay within `max_message`
//! ([`wire`]); a joining node finds its zone by descending from whatever node it
//! reaches first (each zone's row names its representatives).
//!
//! # Commands, queries, events
//!
//! Commands: `set KEY VALUE` / `delete KEY`, or JSON `{"op":"set","key":K,"value":V}`
//! (V a number or a text) and `{"op":"delete","key":K}`.
//!
//! Queries: `zone PATH` (that zone's table and its aggregate row, for a zone this node
//! is in; for a child of one, its row only), `tree` (every table this node holds, for
//! the map), `row` (this node's own row), and an empty query for a summary with the
//! root aggregate (the whole system's row) and counters.
//!
//! Events: `row.added` and `row.expired` `{"zone","name","kind"}` when a node or zone
//! appears in, or leaves, one of this node's tables.

#![warn(missing_docs)]

pub mod functions;
pub mod params;
pub mod row;
pub mod tables;
pub mod value;
pub mod wire;
pub mod zone;

use hearsay_guest::json::{self, push_quoted, Value};
use hearsay_guest::{export_module_v2, random, Host, Level, Module};
use params::Params;
use row::{Kind, Row};
use std::collections::BTreeMap;
use tables::{Merge, Tables};
use value::Val;
use wire::{Body, Digest, Msg, Writer};

/// Most attributes a node sets by command.
pub const MAX_SET: usize = 32;
/// Most hints (nodes known to be in one of this node's zones) kept per level.
const MAX_HINTS: usize = 8;

/// The aggregate module.
pub struct Aggregate {
    params: Params,
    now: u64,
    /// The labels last read (the zone is read again when they change).
    labels: String,
    /// Why the zone label was refused (the node then sits in the root zone).
    zone_error: Option<String>,
    tables: Tables,
    /// Attributes set by commands, sorted by name.
    set: Vec<(String, Val)>,
    /// `hints[level]`: nodes known to be in this node's zone at `level` (from the
    /// representatives other nodes name for it, and from senders): where a node that
    /// knows nobody in its own zone yet goes to find it.
    hints: Vec<Vec<String>>,
    sent: u64,
    received: u64,
    malformed: u64,
    expired: u64,
    bytes_sent: u64,
}

export_module_v2!(Aggregate);

fn error(what: &str) -> String {
    let mut out = String::from("{\"error\":");
    push_quoted(&mut out, what);
    out.push('}');
    out
}

/// Names the host's facts take: a command cannot set them.
fn is_fact(key: &str) -> bool {
    key == "uptime_min"
        || key == "zone"
        || key == "modules"
        || key.ends_with("_version")
        || key.ends_with("_deployment")
}

impl Module for Aggregate {
    fn init(params: &str, host: &mut dyn Host) -> Result<Self, String> {
        let params = Params::parse(params)?;
        let me = host.self_addr();
        if me.is_empty() || me.len() > row::MAX_ADDR {
            return Err(format!("self address must be 1 to {} bytes", row::MAX_ADDR));
        }
        let mut m = Aggregate {
            params,
            now: host.now_ms(),
            labels: String::new(),
            zone_error: None,
            tables: Tables::new(me, Vec::new()),
            set: Vec::new(),
            hints: vec![Vec::new()],
            sent: 0,
            received: 0,
            malformed: 0,
            expired: 0,
            bytes_sent: 0,
        };
        m.read_zone(host);
        Ok(m)
    }

    fn tick(&mut self, now_ms: u64, host: &mut dyn Host) {
        self.now = now_ms.max(self.now);
        self.read_zone(host);
        self.refresh(host);
        let gone = self.tables.expire(self.now, self.params.expire_ms);
        for (level, name, kind) in gone {
            self.expired += 1;
            event(host, "row.expired", &self.tables.zone(level), &name, kind);
        }
        self.gossip(host);
    }

    fn receive(&mut self, from: &str, payload: &[u8], host: &mut dyn Host) {
        // The clock as it is now, not at the last tick: rows are dated by their age,
        // and a stale clock would make every row it passes on look younger than it
        // is — a stopped node's row, bounced around, would never expire.
        self.now = host.now_ms().max(self.now);
        self.received += 1;
        let msg = match wire::decode(payload, self.now) {
            Some(m) => m,
            None => {
                self.malformed += 1;
                host.log(
                    Level::Debug,
                    &format!("malformed aggregate message from {}", from),
                );
                return;
            }
        };
        let shared = self.tables.shared(&msg.path);
        self.hint(shared, from);
        match msg.body {
            Body::Push { digest } => {
                let digest = self.aged(digest, shared);
                self.answer(from, &msg.path, shared, &digest, host);
                for d in &digest {
                    self.tables.renew(d.level, &d.name, d.hash, d.issued);
                }
            }
            Body::Reply { rows, digest, wants } => {
                self.take(rows, shared, host);
                for d in self.aged(digest, shared) {
                    self.tables.renew(d.level, &d.name, d.hash, d.issued);
                }
                let wanted: Vec<(usize, &str, &Row)> = wants
                    .iter()
                    .filter(|(level, _)| *level <= shared)
                    .filter_map(|(level, name)| {
                        let row = self.tables.tables.get(*level)?.get(name)?;
                        Some((*level, name.as_str(), row))
                    })
                    .collect();
                if !wanted.is_empty() {
                    let now = self.now;
                    let mut w = Writer::new(3, &self.tables.path, self.params.max_message);
                    w.list(wanted.into_iter(), |(l, n, r), out| {
                        wire::put_row(*l, n, r, now, out)
                    });
                    self.post(from, w.finish(), host);
                }
            }
            Body::Rows { rows } => self.take(rows, shared, host),
        }
    }

    fn query(&mut self, args: &str, host: &mut dyn Host) -> String {
        self.now = host.now_ms().max(self.now);
        let args = args.trim();
        let (what, rest) = match args.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (args, ""),
        };
        match what {
            "" => self.summary(),
            "zone" => self.zone_query(if rest.is_empty() { "/" } else { rest }),
            "tree" => self.tree(),
            "row" => {
                let mut out = String::new();
                let depth = self.tables.depth();
                match self.tables.tables[depth].get(&self.tables.me) {
                    Some(row) => push_row(&mut out, &self.tables.me, row, self.now),
                    None => out.push_str("null"),
                }
                out
            }
            _ => error("unknown query: try '', 'zone PATH', 'tree' or 'row'"),
        }
    }

    fn command(&mut self, args: &str, host: &mut dyn Host) -> String {
        self.now = host.now_ms().max(self.now);
        let (op, key, value) = match parse_command(args) {
            Ok(c) => c,
            Err(e) => return error(&e),
        };
        if !functions::is_attr_name(&key) {
            return error("a key is 1-64 bytes of A-Z a-z 0-9 _ . -");
        }
        if is_fact(&key) {
            return error(
                "that attribute is the host's (uptime_min, zone, modules, *_version, *_deployment)",
            );
        }
        let at = self.set.binary_search_by(|(k, _)| k.as_str().cmp(&key));
        match (op.as_str(), value) {
            ("set", Some(value)) => {
                match at {
                    Ok(i) => self.set[i].1 = value,
                    Err(i) if self.set.len() < MAX_SET => self.set.insert(i, (key, value)),
                    Err(_) => return error("too many attributes set on this node (at most 32)"),
                }
                // At once, so the next query and the next gossip carry it.
                self.refresh(host);
                "{\"ok\":true}".to_string()
            }
            ("delete", None) => {
                let had = at.map(|i| self.set.remove(i)).is_ok();
                self.refresh(host);
                format!("{{\"ok\":true,\"deleted\":{}}}", had)
            }
            _ => error("commands: 'set KEY VALUE', 'delete KEY', or {\"op\":\"set\",\"key\":K,\"value\":V}"),
        }
    }

    fn export_state(&self) -> Option<Vec<u8>> {
        // The attributes set, then every row held, as one message.
        let mut own = Row::new(Kind::Node, self.now, Vec::new());
        own.attrs = self.set.clone();
        let mut out = vec![1u8];
        own.encode(self.now, &mut out);
        let now = self.now;
        let mut w = Writer::new(3, &self.tables.path, usize::MAX);
        w.list(
            self.all_rows(self.tables.depth()).into_iter(),
            |(l, n, r), out| wire::put_row(*l, n, r, now, out),
        );
        out.extend_from_slice(&w.finish());
        Some(out)
    }

    fn import_state(&mut self, bytes: &[u8], host: &mut dyn Host) -> bool {
        self.now = host.now_ms().max(self.now);
        let mut r = hearsay_guest::codec::Reader::new(bytes);
        if r.u8() != Some(1) {
            return false;
        }
        let own = match Row::decode(&mut r, self.now) {
            Some((row, _)) => row,
            None => return false,
        };
        let rest = &bytes[bytes.len() - r.remaining()..];
        let (path, rows) = match wire::decode(rest, self.now) {
            Some(Msg {
                path,
                body: Body::Rows { rows },
            }) => (path, rows),
            _ => return false,
        };
        self.set = own.attrs.into_iter().take(MAX_SET).collect();
        if path == self.tables.path {
            for (level, name, row) in rows {
                self.tables.merge(level, &name, row);
            }
        }
        self.refresh(host);
        true
    }
}

impl Aggregate {
    /// Reads the zone label when the labels changed; a new zone starts new tables.
    fn read_zone(&mut self, host: &mut dyn Host) {
        let labels = host.labels();
        if labels == self.labels {
            return;
        }
        let zone = json::parse(&labels)
            .ok()
            .and_then(|v| v.get("zone").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let path = match zone::parse(&zone) {
            Ok(path) => {
                self.zone_error = None;
                path
            }
            Err(e) => {
                host.log(Level::Warn, &format!("{}; this node sits in the root zone", e));
                self.zone_error = Some(e);
                Vec::new()
            }
        };
        self.labels = labels;
        if path != self.tables.path || self.hints.len() != path.len() + 1 {
            self.hints = vec![Vec::new(); path.len() + 1];
            self.tables = Tables::new(self.tables.me.clone(), path);
        }
    }

    /// Makes this node's rows anew: its attributes and its host's facts.
    fn refresh(&mut self, host: &mut dyn Host) {
        let mut attrs = self.set.clone();
        let mut put = |name: String, value: Val| match attrs.binary_search_by(|(k, _)| k.as_str().cmp(&name))
        {
            Ok(i) => attrs[i].1 = value,
            Err(i) => attrs.insert(i, (name, value)),
        };
        put(
            "zone".to_string(),
            Val::Text(self.tables.zone(self.tables.depth())),
        );
        if let Ok(info) = json::parse(&host.node_info()) {
            if let Some(up) = info.get("uptime_ms").and_then(Value::as_u64) {
                put("uptime_min".to_string(), Val::Num((up / 60_000) as f64));
            }
            if let Some(Value::Object(modules)) = info.get("modules") {
                let mut all = Vec::new();
                for (name, about) in modules.iter().take(16) {
                    if !functions::is_attr_name(name) || name.len() > 40 {
                        continue;
                    }
                    let version = about.get("version").and_then(Value::as_str).unwrap_or("");
                    let short: String = version.chars().take(12).collect();
                    if let Some(d) = about.get("deployment").and_then(Value::as_str) {
                        put(
                            format!("{}_deployment", name),
                            Val::Text(functions::clip(d.to_string())),
                        );
                    }
                    put(format!("{}_version", name), Val::Text(short.clone()));
                    all.push(format!("{}:{}", name, short));
                }
                put("modules".to_string(), Val::Text(functions::clip(all.join(" "))));
            }
        }
        attrs.truncate(row::MAX_ATTRS);
        self.tables.refresh(
            self.now,
            attrs,
            &self.params.aggregates,
            self.params.representatives,
        );
    }

    /// One round of gossip: in this node's own zone, at every level where it
    /// represents its zone, and towards its zone while it knows nobody there.
    fn gossip(&mut self, host: &mut dyn Host) {
        let depth = self.tables.depth();
        for level in (0..=depth).rev() {
            if level < depth && !self.tables.represents(level) {
                continue;
            }
            let own = self.tables.own_name(level).to_string();
            let others: Vec<&Row> = self.tables.tables[level]
                .iter()
                .filter(|(name, _)| **name != own)
                .map(|(_, row)| row)
                .collect();
            if others.is_empty() {
                continue;
            }
            let mut targets = Vec::new();
            for _ in 0..self.params.fanout.min(others.len()) {
                let row = others[random::below(others.len(), host)];
                let contacts: Vec<&String> = row.contacts.iter().filter(|c| **c != self.tables.me).collect();
                if !contacts.is_empty() {
                    targets.push(contacts[random::below(contacts.len(), host)].clone());
                }
            }
            targets.sort();
            targets.dedup();
            for to in targets {
                self.push(&to, level, host);
            }
        }
        // A node of one of its zones it has not met (it joins, or two parts of a zone
        // that formed apart find each other); alone, a bootstrap peer; now and then
        // one anyway.
        let alone = self.tables.tables[depth].len() <= 1;
        let to = match self.stranger(host) {
            Some(to) => Some(to),
            None if alone || random::below(8, host) == 0 => self.seed(host),
            None => None,
        };
        if let Some(to) = to {
            self.push(&to, depth, host);
        }
    }

    /// A hint this node has not met, from the deepest level that has one; taken out
    /// of the hints (a live one answers and is met; a dead one is not tried again
    /// unless someone names it anew).
    fn stranger(&mut self, host: &mut dyn Host) -> Option<String> {
        let depth = self.tables.depth();
        let known = |node: &String| {
            self.tables.tables[depth].contains_key(node)
                || self
                    .tables
                    .tables
                    .iter()
                    .any(|t| t.values().any(|row| row.contacts.contains(node)))
        };
        for level in (1..self.hints.len()).rev() {
            let unmet: Vec<usize> = (0..self.hints[level].len())
                .filter(|&i| !known(&self.hints[level][i]))
                .collect();
            if !unmet.is_empty() {
                let at = unmet[random::below(unmet.len(), host)];
                return Some(self.hints[level].remove(at));
            }
        }
        None
    }

    /// Anyone this node has heard of — a hint, a contact of any row, a bootstrap peer
    /// — at random. Two parts of a zone that formed apart each hold their own version
    /// of the zone's row, and a node answers with the one it holds: asking around
    /// widely is how one part hears of the other's representatives (and then meets
    /// them, see [`Aggregate::stranger`]).
    fn seed(&self, host: &mut dyn Host) -> Option<String> {
        let mut all: Vec<&String> = self.hints.iter().flatten().collect();
        for table in &self.tables.tables {
            for row in table.values() {
                all.extend(row.contacts.iter());
            }
        }
        let bootstrap = host.bootstrap_peers();
        all.extend(bootstrap.iter());
        all.retain(|a| **a != self.tables.me);
        all.sort();
        all.dedup();
        (!all.is_empty()).then(|| all[random::below(all.len(), host)].clone())
    }

    /// Remembers that `node` is in this node's zone at `level`.
    fn hint(&mut self, level: usize, node: &str) {
        if level == 0 || node == self.tables.me || node.is_empty() {
            return;
        }
        if let Some(hints) = self.hints.get_mut(level) {
            if hints.iter().any(|h| h == node) {
                return;
            }
            if hints.len() == MAX_HINTS {
                hints.remove(0);
            }
            hints.push(node.to_string());
        }
    }

    /// Every row of the tables at levels `0..=upto`: this node's own first (they
    /// carry its news), then the rest in random order when there is more than a
    /// message holds.
    fn all_rows(&self, upto: usize) -> Vec<(usize, &str, &Row)> {
        let mut own = Vec::new();
        let mut rest = Vec::new();
        for level in 0..=upto.min(self.tables.depth()) {
            let mine = self.tables.own_name(level);
            for (name, row) in &self.tables.tables[level] {
                if name == mine {
                    own.push((level, name.as_str(), row));
                } else {
                    rest.push((level, name.as_str(), row));
                }
            }
        }
        own.extend(rest);
        own
    }

    /// Starts an exchange with `to` about the tables at levels `0..=upto`: a push of
    /// this node's digest (a sample of it, when it is more than a message holds).
    fn push(&mut self, to: &str, upto: usize, host: &mut dyn Host) {
        let mut rows = self.all_rows(upto);
        let own = (0..=upto.min(self.tables.depth())).count();
        if rows.len() > own {
            random::shuffle(&mut rows[own..], host);
        }
        let now = self.now;
        let mut w = Writer::new(1, &self.tables.path, self.params.max_message);
        w.list(rows.into_iter(), |(l, n, r), out| {
            wire::put_digest(*l, n, r, now, out)
        });
        let bytes = w.finish();
        self.post(to, bytes, host);
    }

    /// Answers a push from `from` (in zone `path`, sharing levels `0..=shared`), from
    /// what this node held before it: the rows the pusher lacks or holds older,
    /// digests of the same rows younger here, and the rows it wants. The pusher's own
    /// rows travel whenever this node holds another version of them: a node of a
    /// zone that formed in parts learns the other part's representatives that way.
    fn answer(&mut self, from: &str, path: &[String], shared: usize, digest: &[Digest], host: &mut dyn Host) {
        let theirs: BTreeMap<(usize, &str), &Digest> =
            digest.iter().map(|d| ((d.level, d.name.as_str()), d)).collect();
        // The rows of the zones the pusher is in (its node row is its own news only).
        let pushers_own = |level: usize, name: &str| path.get(level).map_or(false, |c| c == name);
        let mut rows = Vec::new();
        let mut fresher = Vec::new();
        for (level, name, row) in self.all_rows(shared) {
            match theirs.get(&(level, name)) {
                None => rows.push((level, name, row)),
                Some(d) if d.hash != row.hash && (row.issued > d.issued || pushers_own(level, name)) => {
                    rows.push((level, name, row))
                }
                // Its age is news only once the pusher's copy is getting old: a
                // quarter of the way to expiry (every exchange would otherwise carry
                // a digest of half the rows, most of the idle traffic).
                Some(d)
                    if d.hash == row.hash
                        && row.issued > d.issued
                        && self.now.saturating_sub(d.issued) > self.params.expire_ms / 4 =>
                {
                    fresher.push((level, name, row))
                }
                Some(_) => {}
            }
        }
        let wants: Vec<(usize, &str)> = digest
            .iter()
            .filter(|d| d.name != self.tables.own_name(d.level))
            .filter(|d| match self.tables.tables[d.level].get(&d.name) {
                None => true,
                Some(held) => held.hash != d.hash && d.issued > held.issued,
            })
            .map(|d| (d.level, d.name.as_str()))
            .collect();
        let now = self.now;
        let mut w = Writer::new(2, &self.tables.path, self.params.max_message);
        w.list(rows.into_iter(), |(l, n, r), out| {
            wire::put_row(*l, n, r, now, out)
        });
        w.list(fresher.into_iter(), |(l, n, r), out| {
            wire::put_digest(*l, n, r, now, out)
        });
        w.list(wants.into_iter(), |(l, n), out| wire::put_want(*l, n, out));
        let bytes = w.finish();
        self.post(from, bytes, host);
    }

    /// The digest entries a node may use: of tables both share, not too old, aged by
    /// a hop.
    fn aged(&self, digest: Vec<Digest>, shared: usize) -> Vec<Digest> {
        digest
            .into_iter()
            .filter(|d| d.level <= shared)
            .map(|mut d| {
                d.issued = d.issued.saturating_sub(self.params.hop_ms);
                d
            })
            .filter(|d| self.now.saturating_sub(d.issued) <= self.params.expire_ms)
            .collect()
    }

    /// Takes whole rows from gossip.
    fn take(&mut self, rows: Vec<(usize, String, Row)>, shared: usize, host: &mut dyn Host) {
        let depth = self.tables.depth();
        for (level, name, mut row) in rows {
            // Each hop ages a row by at least `hop_ms`: its age leaves out the time in
            // flight, and without this a row passed round fast enough would never age.
            row.issued = row.issued.saturating_sub(self.params.hop_ms);
            if level > shared || self.now.saturating_sub(row.issued) > self.params.expire_ms {
                continue;
            }
            if level < depth && name == self.tables.own_name(level) {
                for contact in &row.contacts {
                    self.hint(level + 1, contact);
                }
            }
            let kind = row.kind;
            if self.tables.merge(level, &name, row) == Merge::Added {
                event(host, "row.added", &self.tables.zone(level), &name, kind);
            }
        }
    }

    fn post(&mut self, to: &str, bytes: Vec<u8>, host: &mut dyn Host) {
        host.send(to, &bytes);
        self.sent += 1;
        self.bytes_sent += bytes.len() as u64;
    }

    fn summary(&self) -> String {
        let depth = self.tables.depth();
        let mut out = String::from("{\"node\":");
        push_quoted(&mut out, &self.tables.me);
        out.push_str(",\"zone\":");
        push_quoted(&mut out, &self.tables.zone(depth));
        if let Some(e) = &self.zone_error {
            out.push_str(",\"zone_error\":");
            push_quoted(&mut out, e);
        }
        out.push_str(",\"represents\":[");
        let mut first = true;
        for level in 0..depth {
            if self.tables.represents(level) {
                if !first {
                    out.push(',');
                }
                first = false;
                push_quoted(&mut out, &self.tables.zone(level + 1));
            }
        }
        out.push_str("],\"root\":");
        let root = self
            .tables
            .aggregate(0, self.now, &self.params.aggregates, self.params.representatives);
        push_attrs(&mut out, &root);
        out.push_str(&format!(
            ",\"rows\":{},\"sent\":{},\"bytes_sent\":{},\"received\":{},\"malformed\":{},\"expired\":{},\"aggregates\":{}}}",
            self.tables.len(),
            self.sent,
            self.bytes_sent,
            self.received,
            self.malformed,
            self.expired,
            self.params.aggregates.len()
        ));
        out
    }

    fn zone_query(&self, path: &str) -> String {
        let parts = match zone::parse(path) {
            Ok(p) => p,
            Err(e) => return error(&e),
        };
        let depth = self.tables.depth();
        let on_path = parts.len() <= depth && parts[..] == self.tables.path[..parts.len()];
        let mut out = String::from("{\"zone\":");
        push_quoted(&mut out, &zone::text(&parts));
        if on_path {
            let level = parts.len();
            let row = self.tables.aggregate(
                level,
                self.now,
                &self.params.aggregates,
                self.params.representatives,
            );
            out.push_str(",\"row\":");
            push_row(&mut out, &zone::text(&parts), &row, self.now);
            out.push_str(",\"rows\":[");
            for (i, (name, row)) in self.tables.tables[level].iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_row(&mut out, name, row, self.now);
            }
            out.push_str("]}");
            return out;
        }
        let parent = parts.len().saturating_sub(1);
        let child_of_path =
            !parts.is_empty() && parent <= depth && parts[..parent] == self.tables.path[..parent];
        if let Some(row) = child_of_path
            .then(|| self.tables.tables[parent].get(&parts[parent]))
            .flatten()
        {
            out.push_str(",\"row\":");
            push_row(&mut out, &parts[parent], row, self.now);
            out.push_str(",\"rows\":null,\"note\":\"this node is not in that zone: it holds the zone's row, not its table; ask one of its contacts\"}");
            return out;
        }
        error("this node knows nothing of that zone (it holds the tables of its own zones and the rows of their children)")
    }

    fn tree(&self) -> String {
        let mut out = String::from("{\"node\":");
        push_quoted(&mut out, &self.tables.me);
        out.push_str(",\"zone\":");
        push_quoted(&mut out, &self.tables.zone(self.tables.depth()));
        out.push_str(",\"root\":");
        let root = self
            .tables
            .aggregate(0, self.now, &self.params.aggregates, self.params.representatives);
        push_attrs(&mut out, &root);
        out.push_str(",\"tables\":[");
        for level in 0..=self.tables.depth() {
            if level > 0 {
                out.push(',');
            }
            out.push_str("{\"zone\":");
            push_quoted(&mut out, &self.tables.zone(level));
            out.push_str(",\"rows\":[");
            for (i, (name, row)) in self.tables.tables[level].iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_row(&mut out, name, row, self.now);
            }
            out.push_str("]}");
        }
        out.push_str("]}");
        out
    }
}

fn push_attrs(out: &mut String, row: &Row) {
    out.push('{');
    for (i, (name, value)) in row.attrs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_quoted(out, name);
        out.push(':');
        value.to_json(out);
    }
    out.push('}');
}

fn push_row(out: &mut String, name: &str, row: &Row, now: u64) {
    out.push_str("{\"name\":");
    push_quoted(out, name);
    out.push_str(match row.kind {
        Kind::Node => ",\"kind\":\"node\"",
        Kind::Zone => ",\"kind\":\"zone\"",
    });
    out.push_str(&format!(
        ",\"age_ms\":{},\"contacts\":[",
        now.saturating_sub(row.issued)
    ));
    for (i, c) in row.contacts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_quoted(out, c);
    }
    out.push_str("],\"attrs\":");
    push_attrs(out, row);
    out.push('}');
}

fn event(host: &mut dyn Host, kind: &str, zone: &str, name: &str, row: Kind) {
    let mut data = String::from("{\"zone\":");
    push_quoted(&mut data, zone);
    data.push_str(",\"name\":");
    push_quoted(&mut data, name);
    data.push_str(match row {
        Kind::Node => ",\"kind\":\"node\"}",
        Kind::Zone => ",\"kind\":\"zone\"}",
    });
    host.emit(kind, data.as_bytes());
}

/// A command as (op, key, value): `set KEY VALUE`, `delete KEY`, or the JSON forms.
fn parse_command(args: &str) -> Result<(String, String, Option<Val>), String> {
    let args = args.trim();
    if args.starts_with('{') {
        let doc = json::parse(args)?;
        let op = doc
            .get("op")
            .and_then(Value::as_str)
            .ok_or("a command needs \"op\"")?;
        let key = doc
            .get("key")
            .and_then(Value::as_str)
            .ok_or("a command needs \"key\"")?;
        let value = match doc.get("value") {
            None => None,
            Some(Value::String(s)) => Some(text_value(s)?),
            Some(Value::Number(n)) => Some(number_value(n)?),
            Some(_) => return Err("a value is a number or a text".to_string()),
        };
        return Ok((op.to_string(), key.to_string(), value));
    }
    let mut words = args.splitn(3, char::is_whitespace);
    let op = words.next().unwrap_or("").to_string();
    let key = words.next().unwrap_or("").trim().to_string();
    let value = match words.next().map(str::trim) {
        None | Some("") => None,
        Some(v) => Some(match number_value(v) {
            Ok(n) => n,
            Err(_) => text_value(v)?,
        }),
    };
    Ok((op, key, value))
}

fn number_value(text: &str) -> Result<Val, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(Val::Num(x)),
        _ => Err(format!("'{}' is not a finite number", text)),
    }
}

fn text_value(text: &str) -> Result<Val, String> {
    if text.len() > value::MAX_TEXT {
        return Err(format!("a value is at most {} bytes", value::MAX_TEXT));
    }
    Ok(Val::Text(text.to_string()))
}
