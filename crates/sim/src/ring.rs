//! Whether a membership module's partial views have converged: every node's ring
//! neighbours, as its `count` query names them (`ring_key`, `ring_neighbours` k,
//! `successors`, `predecessors`), are the true ring's — found by sorting all nodes'
//! answers by (ring key, address), the order the module keeps its ring in. A module
//! with full views answers without them; the caller then counts members instead.

use serde_json::Value;

/// Of the answers to `count` from every node: how many nodes hold exactly their
/// true neighbours, or `None` if the answers are not a partial view's.
pub fn placed(all: &[Value]) -> Option<usize> {
    all.first()?.get("successors")?;
    let mut ring: Vec<(u64, &str, &Value)> = Vec::with_capacity(all.len());
    for a in all {
        ring.push((a["ring_key"].as_u64()?, a["self"].as_str()?, a));
    }
    ring.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
    let n = ring.len();
    let names = |a: &Value, side: &str| -> Vec<String> {
        a[side]
            .as_array()
            .map(|v| v.iter().filter_map(|s| s.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    let placed = (0..n)
        .filter(|&i| {
            let a = ring[i].2;
            let k = (a["ring_neighbours"].as_u64().unwrap_or(1) as usize).min(n - 1);
            let (succ, pred) = (names(a, "successors"), names(a, "predecessors"));
            succ.len() == k
                && pred.len() == k
                && (1..=k)
                    .map(|d| ring[(i + d) % n].1)
                    .eq(succ.iter().map(String::as_str))
                && (1..=k)
                    .map(|d| ring[(i + n - d) % n].1)
                    .eq(pred.iter().map(String::as_str))
        })
        .count();
    Some(placed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(addr: &str, key: u64, succ: &[&str], pred: &[&str]) -> Value {
        json!({"self": addr, "ring_key": key, "ring_neighbours": 1, "successors": succ, "predecessors": pred})
    }

    #[test]
    fn a_ring_is_placed_only_where_both_sides_are_the_true_ones() {
        let right = vec![
            node("a", 10, &["b"], &["c"]),
            node("b", 20, &["c"], &["a"]),
            node("c", 30, &["a"], &["b"]),
        ];
        assert_eq!(placed(&right), Some(3));
        let mut wrong = right.clone();
        wrong[1] = node("b", 20, &["a"], &["a"]);
        assert_eq!(placed(&wrong), Some(2));
        // Full views: no ring in the answers.
        assert_eq!(placed(&[json!({"self": "a", "live": 3})]), None);
    }
}
