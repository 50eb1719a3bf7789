#!/usr/bin/env bash
# Everything a fresh Debian 12 machine (as root) needs before the demo or the tests: Debian packages
# (QEMU, Debian's rustc and friends for the sample firmware) and the npm packages from the lockfile.
# Idempotent and quiet when there is nothing to do.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-deps.sh

# The Electron binary cannot be downloaded here (and the CLI/tests do not need it).
export ELECTRON_SKIP_BINARY_DOWNLOAD=1
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi
