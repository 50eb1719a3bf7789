/**
 * Flashing 128 KiB on the emulated Pico (`emu:pico`: rp2040js running Dapdeck's RP2040 algorithm,
 * which calls Dapdeck's boot ROM, which drives the W25Q16JV model through the SSI) over the v2 bulk
 * probe model at a 10 MHz SWD clock, with the emulator paced by the probe model's modeled clock, so
 * every figure is modeled and the same on any machine.
 *
 * Each row gives the modeled time, the flash chip's own erase + program time (the sum of the busy
 * times the flash model charged, at the datasheet's typical figures), the wire's own time (every
 * image byte over SWD and USB, nothing else), the slowest of those two physical bounds, and the
 * ratio of the modeled time to it (goal ≤ 1.2 over v2). Rows: v2 over a previous build; v2 again
 * with the chip already holding the image (all skipped: planning costs only); v1 HID over a
 * previous build, where 1 ms USB frames are the slowest bound.
 */
import { readFileSync } from 'node:fs';
import { DebugSession } from '../core/arm/session';
import { FlashImage } from '../core/elf/image';
import { flashRegions } from '../core/flash/flasher';
import { PicoEmulator } from '../core/sim/pico';
import { picoRomImage } from '../core/sim/pico-rom-image';
import { rp2040Probe } from '../core/sim/rp2040-bench';
import { SWD_TRANSFER_CLOCKS, usbSecondsFor, type ProbeFlavour } from '../core/sim/wire-model';
import { ensureSampleFirmware } from '../main/firmware';
import { resolveChip } from '../main/targets';

const XIP = 0x10000000;
const SIZE = 128 * 1024;
const CLOCK = 10_000_000;

export async function benchPico(): Promise<object[]> {
  return [await flashRow('v2-bulk'), await flashRow('v2-bulk', { again: true }), await flashRow('v1-hid')];
}

/** The wire's own time for the image: one 46-clock SWD write per word, or its bytes over USB if slower. */
function wireSeconds(flavour: ProbeFlavour): number {
  return Math.max(((SIZE / 4) * SWD_TRANSFER_CLOCKS) / CLOCK, usbSecondsFor(flavour, SIZE));
}

/** One flash of the 128 KiB image; `again`: the chip already holds it (every sector is skipped). */
async function flashRow(flavour: ProbeFlavour, options: { again?: boolean } = {}): Promise<object> {
  const romElf = ensureSampleFirmware('bootrom', 'rp2040');
  ensureSampleFirmware('flash-rp2040', 'rp2040');
  const pico = new PicoEmulator({ bootrom: picoRomImage(readFileSync(romElf), romElf), pacing: 'modeled' });
  const data = Uint8Array.from({ length: SIZE }, (_, i) => (i * 13 + (i >> 10) * 7) & 0xff);
  // A previous build in the same sectors: every sector needs its erase, every page its program.
  pico.loadFlash(XIP, options.again ? data : Uint8Array.from({ length: SIZE }, (_, i) => (i * 31 + 5) & 0xff));
  const probe = rp2040Probe(pico, { flavour });
  const session = await DebugSession.open(probe.transport, { clockHz: CLOCK, haltTimeoutMs: 5000 });
  const { regions, ram } = resolveChip('RP2040');
  try {
    probe.resetStats();
    pico.flash.operations.length = 0;
    const report = await flashRegions(session, regions, new FlashImage('bench.bin', [{ address: XIP, data, source: 'binary' }]), { ram, verify: true });
    const modeled = probe.stats.modeledSeconds;
    const ops = pico.flash.operations;
    const chipSeconds = ops.reduce((t, o) => t + o.seconds, 0);
    const wire = wireSeconds(flavour);
    const bound = Math.max(chipSeconds, wire);
    const back = await session.ap.readMemory(XIP, SIZE);
    return {
      bench: 'pico-flash',
      flavour,
      chip: options.again ? 'holds the image' : 'previous build',
      swdClockHz: CLOCK,
      bytes: SIZE,
      modeledSeconds: +modeled.toFixed(4),
      kibPerSecond: +(SIZE / 1024 / modeled).toFixed(1),
      sectorsSkipped: report.sectorsSkipped,
      sectorErases: ops.filter((o) => o.kind === 'erase-4k').length,
      pagePrograms: ops.filter((o) => o.kind === 'program').length,
      chipSeconds: +chipSeconds.toFixed(4),
      /** Share of the modeled time the flash chip itself was erasing or programming. */
      chipShare: +(chipSeconds / modeled).toFixed(3),
      // With nothing to write there is no physical bound to hold the run to: the row shows what
      // finding that out costs (a blank check and the sectors' CRCs on the core).
      ...(options.again ? {} : { wireSeconds: +wire.toFixed(4), boundSeconds: +bound.toFixed(4), overBound: +(modeled / bound).toFixed(3) }),
      algorithmCalls: report.algorithmCalls,
      packets: probe.stats.packetsOut,
      verified: report.verified,
      correct: report.verified && back.every((b, i) => b === data[i]),
    };
  } finally {
    await session.close();
    pico.close();
  }
}
