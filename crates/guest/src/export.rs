//! `export_module!` and `export_module_v2!`: turn a `Module` type into the
//! WebAssembly exports of module ABI v1 or v2.

/// Exports a [`Module`](crate::Module) type as this crate's WebAssembly module
/// speaking module ABI v1: `export_module!(MyModule);` once, at the crate root of a
/// `cdylib`. Under v1 the host drops [`Host::emit`](crate::Host::emit), answers
/// [`Host::labels`](crate::Host::labels) with `{}`, and never calls
/// [`Module::command`](crate::Module::command) or [`Module::leave`](crate::Module::leave):
/// use [`export_module_v2!`](crate::export_module_v2) for those.
///
/// On wasm32 it generates the `#[no_mangle]` exports of `docs/module-abi.md`
/// (`hearsay_abi_version`, `hearsay_alloc`, `hearsay_init`, `hearsay_tick`,
/// `hearsay_receive`, `hearsay_query`, `hearsay_export_state`,
/// `hearsay_import_state`). On every other target it expands to nothing, so any
/// number of modules link into one native binary (the simulator) without symbol
/// clashes; natively, use [`factory`](crate::factory) instead.
#[macro_export]
macro_rules! export_module {
    ($module:ty) => {
        $crate::__export_abi!($module, $crate::abi::WasmHost, 1);
    };
}

/// Exports a [`Module`](crate::Module) type speaking module ABI v2: v1's exports
/// plus `hearsay_command` and `hearsay_leave`, with a host whose `emit` and `labels`
/// are the v2 imports. Needs a hearsay agent that speaks v2.
#[macro_export]
macro_rules! export_module_v2 {
    ($module:ty) => {
        $crate::__export_abi!($module, $crate::abi::WasmHostV2, 2);
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[no_mangle]
            pub extern "C" fn hearsay_command(args_ptr: i32, args_len: i32) {
                $crate::abi::command::<$crate::abi::WasmHostV2>(args_ptr, args_len)
            }

            #[no_mangle]
            pub extern "C" fn hearsay_leave() {
                $crate::abi::leave::<$crate::abi::WasmHostV2>()
            }
        };
    };
}

/// The exports both ABI versions share, for a given host type and version number.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_abi {
    ($module:ty, $host:ty, $version:expr) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[no_mangle]
            pub extern "C" fn hearsay_abi_version() -> i32 {
                $version
            }

            #[no_mangle]
            pub extern "C" fn hearsay_alloc(len: i32) -> i32 {
                $crate::abi::alloc(len)
            }

            #[no_mangle]
            pub extern "C" fn hearsay_init(params_ptr: i32, params_len: i32) -> i32 {
                $crate::abi::init::<$module, $host>(params_ptr, params_len)
            }

            #[no_mangle]
            pub extern "C" fn hearsay_tick(now_ms: i64) {
                $crate::abi::tick::<$host>(now_ms)
            }

            #[no_mangle]
            pub extern "C" fn hearsay_receive(
                from_ptr: i32,
                from_len: i32,
                payload_ptr: i32,
                payload_len: i32,
            ) {
                $crate::abi::receive::<$host>(from_ptr, from_len, payload_ptr, payload_len)
            }

            #[no_mangle]
            pub extern "C" fn hearsay_query(args_ptr: i32, args_len: i32) {
                $crate::abi::query::<$host>(args_ptr, args_len)
            }

            #[no_mangle]
            pub extern "C" fn hearsay_export_state() {
                $crate::abi::export_state()
            }

            #[no_mangle]
            pub extern "C" fn hearsay_import_state(ptr: i32, len: i32) -> i32 {
                $crate::abi::import_state::<$host>(ptr, len)
            }
        };
    };
}
