;; hostile: memory spread over many memories and a table. Each extra memory is 64 MiB
;; (1024 pages) — within a per-memory limit of 64 MiB — and there are eight of them,
;; plus a table of a million entries. A host that limits each memory alone lets one
;; instance hold 512 MiB; hearsay counts all memories and tables of an instance
;; against its memory budget and refuses to start it.
(module
  (import "hearsay" "send" (func $send (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (memory $m1 1024) (memory $m2 1024) (memory $m3 1024) (memory $m4 1024)
  (memory $m5 1024) (memory $m6 1024) (memory $m7 1024) (memory $m8 1024)
  (table 1000000 funcref)
  (global $bump (mut i32) (i32.const 1024))
  (func (export "hearsay_abi_version") (result i32) i32.const 1)
  (func (export "hearsay_alloc") (param $n i32) (result i32) (local $p i32)
    global.get $bump local.set $p
    global.get $bump local.get $n i32.add global.set $bump
    local.get $p)
  (func (export "hearsay_init") (param i32 i32) (result i32)
    ;; touch every extra memory so it is resident, not just reserved
    (i32.store8 $m1 (i32.const 67108000) (i32.const 1))
    (i32.store8 $m8 (i32.const 67108000) (i32.const 1))
    i32.const 0)
  (func (export "hearsay_tick") (param i64))
  (func (export "hearsay_receive") (param i32 i32 i32 i32)
    i32.const 1024 global.set $bump)
  (func (export "hearsay_query") (param i32 i32)
    i32.const 1024 global.set $bump)
)
