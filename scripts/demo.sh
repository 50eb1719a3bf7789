#!/usr/bin/env bash
# The main job: build the hello sample and the nRF51 flash algorithm, then on an emulated micro:bit
# (QEMU behind the strict CMSIS-DAP probe model): identify the chip, flash hello through the
# algorithm running on the emulated CPU, verify, reset, and stream the firmware's defmt log, decoded with file:line; then flash the tasks
# sample and show its task/ISR timeline statistics (SystemView over RTT).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/build-firmware.sh hello tasks flash-nrf51

dapdeck() { node bin/dapdeck.cjs "$@"; }
echo "== dapdeck list"
dapdeck list
echo "== dapdeck info --probe emu:microbit"
dapdeck info --probe emu:microbit --stats
echo "== dapdeck run --fresh --probe emu:microbit --chip nRF51822_xxAA hello (a factory-fresh chip: flash, verify, reset, stream defmt logs until tick 5)"
dapdeck run --fresh --probe emu:microbit --chip nRF51822_xxAA .cache/firmware/hello-microbit.elf --until '^tick 5$' --timeout 30 --stats
echo "== dapdeck run --trace … tasks (flash the tasks sample, record SystemView for 2 s: live load table, then per-task/ISR statistics)"
dapdeck run --probe emu:microbit --chip nRF51822_xxAA .cache/firmware/tasks-microbit.elf --trace --trace-out .cache/demo-trace.sv --duration 2 --filter info
echo "== dapdeck trace export … --format perfetto (open .cache/demo-trace.json in ui.perfetto.dev)"
dapdeck trace export .cache/demo-trace.sv --format perfetto --out .cache/demo-trace.json
