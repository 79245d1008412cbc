//! `export_module!`: turns a `Module` type into the WebAssembly exports of the ABI.

/// Exports a [`Module`](crate::Module) type as this crate's WebAssembly module:
/// `export_module!(MyModule);` once, at the crate root of a `cdylib`.
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
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[no_mangle]
            pub extern "C" fn hearsay_abi_version() -> i32 {
                $crate::ABI_VERSION
            }

            #[no_mangle]
            pub extern "C" fn hearsay_alloc(len: i32) -> i32 {
                $crate::abi::alloc(len)
            }

            #[no_mangle]
            pub extern "C" fn hearsay_init(params_ptr: i32, params_len: i32) -> i32 {
                $crate::abi::init::<$module>(params_ptr, params_len)
            }

            #[no_mangle]
            pub extern "C" fn hearsay_tick(now_ms: i64) {
                $crate::abi::tick(now_ms)
            }

            #[no_mangle]
            pub extern "C" fn hearsay_receive(
                from_ptr: i32,
                from_len: i32,
                payload_ptr: i32,
                payload_len: i32,
            ) {
                $crate::abi::receive(from_ptr, from_len, payload_ptr, payload_len)
            }

            #[no_mangle]
            pub extern "C" fn hearsay_query(args_ptr: i32, args_len: i32) {
                $crate::abi::query(args_ptr, args_len)
            }

            #[no_mangle]
            pub extern "C" fn hearsay_export_state() {
                $crate::abi::export_state()
            }

            #[no_mangle]
            pub extern "C" fn hearsay_import_state(ptr: i32, len: i32) -> i32 {
                $crate::abi::import_state(ptr, len)
            }
        };
    };
}
