//! Budgets: what one module may consume on a node — per second, messages and bytes it
//! sends, messages accepted from each peer, CPU (fuel) and log lines; at once, the
//! memory and tables of its whole instance and the state it hands to its successor.
//!
//! A per-call limit alone does not protect a cluster: a module that stays inside every
//! per-call limit can still send a thousand messages per tick and answer each with a
//! thousand more, until nothing else runs — including the deployment that would fix
//! it. So every module runs within a budget. A deployment carries only what differs
//! from the node's defaults ([`BudgetOverrides`], signed with the rest of the record);
//! the host enforces the resolved [`Budget`]: excess is dropped and counted, and a
//! module that stays over its send or CPU budget for `fail_after_s` seconds fails, so
//! the core's own gossip (and a fix) always has room.
//!
//! [`TokenBucket`] is the one rate meter every budget uses, in the core (messages
//! accepted per peer) and in the runtime (sends, bytes, fuel, logs).
//! [`BudgetUsage`] is what the runtime measured against a budget, as status reports
//! it (here so that the API's documents, in `hearsay-client`, need no runtime).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::deployment::Millis;

/// The resolved budget of one module instance: every limit has a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Budget {
    /// Messages the module may send per second (a burst of one second's worth).
    pub messages_per_s: u64,
    /// Payload bytes the module may send per second.
    pub bytes_per_s: u64,
    /// Messages accepted per second from any one peer; the rest are dropped unread.
    pub receive_per_peer_per_s: u64,
    /// CPU per second, in fuel (about one unit per wasm instruction; each send costs
    /// extra for the host's work). One call may overdraw; later calls wait it out.
    pub fuel_per_s: u64,
    /// Log lines kept per second; the rest are dropped and counted.
    pub logs_per_s: u64,
    /// Memory of the whole instance: all its linear memories and tables together.
    pub memory_bytes: u64,
    /// Largest state an instance may hand to the next version on a hot swap; a larger
    /// export is refused and the new version starts fresh.
    pub state_bytes: u64,
    /// Seconds a module may stay over its send or CPU budget before it is failed.
    pub fail_after_s: u64,
}

impl Default for Budget {
    /// The node defaults: room for the library's modules at a thousand nodes, where a
    /// rendezvous node answers hundreds of joiners a second with 8 KiB views, each
    /// merge of a thousand members burning over a million fuel; and a bound on a
    /// runaway module of about half a core, two thousand messages and 16 MiB a second.
    fn default() -> Self {
        Budget {
            messages_per_s: 2_000,
            bytes_per_s: 16 << 20,
            receive_per_peer_per_s: 200,
            fuel_per_s: 1_000_000_000,
            logs_per_s: 10,
            memory_bytes: 64 << 20,
            state_bytes: 8 << 20,
            fail_after_s: 10,
        }
    }
}

impl Budget {
    /// No per-second limit worth the name (memory and state as by default): for
    /// measurements of a module's own speed, where a budget would only throttle it.
    pub fn unmetered() -> Self {
        let plenty = 1 << 40;
        Budget {
            messages_per_s: plenty,
            bytes_per_s: plenty,
            receive_per_peer_per_s: plenty,
            fuel_per_s: plenty,
            logs_per_s: plenty,
            fail_after_s: plenty,
            ..Budget::default()
        }
    }
}

/// The names of the budget's fields, in the order of [`Budget`]: the keys of
/// [`BudgetOverrides`], the API and the CLI's `--budget KEY=VALUE`.
pub const BUDGET_KEYS: [&str; 8] = [
    "messages_per_s",
    "bytes_per_s",
    "receive_per_peer_per_s",
    "fuel_per_s",
    "logs_per_s",
    "memory_bytes",
    "state_bytes",
    "fail_after_s",
];

impl Budget {
    fn field_mut(&mut self, key: &str) -> Option<&mut u64> {
        Some(match key {
            "messages_per_s" => &mut self.messages_per_s,
            "bytes_per_s" => &mut self.bytes_per_s,
            "receive_per_peer_per_s" => &mut self.receive_per_peer_per_s,
            "fuel_per_s" => &mut self.fuel_per_s,
            "logs_per_s" => &mut self.logs_per_s,
            "memory_bytes" => &mut self.memory_bytes,
            "state_bytes" => &mut self.state_bytes,
            "fail_after_s" => &mut self.fail_after_s,
            _ => return None,
        })
    }
}

/// Why a budget override was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// Not one of [`BUDGET_KEYS`].
    #[error("unknown budget key {0:?} (known: {keys})", keys = BUDGET_KEYS.join(", "))]
    UnknownKey(String),
    /// Zero would stop the module outright; stop it with a deployment instead.
    #[error("budget {0} must be at least 1")]
    Zero(String),
    /// Not `KEY=NUMBER`.
    #[error("a budget is KEY=NUMBER, not {0:?}")]
    Syntax(String),
}

/// What a deployment changes of the node's default budget: `key → value`, only the
/// keys it sets. Kept as a map so the record stays small and a key added later is
/// refused by older nodes instead of silently ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BudgetOverrides(BTreeMap<&'static str, u64>);

impl BudgetOverrides {
    /// No overrides: the node's defaults.
    pub fn none() -> Self {
        BudgetOverrides::default()
    }

    /// Sets one key.
    pub fn set(&mut self, key: &str, value: u64) -> Result<(), BudgetError> {
        let key = BUDGET_KEYS
            .iter()
            .find(|k| **k == key)
            .ok_or_else(|| BudgetError::UnknownKey(key.to_string()))?;
        if value == 0 {
            return Err(BudgetError::Zero(key.to_string()));
        }
        self.0.insert(key, value);
        Ok(())
    }

    /// Parses `KEY=VALUE` (the CLI's `--budget`).
    pub fn set_text(&mut self, text: &str) -> Result<(), BudgetError> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| BudgetError::Syntax(text.to_string()))?;
        let value = value
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| BudgetError::Syntax(text.to_string()))?;
        self.set(key.trim(), value)
    }

    /// True when nothing is overridden.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `(key, value)` pairs, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.0.iter().map(|(k, v)| (*k, *v))
    }

    /// The budget these overrides make of `defaults`.
    pub fn resolve(&self, defaults: &Budget) -> Budget {
        let mut budget = *defaults;
        for (key, value) in &self.0 {
            if let Some(field) = budget.field_mut(key) {
                *field = *value;
            }
        }
        budget
    }
}

impl Serialize for BudgetOverrides {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for BudgetOverrides {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, u64>::deserialize(d)?;
        let mut out = BudgetOverrides::default();
        for (key, value) in raw {
            out.set(&key, value).map_err(serde::de::Error::custom)?;
        }
        Ok(out)
    }
}

/// A rate meter: `rate` units per second, up to `capacity` saved for a burst.
///
/// [`TokenBucket::take`] refuses what would go below zero; [`TokenBucket::charge`]
/// always succeeds and may overdraw (a call that already ran has already cost what it
/// cost), after which [`TokenBucket::available`] is false until the debt is repaid.
/// It also remembers since when it has been refusing, so a module that *stays* over
/// budget can be told from one that had a burst.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Units per second.
    rate: u64,
    /// Most units held, in thousandths.
    capacity_milli: i128,
    /// Units held, in thousandths (negative: overdrawn).
    tokens_milli: i128,
    last: Millis,
    /// The first refusal of the current run of refusals.
    over_since: Option<Millis>,
    /// The last refusal.
    last_refused: Millis,
}

impl TokenBucket {
    /// A full bucket of `rate` per second with a burst of `burst_s` seconds' worth.
    pub fn new(rate: u64, burst_s: u64, now: Millis) -> Self {
        let capacity_milli = i128::from(rate) * i128::from(burst_s.max(1)) * 1000;
        TokenBucket {
            rate,
            capacity_milli,
            tokens_milli: capacity_milli,
            last: now,
            over_since: None,
            last_refused: 0,
        }
    }

    fn refill(&mut self, now: Millis) {
        if now > self.last {
            let elapsed = i128::from(now - self.last);
            self.tokens_milli =
                (self.tokens_milli + elapsed * i128::from(self.rate)).min(self.capacity_milli);
            self.last = now;
        }
        // A whole second without a refusal ends a run of refusals.
        if self.over_since.is_some() && now >= self.last_refused.saturating_add(1000) {
            self.over_since = None;
        }
    }

    fn refused(&mut self, now: Millis) {
        self.over_since.get_or_insert(now);
        self.last_refused = now;
    }

    /// Takes `n` units if they are there; otherwise takes nothing and counts a refusal.
    pub fn take(&mut self, now: Millis, n: u64) -> bool {
        self.refill(now);
        let need = i128::from(n) * 1000;
        if self.tokens_milli >= need {
            self.tokens_milli -= need;
            true
        } else {
            self.refused(now);
            false
        }
    }

    /// True when something is left (the bucket is not overdrawn); counts a refusal
    /// when not.
    pub fn available(&mut self, now: Millis) -> bool {
        self.refill(now);
        if self.tokens_milli > 0 {
            true
        } else {
            self.refused(now);
            false
        }
    }

    /// Takes `n` units unconditionally; the bucket may go below zero.
    pub fn charge(&mut self, now: Millis, n: u64) {
        self.refill(now);
        self.tokens_milli -= i128::from(n) * 1000;
    }

    /// How long, up to `now`, the bucket has been refusing without a full second's
    /// break; zero when it is not refusing.
    pub fn over_for(&self, now: Millis) -> Millis {
        match self.over_since {
            Some(since) if now < self.last_refused.saturating_add(1000) => now.saturating_sub(since),
            _ => 0,
        }
    }

    /// The rate per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// True when the bucket is full again at `now` (it can be forgotten: a new one
    /// would behave the same).
    pub fn is_idle(&self, now: Millis) -> bool {
        let elapsed = i128::from(now.saturating_sub(self.last));
        self.over_for(now) == 0 && self.tokens_milli + elapsed * i128::from(self.rate) >= self.capacity_milli
    }
}

/// What an instance has consumed, and what its budget made it drop: for status and
/// `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BudgetUsage {
    /// The budget the instance runs under.
    pub budget: Option<Budget>,
    /// Fuel burnt (guest instructions plus the host's charge for sends).
    pub fuel: u64,
    /// Messages sent (within the budget).
    pub messages: u64,
    /// Payload bytes sent (within the budget).
    pub bytes: u64,
    /// Sends dropped for the messages or bytes per second budget.
    pub sends_over_budget: u64,
    /// Calls (ticks, deliveries) skipped because the CPU budget was spent.
    pub calls_throttled: u64,
    /// Log lines dropped for the log budget.
    pub logs_dropped: u64,
    /// Events dropped: over the events budget, or a bad kind or size.
    #[serde(default)]
    pub events_dropped: u64,
    /// Memory of all its memories and tables, now.
    pub memory_bytes: u64,
    /// How long it has been over its send or CPU budget without a second's break.
    pub over_budget_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn overrides_resolve_over_defaults_and_refuse_unknown_keys() {
        let mut o = BudgetOverrides::none();
        o.set_text("messages_per_s=20").unwrap();
        o.set_text("fuel_per_s = 1_000_000").unwrap();
        let b = o.resolve(&Budget::default());
        assert_eq!(b.messages_per_s, 20);
        assert_eq!(b.fuel_per_s, 1_000_000);
        assert_eq!(b.bytes_per_s, Budget::default().bytes_per_s);
        assert!(matches!(o.set_text("speed=3"), Err(BudgetError::UnknownKey(_))));
        assert!(matches!(o.set_text("logs_per_s=0"), Err(BudgetError::Zero(_))));
        assert!(matches!(o.set_text("logs_per_s"), Err(BudgetError::Syntax(_))));
        let json = serde_json::to_string(&o).unwrap();
        assert_eq!(json, r#"{"fuel_per_s":1000000,"messages_per_s":20}"#);
        let back: BudgetOverrides = serde_json::from_str(&json).unwrap();
        assert_eq!(back, o);
        let bytes = postcard::to_stdvec(&o).unwrap();
        assert_eq!(postcard::from_bytes::<BudgetOverrides>(&bytes).unwrap(), o);
        assert!(serde_json::from_str::<BudgetOverrides>(r#"{"x":1}"#).is_err());
    }

    #[test]
    fn a_bucket_refills_at_its_rate_and_remembers_a_run_of_refusals() {
        let mut b = TokenBucket::new(10, 1, 0);
        for _ in 0..10 {
            assert!(b.take(0, 1));
        }
        assert!(!b.take(0, 1));
        assert_eq!(b.over_for(0), 0);
        assert!(!b.take(50, 1), "0.5 units refilled: not enough");
        assert_eq!(b.over_for(50), 50);
        assert!(b.take(100, 1), "one unit after 100 ms");
        // refused again and again for 3 s: the run lasts
        for t in (200..3200).step_by(10) {
            b.take(t, 1);
        }
        assert!(b.over_for(3190) >= 2900);
        // a full second without refusal ends it
        assert_eq!(b.over_for(4200), 0);
        assert!(b.take(4200, 5));
    }

    #[test]
    fn charging_overdraws_and_blocks_until_repaid() {
        let mut b = TokenBucket::new(1000, 1, 0);
        b.charge(0, 3000); // a call that cost three seconds' worth
        for t in (0..2000).step_by(200) {
            assert!(!b.available(t), "still paying back at {t}");
        }
        assert!(!b.available(1999));
        assert_eq!(b.over_for(1999), 1999, "refused all along");
        assert!(b.available(2001));
    }

    proptest! {
        /// Over any window, a bucket never lets through more than its burst plus its rate
        /// times the window.
        #[test]
        fn never_more_than_rate_plus_burst(rate in 1u64..1000, steps in proptest::collection::vec((0u64..50, 1u64..20), 1..200)) {
            let mut b = TokenBucket::new(rate, 1, 0);
            let (mut now, mut taken) = (0u64, 0u64);
            for (dt, n) in steps {
                now += dt;
                if b.take(now, n) {
                    taken += n;
                }
            }
            prop_assert!(taken * 1000 <= rate * 1000 + rate * now);
        }
    }
}
