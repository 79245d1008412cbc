//! The statecast engine, shared by `statecast` and its variants (each of which
//! includes this directory and exports `Statecast<ItsBehavior>`).
//!
//! Every node holds one cluster-wide [`Record`] and, every tick, push-pulls it with
//! `fanout` random peers — its bootstrap peers plus a bounded list of peers it heard
//! from or heard of. The newer record (higher version, ties: higher value) wins.
//! A [`Behavior`] picks how the code behaves: [`Fixed`] validates every record it
//! receives or imports and never holds a poisoned one; the others go bad in the ways
//! the S3 scenario needs (see [`Kind`]).

pub mod record;
pub mod wire;

pub use record::Record;

use hearsay_guest::json::{self, push_quoted, Value};
use hearsay_guest::{Host, Level, Module};
use std::marker::PhantomData;

/// Default peers gossiped with per tick.
pub const DEFAULT_FANOUT: u64 = 3;
/// Largest `fanout` accepted.
pub const MAX_FANOUT: u64 = 16;
/// Most peers a node remembers (bootstrap peers are asked for every tick, not kept).
pub const MAX_PEERS: usize = wire::MAX_STATE_PEERS;
/// How far above the held version the poison variant puts its corrupted record.
pub const POISON_BUMP: u64 = 1 << 40;
/// The bit the poison variant flips in the value.
pub const POISON_BIT: u64 = 1 << 7;
/// The tick (counted from 1 after init) from which the loop variant spins forever.
pub const LOOP_FROM_TICK: u64 = 3;

/// How a statecast build behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `statecast`: the healthy fix — validates everything, repairs its own record.
    Fixed,
    /// `statecast-poison`: corrupts its record on its first tick (only at the node
    /// named by param `poison_at`, if given) and accepts any newer record unchecked.
    Poison,
    /// `bad-trap`: panics (traps) on every message once one arrives, and on every
    /// tick after that. A node nobody sends to stays alive: with every node on this
    /// code, the last to adopt it usually survives (its peers died first).
    Trap,
    /// `bad-loop`: spins forever from tick [`LOOP_FROM_TICK`] on, and on every
    /// message after that — every node dies, whatever the traffic.
    Loop,
    /// `bad-silent`: never sends anything (still merges what it receives).
    Silent,
    /// `bad-flood`: every tick sends to its peers in an endless loop.
    Flood,
}

/// The choice of behaviour, as a type: `Statecast<Fixed>`, `Statecast<Poison>`, …
pub trait Behavior {
    /// What this behaviour does.
    const KIND: Kind;
}

macro_rules! behaviors {
    ($($(#[$doc:meta])* $name:ident => $kind:ident,)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name;
        impl Behavior for $name {
            const KIND: Kind = Kind::$kind;
        }
    )*};
}

behaviors! {
    /// [`Kind::Fixed`].
    Fixed => Fixed,
    /// [`Kind::Poison`].
    Poison => Poison,
    /// [`Kind::Trap`].
    Trap => Trap,
    /// [`Kind::Loop`].
    Loop => Loop,
    /// [`Kind::Silent`].
    Silent => Silent,
    /// [`Kind::Flood`].
    Flood => Flood,
}

/// The module. Params: `{"fanout":3}` (1..=16), optionally `"poison_at":"addr"`.
#[derive(Debug, Clone)]
pub struct Statecast<B: Behavior> {
    self_addr: String,
    fanout: usize,
    poison_at: Option<String>,
    held: Record,
    /// The newest sound record seen; always sound.
    last_valid: Record,
    peers: Vec<String>,
    ticks: u64,
    /// Trap and loop: set once gone bad, so the instance stays dead if kept.
    dead: bool,
    behavior: PhantomData<B>,
}

impl<B: Behavior> Module for Statecast<B> {
    fn init(params: &str, host: &mut dyn Host) -> Result<Self, String> {
        let (fanout, poison_at) = parse_params(params)?;
        let self_addr = host.self_addr();
        if !wire::addr_ok(&self_addr) {
            return Err(format!("self address must be 1 to {} bytes", wire::MAX_ADDR_LEN));
        }
        Ok(Statecast {
            self_addr,
            fanout,
            poison_at,
            held: Record::genesis(),
            last_valid: Record::genesis(),
            peers: Vec::new(),
            ticks: 0,
            dead: false,
            behavior: PhantomData,
        })
    }

    fn tick(&mut self, _now_ms: u64, host: &mut dyn Host) {
        self.ticks += 1;
        match B::KIND {
            Kind::Trap if self.dead => panic!("bad-trap: dead since its first message"),
            Kind::Loop if self.dead || self.ticks >= LOOP_FROM_TICK => {
                self.dead = true;
                spin_forever()
            }
            Kind::Poison if self.ticks == 1 && self.corrupts_here() => self.corrupt(host),
            _ => {}
        }
        if self.validates() && !self.held.is_valid() {
            self.repair(host);
        }
        if B::KIND == Kind::Silent {
            return;
        }
        let mut pool = self.peers.clone();
        for peer in host.bootstrap_peers() {
            if wire::addr_ok(&peer) && peer != self.self_addr && !pool.contains(&peer) {
                pool.push(peer);
            }
        }
        if B::KIND == Kind::Flood && !pool.is_empty() {
            let message = self.message(false, host);
            loop {
                for peer in &pool {
                    host.send(peer, &message);
                }
            }
        }
        for peer in pick(&pool, self.fanout, host) {
            let message = self.message(true, host);
            host.send(peer, &message);
        }
    }

    fn receive(&mut self, from: &str, payload: &[u8], host: &mut dyn Host) {
        match B::KIND {
            Kind::Trap => {
                self.dead = true;
                panic!("bad-trap: trapping on a message from {}", from)
            }
            Kind::Loop if self.dead => spin_forever(),
            _ => {}
        }
        let message = match wire::decode_message(payload) {
            Some(m) => m,
            None => {
                host.log(
                    Level::Debug,
                    &format!("ignored a malformed message from {}", from),
                );
                return;
            }
        };
        self.learn(from, host);
        for peer in &message.peers {
            self.learn(peer, host);
        }
        if !self.offer(message.record) {
            host.log(
                Level::Debug,
                &format!("dropped a record failing its check from {}", from),
            );
        }
        if message.want_reply && B::KIND != Kind::Silent && wire::addr_ok(from) {
            let reply = self.message(false, host);
            host.send(from, &reply);
        }
    }

    fn command(&mut self, args: &str, host: &mut dyn Host) -> String {
        let value = json::parse(args)
            .ok()
            .and_then(|doc| doc.get("set").and_then(Value::as_u64));
        match value {
            Some(value) => {
                let record = Record::new(self.held.version.saturating_add(1), value);
                self.held = record;
                self.last_valid = record;
                self.query("", host)
            }
            None => "{\"error\":\"expected {\\\"set\\\":N}, N a non-negative integer\"}".to_string(),
        }
    }

    fn query(&mut self, _args: &str, _host: &mut dyn Host) -> String {
        let mut out = String::from("{\"self\":");
        push_quoted(&mut out, &self.self_addr);
        out.push_str(&format!(
            ",\"version\":{},\"value\":{},\"poisoned\":{},\"peers\":{}}}",
            self.held.version,
            self.held.value,
            !self.held.is_valid(),
            self.peers.len()
        ));
        out
    }

    fn export_state(&self) -> Option<Vec<u8>> {
        let peers: Vec<&str> = self.peers.iter().map(String::as_str).collect();
        Some(wire::encode_state(&self.held, &self.last_valid, &peers))
    }

    fn import_state(&mut self, state: &[u8], host: &mut dyn Host) -> bool {
        let state = match wire::decode_state(state) {
            Some(s) => s,
            None => {
                host.log(
                    Level::Warn,
                    "previous statecast state was malformed; starting fresh",
                );
                return false;
            }
        };
        for peer in &state.peers {
            self.learn(peer, host);
        }
        self.offer(state.last_valid);
        if !self.offer(state.held) {
            host.log(
                Level::Warn,
                &format!(
                    "purged a poisoned record (version {}) handed over by the previous code",
                    state.held.version
                ),
            );
        }
        if self.validates() && !self.held.is_valid() {
            self.repair(host);
        }
        true
    }
}

impl<B: Behavior> Statecast<B> {
    /// The record this node holds.
    pub fn held(&self) -> Record {
        self.held
    }

    /// All but the poison variant check every record they take in.
    fn validates(&self) -> bool {
        B::KIND != Kind::Poison
    }

    /// Takes in `record` if newer than the held one. `false` if it was dropped for
    /// failing its check (validating code only).
    fn offer(&mut self, record: Record) -> bool {
        if record.is_valid() {
            if record.is_newer_than(&self.last_valid) {
                self.last_valid = record;
            }
        } else if self.validates() {
            return false;
        }
        if record.is_newer_than(&self.held) {
            self.held = record;
        }
        true
    }

    /// Poison: every node corrupts, or only the one `poison_at` names.
    fn corrupts_here(&self) -> bool {
        self.poison_at.as_ref().map_or(true, |a| *a == self.self_addr)
    }

    /// Poison: the held record jumps far ahead with a flipped bit and a stale check.
    fn corrupt(&mut self, host: &mut dyn Host) {
        let mut bad = Record {
            version: self.held.version.saturating_add(POISON_BUMP),
            value: self.held.value ^ POISON_BIT,
            check: self.held.check,
        };
        if bad.is_valid() {
            bad.check ^= 1;
        }
        host.log(
            Level::Warn,
            &format!(
                "statecast-poison: corrupted the record to version {}",
                bad.version
            ),
        );
        self.held = bad;
    }

    /// Validating code holding a poisoned record: back to the newest sound one.
    fn repair(&mut self, host: &mut dyn Host) {
        host.log(
            Level::Warn,
            &format!(
                "held record is poisoned; reset to version {}",
                self.last_valid.version
            ),
        );
        self.held = self.last_valid;
    }

    /// Remembers a peer; when the list is full, it replaces a random one.
    fn learn(&mut self, addr: &str, host: &mut dyn Host) {
        if !wire::addr_ok(addr) || addr == self.self_addr || self.peers.iter().any(|p| p == addr) {
            return;
        }
        if self.peers.len() < MAX_PEERS {
            self.peers.push(addr.to_string());
        } else {
            let i = below(self.peers.len(), host);
            self.peers[i] = addr.to_string();
        }
    }

    fn message(&self, want_reply: bool, host: &mut dyn Host) -> Vec<u8> {
        let sample = pick(&self.peers, wire::MAX_MESSAGE_PEERS, host);
        let sample: Vec<&str> = sample.into_iter().map(String::as_str).collect();
        wire::encode_message(want_reply, &self.held, &sample)
    }
}

fn parse_params(text: &str) -> Result<(usize, Option<String>), String> {
    if text.trim().is_empty() {
        return Ok((DEFAULT_FANOUT as usize, None));
    }
    let doc = json::parse(text)?;
    if !matches!(doc, Value::Object(_)) {
        return Err("params must be a JSON object".to_string());
    }
    let fanout = match doc.get("fanout") {
        None | Some(Value::Null) => DEFAULT_FANOUT,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_FANOUT).contains(&n) => n,
            _ => return Err(format!("fanout must be an integer from 1 to {}", MAX_FANOUT)),
        },
    };
    let poison_at = match doc.get("poison_at") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_str() {
            Some(a) => Some(a.to_string()),
            None => return Err("poison_at must be a string".to_string()),
        },
    };
    Ok((fanout as usize, poison_at))
}

/// An endless loop the optimiser can't remove: only the host's fuel ends it.
fn spin_forever() -> ! {
    let mut n: u64 = 0;
    loop {
        // A volatile write is an observable effect, so the loop stays in the code.
        unsafe { std::ptr::write_volatile(&mut n, n.wrapping_add(1)) };
    }
}

/// A uniform index below `n` (> 0).
fn below(n: usize, host: &mut dyn Host) -> usize {
    ((host.random_u64() as u128 * n as u128) >> 64) as usize
}

/// Up to `k` distinct random items (a partial Fisher–Yates shuffle).
fn pick<'a>(items: &'a [String], k: usize, host: &mut dyn Host) -> Vec<&'a String> {
    let mut pool: Vec<&String> = items.iter().collect();
    let k = k.min(pool.len());
    for i in 0..k {
        let j = i + below(pool.len() - i, host);
        pool.swap(i, j);
    }
    pool.truncate(k);
    pool
}
