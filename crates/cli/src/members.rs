//! `hearsay members`: a node's view of the cluster from its membership module (module
//! ABI v2), as a table (address, state, labels, last heard) or JSON — Serf's `serf
//! members`. Filters: `--label KEY=VALUE` (repeatable, all must match) and `--state`.

use anyhow::{bail, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use hearsay_client::ApiClient;

/// Arguments of `hearsay members`.
#[derive(Args)]
pub struct MembersArgs {
    /// The node's API address.
    #[arg(long)]
    api: String,
    /// The membership module's name.
    #[arg(long, default_value = "membership")]
    module: String,
    /// Only members with this label, KEY=VALUE (repeatable: all must match).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Only members in this state: alive, suspected, left or failed.
    #[arg(long)]
    state: Option<String>,
    /// Print JSON (the members as the module lists them) instead of a table.
    #[arg(long)]
    json: bool,
}

/// One member, as membership's `members` query lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    /// Its gossip address.
    pub addr: String,
    /// `alive`, `suspected`, `left` or `failed`.
    pub state: String,
    /// Its labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Milliseconds since its heartbeat last rose here (since it was removed, for
    /// `left` and `failed`).
    #[serde(default)]
    pub age_ms: u64,
}

#[derive(Deserialize)]
struct MembersAnswer {
    members: Vec<Member>,
}

pub fn run(args: MembersArgs) -> Result<()> {
    let mut wanted = Vec::new();
    for label in &args.labels {
        match label.split_once('=') {
            Some((k, v)) if !k.is_empty() => wanted.push((k.to_string(), v.to_string())),
            _ => bail!("--label {label:?}: expected KEY=VALUE"),
        }
    }
    if let Some(state) = &args.state {
        if !["alive", "suspected", "left", "failed"].contains(&state.as_str()) {
            bail!("--state {state:?}: expected alive, suspected, left or failed");
        }
    }
    let client = ApiClient::new(&args.api)?;
    let module = args.module.clone();
    let answer = crate::block_on(async move { Ok(client.query(&module, "members").await?) })?;
    let members = match serde_json::from_value::<MembersAnswer>(answer) {
        Ok(a) => a.members,
        Err(e) => bail!(
            "module {} did not list members ({e}): is it membership of module ABI v2?",
            args.module
        ),
    };
    let members: Vec<Member> = members
        .into_iter()
        .filter(|m| wanted.iter().all(|(k, v)| m.labels.get(k) == Some(v)))
        .filter(|m| args.state.as_ref().is_none_or(|s| *s == m.state))
        .collect();
    if args.json {
        say!("{}", serde_json::to_string_pretty(&members)?);
        return Ok(());
    }
    say!("{}", table(&members));
    Ok(())
}

/// The members as aligned columns.
fn table(members: &[Member]) -> String {
    let rows: Vec<[String; 4]> = members
        .iter()
        .map(|m| {
            let labels: Vec<String> = m.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let heard = match m.state.as_str() {
                "left" | "failed" => format!("{:.1}s ago (removed)", m.age_ms as f64 / 1000.0),
                _ => format!("{:.1}s ago", m.age_ms as f64 / 1000.0),
            };
            [m.addr.clone(), m.state.clone(), labels.join(","), heard]
        })
        .collect();
    let header = ["ADDRESS", "STATE", "LABELS", "LAST HEARD"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: [&str; 4]| {
        format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )
        .trim_end()
        .to_string()
    };
    let mut out = vec![line(header)];
    out.extend(rows.iter().map(|r| line([&r[0], &r[1], &r[2], &r[3]])));
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_its_columns() {
        let members = vec![
            Member {
                addr: "127.0.0.1:7000".into(),
                state: "alive".into(),
                labels: [("role".to_string(), "db".to_string())].into(),
                age_ms: 100,
            },
            Member {
                addr: "127.0.0.1:17002".into(),
                state: "left".into(),
                labels: BTreeMap::new(),
                age_ms: 2500,
            },
        ];
        let t = table(&members);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "ADDRESS          STATE  LABELS   LAST HEARD");
        assert_eq!(lines[1], "127.0.0.1:7000   alive  role=db  0.1s ago");
        assert_eq!(lines[2], "127.0.0.1:17002  left            2.5s ago (removed)");
    }
}
