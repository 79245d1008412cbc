//! Faults under the S3 scenario, with 20 real agents (3 rendezvous): a flipped bit in
//! an envelope or in downloaded code is detected and dropped — never delivered, never
//! stored, never run — and a kill -9 at random moments of a hot swap leaves a node, on
//! restart, on the old or the new deployment, never on a broken one.

mod common;

use std::time::{Duration, Instant};

use common::statecast::{
    all, deploy, dist, healthy_cluster, message, query, report, runs, serial, MODULE, VALUE,
};
use common::{fake_peer, frame, http, variant, wait_for, Agent};
use hearsay_core::envelope::{Seal, DEFAULT_MAX_ENVELOPE_BYTES};
use hearsay_core::{Body, CodeVersion, ConfigDigest, Configuration, Envelope, ModuleName};
use hearsay_node::now_ms;
use serde_json::Value;

fn envelope(sender_addr: std::net::SocketAddr, digest: &str, body: Body) -> Vec<u8> {
    Envelope {
        sender_addr,
        digest: ConfigDigest(u64::from_str_radix(digest, 16).unwrap()),
        body,
    }
    .encode(DEFAULT_MAX_ENVELOPE_BYTES, &Seal::Checksum, now_ms())
    .unwrap()
}

fn holds(a: &Agent, version: u64, value: u64) -> bool {
    query(a).is_some_and(|v| v["version"] == version && v["value"] == value)
}

#[test]
fn flipped_bits_in_envelopes_and_in_downloaded_code_are_dropped() {
    let _serial = serial();
    let (mut c, healthy) = healthy_cluster("s3-bitflip");
    let (fake, served) = fake_peer({
        let mut code = dist("statecast");
        let middle = code.len() / 2;
        code[middle] ^= 0x10;
        code
    });

    // A module envelope carrying a sound, newer record (version 1000, value 7) to node
    // 3, once with each of its bytes bit-flipped: every copy is dropped as corrupt and
    // nothing is delivered — node 3 and everyone keep value 42.
    let target = &c.agents[3];
    let digest = target.status().unwrap().digest;
    let body = Body::Module {
        module: ModuleName::new(MODULE).unwrap(),
        number: healthy.number.parse().unwrap(),
        payload: message(1000, 7),
    };
    let good = envelope(fake, &digest, body);
    let flipped: Vec<Vec<u8>> = (0..good.len())
        .map(|i| {
            let mut e = good.clone();
            e[i] ^= 1 << (i % 8);
            e
        })
        .collect();
    let corrupt = |a: &Agent| a.metric("hearsay_drops_total{reason=\"corrupt\"}");
    let before = corrupt(target);
    let refs: Vec<&[u8]> = flipped.iter().map(Vec::as_slice).collect();
    let gossip = target.gossip.to_string();
    assert_eq!(http(&gossip, "POST", "/gossip", &frame(&refs)).unwrap().0, 204);
    wait_for("node 3 counts every flipped envelope as corrupt", 10, || {
        corrupt(target) == before + flipped.len() as u64
    });
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        all(&c, &[], |a| holds(a, 1, VALUE)),
        "a flipped envelope got through"
    );
    // The very same envelope, intact, is delivered (and spreads): the copies were
    // refused for their flipped bit alone.
    assert_eq!(http(&gossip, "POST", "/gossip", &frame(&[&good])).unwrap().0, 204);
    wait_for("the intact envelope is delivered", 10, || {
        holds(&c.agents[3], 1000, 7)
    });
    eprintln!(
        "{} flipped envelopes dropped, the intact one delivered",
        flipped.len()
    );

    // Code: a fresh node learns the genuine deployment from the fake peer and
    // downloads a bit-flipped copy from it: refused, counted, not stored, not run.
    let fresh = c.add_agent(vec![fake]);
    let config: Configuration =
        serde_json::from_slice(&std::fs::read(c.agents[0].data_dir.join("configuration.json")).unwrap())
            .unwrap();
    let record = config.iter().next().unwrap().clone();
    let fresh_gossip = c.agents[fresh].gossip.to_string();
    let records = envelope(fake, "1", Body::Records(vec![record]));
    assert_eq!(
        http(&fresh_gossip, "POST", "/gossip", &frame(&[&records]))
            .unwrap()
            .0,
        204
    );
    let mismatch = |a: &Agent| a.metric("hearsay_drops_total{reason=\"code_hash_mismatch\"}");
    wait_for("the fresh node refuses the flipped code", 30, || {
        mismatch(&c.agents[fresh]) >= 1
    });
    assert!(served.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let m = report(&c.agents[fresh]).unwrap();
    assert_eq!((m.state.as_str(), m.running.as_deref()), ("fetching", None));
    let code_dir = c.agents[fresh].data_dir.join("code");
    let stored = std::fs::read_dir(&code_dir).map_or(0, |d| d.count());
    assert_eq!(stored, 0, "the flipped code was stored");

    // Then node 0, which runs the deployment, is named as a source: the genuine code
    // is fetched from it, stored byte for byte, and runs.
    let s0 = c.agents[0].status().unwrap();
    let hello = Body::Module {
        module: ModuleName::new(MODULE).unwrap(),
        number: healthy.number.parse().unwrap(),
        payload: message(0, 0),
    };
    let from0 = envelope(c.agents[0].gossip, &s0.digest, hello);
    assert_eq!(
        http(&fresh_gossip, "POST", "/gossip", &frame(&[&from0]))
            .unwrap()
            .0,
        204
    );
    wait_for("the fresh node runs the genuine code", 30, || {
        runs(&c.agents[fresh], &healthy)
    });
    let genuine = dist("statecast");
    let file = code_dir.join(format!("{}.wasm", CodeVersion::of(&genuine).to_hex()));
    assert_eq!(std::fs::read(file).unwrap(), genuine);
    assert_eq!(std::fs::read_dir(&code_dir).unwrap().count(), 1);
}

/// A small deterministic generator, splitmix64 (seeded from the clock and printed, so
/// a failing run can be read back).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

/// SIGKILL, from any thread (the harness reaps it later, in `kill9`).
fn sigkill(pid: i32) {
    // SAFETY: signalling a child process the harness started and has not reaped.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

#[test]
fn kill_9_in_the_middle_of_a_swap_leaves_the_old_or_the_new_version() {
    let _serial = serial();
    let (mut c, healthy) = healthy_cluster("s3-kill");
    let seed = now_ms();
    let mut rng = Rng(seed);
    eprintln!("seed {seed}");
    let mut old = healthy;
    for round in 0..3 {
        // Four victims (never node 0, where the new version is deployed): two killed
        // at random moments of the spread, two the moment they adopt the new
        // deployment (mid-swap: fetching or loading its code).
        let mut victims: Vec<usize> = Vec::new();
        while victims.len() < 4 {
            let v = 1 + rng.below(c.agents.len() as u64 - 1) as usize;
            if !victims.contains(&v) {
                victims.push(v);
            }
        }
        let offsets = [rng.below(300), rng.below(300)];
        let new = deploy(
            &c.agents[0],
            &variant(&dist("statecast"), &format!("s3-kill-{round}")),
            Value::Null,
        );
        let deployed = Instant::now();
        let moments: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = victims
                .iter()
                .enumerate()
                .map(|(k, &i)| {
                    let (a, new, offset) = (&c.agents[i], &new, offsets.get(k).copied());
                    scope.spawn(move || match offset {
                        Some(ms) => {
                            let at = Duration::from_millis(ms);
                            std::thread::sleep(at.saturating_sub(deployed.elapsed()));
                            sigkill(a.pid());
                            format!("at {ms} ms")
                        }
                        None => loop {
                            let m = report(a);
                            if let Some(m) = m.filter(|m| m.deployment.number == new.number) {
                                sigkill(a.pid());
                                break format!("on adopting it ({})", m.state);
                            }
                            assert!(
                                deployed.elapsed() < Duration::from_secs(30),
                                "node {i} never adopted"
                            );
                        },
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (&i, moment) in victims.iter().zip(moments) {
            let a = &mut c.agents[i];
            a.kill9();
            let on_disk = std::fs::read(a.data_dir.join("configuration.json")).unwrap();
            let config: Configuration =
                serde_json::from_slice(&on_disk).unwrap_or_else(|e| panic!("node {i}: configuration: {e}"));
            let persisted = config
                .iter()
                .next()
                .expect("statecast is configured")
                .number
                .to_string();
            assert!(
                persisted == old.number || persisted == new.number,
                "node {i}: {persisted}"
            );
            a.start();
            wait_for(&format!("node {i} runs again"), 30, || {
                report(a).is_some_and(|m| m.state == "running")
            });
            let m = report(a).unwrap();
            let running = m.running.clone().unwrap();
            assert!(running == old.number || running == new.number, "node {i}: {m:?}");
            assert!(query(a).is_some_and(|v| v["poisoned"] == false));
            assert_eq!(a.metric("hearsay_store_rejected_files_total"), 0, "node {i}");
            let name = |n: &str| if n == new.number { "new" } else { "old" };
            eprintln!(
                "round {round}: node {i} killed {moment}: {} on disk, {} running after restart",
                name(&persisted),
                name(&running)
            );
        }
        wait_for("every node runs the new version", 30, || {
            all(&c, &[], |a| runs(a, &new))
        });
        old = new;
    }
}
