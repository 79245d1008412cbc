//! The cost of the wasm boundary: one message in and one out (receive → module →
//! send) through a minimal echo module and through the real membership module, and
//! one hot swap (start the new instance, hand state over, switch) with code compiled.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hearsay_core::{CodeVersion, Deployment, DeploymentNumber, ModuleName, NodeId, PeerAddr};
use hearsay_runtime::{sample, Instance, InstanceContext, Limits, ModuleHost, Runtime};

const MEMBERSHIP: &[u8] = include_bytes!("../../../modules/dist/membership.wasm");

fn echo() -> Vec<u8> {
    wat::parse_str(
        r#"(module
  (import "hearsay" "send" (func $send (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))
  (func (export "hearsay_abi_version") (result i32) i32.const 1)
  (func (export "hearsay_alloc") (param $n i32) (result i32) (local $p i32)
    global.get $bump local.set $p
    global.get $bump local.get $n i32.add global.set $bump
    local.get $p)
  (func (export "hearsay_init") (param i32 i32) (result i32) i32.const 0)
  (func (export "hearsay_tick") (param i64))
  (func (export "hearsay_receive") (param $fp i32) (param $fl i32) (param $pp i32) (param $pl i32)
    local.get $fp local.get $fl local.get $pp local.get $pl call $send
    i32.const 1024 global.set $bump)
  (func (export "hearsay_query") (param i32 i32))
)"#,
    )
    .expect("valid")
}

fn ctx() -> InstanceContext {
    InstanceContext {
        labels: Default::default(),
        node: Default::default(),
        self_addr: "127.0.0.1:7000".into(),
        bootstrap: vec!["127.0.0.1:7001".into()],
        seed: 1,
        now_ms: 1000,
        budget: hearsay_core::Budget::unmetered(),
    }
}

fn boundary(c: &mut Criterion) {
    let rt = Runtime::new(Limits::default()).expect("runtime");
    let mut group = c.benchmark_group("boundary");
    group.throughput(Throughput::Elements(1));
    let code = rt.compile(&echo()).expect("echo compiles");
    let mut instance = Instance::start(&rt, &code, "", &ctx()).expect("starts").0;
    let payload = [7u8; 32];
    group.bench_function("echo 32 B: receive → send", |b| {
        b.iter(|| instance.receive(1000, "127.0.0.1:7001", &payload).expect("echo"))
    });
    // Membership: a real push-pull message from a peer that knows 100 members.
    let code = rt.compile(MEMBERSHIP).expect("membership compiles");
    let (mut me, message) = sample::membership_push(&rt, &code, 100).expect("membership runs");
    assert!(
        message.len() > 100 * 15,
        "the message must carry the 100 members ({} bytes)",
        message.len()
    );
    group.bench_function("membership message: receive → merge → reply", |b| {
        b.iter(|| me.receive(1300, sample::PEER, &message).expect("membership"))
    });
    group.finish();
}

fn swap(c: &mut Criterion) {
    let rt = Arc::new(Runtime::new(Limits::default()).expect("runtime"));
    let me: PeerAddr = "127.0.0.1:7000".parse().expect("addr");
    let module = ModuleName::new("membership").expect("name");
    let deployment = |t: u64| Deployment {
        module: module.clone(),
        version: Some(CodeVersion::of(MEMBERSHIP)),
        number: DeploymentNumber {
            time_ms: t,
            origin: NodeId(1),
        },
        params: String::new(),
        previous: None,
        budget: Default::default(),
        auto_rollback_ms: None,
        signature: None,
    };
    rt.compile(MEMBERSHIP).expect("compiles");
    c.bench_function("hot swap: membership with state handover (code compiled)", |b| {
        b.iter_batched(
            || {
                let mut host = ModuleHost::new(rt.clone(), me, vec![], 1);
                host.load(1000, &deployment(1), MEMBERSHIP);
                host
            },
            |mut host| host.load(2000, &deployment(2), MEMBERSHIP),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("compile membership.wasm (cold)", |b| {
        b.iter(|| {
            Runtime::new(Limits::default())
                .expect("runtime")
                .compile(MEMBERSHIP)
                .expect("compiles")
        })
    });
    c.bench_function("compile membership.wasm (cold, baseline compiler)", |b| {
        b.iter(|| {
            Runtime::new(Limits::default())
                .and_then(Runtime::with_baseline_tier)
                .expect("runtime")
                .compile(MEMBERSHIP)
                .expect("compiles")
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = boundary, swap
}
criterion_main!(benches);
