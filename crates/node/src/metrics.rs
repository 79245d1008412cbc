//! `GET /metrics`: the core's, the module host's and the daemon's counters as
//! Prometheus text.

use std::collections::BTreeMap;
use std::fmt::Write;

use hearsay_core::{DropReason, Metrics};
use hearsay_runtime::HostMetrics;

use crate::counters::{Labeled, NodeCounters};

/// Every drop reason the core knows, so each series exists from the start.
const DROP_REASONS: [DropReason; DropReason::ALL.len()] = DropReason::ALL;

/// What the actor reports for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct MetricsSnapshot {
    /// The core's counters.
    pub core: Metrics,
    /// The module host's counters.
    pub host: HostMetrics,
    /// Modules by state.
    pub module_states: BTreeMap<String, u64>,
    /// Addresses overheard.
    pub hints: usize,
    /// What each module's instance consumed and what its budget dropped.
    pub usage: BTreeMap<hearsay_core::ModuleName, hearsay_runtime::BudgetUsage>,
}

/// Renders every counter as Prometheus text (format 0.0.4).
pub fn render(s: &MetricsSnapshot, node: &NodeCounters) -> String {
    let mut out = String::new();
    let c = &s.core;
    let plain: [(&str, &str, u64); 21] = [
        (
            "envelopes_in_total",
            "Envelopes received (valid or not).",
            c.envelopes_in,
        ),
        ("envelopes_out_total", "Envelopes sent.", c.envelopes_out),
        ("bytes_in_total", "Envelope bytes received.", c.bytes_in),
        ("bytes_out_total", "Envelope bytes sent.", c.bytes_out),
        (
            "core_bytes_out_total",
            "Bytes sent that were the core's, not a module's.",
            c.core_bytes_out,
        ),
        (
            "module_envelopes_out_total",
            "Envelopes sent carrying a module payload.",
            c.module_envelopes_out,
        ),
        (
            "module_payload_bytes_out_total",
            "Module payload bytes in them.",
            c.module_payload_bytes_out,
        ),
        (
            "piggyback_bytes_out_total",
            "Bytes the core added to them (header, deployment number, seal).",
            c.piggyback_bytes_out,
        ),
        ("delivered_total", "Module payloads delivered.", c.delivered),
        (
            "deployments_adopted_total",
            "Deployments adopted.",
            c.deployments_adopted,
        ),
        (
            "backup_exchanges_total",
            "Backup gossip exchanges started.",
            c.backup_exchanges,
        ),
        (
            "fetches_started_total",
            "Code downloads started.",
            c.fetches_started,
        ),
        (
            "fetches_failed_total",
            "Code downloads failed (unreachable, missing, timeout, bad hash).",
            c.fetches_failed,
        ),
        ("loads_total", "Module loads asked for by the core.", c.loads),
        (
            "load_failures_total",
            "Module loads that failed.",
            c.load_failures,
        ),
        (
            "module_failures_total",
            "Running module instances that failed.",
            c.module_failures,
        ),
        (
            "pushes_total",
            "Deployment records pushed to peers right after a change.",
            c.pushes,
        ),
        (
            "peers_unreachable_total",
            "Peers gossip could not reach (forgotten as hints).",
            c.peers_unreachable,
        ),
        (
            "auto_rollbacks_total",
            "Rollbacks this node made under a deployment's automatic rollback policy.",
            c.auto_rollbacks,
        ),
        (
            "rejected_at_start_total",
            "Stored deployment records dropped at start: over the limits, or signed by no trusted key.",
            c.rejected_at_start,
        ),
        (
            "code_store_failures_total",
            "Fetched code the store refused (a full disk): fetched again later.",
            c.store_failures,
        ),
    ];
    for (name, help, value) in plain {
        counter(&mut out, name, help, value);
    }
    header(
        &mut out,
        "drops_total",
        "Things the core dropped, by reason.",
        "counter",
    );
    for reason in DROP_REASONS {
        sample(
            &mut out,
            "drops_total",
            Some(("reason", reason.as_str())),
            c.drops_for(reason),
        );
    }
    for (reason, n) in &c.drops {
        if !DROP_REASONS.contains(reason) {
            sample(&mut out, "drops_total", Some(("reason", reason.as_str())), *n);
        }
    }

    let h = &s.host;
    counter(
        &mut out,
        "swaps_total",
        "Deployments loaded into instances (first loads and swaps).",
        h.loads,
    );
    counter(
        &mut out,
        "handovers_total",
        "Swaps that handed state to the new instance.",
        h.handovers,
    );
    counter(
        &mut out,
        "module_sends_dropped_total",
        "Module sends dropped (bad address, too large).",
        h.dropped_sends,
    );
    counter(
        &mut out,
        "fresh_starts_total",
        "Swaps where the new version started fresh: the old one's state was refused or failed it.",
        h.fresh_starts,
    );
    render_usage(&mut out, &s.usage);

    let n = node;
    counter(
        &mut out,
        "gossip_batches_in_total",
        "Gossip batches received.",
        n.gossip_batches_in.get(),
    );
    counter(
        &mut out,
        "gossip_bad_batches_total",
        "Gossip batches refused (framing, size).",
        n.gossip_bad_batches.get(),
    );
    counter(
        &mut out,
        "core_nanoseconds_total",
        "Time the actor spent in the core (envelope encode/decode, checks, merges).",
        n.core_ns.get(),
    );
    counter(
        &mut out,
        "module_nanoseconds_total",
        "Time the actor spent in module instances (ticks, deliveries).",
        n.module_ns.get(),
    );
    counter(
        &mut out,
        "injected_losses_total",
        "Gossip batches dropped on purpose (--gossip-loss).",
        n.injected_losses.get(),
    );
    counter(
        &mut out,
        "tls_on_plain_total",
        "TLS handshakes opened on a clear-text listener (a peer set up for TLS).",
        n.tls_on_plain.get(),
    );
    labeled(
        &mut out,
        "connections_total",
        "What the listeners did with connections (accepted, refused, accept_failed, body_budget_busy).",
        "result",
        &n.connections,
    );
    counter(
        &mut out,
        "tls_handshakes_failed_total",
        "TLS handshakes refused or timed out on the gossip listener.",
        n.tls_handshakes_failed.get(),
    );
    counter(
        &mut out,
        "gossip_batches_out_total",
        "Gossip batches delivered to peers.",
        n.gossip_batches_out.get(),
    );
    labeled(
        &mut out,
        "gossip_send_failures_total",
        "Gossip batch sends that failed, by reason.",
        "reason",
        &n.gossip_send_failures,
    );
    labeled(
        &mut out,
        "envelopes_lost_total",
        "Envelopes the daemon lost, by reason.",
        "reason",
        &n.envelopes_lost,
    );
    labeled(
        &mut out,
        "code_requests_total",
        "GET /code answers, by result.",
        "result",
        &n.code_requests,
    );
    labeled(
        &mut out,
        "code_fetches_total",
        "Code downloads, by result.",
        "result",
        &n.code_fetches,
    );
    labeled(
        &mut out,
        "api_errors_total",
        "Management API requests refused, by reason.",
        "reason",
        &n.api_errors,
    );
    counter(
        &mut out,
        "store_rejected_files_total",
        "Code files removed at startup: content did not match the hash.",
        n.store_rejected_files.get(),
    );
    counter(
        &mut out,
        "store_failures_total",
        "Code store reads or writes that failed.",
        n.store_failures.get(),
    );
    counter(
        &mut out,
        "persists_total",
        "Configurations written to disk.",
        n.persists.get(),
    );
    counter(
        &mut out,
        "persist_failures_total",
        "Configurations that could not be written.",
        n.persist_failures.get(),
    );

    header(&mut out, "modules", "Configured modules, by state.", "gauge");
    for (state, count) in &s.module_states {
        sample(&mut out, "modules", Some(("state", state)), *count);
    }
    header(&mut out, "hints", "Peer addresses overheard.", "gauge");
    sample(&mut out, "hints", None, s.hints as u64);
    out
}

/// A per-module series: name, help, kind, and how to read it from the usage.
type UsageSeries = (
    &'static str,
    &'static str,
    &'static str,
    fn(&hearsay_runtime::BudgetUsage) -> u64,
);

/// Each module's budget: what it consumed and what its budget dropped.
fn render_usage(out: &mut String, usage: &BTreeMap<hearsay_core::ModuleName, hearsay_runtime::BudgetUsage>) {
    let series: [UsageSeries; 8] = [
        (
            "module_fuel_total",
            "Fuel a module burnt (its CPU).",
            "counter",
            |u| u.fuel,
        ),
        (
            "module_messages_total",
            "Messages a module sent within its budget.",
            "counter",
            |u| u.messages,
        ),
        (
            "module_sent_bytes_total",
            "Payload bytes a module sent within its budget.",
            "counter",
            |u| u.bytes,
        ),
        (
            "module_sends_over_budget_total",
            "Sends dropped for a module's messages or bytes per second budget.",
            "counter",
            |u| u.sends_over_budget,
        ),
        (
            "module_calls_throttled_total",
            "Ticks and deliveries skipped because a module's CPU budget was spent.",
            "counter",
            |u| u.calls_throttled,
        ),
        (
            "module_logs_dropped_total",
            "Log lines dropped for a module's log budget.",
            "counter",
            |u| u.logs_dropped,
        ),
        (
            "module_memory_bytes",
            "Memory of a module's instance (all memories and tables).",
            "gauge",
            |u| u.memory_bytes,
        ),
        (
            "module_over_budget_milliseconds",
            "How long a module has been over its send or CPU budget without a break.",
            "gauge",
            |u| u.over_budget_ms,
        ),
    ];
    for (name, help, kind, value) in series {
        header(out, name, help, kind);
        for (module, u) in usage {
            sample(out, name, Some(("module", module.as_str())), value(u));
        }
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP hearsay_{name} {help}\n# TYPE hearsay_{name} {kind}");
}

fn sample(out: &mut String, name: &str, label: Option<(&str, &str)>, value: u64) {
    let _ = match label {
        Some((k, v)) => writeln!(out, "hearsay_{name}{{{k}=\"{v}\"}} {value}"),
        None => writeln!(out, "hearsay_{name} {value}"),
    };
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, help, "counter");
    sample(out, name, None, value);
}

fn labeled(out: &mut String, name: &str, help: &str, key: &str, values: &Labeled) {
    header(out, name, help, "counter");
    for (label, value) in values.snapshot() {
        sample(out, name, Some((key, label)), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_series() {
        let mut s = MetricsSnapshot::default();
        s.core.envelopes_in = 7;
        s.core.drop(DropReason::CodeHashMismatch);
        s.module_states.insert("running".into(), 1);
        let node = NodeCounters::default();
        node.api_errors.inc("invalid_wasm");
        let text = render(&s, &node);
        assert!(text.contains("hearsay_envelopes_in_total 7\n"));
        assert!(text.contains("hearsay_drops_total{reason=\"code_hash_mismatch\"} 1\n"));
        assert!(text.contains("hearsay_drops_total{reason=\"corrupt\"} 0\n"));
        assert!(text.contains("hearsay_api_errors_total{reason=\"invalid_wasm\"} 1\n"));
        assert!(text.contains("hearsay_modules{state=\"running\"} 1\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert_eq!(line.split(' ').count(), 2, "{line}");
        }
    }
}
