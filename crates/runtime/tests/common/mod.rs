//! Test modules written in WebAssembly text: each implements module ABI v1 with a
#![allow(dead_code)] // each test binary uses a different part of this module
//! bump allocator, and one export body chosen by the test (echo, trap, loop, …).

pub mod cluster;

/// The membership module as committed (built by scripts/build-modules.sh).
pub const MEMBERSHIP: &[u8] = include_bytes!("../../../../modules/dist/membership.wasm");

/// A module whose `hearsay_tick` and `hearsay_receive` run the given bodies. Data at
/// offset 0 holds the address "127.0.0.1:7001" (14 bytes).
pub fn wat_module(tick: &str, receive: &str) -> Vec<u8> {
    wat_module_abi(1, tick, receive)
}

/// Like [`wat_module`], claiming ABI version `abi`.
pub fn wat_module_abi(abi: i32, tick: &str, receive: &str) -> Vec<u8> {
    wat_module_with(abi, tick, receive, "")
}

/// Like [`wat_module_abi`], with `more` (further functions, e.g. other exports).
pub fn wat_module_with(abi: i32, tick: &str, receive: &str, more: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
  (import "hearsay" "send" (func $send (param i32 i32 i32 i32)))
  (import "hearsay" "reply" (func $reply (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "127.0.0.1:7001")
  (data (i32.const 16) "{{\"ok\":true}}")
  (global $bump (mut i32) (i32.const 1024))
  (func (export "hearsay_abi_version") (result i32) i32.const {abi})
  (func (export "hearsay_alloc") (param $n i32) (result i32) (local $p i32)
    global.get $bump local.set $p
    global.get $bump local.get $n i32.add global.set $bump
    local.get $p)
  (func (export "hearsay_init") (param i32 i32) (result i32) i32.const 0)
  (func (export "hearsay_tick") (param $now i64) {tick})
  (func (export "hearsay_receive") (param $fp i32) (param $fl i32) (param $pp i32) (param $pl i32)
    {receive}
    i32.const 1024 global.set $bump)
  (func (export "hearsay_query") (param i32 i32)
    i32.const 16 i32.const 11 call $reply
    i32.const 1024 global.set $bump)
  {more}
)"#
    );
    wat::parse_str(text).expect("valid test module")
}

/// Answers every payload by sending it back to its sender.
pub fn echo() -> Vec<u8> {
    wat_module(
        "",
        "local.get $fp local.get $fl local.get $pp local.get $pl call $send",
    )
}
