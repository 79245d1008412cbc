#!/usr/bin/env bash
# build-modules.sh — builds every module in modules/ to wasm32-unknown-unknown,
# reproducibly, into modules/dist/<name>.wasm with modules/dist/SHA256SUMS.
#
#   scripts/build-modules.sh           build and (re)write modules/dist
#   scripts/build-modules.sh --check   rebuild in a temporary directory and fail if
#                                      any module's sha256 differs from the
#                                      committed modules/dist/SHA256SUMS
#
# A module's code version is the sha256 of its wasm, so anyone must be able to
# rebuild the committed bytes from source. What makes that hold: the release
# profile in modules/Cargo.toml (one codegen unit, LTO, strip), a committed
# Cargo.lock used with --locked, no dependencies beyond crates/guest, RUSTFLAGS set
# here (any from the environment are ignored), the same toolchain — and a fixed
# build path. Cargo hashes the absolute path of a path dependency outside the
# workspace (crates/guest) into symbol names, and those names steer code layout,
# so a checkout in another directory would give other bytes. The sources are
# therefore copied to $BUILD_SRC (fixed, under a lock) and built there, and that
# path is remapped to /hearsay so it doesn't show in panic messages either.
#
# Toolchain: a rustup toolchain with the wasm32-unknown-unknown target if one is
# installed, else Debian's (apt-get install -y rustc cargo libstd-rust-dev-wasm32).
# Force one with HEARSAY_WASM_TOOLCHAIN=rustup|debian. Different toolchains give
# different bytes; dist/TOOLCHAIN records which one produced the committed files.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULES="$ROOT/modules"
DIST="$MODULES/dist"
TARGET=wasm32-unknown-unknown
BUILD_SRC=/tmp/hearsay-module-build

die() { echo "build-modules: $*" >&2; exit 1; }

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
  *) die "unknown argument '$1' (expected --check)" ;;
esac

have_rustup_wasm() {
  command -v rustup >/dev/null 2>&1 &&
    rustup target list --installed 2>/dev/null | grep -qx "$TARGET"
}
have_debian_wasm() {
  [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] && [ -d "/usr/lib/rustlib/$TARGET" ]
}

choice="${HEARSAY_WASM_TOOLCHAIN:-}"
if [ -z "$choice" ]; then
  if have_rustup_wasm; then choice=rustup
  elif have_debian_wasm; then choice=debian
  else die "no Rust toolchain with the $TARGET target: install one with 'rustup target add $TARGET' or 'apt-get install -y rustc cargo libstd-rust-dev-wasm32'"
  fi
fi
case "$choice" in
  rustup) have_rustup_wasm || die "rustup has no $TARGET target"
          CARGO=cargo; RUSTC_BIN=rustc ;;
  debian) have_debian_wasm || die "Debian's rustc/cargo/libstd-rust-dev-wasm32 are not installed"
          CARGO=/usr/bin/cargo; RUSTC_BIN=/usr/bin/rustc ;;
  *) die "HEARSAY_WASM_TOOLCHAIN must be 'rustup' or 'debian', not '$choice'" ;;
esac
export RUSTC="$RUSTC_BIN"
toolchain="$("$RUSTC" --version)"

# The module crates: every directory of modules/ with a Cargo.toml. The crate's
# wasm is named after it with '-' turned into '_'.
names=()
for manifest in "$MODULES"/*/Cargo.toml; do
  [ -e "$manifest" ] || continue
  names+=("$(basename "$(dirname "$manifest")")")
done
[ "${#names[@]}" -gt 0 ] || die "no modules found under $MODULES"

# build <target-dir>: copies the sources to $BUILD_SRC and compiles every module
# from there into <target-dir>. Call with the lock held.
build() {
  local target_dir="$1"
  rm -rf "$BUILD_SRC"
  mkdir -p "$BUILD_SRC" || die "cannot create $BUILD_SRC"
  # -p keeps modification times, so cargo's fingerprints in a reused target dir hold.
  (cd "$ROOT" && tar -cf - --exclude=target --exclude=dist crates/guest modules) |
    (cd "$BUILD_SRC" && tar -xpf -) || die "cannot copy sources to $BUILD_SRC"
  (
    cd "$BUILD_SRC/modules"
    unset CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER
    export RUSTFLAGS="--remap-path-prefix=$BUILD_SRC=/hearsay"
    # One package at a time: features resolve per build, so membership can link the
    # heartbeat crate without its wasm exports while heartbeat.wasm keeps them.
    for name in "${names[@]}"; do
      CARGO_TARGET_DIR="$target_dir" CARGO_INCREMENTAL=0 \
        "$CARGO" build --release --target "$TARGET" --offline --locked -p "$name" || exit 1
    done
  ) || die "cargo build failed (toolchain: $toolchain)"
}

# One build at a time may use $BUILD_SRC.
exec 9> "$BUILD_SRC.lock" || die "cannot open $BUILD_SRC.lock"
flock 9 || die "cannot lock $BUILD_SRC.lock"

wasm_of() { echo "$1/$TARGET/release/${2//-/_}.wasm"; }

if [ "$check" = 0 ]; then
  target_dir="$MODULES/target"
  build "$target_dir"
  mkdir -p "$DIST"
  : > "$DIST/SHA256SUMS.tmp"
  for name in "${names[@]}"; do
    wasm="$(wasm_of "$target_dir" "$name")"
    [ -f "$wasm" ] || die "$name: cargo produced no $wasm"
    cp "$wasm" "$DIST/$name.wasm"
    (cd "$DIST" && sha256sum "$name.wasm") >> "$DIST/SHA256SUMS.tmp"
  done
  mv "$DIST/SHA256SUMS.tmp" "$DIST/SHA256SUMS"
  echo "$toolchain" > "$DIST/TOOLCHAIN"
  for name in "${names[@]}"; do
    printf '%s  %s bytes\n' "$(grep " $name.wasm\$" "$DIST/SHA256SUMS")" "$(wc -c < "$DIST/$name.wasm")"
  done
  exit 0
fi

# --check
[ -f "$DIST/SHA256SUMS" ] || die "no $DIST/SHA256SUMS to check against (run without --check first)"
if [ -f "$DIST/TOOLCHAIN" ] && [ "$(cat "$DIST/TOOLCHAIN")" != "$toolchain" ]; then
  echo "build-modules: warning: committed files were built with '$(cat "$DIST/TOOLCHAIN")', checking with '$toolchain'" >&2
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
build "$tmp/target"
failed=0
for name in "${names[@]}"; do
  want="$(awk -v f="$name.wasm" '$2 == f || $2 == "*" f { print $1 }' "$DIST/SHA256SUMS")"
  got="$(sha256sum < "$(wasm_of "$tmp/target" "$name")" | cut -d' ' -f1)"
  if [ -z "$want" ]; then
    echo "MISSING  $name: not in SHA256SUMS (rebuilt sha256 $got)" >&2; failed=1
  elif [ "$want" != "$got" ]; then
    echo "MISMATCH $name: committed $want, rebuilt $got" >&2; failed=1
  else
    echo "ok       $name $got"
  fi
done
while read -r _ file; do
  file="${file#\*}"
  [ -d "$MODULES/${file%.wasm}" ] || { echo "STALE    ${file%.wasm}: in SHA256SUMS but no such module" >&2; failed=1; }
done < "$DIST/SHA256SUMS"
[ "$failed" = 0 ] || die "reproducibility check failed (toolchain: $toolchain)"
echo "all modules reproduce"
