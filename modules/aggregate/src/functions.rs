//! Aggregation functions: what a deployment's params declare (`"max_load":
//! "max(load)"`), parsed once, and how each makes a zone's value out of its table's
//! rows. Every function composes: over node rows it reads the node's attribute
//! (`load`), over zone rows it reads the child zone's value of the same aggregate
//! (`max_load`), so the same declaration works at every level of the hierarchy.

use crate::row::{Kind, Row};
use crate::value::{Val, MAX_ENTRIES, MAX_TEXT};

/// Most distinct values a `distinct` keeps (the most frequent).
pub const MAX_DISTINCT: usize = 32;
/// Largest k of `top(k, x)` and `list(k, x)`.
pub const MAX_K: usize = 64;

/// A declared function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Func {
    /// `count()`: nodes.
    Count,
    /// `sum(x)`.
    Sum(String),
    /// `min(x)`.
    Min(String),
    /// `max(x)`.
    Max(String),
    /// `avg(x)`: the mean over the nodes that have `x`.
    Avg(String),
    /// `distinct(x)`: each value of `x` and how many nodes have it.
    Distinct(String),
    /// `top(k, x)`: the k nodes with the largest `x`.
    Top(usize, String),
    /// `list(k, x)`: up to k nodes (first by name) and their `x`: a roster.
    List(usize, String),
}

/// An aggregate: the attribute it makes and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    /// The attribute of zone rows it fills.
    pub name: String,
    /// The function.
    pub func: Func,
}

/// Whether `s` can name an attribute: 1–64 bytes of `[A-Za-z0-9_.-]`.
pub fn is_attr_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

impl Func {
    /// Parses `count()`, `sum(x)`, `min(x)`, `max(x)`, `avg(x)`, `distinct(x)`,
    /// `top(k, x)` or `list(k, x)`.
    pub fn parse(spec: &str) -> Result<Func, String> {
        let bad = || {
            format!("'{}' is not an aggregation function (count(), sum(x), min(x), max(x), avg(x), distinct(x), top(k, x), list(k, x))", spec)
        };
        let spec = spec.trim();
        let open = spec.find('(').ok_or_else(bad)?;
        let inner = spec[open + 1..].strip_suffix(')').ok_or_else(bad)?;
        let name = spec[..open].trim();
        let args: Vec<&str> = if inner.trim().is_empty() {
            Vec::new()
        } else {
            inner.split(',').map(str::trim).collect()
        };
        if args.iter().any(|a| a.is_empty()) {
            return Err(bad());
        }
        let attr = |i: usize| -> Result<String, String> {
            match args.get(i) {
                Some(a) if is_attr_name(a) => Ok(a.to_string()),
                Some(a) => Err(format!("'{}' in '{}' is not an attribute name", a, spec)),
                None => Err(bad()),
            }
        };
        let k = || -> Result<usize, String> {
            match args.first().and_then(|a| a.parse::<usize>().ok()) {
                Some(k) if (1..=MAX_K).contains(&k) => Ok(k),
                _ => Err(format!(
                    "the k of '{}' must be an integer from 1 to {}",
                    spec, MAX_K
                )),
            }
        };
        let arity = match name {
            "count" => 0,
            "top" | "list" => 2,
            _ => 1,
        };
        if args.len() != arity {
            return Err(bad());
        }
        Ok(match name {
            "count" => Func::Count,
            "sum" => Func::Sum(attr(0)?),
            "min" => Func::Min(attr(0)?),
            "max" => Func::Max(attr(0)?),
            "avg" => Func::Avg(attr(0)?),
            "distinct" => Func::Distinct(attr(0)?),
            "top" => Func::Top(k()?, attr(1)?),
            "list" => Func::List(k()?, attr(1)?),
            _ => return Err(bad()),
        })
    }
}

impl Aggregate {
    /// The zone's value from its table's `rows` (name, row); `zone` is the zone's
    /// path, which names the nodes in `top` and `list`. None when no row contributes.
    pub fn eval<'a>(&self, zone: &str, rows: impl Iterator<Item = (&'a str, &'a Row)>) -> Option<Val> {
        // Each row's input: a node's attribute, or a child zone's partial aggregate.
        let inputs = rows.filter_map(|(name, row)| match row.kind {
            Kind::Node => {
                let attr = match &self.func {
                    Func::Count => None,
                    Func::Sum(a) | Func::Min(a) | Func::Max(a) | Func::Avg(a) | Func::Distinct(a) => Some(a),
                    Func::Top(_, a) | Func::List(_, a) => Some(a),
                };
                let value = match attr {
                    Some(a) => row.get(a)?.clone(),
                    None => Val::Num(1.0),
                };
                Some((name, Kind::Node, value))
            }
            Kind::Zone => Some((name, Kind::Zone, row.get(&self.name)?.clone())),
        });
        let mut total: Option<Val> = None;
        for (name, kind, value) in inputs {
            let part = match (&self.func, kind) {
                (Func::Count, Kind::Node) => Val::Num(1.0),
                (Func::Sum(_), _) | (Func::Min(_), _) | (Func::Max(_), _) | (Func::Count, Kind::Zone) => {
                    match value {
                        Val::Num(x) => Val::Num(x),
                        _ => continue,
                    }
                }
                (Func::Avg(_), Kind::Node) => match value.num() {
                    Some(x) => Val::Mean { sum: x, n: 1 },
                    None => continue,
                },
                (Func::Avg(_), Kind::Zone) => match value {
                    Val::Mean { .. } => value,
                    _ => continue,
                },
                (Func::Distinct(_), Kind::Node) => match value.key() {
                    Some(k) => Val::Counts(vec![(clip(k), 1)]),
                    None => continue,
                },
                (Func::Distinct(_), Kind::Zone) => match value {
                    Val::Counts(_) => value,
                    _ => continue,
                },
                (Func::Top(_, _), Kind::Node) => match value.num() {
                    Some(x) => Val::Top(vec![(node_path(zone, name), x)]),
                    None => continue,
                },
                (Func::Top(_, _), Kind::Zone) => match value {
                    Val::Top(_) => value,
                    _ => continue,
                },
                (Func::List(_, _), Kind::Node) => match value.key() {
                    Some(k) => Val::List(vec![(node_path(zone, name), clip(k))]),
                    None => continue,
                },
                (Func::List(_, _), Kind::Zone) => match value {
                    Val::List(_) => value,
                    _ => continue,
                },
            };
            total = Some(match total {
                None => part,
                Some(acc) => self.combine(acc, part),
            });
        }
        total.map(|v| self.bound(v))
    }

    fn combine(&self, acc: Val, part: Val) -> Val {
        match (&self.func, acc, part) {
            (Func::Count, Val::Num(a), Val::Num(b)) | (Func::Sum(_), Val::Num(a), Val::Num(b)) => {
                Val::Num(a + b)
            }
            (Func::Min(_), Val::Num(a), Val::Num(b)) => Val::Num(a.min(b)),
            (Func::Max(_), Val::Num(a), Val::Num(b)) => Val::Num(a.max(b)),
            (Func::Avg(_), Val::Mean { sum: s1, n: n1 }, Val::Mean { sum: s2, n: n2 }) => Val::Mean {
                sum: s1 + s2,
                n: n1.saturating_add(n2),
            },
            (Func::Distinct(_), Val::Counts(mut a), Val::Counts(b)) => {
                for (value, n) in b {
                    match a.binary_search_by(|(v, _)| v.as_str().cmp(&value)) {
                        Ok(i) => a[i].1 = a[i].1.saturating_add(n),
                        Err(i) => a.insert(i, (value, n)),
                    }
                }
                Val::Counts(a)
            }
            (Func::Top(_, _), Val::Top(mut a), Val::Top(b)) => {
                a.extend(b);
                Val::Top(a)
            }
            (Func::List(_, _), Val::List(mut a), Val::List(b)) => {
                a.extend(b);
                Val::List(a)
            }
            (_, acc, _) => acc,
        }
    }

    /// Orders and cuts a combined value to its bound.
    fn bound(&self, v: Val) -> Val {
        match (&self.func, v) {
            (Func::Distinct(_), Val::Counts(mut counts)) => {
                if counts.len() > MAX_DISTINCT {
                    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                    counts.truncate(MAX_DISTINCT);
                    counts.sort_by(|a, b| a.0.cmp(&b.0));
                }
                Val::Counts(counts)
            }
            (Func::Top(k, _), Val::Top(mut top)) => {
                top.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                top.dedup_by(|a, b| a.0 == b.0);
                top.truncate((*k).min(MAX_ENTRIES));
                Val::Top(top)
            }
            (Func::List(k, _), Val::List(mut list)) => {
                list.sort();
                list.dedup_by(|a, b| a.0 == b.0);
                list.truncate((*k).min(MAX_ENTRIES));
                Val::List(list)
            }
            (_, v) => v,
        }
    }
}

/// A node's full name: its zone's path and its address (`/eu/rack1/10.0.0.7:7000`).
pub fn node_path(zone: &str, node: &str) -> String {
    let mut path = zone.trim_end_matches('/').to_string();
    path.push('/');
    path.push_str(node);
    clip(path)
}

/// `s` cut to [`MAX_TEXT`] bytes at a character boundary.
pub fn clip(mut s: String) -> String {
    if s.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agg(name: &str, spec: &str) -> Aggregate {
        Aggregate {
            name: name.to_string(),
            func: Func::parse(spec).unwrap(),
        }
    }

    fn node(attrs: &[(&str, Val)]) -> Row {
        let mut row = Row::new(Kind::Node, 0, Vec::new());
        for (k, v) in attrs {
            row.set(k, v.clone());
        }
        row
    }

    #[test]
    fn parses_every_function_and_refuses_the_rest() {
        assert_eq!(Func::parse("count()"), Ok(Func::Count));
        assert_eq!(Func::parse(" max( load ) "), Ok(Func::Max("load".to_string())));
        assert_eq!(Func::parse("top(3, load)"), Ok(Func::Top(3, "load".to_string())));
        assert_eq!(
            Func::parse("list(16,modules)"),
            Ok(Func::List(16, "modules".to_string()))
        );
        for bad in [
            "",
            "count",
            "count(x)",
            "max()",
            "max(a,b)",
            "top(0, x)",
            "top(x, 3)",
            "top(65, x)",
            "median(x)",
            "max(lo ad)",
            "max(x",
        ] {
            assert!(Func::parse(bad).is_err(), "accepted {:?}", bad);
        }
    }

    #[test]
    fn aggregates_compose_from_nodes_to_zones() {
        let a = node(&[("load", Val::Num(3.0)), ("v", Val::Text("1".into()))]);
        let b = node(&[("load", Val::Num(5.0)), ("v", Val::Text("2".into()))]);
        let c = node(&[("v", Val::Text("2".into()))]);
        let leaf = [("n1", &a), ("n2", &b), ("n3", &c)];
        let aggs = [
            agg("nodes", "count()"),
            agg("max_load", "max(load)"),
            agg("mean_load", "avg(load)"),
            agg("versions", "distinct(v)"),
            agg("worst", "top(1, load)"),
        ];
        let mut zone = Row::new(Kind::Zone, 0, Vec::new());
        for g in &aggs {
            if let Some(v) = g.eval("/eu", leaf.iter().copied()) {
                zone.set(&g.name, v);
            }
        }
        assert_eq!(zone.get("nodes"), Some(&Val::Num(3.0)));
        assert_eq!(zone.get("max_load"), Some(&Val::Num(5.0)));
        assert_eq!(zone.get("mean_load"), Some(&Val::Mean { sum: 8.0, n: 2 }));
        assert_eq!(
            zone.get("worst"),
            Some(&Val::Top(vec![("/eu/n2".to_string(), 5.0)]))
        );
        // One level up: a second zone of one node with load 9.
        let d = node(&[("load", Val::Num(9.0)), ("v", Val::Text("1".into()))]);
        let mut other = Row::new(Kind::Zone, 0, Vec::new());
        for g in &aggs {
            if let Some(v) = g.eval("/us", [("n4", &d)].into_iter()) {
                other.set(&g.name, v);
            }
        }
        let root = [("eu", &zone), ("us", &other)];
        let value = |name: &str| {
            aggs.iter()
                .find(|g| g.name == name)
                .unwrap()
                .eval("/", root.iter().copied())
        };
        assert_eq!(value("nodes"), Some(Val::Num(4.0)));
        assert_eq!(value("max_load"), Some(Val::Num(9.0)));
        assert_eq!(value("mean_load").and_then(|v| v.num()), Some(17.0 / 3.0));
        assert_eq!(
            value("versions"),
            Some(Val::Counts(vec![("1".to_string(), 2), ("2".to_string(), 2)]))
        );
        assert_eq!(value("worst"), Some(Val::Top(vec![("/us/n4".to_string(), 9.0)])));
    }

    #[test]
    fn lists_and_distincts_stay_bounded() {
        let rows: Vec<Row> = (0..100).map(|i| node(&[("x", Val::Num(i as f64))])).collect();
        let names: Vec<String> = (0..100).map(|i| format!("n{:03}", i)).collect();
        let it = || names.iter().map(String::as_str).zip(rows.iter());
        match agg("d", "distinct(x)").eval("/", it()) {
            Some(Val::Counts(c)) => assert_eq!(c.len(), MAX_DISTINCT),
            other => panic!("{:?}", other),
        }
        match agg("l", "list(5, x)").eval("/z", it()) {
            Some(Val::List(l)) => {
                assert_eq!(l.len(), 5);
                assert_eq!(l[0], ("/z/n000".to_string(), "0".to_string()));
            }
            other => panic!("{:?}", other),
        }
        assert_eq!(agg("m", "max(missing)").eval("/", it()), None);
    }
}
