//! The core's hot paths: sealing and opening envelopes (the full and the compact
//! form), receiving a module envelope into a running core (open, checks, dispatch),
//! a module send out of one (compact, seal), and merging a newer deployment into a
//! configuration.

use std::collections::BTreeSet;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hearsay_core::envelope::{Seal, DEFAULT_MAX_ENVELOPE_BYTES};
use hearsay_core::{
    Body, CodeVersion, ConfigDigest, Configuration, Core, CoreInit, Deployment, DeploymentNumber,
    DeploymentTag, Envelope, Input, ModuleName, NodeId, Output, PeerAddr, Settings,
};

const MAX: usize = DEFAULT_MAX_ENVELOPE_BYTES;
/// A membership push-pull message at 100 members is about this long.
const PAYLOAD: usize = 1800;

fn deployment(module: &str, time_ms: u64) -> Deployment {
    Deployment {
        module: ModuleName::new(module).expect("name"),
        version: Some(CodeVersion::of(module.as_bytes())),
        number: DeploymentNumber {
            time_ms,
            origin: NodeId(7),
        },
        params: String::new(),
        previous: None,
        budget: Default::default(),
        auto_rollback_ms: None,
        signature: None,
    }
}

fn envelopes(c: &mut Criterion) {
    let d = deployment("membership", 1_764_000_000_000);
    let from: PeerAddr = "127.0.0.1:20001".parse().expect("addr");
    let full = Envelope {
        sender_addr: from,
        digest: ConfigDigest(0x0123_4567_89ab_cdef),
        body: Body::Module {
            module: d.module.clone(),
            number: d.number,
            payload: vec![7; PAYLOAD],
        },
    };
    let compact = Envelope {
        body: Body::Tagged {
            tag: DeploymentTag::of(&d.module, d.number),
            payload: vec![7; PAYLOAD],
        },
        ..full.clone()
    };
    let mut g = c.benchmark_group("envelope");
    g.throughput(Throughput::Elements(1));
    for (name, env) in [("full", &full), ("compact", &compact)] {
        let bytes = env.encode(MAX, &Seal::Checksum, 0).expect("encodes");
        g.bench_function(format!("seal {name} ({} B)", bytes.len()), |b| {
            b.iter(|| env.encode(MAX, &Seal::Checksum, 0).expect("encodes"))
        });
        g.bench_function(format!("open {name} ({} B)", bytes.len()), |b| {
            b.iter(|| Envelope::decode(&bytes, MAX, &Seal::Checksum, 0).expect("decodes"))
        });
    }
    g.finish();
}

/// A core at `addr` running `d` (loaded).
fn running_core(addr: &str, d: &Deployment) -> Core {
    let mut core = Core::new(CoreInit {
        id: NodeId(1),
        addr: addr.parse().expect("addr"),
        settings: Settings::default(),
        configuration: Configuration::from(vec![d.clone()]),
        code: BTreeSet::from([d.version.expect("code")]),
        ran: Vec::new(),
        seed: 1,
    });
    for o in core.handle(1000, Input::Tick) {
        if let Output::Load { deployment } = o {
            core.handle(
                1000,
                Input::Loaded {
                    module: deployment.module,
                    number: deployment.number,
                },
            );
        }
    }
    core
}

fn core_paths(c: &mut Criterion) {
    let d = deployment("membership", 1_764_000_000_000);
    let mut me = running_core("127.0.0.1:20000", &d);
    let mut peer = running_core("127.0.0.1:20001", &d);
    // One exchange each way, so each knows the other holds its digest.
    let hello = |core: &mut Core, to: &str| {
        core.handle(
            2000,
            Input::ModuleSend {
                module: d.module.clone(),
                to: to.parse().expect("addr"),
                payload: vec![1],
            },
        )
    };
    for o in hello(&mut peer, "127.0.0.1:20000") {
        if let Output::Send { bytes, .. } = o {
            me.handle(2000, Input::Receive { bytes });
        }
    }
    for o in hello(&mut me, "127.0.0.1:20001") {
        if let Output::Send { bytes, .. } = o {
            peer.handle(2000, Input::Receive { bytes });
        }
    }
    let sent = peer.handle(
        2100,
        Input::ModuleSend {
            module: d.module.clone(),
            to: "127.0.0.1:20000".parse().expect("addr"),
            payload: vec![7; PAYLOAD],
        },
    );
    let Some(Output::Send { bytes, .. }) = sent.into_iter().next() else {
        panic!("the peer sends");
    };
    assert_eq!(bytes.len(), PAYLOAD + 23, "a compact envelope");

    let mut g = c.benchmark_group("core");
    g.throughput(Throughput::Elements(1));
    g.bench_function("receive a compact module envelope → deliver", |b| {
        b.iter_batched(
            || Input::Receive { bytes: bytes.clone() },
            |input| {
                let out = me.handle(2200, input);
                assert!(matches!(out.first(), Some(Output::Deliver { .. })));
                out
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("module send → compact sealed envelope", |b| {
        b.iter_batched(
            || Input::ModuleSend {
                module: d.module.clone(),
                to: "127.0.0.1:20000".parse().expect("addr"),
                payload: vec![7; PAYLOAD],
            },
            |input| peer.handle(2200, input),
            BatchSize::SmallInput,
        )
    });
    let mut now = 3000;
    g.bench_function("tick (one module running)", |b| {
        b.iter(|| {
            now += 1;
            me.handle(now, Input::Tick)
        })
    });
    g.finish();
}

fn merge(c: &mut Criterion) {
    let names: Vec<String> = (0..10).map(|i| format!("module-{i}")).collect();
    let config = Configuration::from(names.iter().map(|n| deployment(n, 1000)).collect::<Vec<_>>());
    let newer = deployment("module-5", 2000);
    c.bench_function("configuration: merge a newer deployment (10 modules)", |b| {
        b.iter_batched(
            || config.clone(),
            |mut cfg| cfg.offer(newer.clone()),
            BatchSize::SmallInput,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2));
    targets = envelopes, core_paths, merge
}
criterion_main!(benches);
