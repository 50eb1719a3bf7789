#!/usr/bin/env bash
# The whole test suite, from a fresh machine: install, build the sample firmware, then typecheck,
# lint, unit + integration tests (the QEMU ones included: they fail, never skip, without QEMU),
# and the Electron bundle.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/build-firmware.sh

echo "== typecheck"; npx tsc -p tsconfig.json --noEmit
echo "== lint"; npx eslint --max-warnings=0 .
echo "== unit + integration tests"; npx vitest run
echo "== electron bundle"; npx electron-vite build >/dev/null && echo "electron-vite build ok"
