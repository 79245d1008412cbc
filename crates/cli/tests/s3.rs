//! The S3 scenario end to end, with 20 real agents (3 of them rendezvous nodes): a
//! bad deployment poisons every node's gossiped state, and a fix deployed at one node
//! repairs them all by gossip — with the modules alive, with every module dead (only
//! backup gossip can carry it), and with a node frozen through the whole repair that
//! must be repaired on return without re-contaminating anyone. Once a node runs the
//! fix, it never holds the poisoned record again. (`hearsay-lab scenario s3`, which
//! plays the whole story and checks it, is tested in crates/lab.)

mod common;

use std::time::{Duration, Instant};

use common::statecast::{
    all, deploy, dist, healthy_cluster, poison, poisoned, query, report, runs, serial, VALUE,
};
use common::{variant, wait_for, Agent};
use serde_json::Value;

/// Polls every node (but `skip`) until all run the fix, then for `after` more: a node
/// that ran the fix once must run it at every later poll and never answer poisoned.
/// Returns how many checks each node passed while running the fix.
fn watch_repair(c: &common::Cluster, fix_number: &str, skip: &[usize], after: Duration) -> Vec<usize> {
    let n = c.agents.len();
    let mut fixed = vec![false; n];
    let mut checks = vec![0; n];
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut all_since: Option<Instant> = None;
    while all_since.is_none_or(|t| t.elapsed() < after) {
        assert!(
            Instant::now() < deadline,
            "the fix did not reach every node in 30 s"
        );
        for a in c.agents.iter().filter(|a| !skip.contains(&a.index)) {
            // Status first: if it says the fix runs, the query that follows is the fix's.
            let runs_fix = report(a).is_some_and(|m| m.runs(fix_number));
            assert!(
                runs_fix || !fixed[a.index],
                "node {} ran the fix, then no longer",
                a.index
            );
            if runs_fix {
                fixed[a.index] = true;
                let answer = query(a).expect("the fix answers its query");
                assert_eq!(
                    answer["poisoned"], false,
                    "node {} runs the fix: {answer}",
                    a.index
                );
                checks[a.index] += 1;
            }
        }
        let everyone = (0..n).filter(|i| !skip.contains(i)).all(|i| fixed[i]);
        if everyone && all_since.is_none() {
            all_since = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    checks
}

#[test]
fn the_fix_replaces_the_poison_everywhere_and_the_poison_never_returns() {
    let _serial = serial();
    let (c, _healthy) = healthy_cluster("s3-fix");
    let bad = poison(&c);
    let started = Instant::now();
    let fix = deploy(&c.agents[10], &variant(&dist("statecast"), "s3-fix"), Value::Null);
    assert!(fix.number.parse::<hearsay_core::DeploymentNumber>().unwrap() > bad.number.parse().unwrap());
    let checks = watch_repair(&c, &fix.number, &[], Duration::from_secs(3));
    eprintln!(
        "fix everywhere and checked for 3 s more after {:?}; checks per node while running the fix: min {}",
        started.elapsed(),
        checks.iter().min().unwrap()
    );
    assert!(checks.iter().all(|&k| k >= 5), "{checks:?}");
    // The fix dropped the poisoned record handed over by the bad code and went back
    // to the newest sound one: the value set while healthy.
    for a in &c.agents {
        let v = query(a).unwrap();
        assert_eq!(
            (v["version"].as_u64(), v["value"].as_u64()),
            (Some(1), Some(VALUE)),
            "{v}"
        );
    }
}

#[test]
fn with_every_module_dead_the_fix_still_reaches_every_node_by_backup_gossip() {
    let _serial = serial();
    let (c, _healthy) = healthy_cluster("s3-dead");
    poison(&c);
    let dead = deploy(&c.agents[2], &dist("bad-loop"), Value::Null);
    wait_for("every node's module failed", 30, || {
        all(&c, &[], |a| {
            report(a).is_some_and(|m| m.deployment.number == dead.number && m.state == "failed")
        })
    });
    // No module anywhere sends or receives anything: the core alone is left.
    let delivered =
        |c: &common::Cluster| -> u64 { c.agents.iter().map(|a| a.metric("hearsay_delivered_total")).sum() };
    let before = delivered(&c);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(delivered(&c), before, "no module delivers anything any more");
    for a in &c.agents {
        let m = report(a).unwrap();
        assert_eq!(m.state, "failed", "node {}: {m:?}", a.index);
    }

    let started = Instant::now();
    let fix = deploy(&c.agents[10], &variant(&dist("statecast"), "s3-fix"), Value::Null);
    let checks = watch_repair(&c, &fix.number, &[], Duration::from_secs(2));
    eprintln!("fix everywhere (modules dead) after {:?}", started.elapsed());
    assert!(checks.iter().all(|&k| k >= 3), "{checks:?}");
}

#[test]
fn a_node_frozen_through_the_repair_is_repaired_on_return_and_contaminates_nobody() {
    let _serial = serial();
    let (c, _healthy) = healthy_cluster("s3-frozen");
    poison(&c);
    let frozen = 7;
    c.agents[frozen].sigstop();
    let fix = deploy(&c.agents[10], &variant(&dist("statecast"), "s3-fix"), Value::Null);
    wait_for("every other node runs the fix, unpoisoned", 30, || {
        all(&c, &[frozen], |a| runs(a, &fix) && poisoned(a) == Some(false))
    });

    // Back it comes, still poisoned and on the bad code: its first exchanges bring it
    // the fix, and its own poisoned gossip is never delivered to anyone.
    let back_ms = hearsay_node::now_ms();
    c.agents[frozen].sigcont();
    let back = Instant::now();
    let others_clean = |c: &common::Cluster| {
        for a in c.agents.iter().filter(|a| a.index != frozen) {
            assert!(runs(a, &fix), "node {} no longer runs the fix", a.index);
            assert_eq!(poisoned(a), Some(false), "node {} was re-contaminated", a.index);
        }
    };
    let frozen_agent: &Agent = &c.agents[frozen];
    let took = wait_for("the returning node runs the fix", 30, || {
        others_clean(&c);
        runs(frozen_agent, &fix)
    });
    eprintln!("the returning node runs the fix {took:?} after SIGCONT");
    assert_eq!(poisoned(frozen_agent), Some(false));
    let adopted = report(frozen_agent).and_then(|m| m.adopted_at_ms).unwrap();
    assert!(adopted >= back_ms, "it adopted the fix only once back");
    // And everyone stays clean for a while (15 rounds).
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        others_clean(&c);
        assert!(runs(frozen_agent, &fix));
        assert_eq!(poisoned(frozen_agent), Some(false));
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("all clean {:?} after SIGCONT", back.elapsed());
}
