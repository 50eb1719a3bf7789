#!/usr/bin/env bash
# The main job: build the hello sample, boot it on the emulated micro:bit behind the strict CMSIS-DAP
# probe model, connect, identify, and show the firmware's RTT output.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/build-firmware.sh hello

dapdeck() { node bin/dapdeck.cjs "$@"; }
echo "== dapdeck list"; dapdeck list
echo "== dapdeck info --probe emu:microbit"; dapdeck info --probe emu:microbit --stats
echo "== dapdeck rtt read --probe emu:microbit"; dapdeck rtt read --probe emu:microbit --duration 0.5 --stats
