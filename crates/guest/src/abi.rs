//! The wasm32 side of the module ABI (`docs/module-abi.md`): the `hearsay` imports,
//! the `Host`s built on them ([`WasmHost`] for v1, [`WasmHostV2`] adding `emit`,
//! `labels` and `node_info`), input buffers, and the one module instance. Only `export_module!` and
//! `export_module_v2!` should call into here; each call is generic over the host type
//! so a v1 module never references (and so never imports) the v2 functions.

use crate::host::{Host, Level};
use crate::module::{DynModule, Module};
use std::alloc::Layout;
use std::cell::UnsafeCell;

mod imports {
    // Rust names differ from the import names so they can't collide with other
    // symbols (libm's `log`, for one); `link_name` picks the import.
    #[link(wasm_import_module = "hearsay")]
    extern "C" {
        #[link_name = "send"]
        pub fn hearsay_send(to_ptr: *const u8, to_len: usize, ptr: *const u8, len: usize);
        #[link_name = "now_ms"]
        pub fn hearsay_now_ms() -> i64;
        #[link_name = "random"]
        pub fn hearsay_random(ptr: *mut u8, len: usize);
        #[link_name = "log"]
        pub fn hearsay_log(level: i32, ptr: *const u8, len: usize);
        #[link_name = "bootstrap_peers"]
        pub fn hearsay_bootstrap_peers(ptr: *mut u8, cap: usize) -> i32;
        #[link_name = "self_addr"]
        pub fn hearsay_self_addr(ptr: *mut u8, cap: usize) -> i32;
        #[link_name = "reply"]
        pub fn hearsay_reply(ptr: *const u8, len: usize);
    }

    #[link(wasm_import_module = "hearsay")]
    extern "C" {
        #[link_name = "emit"]
        pub fn hearsay_emit(kind_ptr: *const u8, kind_len: usize, ptr: *const u8, len: usize);
        #[link_name = "labels"]
        pub fn hearsay_labels(ptr: *mut u8, cap: usize) -> i32;
        #[link_name = "node_info"]
        pub fn hearsay_node_info(ptr: *mut u8, cap: usize) -> i32;
    }
}

/// The `Host` a v1 wasm module sees: every method is one import call; `emit` and
/// `labels` are the trait's defaults (dropped, `{}`).
#[derive(Default)]
pub struct WasmHost;

/// The `Host` of a v2 module: v1's, plus the `emit` and `labels` imports.
#[derive(Default)]
pub struct WasmHostV2;

impl Host for WasmHostV2 {
    fn send(&mut self, to: &str, payload: &[u8]) {
        WasmHost.send(to, payload)
    }
    fn now_ms(&self) -> u64 {
        WasmHost.now_ms()
    }
    fn random_u64(&mut self) -> u64 {
        WasmHost.random_u64()
    }
    fn log(&mut self, level: Level, msg: &str) {
        WasmHost.log(level, msg)
    }
    fn bootstrap_peers(&self) -> Vec<String> {
        WasmHost.bootstrap_peers()
    }
    fn self_addr(&self) -> String {
        WasmHost.self_addr()
    }
    fn emit(&mut self, kind: &str, data: &[u8]) {
        unsafe { imports::hearsay_emit(kind.as_ptr(), kind.len(), data.as_ptr(), data.len()) }
    }
    fn labels(&self) -> String {
        let text = read_text(imports::hearsay_labels);
        if text.is_empty() {
            "{}".to_string()
        } else {
            text
        }
    }
    fn node_info(&self) -> String {
        let text = read_text(imports::hearsay_node_info);
        if text.is_empty() {
            "{}".to_string()
        } else {
            text
        }
    }
}

impl Host for WasmHost {
    fn send(&mut self, to: &str, payload: &[u8]) {
        unsafe { imports::hearsay_send(to.as_ptr(), to.len(), payload.as_ptr(), payload.len()) }
    }
    fn now_ms(&self) -> u64 {
        unsafe { imports::hearsay_now_ms() as u64 }
    }
    fn random_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        unsafe { imports::hearsay_random(bytes.as_mut_ptr(), bytes.len()) };
        u64::from_le_bytes(bytes)
    }
    fn log(&mut self, level: Level, msg: &str) {
        unsafe { imports::hearsay_log(level as i32, msg.as_ptr(), msg.len()) }
    }
    fn bootstrap_peers(&self) -> Vec<String> {
        read_text(imports::hearsay_bootstrap_peers)
            .split('\n')
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }
    fn self_addr(&self) -> String {
        read_text(imports::hearsay_self_addr)
    }
}

/// Calls a `(ptr, cap) -> needed` import, growing the buffer until the text fits.
/// The answer may change between calls, hence a few attempts rather than two.
fn read_text(import: unsafe extern "C" fn(*mut u8, usize) -> i32) -> String {
    let mut cap = 256usize;
    for _ in 0..4 {
        let mut buf = vec![0u8; cap];
        let needed = unsafe { import(buf.as_mut_ptr(), cap) };
        if needed < 0 {
            return String::new();
        }
        let needed = needed as usize;
        if needed <= cap {
            buf.truncate(needed);
            return String::from_utf8_lossy(&buf).into_owned();
        }
        cap = needed;
    }
    String::new()
}

/// The module instance. A wasm32-unknown-unknown instance is single-threaded and
/// the host never calls an export from inside an import, so there is never more
/// than one reference alive.
struct Slot(UnsafeCell<Option<Box<dyn DynModule>>>);
unsafe impl Sync for Slot {}
static INSTANCE: Slot = Slot(UnsafeCell::new(None));

fn instance() -> Option<&'static mut Box<dyn DynModule>> {
    unsafe { (*INSTANCE.0.get()).as_mut() }
}

/// `hearsay_alloc`: a buffer of `len` bytes for the host to write the next call's
/// input into. 0 on failure; a dangling non-zero pointer for `len == 0`.
pub fn alloc(len: i32) -> i32 {
    if len < 0 {
        return 0;
    }
    if len == 0 {
        return 1;
    }
    match Layout::from_size_align(len as usize, 1) {
        Ok(layout) => unsafe { std::alloc::alloc(layout) as usize as i32 },
        Err(_) => 0,
    }
}

/// Takes ownership of a buffer from `alloc`; it is freed when the returned `Vec`
/// drops (at the end of the export call).
fn take_input(ptr: i32, len: i32) -> Vec<u8> {
    if len <= 0 || ptr == 0 {
        return Vec::new();
    }
    // `alloc` used the global allocator with layout (len, 1): exactly what a
    // `Vec<u8>` of capacity `len` owns.
    unsafe { Vec::from_raw_parts(ptr as usize as *mut u8, len as usize, len as usize) }
}

fn reply(bytes: &[u8]) {
    unsafe { imports::hearsay_reply(bytes.as_ptr(), bytes.len()) }
}

/// `hearsay_init`.
pub fn init<M: Module + 'static, H: Host + Default>(params_ptr: i32, params_len: i32) -> i32 {
    let params = take_input(params_ptr, params_len);
    let mut host = H::default();
    unsafe { *INSTANCE.0.get() = None };
    let params = match std::str::from_utf8(&params) {
        Ok(p) => p,
        Err(_) => {
            host.log(Level::Error, "init: params are not UTF-8");
            return 1;
        }
    };
    match M::init(params, &mut host) {
        Ok(module) => {
            unsafe { *INSTANCE.0.get() = Some(Box::new(module)) };
            0
        }
        Err(reason) => {
            host.log(Level::Error, &format!("init failed: {}", reason));
            1
        }
    }
}

/// `hearsay_tick`.
pub fn tick<H: Host + Default>(now_ms: i64) {
    if let Some(m) = instance() {
        m.tick(now_ms as u64, &mut H::default());
    }
}

/// `hearsay_receive`. A `from` that isn't UTF-8 can't be a peer address: dropped.
pub fn receive<H: Host + Default>(from_ptr: i32, from_len: i32, payload_ptr: i32, payload_len: i32) {
    let from = take_input(from_ptr, from_len);
    let payload = take_input(payload_ptr, payload_len);
    if let (Some(m), Ok(from)) = (instance(), std::str::from_utf8(&from)) {
        m.receive(from, &payload, &mut H::default());
    }
}

/// `hearsay_query`: always replies exactly once.
pub fn query<H: Host + Default>(args_ptr: i32, args_len: i32) {
    let args = take_input(args_ptr, args_len);
    let args = String::from_utf8_lossy(&args);
    match instance() {
        Some(m) => reply(m.query(&args, &mut H::default()).as_bytes()),
        None => reply(b"{\"error\":\"module not initialised\"}"),
    }
}

/// `hearsay_command` (v2): always replies exactly once.
pub fn command<H: Host + Default>(args_ptr: i32, args_len: i32) {
    let args = take_input(args_ptr, args_len);
    let args = String::from_utf8_lossy(&args);
    match instance() {
        Some(m) => reply(m.command(&args, &mut H::default()).as_bytes()),
        None => reply(b"{\"error\":\"module not initialised\"}"),
    }
}

/// `hearsay_leave` (v2).
pub fn leave<H: Host + Default>() {
    if let Some(m) = instance() {
        m.leave(&mut H::default());
    }
}

/// `hearsay_export_state`: replies with the state, or not at all.
pub fn export_state() {
    if let Some(state) = instance().and_then(|m| m.export_state()) {
        reply(&state);
    }
}

/// `hearsay_import_state`: 0 when accepted.
pub fn import_state<H: Host + Default>(ptr: i32, len: i32) -> i32 {
    let state = take_input(ptr, len);
    let accepted = match instance() {
        Some(m) => m.import_state(&state, &mut H::default()),
        None => false,
    };
    if accepted {
        0
    } else {
        1
    }
}
