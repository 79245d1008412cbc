//! The `hearsay` imports of module ABI v1 and v2 (docs/module-abi.md), as host
//! functions: v2 adds `emit` (publish an event), `labels` (the node's labels) and
//! `node_info` (its uptime and running modules).
//! Every pointer and length from the guest is bounds-checked; a bad one traps the call.

use wasmtime::{Caller, Linker};

use crate::limits::{MAX_EVENT_BYTES, MAX_EVENT_KIND, SEND_FUEL};
use crate::state::{escape_log_text, HostState, LogLine, ModuleEvent};
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

/// Takes `cost` units of the call's fuel for work the host does on the module's
/// behalf. When the call has less left, it is cut off as if the guest had burnt it.
fn charge_fuel(caller: &mut Caller<'_, HostState>, cost: u64) -> wasmtime::Result<()> {
    let left = caller.get_fuel()?;
    caller.set_fuel(left.saturating_sub(cost))?;
    if left < cost {
        return Err(wasmtime::Trap::OutOfFuel.into());
    }
    Ok(())
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
            if caller.data().sends_in_call >= max_sends {
                caller.data_mut().host_fault = Some(ModuleError::Flood(max_sends));
                return Err(wasmtime::Error::msg("flood"));
            }
            caller.data_mut().sends_in_call += 1;
            let len_bytes = len as u32 as usize;
            charge_fuel(&mut caller, SEND_FUEL + len_bytes as u64 / 16)?;
            if to_len as u32 as usize > MAX_ADDR_BYTES || len_bytes > max_payload {
                caller.data_mut().effects.dropped_sends += 1;
                return Ok(());
            }
            // Over the budget: dropped before anything is copied.
            if !caller.data_mut().admit_send(len_bytes) {
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
            if !caller.data_mut().admit_log() {
                return Ok(());
            }
            let max = caller.data().limits.max_log_bytes;
            let len = (len.max(0) as usize).min(max) as i32;
            let bytes = read(&mut caller, ptr, len)?;
            let text = escape_log_text(&String::from_utf8_lossy(&bytes));
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
        "emit",
        |mut caller: Caller<'_, HostState>,
         kind_ptr: i32,
         kind_len: i32,
         ptr: i32,
         len: i32|
         -> wasmtime::Result<()> {
            let (kind_len, len) = (kind_len as u32 as usize, len as u32 as usize);
            charge_fuel(&mut caller, SEND_FUEL + len as u64 / 16)?;
            if kind_len == 0 || kind_len > MAX_EVENT_KIND || len > MAX_EVENT_BYTES {
                caller.data_mut().usage.events_dropped += 1;
                return Ok(());
            }
            if !caller.data_mut().admit_event() {
                return Ok(());
            }
            let kind = read(&mut caller, kind_ptr, kind_len as i32)?;
            let data = read(&mut caller, ptr, len as i32)?;
            let good_kind = kind
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(b));
            match String::from_utf8(kind) {
                Ok(kind) if good_kind => caller.data_mut().effects.events.push(ModuleEvent { kind, data }),
                _ => caller.data_mut().usage.events_dropped += 1,
            }
            Ok(())
        },
    )?;
    linker.func_wrap(
        "hearsay",
        "labels",
        |mut caller: Caller<'_, HostState>, ptr: i32, cap: i32| -> wasmtime::Result<i32> {
            let text = caller.data().labels.clone();
            write_text(&mut caller, text, ptr, cap)
        },
    )?;
    linker.func_wrap(
        "hearsay",
        "node_info",
        |mut caller: Caller<'_, HostState>, ptr: i32, cap: i32| -> wasmtime::Result<i32> {
            let state = caller.data();
            let text = format!(
                "{{\"uptime_ms\":{},\"modules\":{}}}",
                state.now_ms.saturating_sub(state.node_started_ms),
                state.node_modules
            );
            write_text(&mut caller, text, ptr, cap)
        },
    )?;
    linker.func_wrap(
        "hearsay",
        "reply",
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let Some(limit) = caller.data().reply_limit else {
                return Ok(());
            };
            if caller.data().reply.is_some() || caller.data().reply_fault.is_some() {
                return Ok(());
            }
            // A bad reply spoils the answer, not the instance: an API caller must not
            // be able to kill a module by asking it something.
            let fault = if len as u32 as usize > limit {
                Some(format!(
                    "the reply of {} bytes is over the limit of {limit}",
                    len as u32
                ))
            } else {
                match read(&mut caller, ptr, len) {
                    Ok(bytes) => {
                        caller.data_mut().reply = Some(bytes);
                        None
                    }
                    Err(_) => Some("the reply's range is outside the module's memory".to_string()),
                }
            };
            caller.data_mut().reply_fault = fault;
            Ok(())
        },
    )?;
    Ok(())
}

/// Names and arities of the imports, for checking a module before instantiating it.
pub(crate) const IMPORTS: [(&str, usize, usize); 10] = [
    ("send", 4, 0),
    ("now_ms", 0, 1),
    ("random", 2, 0),
    ("log", 3, 0),
    ("bootstrap_peers", 2, 1),
    ("self_addr", 2, 1),
    ("reply", 2, 0),
    ("emit", 4, 0),
    ("labels", 2, 1),
    ("node_info", 2, 1),
];
