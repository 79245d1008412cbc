;; A module ABI v2 example (and test fixture), in WAT so it needs no toolchain:
;; - hearsay_command: reads the node's labels (`labels`), publishes them as an event
;;   of kind `labels` (`emit`) and replies with them; a one-byte command emits an
;;   event with a bad kind (dropped and counted by the host);
;; - hearsay_query: `{"ok":true}`, changing nothing;
;; - hearsay_receive: every payload becomes a `received` event;
;; - hearsay_leave: says "bye" to its bootstrap peer (one, or none).
(module
  (import "hearsay" "send" (func $send (param i32 i32 i32 i32)))
  (import "hearsay" "reply" (func $reply (param i32 i32)))
  (import "hearsay" "emit" (func $emit (param i32 i32 i32 i32)))
  (import "hearsay" "labels" (func $labels (param i32 i32) (result i32)))
  (import "hearsay" "bootstrap_peers" (func $peers (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\22ok\22:true}")
  (data (i32.const 32) "labels")
  (data (i32.const 40) "received")
  (data (i32.const 48) "\22bye\22")
  (data (i32.const 56) "Bad Kind!")
  (global $bump (mut i32) (i32.const 8192))
  (func (export "hearsay_abi_version") (result i32) i32.const 2)
  (func (export "hearsay_alloc") (param $n i32) (result i32) (local $p i32)
    global.get $bump local.set $p
    global.get $bump local.get $n i32.add global.set $bump
    local.get $p)
  (func (export "hearsay_init") (param i32 i32) (result i32) i32.const 0)
  (func (export "hearsay_tick") (param i64))
  (func (export "hearsay_receive") (param $fp i32) (param $fl i32) (param $pp i32) (param $pl i32)
    (call $emit (i32.const 40) (i32.const 8) (local.get $pp) (local.get $pl))
    i32.const 8192 global.set $bump)
  (func (export "hearsay_query") (param i32 i32)
    (call $reply (i32.const 16) (i32.const 11))
    i32.const 8192 global.set $bump)
  (func (export "hearsay_command") (param $p i32) (param $l i32) (local $n i32)
    (if (i32.eq (local.get $l) (i32.const 1))
      (then
        (call $emit (i32.const 56) (i32.const 9) (i32.const 0) (i32.const 0))
        (i32.const 8192) (global.set $bump)
        (return)))
    (local.set $n (call $labels (i32.const 1024) (i32.const 4096)))
    (call $emit (i32.const 32) (i32.const 6) (i32.const 1024) (local.get $n))
    (call $reply (i32.const 1024) (local.get $n))
    i32.const 8192 global.set $bump)
  (func (export "hearsay_leave") (local $n i32)
    (local.set $n (call $peers (i32.const 6144) (i32.const 1024)))
    (if (i32.gt_s (local.get $n) (i32.const 0))
      (then (call $send (i32.const 6144) (local.get $n) (i32.const 48) (i32.const 5)))))
)
