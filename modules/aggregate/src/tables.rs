//! The tables a node holds: one per zone on its path from the root to its own zone
//! (`/`, `/eu`, `/eu/rack1` for a node in `/eu/rack1`), each with a row per child —
//! a node, or a child zone. A node makes its own rows (its node row, and the row of
//! each zone it is in, aggregated from the table below) and takes everyone else's
//! from gossip, the younger copy winning; rows not renewed for a while expire.
//! Each zone's representatives (the rows' `contacts`) are elected the same way as
//! any aggregate: the few members whose address hashes lowest, computed bottom-up.

use std::collections::BTreeMap;

use crate::functions::Aggregate;
use crate::row::{Kind, Row};
use crate::zone;

/// What a merge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// A row this node did not have.
    Added,
    /// A younger copy replaced the one held.
    Newer,
    /// Not younger than the one held: ignored.
    Older,
    /// A row this node makes itself (its own, or one of its zones'): ignored.
    Own,
}

/// The tables on a node's path.
#[derive(Debug, Clone)]
pub struct Tables {
    /// This node's address.
    pub me: String,
    /// Its zone's components (`["eu", "rack1"]`); empty for the root.
    pub path: Vec<String>,
    /// `tables[level]`: the table of the zone made of the first `level` components.
    pub tables: Vec<BTreeMap<String, Row>>,
}

impl Tables {
    /// Empty tables for the node `me` in zone `path`.
    pub fn new(me: String, path: Vec<String>) -> Tables {
        let tables = vec![BTreeMap::new(); path.len() + 1];
        Tables { me, path, tables }
    }

    /// The level of this node's own zone (its table holds the node's row).
    pub fn depth(&self) -> usize {
        self.path.len()
    }

    /// The path of the zone at `level` (`/`, `/eu`, ...).
    pub fn zone(&self, level: usize) -> String {
        zone::text(&self.path[..level.min(self.path.len())])
    }

    /// The name of this node's own row in the table at `level`: the zone it is in one
    /// level down, or its address in its own zone's table.
    pub fn own_name(&self, level: usize) -> &str {
        match self.path.get(level) {
            Some(component) => component,
            None => &self.me,
        }
    }

    /// How many levels this node shares with a node in zone `other`: the tables at
    /// levels `0..=shared` are the same zones for both.
    pub fn shared(&self, other: &[String]) -> usize {
        self.path.iter().zip(other).take_while(|(a, b)| a == b).count()
    }

    /// Makes this node's rows at `now`: its node row with `attrs`, then each of its
    /// zones' rows from the table below, up to the root.
    pub fn refresh(
        &mut self,
        now: u64,
        attrs: Vec<(String, crate::value::Val)>,
        aggregates: &[Aggregate],
        reps: usize,
    ) {
        let depth = self.depth();
        let mut own = Row::new(Kind::Node, now, vec![self.me.clone()]);
        own.attrs = attrs;
        let me = self.me.clone();
        self.tables[depth].insert(me, own.seal());
        for level in (0..depth).rev() {
            let row = self.aggregate(level + 1, now, aggregates, reps);
            let name = self.path[level].clone();
            self.tables[level].insert(name, row);
        }
    }

    /// The row of the zone at `level`, aggregated from its table at `now`.
    pub fn aggregate(&self, level: usize, now: u64, aggregates: &[Aggregate], reps: usize) -> Row {
        let zone = self.zone(level);
        let table = &self.tables[level];
        let mut row = Row::new(Kind::Zone, now, representatives(table, reps));
        for aggregate in aggregates {
            let rows = table.iter().map(|(name, row)| (name.as_str(), row));
            if let Some(value) = aggregate.eval(&zone, rows) {
                row.set(&aggregate.name, value);
            }
        }
        row.seal()
    }

    /// Whether this node represents its zone one level below `level` in that table
    /// (always, in its own zone's table: it is its own node's contact).
    pub fn represents(&self, level: usize) -> bool {
        let name = self.own_name(level);
        self.tables[level]
            .get(name)
            .map_or(false, |row| row.contacts.contains(&self.me))
    }

    /// Takes a row from gossip.
    pub fn merge(&mut self, level: usize, name: &str, row: Row) -> Merge {
        if level >= self.tables.len() || name == self.own_name(level) {
            return Merge::Own;
        }
        match self.tables[level].get_mut(name) {
            Some(held) if held.issued >= row.issued => Merge::Older,
            Some(held) => {
                *held = row;
                Merge::Newer
            }
            None => {
                self.tables[level].insert(name.to_string(), row);
                Merge::Added
            }
        }
    }

    /// A digest says a row with content `hash` was issued at `issued`: if this node
    /// holds that content, older, it is younger now (no need to send it whole).
    pub fn renew(&mut self, level: usize, name: &str, hash: u64, issued: u64) {
        if let Some(held) = self.tables.get_mut(level).and_then(|t| t.get_mut(name)) {
            if held.hash == hash && held.issued < issued {
                held.issued = issued;
            }
        }
    }

    /// Drops rows (other than this node's own) older than `expire_ms`; which.
    pub fn expire(&mut self, now: u64, expire_ms: u64) -> Vec<(usize, String, Kind)> {
        let mut gone = Vec::new();
        for level in 0..self.tables.len() {
            let own = self.own_name(level).to_string();
            let table = &mut self.tables[level];
            table.retain(|name, row| {
                let keep = *name == own || now.saturating_sub(row.issued) <= expire_ms;
                if !keep {
                    gone.push((level, name.clone(), row.kind));
                }
                keep
            });
        }
        gone
    }

    /// Rows held, over all tables.
    pub fn len(&self) -> usize {
        self.tables.iter().map(BTreeMap::len).sum()
    }

    /// Whether no table holds a row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A zone's representatives: of every contact its table's rows name, the `k` whose
/// address hashes lowest. Every member computing this over the same table elects the
/// same ones, and the choice is stable while members come and go.
pub fn representatives(table: &BTreeMap<String, Row>, k: usize) -> Vec<String> {
    let mut all: Vec<(u64, &String)> = table
        .values()
        .flat_map(|row| row.contacts.iter())
        .map(|c| (rank(c), c))
        .collect();
    all.sort();
    all.dedup_by(|a, b| a.1 == b.1);
    all.into_iter().take(k).map(|(_, c)| c.clone()).collect()
}

/// An address's rank in elections: its FNV-1a hash, the same on every node.
pub fn rank(addr: &str) -> u64 {
    crate::row::hash(addr.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::Func;
    use crate::value::Val;

    fn nodes() -> Vec<Aggregate> {
        vec![Aggregate {
            name: "nodes".to_string(),
            func: Func::Count,
        }]
    }

    #[test]
    fn own_rows_are_made_bottom_up_and_never_taken_from_gossip() {
        let mut t = Tables::new("a:1".to_string(), vec!["eu".to_string(), "r1".to_string()]);
        t.merge(2, "b:1", Row::new(Kind::Node, 90, vec!["b:1".to_string()]));
        t.refresh(100, Vec::new(), &nodes(), 2);
        assert_eq!(t.tables[1]["r1"].get("nodes"), Some(&Val::Num(2.0)));
        assert_eq!(t.tables[0]["eu"].get("nodes"), Some(&Val::Num(2.0)));
        assert_eq!(t.tables[0]["eu"].contacts.len(), 2);
        assert!(t.represents(0) && t.represents(1) && t.represents(2));
        let forged = Row::new(Kind::Zone, 1_000, Vec::new());
        assert_eq!(t.merge(0, "eu", forged.clone()), Merge::Own);
        assert_eq!(t.merge(2, "a:1", forged), Merge::Own);
        assert_eq!(
            t.merge(0, "us", Row::new(Kind::Zone, 50, Vec::new())),
            Merge::Added
        );
        assert_eq!(
            t.merge(0, "us", Row::new(Kind::Zone, 40, Vec::new())),
            Merge::Older
        );
        assert_eq!(
            t.merge(0, "us", Row::new(Kind::Zone, 60, Vec::new())),
            Merge::Newer
        );
        assert_eq!(t.shared(&["eu".to_string(), "r2".to_string()]), 1);
        let gone = t.expire(200, 100);
        assert_eq!(
            gone,
            vec![
                (0, "us".to_string(), Kind::Zone),
                (2, "b:1".to_string(), Kind::Node)
            ]
        );
        assert_eq!(t.len(), 3, "own rows never expire");
    }

    #[test]
    fn representatives_are_the_same_whoever_computes_them() {
        let mut table = BTreeMap::new();
        for i in 0..10 {
            let addr = format!("10.0.0.{}:7000", i);
            table.insert(addr.clone(), Row::new(Kind::Node, 0, vec![addr]));
        }
        let reps = representatives(&table, 3);
        assert_eq!(reps.len(), 3);
        let mut reversed = BTreeMap::new();
        for (k, v) in table.iter().rev() {
            reversed.insert(k.clone(), v.clone());
        }
        assert_eq!(representatives(&reversed, 3), reps);
        let lowest = table.keys().min_by_key(|a| rank(a)).unwrap();
        assert_eq!(&reps[0], lowest);
    }
}
