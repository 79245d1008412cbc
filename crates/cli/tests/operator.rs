//! What an operator gets besides the agent: `hearsay --version` with the commit,
//! shell completions and man pages from the CLI's definition, the config file
//! reference (every key an agent accepts), and JSON log lines with a log level.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{cli, cli_ok, free_ports, hearsay_bin, http, wait_for};

#[test]
fn the_version_names_the_commit() {
    let version = cli_ok(&["--version"]);
    let want = format!("hearsay {} (", env!("CARGO_PKG_VERSION"));
    assert!(version.starts_with(&want), "{version}");
    let commit = version.trim().trim_end_matches(')').rsplit('(').next().unwrap();
    assert!(commit.len() >= 12, "no commit in {version}");
}

#[test]
fn completions_and_man_pages_come_from_the_definition() {
    let bash = cli_ok(&["completions", "bash"]);
    assert!(
        bash.contains("complete") && bash.contains("config-reference"),
        "{bash}"
    );
    let zsh = cli_ok(&["completions", "zsh"]);
    assert!(zsh.contains("#compdef hearsay"));
    assert!(!cli(&["completions", "tcsh"]).status.success());

    let dir = std::env::temp_dir().join(format!("hearsay-man-{}", std::process::id()));
    let written = cli_ok(&["man", "--out", dir.to_str().unwrap()]);
    assert!(written.lines().count() > 15, "{written}");
    let agent = std::fs::read_to_string(dir.join("hearsay-agent.1")).unwrap();
    assert!(agent.contains(".TH hearsay-agent 1"), "{agent}");
    assert!(
        agent.contains("log\\-format"),
        "the agent's flags are in its page"
    );
    assert!(
        !dir.join("hearsay-compile-module.1").exists(),
        "a hidden command has no page"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_config_reference_is_every_key_the_agent_takes() {
    let reference = cli_ok(&["config-reference"]);
    // Every key in it is one the agent reads: given a value no key takes (an array
    // of arrays), the agent refuses it as of the wrong type — never as unknown.
    let keys: Vec<&str> = reference
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k))
        .filter(|k| !k.contains(' '))
        .collect();
    assert!(keys.len() >= 20 && keys.contains(&"log_format"), "{keys:?}");
    let dir = std::env::temp_dir().join(format!("hearsay-reference-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for key in keys {
        let file = dir.join("agent.toml");
        std::fs::write(&file, format!("{key} = [[1]]\n")).unwrap();
        let out = cli(&[
            "agent",
            "--config",
            file.to_str().unwrap(),
            "--data-dir",
            "/nonexistent-hearsay",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{key}: accepted [[1]]");
        assert!(
            !stderr.contains("unknown field") && stderr.contains("is not a valid agent config"),
            "{key}: {stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The JSON log lines an agent started with `--log-format json --log-level LEVEL`
/// wrote until its API answered (then it is stopped).
fn json_log_lines(level: &str) -> Vec<serde_json::Value> {
    let ports = free_ports(2);
    let dir = std::env::temp_dir().join(format!("hearsay-jsonlog-{level}-{}", std::process::id()));
    let api = format!("127.0.0.1:{}", ports[1]);
    let mut child = Command::new(hearsay_bin())
        .args(["agent", "--data-dir", dir.to_str().unwrap()])
        .args(["--gossip", &format!("127.0.0.1:{}", ports[0]), "--api", &api])
        .args(["--log-format", "json", "--log-level", level])
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    wait_for("the agent's API answers", 30, || {
        http(&api, "GET", "/v1/status", b"").is_ok()
    });
    // What it logs while starting is out by now; a moment more for the last line.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    rx.try_iter()
        .map(|line| serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

#[test]
fn logs_are_json_lines_at_the_level_asked() {
    let levels = |records: &[serde_json::Value]| -> std::collections::BTreeSet<String> {
        records
            .iter()
            .map(|r| r["level"].as_str().unwrap().to_string())
            .collect()
    };
    let info = json_log_lines("info");
    assert!(
        info.iter()
            .all(|r| r["timestamp"].is_string() && r["fields"]["message"].is_string()),
        "{info:?}"
    );
    assert!(
        info.iter()
            .any(|r| r["fields"]["message"] == "hearsay agent ready"),
        "{info:?}"
    );
    assert!(
        levels(&info).contains("INFO") && levels(&info).contains("WARN"),
        "{info:?}"
    );
    let warn = json_log_lines("warn");
    assert_eq!(levels(&warn), ["WARN".to_string()].into(), "{warn:?}");

    let out = cli(&[
        "agent",
        "--data-dir",
        "/nonexistent-hearsay",
        "--log-level",
        "=no=",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--log-level"));
}
