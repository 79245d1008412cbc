//! The wasm loader path: any bytes handed to the runtime compile into a hearsay module
//! or give a load error — never a panic — and whatever loads starts and ticks under its
//! limits without taking the host down.
#![no_main]

use std::sync::OnceLock;

use hearsay_runtime::{Instance, InstanceContext, Limits, Runtime};
use libfuzzer_sys::fuzz_target;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(Limits { fuel_per_call: 100_000, max_memory_bytes: 1 << 20, ..Limits::default() })
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(code) = runtime().compile(data) else { return };
    let ctx = InstanceContext { self_addr: "127.0.0.1:1".into(), bootstrap: vec![], seed: 0, now_ms: 0 };
    if let Ok((mut instance, _)) = Instance::start(runtime(), &code, "", &ctx) {
        let _ = instance.tick(1);
        let _ = instance.receive(2, "127.0.0.1:2", data);
        let _ = instance.query(3, "");
    }
});
