#!/usr/bin/env bash
# The whole test suite, from a fresh machine: install, build the sample firmware and the web app,
# then typecheck, lint, unit + integration + browser tests (QEMU and Chromium ones included: they
# fail, never skip, without them), and the Electron bundle. Browser screenshots: test-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/build-firmware.sh

echo "== typecheck"; npx tsc -p tsconfig.json --noEmit
echo "== lint"; npx eslint --max-warnings=0 .
echo "== unit + integration + browser tests"; npx vitest run
echo "== electron bundle"; npx electron-vite build >/dev/null && echo "electron-vite build ok"
