/**
 * The emulated Pico's pacing and its wait for a busy flash: with `pacing: 'modeled'` the core runs
 * up to the probe model's modeled clock, so a flash through Dapdeck's ROM takes the same modeled
 * time on every run and never less than the flash chip's own busy time; and code polling the busy
 * flash lets emulated time pass instead of executing every poll (a 4 KiB sector erase is 45 ms,
 * 5.6 million cycles of the 125 MHz core, of status reads).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DebugSession } from '../../../core/arm/session';
import { FlashImage } from '../../../core/elf/image';
import { flashRegions } from '../../../core/flash/flasher';
import { PicoEmulator, type PicoPacing } from '../../../core/sim/pico';
import { picoRomImage } from '../../../core/sim/pico-rom-image';
import { rp2040Probe } from '../../../core/sim/rp2040-bench';
import { W25Q16JV_TIMING } from '../../../core/sim/qspi-flash';
import { ensureSampleFirmware } from '../../../main/firmware';
import { resolveChip } from '../../../main/targets';

const XIP = 0x10000000;

/** Flash 8 KiB over a previous build (2 sector erases, 32 page programs) on a fresh emulator. */
async function flashOnce(pacing: PicoPacing) {
  const romElf = ensureSampleFirmware('bootrom', 'rp2040');
  ensureSampleFirmware('flash-rp2040', 'rp2040');
  const pico = new PicoEmulator({ bootrom: picoRomImage(readFileSync(romElf), romElf), pacing });
  pico.loadFlash(XIP, new Uint8Array(8192).fill(0x5a));
  const probe = rp2040Probe(pico, { flavour: 'v2-bulk' });
  const session = await DebugSession.open(probe.transport, { clockHz: 10_000_000, haltTimeoutMs: 5000 });
  try {
    const data = Uint8Array.from({ length: 8192 }, (_, i) => (i * 7) & 0xff);
    const { regions, ram } = resolveChip('RP2040');
    probe.resetStats();
    const before = pico.core0.instructions;
    const report = await flashRegions(session, regions, new FlashImage('t.bin', [{ address: XIP, data, source: 'binary' }]), { ram, verify: true });
    const chipSeconds = pico.flash.operations.reduce((t, o) => t + o.seconds, 0);
    return { report, modeled: probe.stats.modeledSeconds, chipSeconds, instructions: pico.core0.instructions - before, kinds: pico.flash.operations.map((o) => o.kind) };
  } finally {
    await session.close();
    pico.close();
  }
}

describe('emu:pico pacing', () => {
  it('paced by the probe model: the same modeled time on every run, never less than the flash chip was busy', async () => {
    const a = await flashOnce('modeled');
    const b = await flashOnce('modeled');
    expect(a.report).toMatchObject({ verified: true, sectorsErased: 2 });
    expect(a.kinds.filter((k) => k === 'erase-4k')).toHaveLength(2);
    expect(a.chipSeconds).toBeCloseTo(2 * W25Q16JV_TIMING.sectorEraseSeconds + 32 * W25Q16JV_TIMING.pageProgramSeconds, 9);
    expect(b.modeled).toBe(a.modeled);
    expect(b.instructions).toBe(a.instructions);
    expect(a.modeled).toBeGreaterThan(a.chipSeconds);
  }, 60_000);

  it('a busy flash is waited out without executing the polls, paced either way', async () => {
    for (const pacing of ['modeled', 'wall'] as const) {
      const r = await flashOnce(pacing);
      expect(r.report.verified).toBe(true);
      // 90 ms of erases and 12.8 ms of page programs would be ~12.9 million cycles of polling.
      expect(r.instructions, pacing).toBeLessThan(1_500_000);
    }
  }, 60_000);
});
