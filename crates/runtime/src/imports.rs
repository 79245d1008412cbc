//! The `hearsay` imports of module ABI v1 (docs/module-abi.md), as host functions.
//! Every pointer and length from the guest is bounds-checked; a bad one traps the call.

use wasmtime::{Caller, Linker};

use crate::state::{HostState, LogLine};
use crate::ModuleError;

/// Longest peer address a guest may name.
const MAX_ADDR_BYTES: usize = 256;

/// Copies `len` bytes at `ptr` out of the guest's memory.
fn read(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
    let memory = caller
        .data()
        .memory
        .ok_or_else(|| wasmtime::Error::msg("module has no memory"))?;
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    memory
        .data(&caller)
        .get(ptr..ptr.saturating_add(len))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| wasmtime::Error::msg("pointer out of bounds"))
}

/// Writes `bytes` at `ptr` in the guest's memory.
fn write(caller: &mut Caller<'_, HostState>, ptr: i32, bytes: &[u8]) -> wasmtime::Result<()> {
    let memory = caller
        .data()
        .memory
        .ok_or_else(|| wasmtime::Error::msg("module has no memory"))?;
    let ptr = ptr as u32 as usize;
    memory
        .data_mut(caller)
        .get_mut(ptr..ptr + bytes.len())
        .ok_or_else(|| wasmtime::Error::msg("pointer out of bounds"))?
        .copy_from_slice(bytes);
    Ok(())
}

/// The `(ptr, cap) -> needed` convention of `bootstrap_peers` and `self_addr`.
fn write_text(caller: &mut Caller<'_, HostState>, text: String, ptr: i32, cap: i32) -> wasmtime::Result<i32> {
    if text.len() <= cap.max(0) as usize {
        write(caller, ptr, text.as_bytes())?;
    }
    Ok(text.len() as i32)
}

/// Registers every import on the linker.
pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "hearsay",
        "send",
        |mut caller: Caller<'_, HostState>,
         to_ptr: i32,
         to_len: i32,
         ptr: i32,
         len: i32|
         -> wasmtime::Result<()> {
            let limits = &caller.data().limits;
            let (max_sends, max_payload) = (limits.max_sends_per_call, limits.max_payload_bytes);
            if caller.data().effects.sends.len() >= max_sends {
                caller.data_mut().host_fault = Some(ModuleError::Flood(max_sends));
                return Err(wasmtime::Error::msg("flood"));
            }
            if to_len as u32 as usize > MAX_ADDR_BYTES || len as u32 as usize > max_payload {
                caller.data_mut().effects.dropped_sends += 1;
                return Ok(());
            }
            let to = read(&mut caller, to_ptr, to_len)?;
            let payload = read(&mut caller, ptr, len)?;
            match String::from_utf8(to) {
                Ok(to) => caller.data_mut().effects.sends.push((to, payload)),
                Err(_) => caller.data_mut().effects.dropped_sends += 1,
            }
            Ok(())
        },
    )?;
    linker.func_wrap("hearsay", "now_ms", |caller: Caller<'_, HostState>| -> i64 {
        caller.data().now_ms as i64
    })?;
    linker.func_wrap(
        "hearsay",
        "random",
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let len = (len as u32 as usize).min(1 << 16);
            let mut buf = vec![0u8; len];
            caller.data_mut().fill_random(&mut buf);
            write(&mut caller, ptr, &buf)
        },
    )?;
    linker.func_wrap(
        "hearsay",
        "log",
        |mut caller: Caller<'_, HostState>, level: i32, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let limits = caller.data().limits.clone();
            if caller.data().effects.logs.len() >= limits.max_logs_per_call {
                return Ok(());
            }
            let len = (len.max(0) as usize).min(limits.max_log_bytes) as i32;
            let bytes = read(&mut caller, ptr, len)?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            caller.data_mut().effects.logs.push(LogLine { level, text });
            Ok(())
        },
    )?;
    linker.func_wrap(
        "hearsay",
        "bootstrap_peers",
        |mut caller: Caller<'_, HostState>, ptr: i32, cap: i32| -> wasmtime::Result<i32> {
            let text = caller.data().bootstrap.clone();
            write_text(&mut caller, text, ptr, cap)
        },
    )?;
    linker.func_wrap(
        "hearsay",
        "self_addr",
        |mut caller: Caller<'_, HostState>, ptr: i32, cap: i32| -> wasmtime::Result<i32> {
            let text = caller.data().self_addr.clone();
            write_text(&mut caller, text, ptr, cap)
        },
    )?;
    linker.func_wrap(
        "hearsay",
        "reply",
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            if caller.data().reply_open && caller.data().reply.is_none() {
                let bytes = read(&mut caller, ptr, len)?;
                caller.data_mut().reply = Some(bytes);
            }
            Ok(())
        },
    )?;
    Ok(())
}

/// Names and arities of the imports, for checking a module before instantiating it.
pub(crate) const IMPORTS: [(&str, usize, usize); 7] = [
    ("send", 4, 0),
    ("now_ms", 0, 1),
    ("random", 2, 0),
    ("log", 3, 0),
    ("bootstrap_peers", 2, 1),
    ("self_addr", 2, 1),
    ("reply", 2, 0),
];
