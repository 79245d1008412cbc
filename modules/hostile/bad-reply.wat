;; hostile: a query answer outside memory. Its hearsay_query calls reply with a range
;; that runs past the end of its memory. The query gets an error; the instance, and
;; its gossip, live on (before, one such query killed the module).
(module
  (import "hearsay" "reply" (func $reply (param i32 i32)))
  (import "hearsay" "send" (func $send (param i32 i32 i32 i32)))
  (import "hearsay" "bootstrap_peers" (func $peers (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))
  (global $queries (mut i32) (i32.const 0))
  (func (export "hearsay_abi_version") (result i32) i32.const 1)
  (func (export "hearsay_alloc") (param $n i32) (result i32) (local $p i32)
    global.get $bump local.set $p
    global.get $bump local.get $n i32.add global.set $bump
    local.get $p)
  (func (export "hearsay_init") (param i32 i32) (result i32) i32.const 0)
  (func (export "hearsay_tick") (param i64)
    i32.const 1024 global.set $bump)
  (func (export "hearsay_receive") (param i32 i32 i32 i32)
    i32.const 1024 global.set $bump)
  (func (export "hearsay_query") (param i32 i32)
    global.get $queries i32.const 1 i32.add global.set $queries
    ;; 64 KiB of memory; the range starts 16 bytes before its end and is 4 KiB long
    i32.const 65520 i32.const 4096 call $reply
    i32.const 1024 global.set $bump)
)
