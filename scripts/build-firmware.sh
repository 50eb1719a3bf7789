#!/usr/bin/env bash
# Builds the Rust no_std samples offline with Debian's rustc 1.63 (not rustup's, which has no thumb
# targets here): first a sysroot with `core` and `compiler_builtins` per target (cached, keyed by the
# rustc version), then each sample for each board with rustc directly. No cargo, no crates.io.
#
#   scripts/build-firmware.sh [SAMPLE...]     (default: every folder in firmware-samples/ with src/main.rs)
# Outputs .cache/firmware/SAMPLE-BOARD.elf, rebuilt only when the sample's or common sources changed.
set -euo pipefail
cd "$(dirname "$0")/.."

RUSTC=/usr/bin/rustc
export RUSTC_BOOTSTRAP=1
[ -x "$RUSTC" ] || { echo "build-firmware: $RUSTC missing — run scripts/install-system-deps.sh" >&2; exit 1; }
version=$("$RUSTC" --version | awk '{print $2}')
sysroot=".cache/sysroot/$version"
out=.cache/firmware
mkdir -p "$out"

build_sysroot() {
  local target=$1 lib="$sysroot/lib/rustlib/$1/lib"
  [ -f "$lib/.done" ] && return 0
  mkdir -p "$lib"
  local core_src builtins_src extra=()
  core_src=$(ls -d /usr/src/rustc-*/library/core | head -n1)
  builtins_src=$(ls -d /usr/share/cargo/registry/compiler_builtins-* | head -n1)
  [ "$target" = thumbv6m-none-eabi ] && extra=(--cfg thumb_1)
  "$RUSTC" --edition 2021 --crate-name core --crate-type rlib --target "$target" \
    -C opt-level=s -C panic=abort -C debuginfo=1 -Z force-unstable-if-unmarked \
    --out-dir "$lib" "$core_src/src/lib.rs" 2> "$lib/core.log" || { cat "$lib/core.log" >&2; return 1; }
  "$RUSTC" --edition 2015 --crate-name compiler_builtins --crate-type rlib --target "$target" \
    -C opt-level=s -C panic=abort -C codegen-units=1000 -Z force-unstable-if-unmarked \
    --cfg 'feature="compiler-builtins"' --cfg 'feature="mem"' --cfg 'feature="unstable"' --cfg thumb "${extra[@]}" \
    --sysroot "$sysroot" --out-dir "$lib" "$builtins_src/src/lib.rs" 2> "$lib/builtins.log" || { cat "$lib/builtins.log" >&2; return 1; }
  touch "$lib/.done"
}

if [ ! -f "$sysroot/lib/rustlib/thumbv6m-none-eabi/lib/.done" ] || [ ! -f "$sysroot/lib/rustlib/thumbv7m-none-eabi/lib/.done" ]; then
  echo "build-firmware: building the rustc $version sysroot for thumbv6m/thumbv7m (once, ~1 min)"
  build_sysroot thumbv6m-none-eabi & a=$!
  build_sysroot thumbv7m-none-eabi & b=$!
  wait $a && wait $b
fi

# The samples' defmt log macros: a proc-macro crate built for the host by the same rustc.
macros_src=firmware-samples/common/defmt-macros/lib.rs
macros="$sysroot/host/libdefmt_macros.so"
if [ ! -f "$macros" ] || [ "$macros_src" -nt "$macros" ]; then
  mkdir -p "$sysroot/host"
  "$RUSTC" --edition 2018 --crate-name defmt_macros --crate-type proc-macro -C opt-level=1 \
    -o "$macros" "$macros_src"
fi

# The Pico samples link boot2's 256-byte block (firmware-samples/boot2, padded and checksummed by
# scripts/pad-boot2.ts) at the start of flash: rt.rs includes it from this file.
boot2_bin="$PWD/$out/boot2-rp2040.bin"

board_target() { case $1 in microbit | rp2040) echo thumbv6m-none-eabi ;; lm3s6965evb) echo thumbv7m-none-eabi ;; esac; }

samples=("$@")
if [ ${#samples[@]} -eq 0 ]; then
  for d in firmware-samples/*/src/main.rs; do samples+=("$(basename "$(dirname "$(dirname "$d")")")"); done
fi

for sample in "${samples[@]}"; do
  src="firmware-samples/$sample"
  [ -f "$src/src/main.rs" ] || { echo "build-firmware: no sample $sample ($src/src/main.rs)" >&2; exit 1; }
  boards=(microbit lm3s6965evb)
  # A sample may be for some boards only (a flash algorithm is chip-specific) and bring its own
  # linker script (the .FLM layout) instead of the shared board one.
  [ -f "$src/boards" ] && read -r -a boards < "$src/boards"
  # A sample may also come in variants built from the same source with extra rustc flags: each line
  # of its `variants` file is "NAME FLAG..." and gives .cache/firmware/SAMPLE-NAME-BOARD.elf.
  builds=("")
  if [ -f "$src/variants" ]; then
    while read -r name flags; do [ -n "$name" ] && builds+=("$name $flags"); done < "$src/variants"
  fi
  for board in "${boards[@]}"; do
   for build in "${builds[@]}"; do
    read -r variant flags <<< "$build" || true
    elf="$out/$sample${variant:+-$variant}-$board.elf"
    deps=("$src" firmware-samples/common scripts/build-firmware.sh)
    if [ "$board" = rp2040 ] && [ "$sample" != boot2 ]; then
      [ -f "$boot2_bin" ] || bash "$PWD/scripts/build-firmware.sh" boot2
      deps+=("$boot2_bin")
    fi
    [ "$sample" = boot2 ] && deps+=(scripts/pad-boot2.ts core/flash/boot2.ts core/flash/crc32.ts)
    if [ -f "$elf" ] && [ -z "$(find "${deps[@]}" -newer "$elf" -type f 2>/dev/null | head -n1)" ] \
      && { [ "$sample" != boot2 ] || [ "$boot2_bin" -nt "$elf" ]; }; then
      continue
    fi
    target=$(board_target "$board")
    script="firmware-samples/common/$board.x"
    [ -f "$src/link.x" ] && script="$src/link.x"
    # Extra rustc flags a sample asks for (e.g. --cfg own_panic_handler), one line.
    extra_flags=()
    [ -f "$src/rustflags" ] && read -r -a extra_flags < "$src/rustflags"
    # shellcheck disable=SC2086 # the variant's flags are words
    DAPDECK_BOOT2="$boot2_bin" "$RUSTC" --edition 2018 --crate-type bin --crate-name "${sample//-/_}" --target "$target" --sysroot "$sysroot" \
      -C opt-level=s -C panic=abort -C debuginfo=2 -C codegen-units=1 \
      -C linker=rust-lld -C linker-flavor=ld.lld \
      -C link-arg=-T"$script" -C link-arg=-Map="${elf%.elf}.map" \
      --extern defmt_macros="$macros" \
      --cfg "board=\"$board\"" "${extra_flags[@]}" $flags -o "$elf" "$src/src/main.rs"
    if [ "$sample" = boot2 ]; then
      node_modules/.bin/tsx scripts/pad-boot2.ts "$elf" "$boot2_bin"
      echo "build-firmware: $boot2_bin (252 bytes of code + CRC32)"
    fi
    echo "build-firmware: $elf ($(stat -c %s "$elf") bytes)"
   done
  done
done
