//! docs/api.md kept true to the code: every route the listeners serve is documented
//! and every documented route is served; the error kinds table lists exactly the kinds
//! the code has, and each kind is emitted somewhere; the config file keys are the
//! agent's; every `hearsay` subcommand is in the command line section; and
//! docs/openapi.json describes exactly the management routes, as a running agent
//! serves it.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::cli;
use hearsay_node::error_kind::ErrorKind;

fn repo(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn docs() -> String {
    repo("docs/api.md")
}

/// `(METHOD, path)` of every `.route("path", method(…))` in a router's source.
fn routes_in(source: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for part in source.split(".route(\"").skip(1) {
        let (path, rest) = part.split_once('"').expect("a quoted path");
        let rest = rest.trim_start_matches([',', ' ', '\n']);
        let method = rest.split('(').next().unwrap().trim().to_uppercase();
        out.insert((method, path.to_string()));
    }
    out
}

/// `(METHOD, path)` the docs describe: headings and list items that start with
/// `` `METHOD /path…` `` (not routes named in passing, as examples of wrong ones).
fn routes_in_docs(docs: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for line in docs.lines() {
        let Some(rest) = line.strip_prefix("### `").or_else(|| line.strip_prefix("- `")) else {
            continue;
        };
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let Some(part) = rest.strip_prefix(&format!("{method} /")) else {
                continue;
            };
            let path: String = part
                .chars()
                .take_while(|c| !matches!(c, '`' | '?' | ' '))
                .collect();
            out.insert((method.to_string(), format!("/{path}")));
        }
    }
    out
}

#[test]
fn every_route_is_documented_and_every_documented_route_served() {
    // The management routes are documented under /v1 (they also answer without it).
    let served: BTreeSet<_> = routes_in(&repo("crates/node/src/api_http.rs"))
        .into_iter()
        .map(|(method, path)| (method, format!("/v1{path}")))
        .chain(routes_in(&repo("crates/node/src/gossip_http.rs")))
        .chain(routes_in(&repo("crates/node/src/ui.rs")))
        .collect();
    assert!(
        served.contains(&("POST".into(), "/v1/deploy".into())),
        "{served:?}"
    );
    assert!(served.contains(&("POST".into(), "/gossip".into())), "{served:?}");
    assert!(
        served.contains(&("GET".into(), "/ui/app.js".into())),
        "{served:?}"
    );
    let documented = routes_in_docs(&docs());
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from docs/api.md: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "docs/api.md names routes nobody serves: {unserved:?}"
    );
}

#[test]
fn the_openapi_document_describes_exactly_the_management_routes_and_is_served() {
    let served: BTreeSet<_> = routes_in(&repo("crates/node/src/api_http.rs"))
        .into_iter()
        .map(|(method, path)| (method, format!("/v1{path}")))
        .collect();
    let committed = repo("docs/openapi.json");
    let doc: serde_json::Value = serde_json::from_str(&committed).unwrap();
    let mut described = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            described.insert((method.to_uppercase(), path.clone()));
        }
    }
    assert_eq!(served, described, "router routes vs docs/openapi.json paths");

    let c = common::Cluster::start("openapi", 1, 1);
    let (code, body) = common::http(&c.agents[0].api(), "GET", "/v1/openapi.json", b"").unwrap();
    assert_eq!(code, 200);
    assert!(
        body == committed,
        "the agent serves another document than docs/openapi.json"
    );
}

#[test]
fn the_error_kinds_table_is_exactly_the_kinds_the_code_emits() {
    let docs = docs();
    let table = docs
        .split("| kind | status | when |")
        .nth(1)
        .expect("the kinds table");
    let mut documented = BTreeSet::new();
    for line in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
        let first = line.split('|').nth(1).unwrap();
        for kind in first.split(',') {
            documented.insert(kind.trim().trim_matches('`').to_string());
        }
    }
    let code: BTreeSet<String> = ErrorKind::ALL.iter().map(|k| k.as_str().to_string()).collect();
    assert_eq!(documented, code, "docs/api.md's kinds table and ErrorKind differ");

    // Each kind is used by the code that answers requests, not only declared.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node/src");
    let mut sources = String::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("error_kind.rs") {
            sources.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    for kind in ErrorKind::ALL {
        let variant = format!("ErrorKind::{kind:?}");
        let used = sources.match_indices(&variant).any(|(at, _)| {
            // A whole variant name, not the prefix of a longer one.
            !sources[at + variant.len()..].starts_with(|c: char| c.is_alphanumeric())
        });
        assert!(used, "{} ({variant}) is never emitted", kind.as_str());
    }
}

#[test]
fn the_config_keys_in_the_docs_are_the_agents() {
    // The agent's own list, from its refusal of an unknown key.
    let dir = std::env::temp_dir().join(format!("hearsay-api-doc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("agent.toml");
    std::fs::write(&file, "no_such_key = 1\n").unwrap();
    let out = cli(&["agent", "--config", file.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let list = stderr
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("no list of keys in: {stderr}"));
    let agent: BTreeSet<String> = list.split('`').skip(1).step_by(2).map(str::to_string).collect();
    assert!(agent.contains("data_dir") && agent.len() > 10, "{agent:?}");

    let docs = docs();
    let para = docs
        .split("`--config` reads the same settings from TOML (")
        .nth(1)
        .expect("the config paragraph");
    let para = &para[..para.find("); flags win").expect("its end")];
    let documented: BTreeSet<String> = para
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|k| k.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(
        documented, agent,
        "docs/api.md's config keys and the agent's differ"
    );
}

#[test]
fn every_subcommand_is_in_the_command_line_section() {
    let out = cli(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    let commands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.contains(&"agent") && commands.contains(&"sim"), "{help}");
    let docs = docs();
    let section = docs.split("## Command line").nth(1).expect("the section");
    for c in commands {
        assert!(
            section.contains(&format!("hearsay {c} ")),
            "`hearsay {c}` is not in docs/api.md's command line section"
        );
    }
}
