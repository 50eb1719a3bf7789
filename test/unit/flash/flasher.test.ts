/**
 * Flashing on the in-process model with the nRF51 algorithm emulated (NOR semantics, datasheet
 * timings): planning, partial sectors, skipping, and every failure ending without a "success".
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DebugSession } from '../../../core/arm/session';
import { parseTargetYaml, type FlashAlgorithm } from '../../../core/flash/algorithm';
import { flashImage, FlashError, type FlashOptions } from '../../../core/flash/flasher';
import { FlashImage } from '../../../core/elf/image';
import { SimulatedProbe } from '../../../core/sim/cmsis-dap-probe';
import { emulateFlashAlgorithm } from '../../../core/sim/flash-emulator';
import { MemoryTarget } from '../../../core/sim/memory-target';

const TARGET_FILE = resolve(__dirname, '../../../core/flash/targets/nrf51.yaml');
const ALGORITHM = parseTargetYaml(readFileSync(TARGET_FILE, 'utf8'), TARGET_FILE).algorithms[0];
const RAM = { start: 0x20000000, size: 0x4000 };

async function bench(algorithm: FlashAlgorithm = ALGORITHM) {
  const target = new MemoryTarget('cortex-m0');
  emulateFlashAlgorithm(target, algorithm);
  const probe = new SimulatedProbe({ flavour: 'v2-bulk', target });
  const session = await DebugSession.open(probe.transport, { responseTimeoutMs: 300 });
  return { target, probe, session };
}

function image(address: number, length: number, seed = 1): FlashImage {
  return new FlashImage('app.elf', [{ address, data: Uint8Array.from({ length }, (_, i) => (i * 7 + seed + (i >> 9)) & 0xff), source: 'segment 1' }]);
}

describe('flashing on the in-process model', () => {
  it('programs an image, keeps the rest of a partial sector, then skips it all the next time', async () => {
    const { target, session } = await bench();
    target.loadFlash(0, new Uint8Array(0x2000).fill(0xa5)); // the previous firmware, incl. the partial sector
    const img = image(0x0, 0x1d00); // 7 full sectors + 256 bytes of the 8th
    const first = await flashImage(session, ALGORITHM, img, { ram: RAM });
    // Every touched sector changes and the rest of the chip is blank: one chip erase loses nothing.
    expect(first).toMatchObject({ sectorsTouched: 8, sectorsSkipped: 0, sectorsBlank: 0, chipErase: true, sectorsErased: 0, verified: true, verifyMethod: 'crc' });
    expect(Buffer.from(target.flash.subarray(0, 0x1d00))).toEqual(Buffer.from(img.chunks[0].data));
    expect(target.flash.subarray(0x1d00, 0x2000).every((b) => b === 0xa5)).toBe(true);
    const again = await flashImage(session, ALGORITHM, img, { ram: RAM });
    expect(again).toMatchObject({ sectorsSkipped: 8, sectorsErased: 0, pagesProgrammed: 0, verified: true });
    // Init, one BlankCheck of the run, one CRC call for all eight sectors, UnInit: not a call per sector.
    expect(again.algorithmCalls).toBe(4);
    // Without the several-sector routine it is a CRC call per sector.
    const single = await flashImage(session, { ...ALGORITHM, pcCrc32Sectors: undefined }, img, { ram: RAM });
    expect(single).toMatchObject({ sectorsSkipped: 8, algorithmCalls: 11 });
  });

  it('erases sector by sector when other sectors hold data', async () => {
    const { target, session } = await bench();
    target.loadFlash(0, new Uint8Array(0x1000).fill(0x5a)); // the previous firmware
    target.loadFlash(0x8000, Uint8Array.of(1, 2, 3, 4)); // someone else's data (settings, bootloader…)
    const report = await flashImage(session, ALGORITHM, image(0, 0x1000), { ram: RAM });
    expect(report).toMatchObject({ chipErase: false, sectorsErased: 4, sectorsBlank: 0, verified: true });
    expect(Array.from(target.flash.subarray(0x8000, 0x8004))).toEqual([1, 2, 3, 4]);
    const forced = await flashImage(session, ALGORITHM, image(0, 0x1000, 2), { ram: RAM, chipErase: false });
    expect(forced.chipErase).toBe(false);
  });

  it('programs blank sectors without erasing them (BlankCheck on the target)', async () => {
    const { target, session } = await bench();
    target.loadFlash(0x8000, Uint8Array.of(1, 2, 3, 4));
    const img = image(0, 0x1000);
    const report = await flashImage(session, ALGORITHM, img, { ram: RAM });
    // Four 1 KiB sectors in one 4 KiB ProgramPage call (the algorithm's page).
    expect(report).toMatchObject({ chipErase: false, sectorsErased: 0, sectorsBlank: 4, sectorsSkipped: 0, pagesProgrammed: 1, verified: true });
    expect(Buffer.from(target.flash.subarray(0, 0x1000))).toEqual(Buffer.from(img.chunks[0].data));
    expect(Array.from(target.flash.subarray(0x8000, 0x8004))).toEqual([1, 2, 3, 4]);
    // A bigger image over it, with stale data in one new sector: the run is not blank, so each
    // sector's CRC decides — unchanged ones are skipped, erased ones (blank CRC) are programmed
    // without an erase, and only the stale one is erased.
    target.loadFlash(0x1000, new Uint8Array(0x400).fill(0x11));
    const grown = await flashImage(session, ALGORITHM, image(0, 0x2000), { ram: RAM });
    // The four sectors of 0x1000..0x1fff (one erased, three blank) go in one 4 KiB ProgramPage call.
    expect(grown).toMatchObject({ sectorsTouched: 8, sectorsBlank: 3, sectorsSkipped: 4, chipErase: false, sectorsErased: 1, pagesProgrammed: 1, verified: true });
    expect(Buffer.from(target.flash.subarray(0, 0x2000))).toEqual(Buffer.from(image(0, 0x2000).chunks[0].data));
  });

  it('does not program pages that are all erased bytes', async () => {
    const { target, session } = await bench();
    target.loadFlash(0x4000, new Uint8Array(0x800).fill(0x33)); // old contents in both sectors
    const data = new Uint8Array(0x800).fill(0xff);
    data[0x10] = 1;
    const report = await flashImage(session, ALGORITHM, new FlashImage('sparse.bin', [{ address: 0x4000, data, source: 'binary' }]), { ram: RAM });
    // The second sector is all 0xFF in the image: erased, nothing programmed into it.
    expect(report).toMatchObject({ sectorsTouched: 2, sectorsSkipped: 0, pagesProgrammed: 1, verified: true });
    expect(target.flash.subarray(0x4400, 0x4800).every((b) => b === 0xff)).toBe(true);
    // On blank flash the all-0xFF sector needs nothing at all: skipped, not even erased.
    const fresh = await bench();
    const again = await flashImage(fresh.session, ALGORITHM, new FlashImage('sparse.bin', [{ address: 0x4000, data, source: 'binary' }]), { ram: RAM });
    expect(again).toMatchObject({ sectorsTouched: 2, sectorsBlank: 2, sectorsSkipped: 1, sectorsErased: 0, pagesProgrammed: 1, verified: true });
  });

  it('reads back instead when the algorithm has no CRC routine', async () => {
    const plain = { ...ALGORITHM, pcCrc32: undefined, pcCrc32Sectors: undefined };
    const { target, session } = await bench(plain);
    const report = await flashImage(session, plain, image(0x400, 0x400), { ram: RAM });
    expect(report.verifyMethod).toBe('read-back');
    expect(target.flash[0x400]).toBe(1);
  });

  const failures: [string, (ctx: Awaited<ReturnType<typeof bench>>) => void, RegExp][] = [
    ['a FAULT ack', ({ probe }) => probe.faults.faultOnNextApAccess(), /SWD FAULT ack .* CTRL\/STAT had STICKYERR, cleared; sectors that may be partly written: 0x/],
    ['WAIT acks beyond the retry count', ({ probe }) => probe.faults.waitOnNextApAccesses(100_000), /SWD WAIT ack .*; sectors that may be partly written: 0x/],
    ['an unplugged probe', ({ probe }) => probe.faults.unplugAfterPackets(2), /probe disconnected: NotFoundError.*; sectors that may be partly written: 0x/],
    ['a lost USB response', ({ probe }) => probe.faults.dropNextResponse(), /no response from the probe .* within 300 ms.*; sectors that may be partly written: 0x/],
  ];
  for (const [what, inject, message] of failures) {
    it(`ends with a clear error and no success on ${what} mid-program`, async () => {
      const ctx = await bench();
      let injected = false;
      const options: FlashOptions = {
        ram: RAM,
        onProgress: (p) => {
          if (p.phase === 'program' && p.done > 0 && !injected) {
            injected = true;
            inject(ctx);
          }
        },
      };
      const outcome = await flashImage(ctx.session, ALGORITHM, image(0, 0x2000), options).then(
        (report) => ({ report }),
        (error: Error) => ({ error }),
      );
      expect(injected).toBe(true);
      expect('report' in outcome).toBe(false);
      expect((outcome as { error: Error }).error).toBeInstanceOf(FlashError);
      expect((outcome as { error: Error }).error.message).toMatch(message);
    });
  }

  it('catches flash that does not hold what was programmed', async () => {
    const { target, session } = await bench();
    const attempt = flashImage(session, ALGORITHM, image(0, 0x800), {
      ram: RAM,
      onProgress: (p) => {
        if (p.phase === 'verify' && p.done === 0) target.flash[0x123] ^= 0x10; // a bit that did not stick
      },
    });
    await expect(attempt).rejects.toThrow(/verify failed: sector 0x00000000\.\.0x00000400 has CRC 0x[0-9a-f]{8}, expected 0x[0-9a-f]{8}/);
  });

  it('cancels between pages, leaving the target halted and naming the sectors at risk', async () => {
    const { session } = await bench();
    const abort = new AbortController();
    const attempt = flashImage(session, ALGORITHM, image(0, 0x3000), {
      ram: RAM,
      signal: abort.signal,
      onProgress: (p) => {
        if (p.phase === 'program' && p.done >= 0x800) abort.abort();
      },
    });
    await expect(attempt).rejects.toThrow(/^flash cancelled during programming; the target is halted; sectors that may be partly written: 0x00000000, 0x00000400/);
    expect(await session.core.isHalted()).toBe(true);
  });

  it('times out a flash algorithm that never returns', async () => {
    const broken = { ...ALGORITHM, pcProgramPage: 0x2, flash: { ...ALGORITHM.flash, programPageTimeoutMs: 20 } };
    const { session } = await bench(); // the chip runs the real algorithm; the host calls a wrong entry
    await expect(flashImage(session, broken, image(0, 0x400), { ram: RAM })).rejects.toThrow(/flash algorithm ProgramPage\(0x00000000\) did not return within 80 ms/);
  });

  it('refuses an algorithm that does not fit in RAM', async () => {
    const { session } = await bench();
    await expect(flashImage(session, ALGORITHM, image(0, 0x400), { ram: { start: 0x20000000, size: 0x800 } })).rejects.toThrow(/does not fit in RAM 0x20000000\.\.0x20000800/);
  });
});
