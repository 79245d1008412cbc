//! An attribute's value: what a node sets (a number or a text) and what aggregation
//! makes of many (a mean's running sum, counted distinct values, a top-k, a roster),
//! with its JSON rendering and wire encoding. Every list a value holds is bounded, so
//! a row's size is too.

use hearsay_guest::codec::{put_text, put_varint, Reader};
use hearsay_guest::json::push_quoted;

/// Longest text value or name inside a value.
pub const MAX_TEXT: usize = 256;
/// Most entries a `distinct`, `top` or `list` value keeps.
pub const MAX_ENTRIES: usize = 256;

/// A value in a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A finite number.
    Num(f64),
    /// A text.
    Text(String),
    /// A mean in the making: the sum and how many values it adds up.
    Mean {
        /// The values' sum.
        sum: f64,
        /// How many.
        n: u64,
    },
    /// Distinct values and how many rows hold each, by value.
    Counts(Vec<(String, u64)>),
    /// The largest values, largest first, with the node each belongs to.
    Top(Vec<(String, f64)>),
    /// Nodes and their value of an attribute, by node.
    List(Vec<(String, String)>),
}

impl Val {
    /// The value as a number, if it is one (a mean gives its current mean).
    pub fn num(&self) -> Option<f64> {
        match self {
            Val::Num(x) => Some(*x),
            Val::Mean { sum, n } if *n > 0 => Some(sum / *n as f64),
            _ => None,
        }
    }

    /// The value as a text key (for `distinct` and `list`): numbers as JSON writes them.
    pub fn key(&self) -> Option<String> {
        match self {
            Val::Num(x) => Some(number(*x)),
            Val::Text(t) => Some(t.clone()),
            _ => None,
        }
    }

    /// Appends the value as JSON.
    pub fn to_json(&self, out: &mut String) {
        match self {
            Val::Num(x) => out.push_str(&number(*x)),
            Val::Text(t) => push_quoted(out, t),
            Val::Mean { sum, n } => {
                if *n == 0 {
                    out.push_str("null");
                } else {
                    out.push_str(&number(sum / *n as f64));
                }
            }
            Val::Counts(counts) => {
                out.push('{');
                for (i, (value, n)) in counts.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_quoted(out, value);
                    out.push(':');
                    out.push_str(&n.to_string());
                }
                out.push('}');
            }
            Val::Top(top) => {
                out.push('[');
                for (i, (node, x)) in top.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"node\":");
                    push_quoted(out, node);
                    out.push_str(",\"value\":");
                    out.push_str(&number(*x));
                    out.push('}');
                }
                out.push(']');
            }
            Val::List(list) => {
                out.push('[');
                for (i, (node, value)) in list.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"node\":");
                    push_quoted(out, node);
                    out.push_str(",\"value\":");
                    push_quoted(out, value);
                    out.push('}');
                }
                out.push(']');
            }
        }
    }

    /// Appends the value's encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Val::Num(x) => {
                out.push(1);
                out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
            Val::Text(t) => {
                out.push(2);
                put_text(out, t);
            }
            Val::Mean { sum, n } => {
                out.push(3);
                out.extend_from_slice(&sum.to_bits().to_le_bytes());
                put_varint(out, *n);
            }
            Val::Counts(counts) => {
                out.push(4);
                put_varint(out, counts.len() as u64);
                for (value, n) in counts {
                    put_text(out, value);
                    put_varint(out, *n);
                }
            }
            Val::Top(top) => {
                out.push(5);
                put_varint(out, top.len() as u64);
                for (node, x) in top {
                    put_text(out, node);
                    out.extend_from_slice(&x.to_bits().to_le_bytes());
                }
            }
            Val::List(list) => {
                out.push(6);
                put_varint(out, list.len() as u64);
                for (node, value) in list {
                    put_text(out, node);
                    put_text(out, value);
                }
            }
        }
    }

    /// Reads a value; None if malformed (numbers must be finite).
    pub fn decode(r: &mut Reader<'_>) -> Option<Val> {
        Some(match r.u8()? {
            1 => Val::Num(finite(r)?),
            2 => Val::Text(r.text(MAX_TEXT)?),
            3 => {
                let sum = finite(r)?;
                Val::Mean { sum, n: r.varint()? }
            }
            4 => Val::Counts(r.list(MAX_ENTRIES, |r| Some((r.text(MAX_TEXT)?, r.varint()?)))?),
            5 => Val::Top(r.list(MAX_ENTRIES, |r| Some((r.text(MAX_TEXT)?, finite(r)?)))?),
            6 => Val::List(r.list(MAX_ENTRIES, |r| Some((r.text(MAX_TEXT)?, r.text(MAX_TEXT)?)))?),
            _ => return None,
        })
    }
}

fn finite(r: &mut Reader<'_>) -> Option<f64> {
    let x = f64::from_bits(r.u64le()?);
    x.is_finite().then_some(x)
}

/// A number as JSON writes it: integers without a fraction.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        "null".to_string()
    } else if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{}", x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: &Val) -> Option<Val> {
        let mut bytes = Vec::new();
        v.encode(&mut bytes);
        let mut r = Reader::new(&bytes);
        let back = Val::decode(&mut r)?;
        r.is_done().then_some(back)
    }

    #[test]
    fn every_kind_round_trips_and_renders() {
        let values = [
            Val::Num(3.5),
            Val::Text("v\"1".to_string()),
            Val::Mean { sum: 9.0, n: 4 },
            Val::Counts(vec![("a".to_string(), 2), ("b".to_string(), 1)]),
            Val::Top(vec![("/eu/n1".to_string(), 9.0), ("/us/n2".to_string(), 7.5)]),
            Val::List(vec![("/eu/n1".to_string(), "x".to_string())]),
        ];
        for v in &values {
            assert_eq!(round_trip(v).as_ref(), Some(v));
        }
        let mut out = String::new();
        values[2].to_json(&mut out);
        assert_eq!(out, "2.25");
        out.clear();
        values[3].to_json(&mut out);
        assert_eq!(out, "{\"a\":2,\"b\":1}");
        out.clear();
        values[4].to_json(&mut out);
        assert_eq!(
            out,
            "[{\"node\":\"/eu/n1\",\"value\":9},{\"node\":\"/us/n2\",\"value\":7.5}]"
        );
    }

    #[test]
    fn malformed_values_are_refused() {
        let mut nan = vec![1];
        nan.extend_from_slice(&f64::NAN.to_bits().to_le_bytes());
        assert_eq!(Val::decode(&mut Reader::new(&nan)), None);
        assert_eq!(Val::decode(&mut Reader::new(&[9])), None);
        assert_eq!(
            Val::decode(&mut Reader::new(&[4, 200, 1])),
            None,
            "a count over the limit"
        );
        assert_eq!(Val::decode(&mut Reader::new(&[2, 5, b'a'])), None, "cut short");
    }
}
