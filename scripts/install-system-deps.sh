#!/usr/bin/env bash
# Debian packages the project needs on its machines: QEMU for the emulated boards, and Debian's own
# rustc 1.63 with the core sources and compiler_builtins so the sample firmware builds offline;
# Chromium (driven by playwright-core) for the browser tests; peer host tools nobody here wrote (OpenOCD,
# pyOCD, gdb-multiarch) that the tests drive against the virtual bench; binutils' objcopy writes the
# Intel HEX files the image loader is checked against.
# Does nothing (one line) when everything is already there.
set -euo pipefail

packages=(qemu-system-arm rustc rust-src librust-compiler-builtins-dev "librust-compiler-builtins+core-dev" lld-14 chromium fonts-dejavu-core openocd python3-pyocd python3-crcmod gcc gdb-multiarch binutils libxml2-utils)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system deps: all present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "system deps: missing ${missing[*]} — run this script as root (apt-get install)" >&2
  exit 1
fi
echo "system deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
