/**
 * The CMSIS flash-algorithm contract on the emulated micro:bit, with an algorithm that behaves as
 * vendors' do: the nRF51 NVMC mode is set only in Init(adr, clk, fnc) — erase-enable for fnc 1,
 * write-enable for fnc 2 — so a host must call Init with each phase's code (and UnInit after it).
 * The chip comes from a target file in probe-rs's tagged form, with a second region (UICR) that a
 * second algorithm programs in the same run.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DebugSession } from '../../core/arm/session';
import { SimulatedProbe } from '../../core/sim/cmsis-dap-probe';
import { algorithmFromFlm, type FlashAlgorithm } from '../../core/flash/algorithm';
import { flashRegions, FNC_ERASE } from '../../core/flash/flasher';
import { AlgorithmRunner } from '../../core/flash/runner';
import { CoreReg } from '../../core/arm/registers';
import { loadImage } from '../../core/elf';
import { FlashImage } from '../../core/elf/image';
import { QemuTarget } from '../../main/emu/qemu-target';
import { resolveChip } from '../../main/targets';
import { firmwarePath } from '../support/firmware';
import { targetFileYaml } from '../support/target-files';

const RAM = { start: 0x20000000, size: 16 * 1024 };
const UICR = { start: 0x10001000, end: 0x10001100 };

function flm(variant?: string): FlashAlgorithm {
  const path = firmwarePath('flash-nrf51', 'microbit', variant);
  return algorithmFromFlm(readFileSync(path), path);
}

describe('a vendor-style flash algorithm (NVMC mode set in Init by fnc)', () => {
  let target: QemuTarget;
  let session: DebugSession;
  let vendor: FlashAlgorithm;
  let targetFile: string;

  beforeAll(async () => {
    target = await QemuTarget.start({ board: 'microbit' });
    const probe = new SimulatedProbe({ flavour: 'v2-bulk', target });
    session = await DebugSession.open(probe.transport, { responseTimeoutMs: 3000, haltTimeoutMs: 1000 });
    vendor = flm('vendor-style');
    targetFile = join(mkdtempSync(join(tmpdir(), 'dapdeck-vendor-')), 'nrf51-vendor.yaml');
    writeFileSync(
      targetFile,
      targetFileYaml(
        'nRF51 Series (vendor-style test)',
        [{ name: 'nRF51822_xxAA', flash: { start: 0, end: 0x40000 }, extraNvm: [{ ...UICR, name: 'UICR' }], algorithms: ['nrf51-vendor', 'nrf51-vendor-uicr'] }],
        [
          { algorithm: vendor, name: 'nrf51-vendor', default: true, stackSize: 768 },
          { algorithm: vendor, name: 'nrf51-vendor-uicr', range: UICR },
        ],
      ),
    );
  });

  afterAll(async () => {
    await session?.close();
    await target?.close();
  });

  it('flashes an image touching main flash and UICR in one run, each region by its own algorithm, and verifies both', async () => {
    const resolved = resolveChip('nRF51822_xxAA', { targetFiles: [targetFile] });
    expect(resolved.notice).toMatch(/nRF51822_xxAA: using the description from your target file/);
    expect(resolved.regions.map((r) => [r.region.name, r.algorithm.name, r.algorithm.flash.start, r.algorithm.flash.size])).toEqual([
      [undefined, 'nrf51-vendor', 0, 0x40000],
      ['UICR', 'nrf51-vendor-uicr', 0x10001000, 0x100],
    ]);
    const elf = firmwarePath('hello', 'microbit');
    const hello = loadImage(readFileSync(elf), elf);
    const customer = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i); // UICR.CUSTOMER[0..3]
    const image = new FlashImage('hello+uicr', [...hello.chunks, { address: 0x10001080, data: customer, source: 'UICR record' }]);
    const report = await flashRegions(session, resolved.regions, image, { ram: resolved.ram });
    expect(report.verified).toBe(true);
    expect(report.regions.map((r) => [r.name, r.report.verified, r.report.verifyMethod])).toEqual([
      ['nrf51-vendor', true, 'read-back'],
      ['UICR', true, 'read-back'],
    ]);
    for (const chunk of image.chunks) {
      expect(Buffer.from(await session.ap.readMemory(chunk.address, chunk.data.length))).toEqual(Buffer.from(chunk.data));
    }
    // Again, after a system reset: the UICR survives it as on the chip (the emulated board keeps it
    // across QEMU's reset, which would refill it with 0xFF), so both regions are unchanged and skipped.
    await session.core.reset({ halt: true });
    expect(Buffer.from(await session.ap.readMemory(0x10001080, 16))).toEqual(Buffer.from(customer));
    const again = await flashRegions(session, resolved.regions, image, { ram: resolved.ram });
    expect(again.regions.map((r) => [r.name, r.report.sectorsTouched, r.report.sectorsSkipped, r.report.pagesProgrammed, r.report.verified])).toEqual([
      ['nrf51-vendor', report.regions[0].report.sectorsTouched, report.regions[0].report.sectorsTouched, 0, true],
      ['UICR', 1, 1, 0, true],
    ]);
    expect(Buffer.from(await session.ap.readMemory(0x10001080, 16))).toEqual(Buffer.from(customer));
  }, 60_000);

  it('programs nothing when Init(…, 1) opens every phase, as Dapdeck used to call it; the mode-per-call algorithm did not care', async () => {
    const page = 0x3fc00;
    const data = Uint8Array.from({ length: 1024 }, (_, i) => (i * 7) & 0xff);
    const oldSequence = async (algorithm: FlashAlgorithm) => {
      await session.core.reset({ halt: true });
      const runner = new AlgorithmRunner(session, algorithm, RAM);
      await runner.load();
      try {
        expect(await runner.call(algorithm.pcInit!, [0, 0, FNC_ERASE], 'Init', 1000)).toBe(0);
        expect(await runner.call(algorithm.pcEraseSector, [page], 'EraseSector', 3000)).toBe(0);
        await session.ap.writeMemory(runner.placement.buffers[0], data);
        expect(await runner.call(algorithm.pcProgramPage, [page, data.length, runner.placement.buffers[0]], 'ProgramPage', 1000)).toBe(0);
        expect(await runner.call(algorithm.pcUninit!, [FNC_ERASE], 'UnInit', 1000)).toBe(0);
      } finally {
        await runner.unload();
      }
      return session.ap.readMemory(page, data.length);
    };
    // Vendor-style: the erase happened (erase was enabled), the write silently did not.
    expect(Buffer.from(await oldSequence(vendor))).toEqual(Buffer.alloc(1024, 0xff));
    expect(Buffer.from(await oldSequence(flm()))).toEqual(Buffer.from(data));
  }, 60_000);

  it('returns through a BKPT the host put in RAM after the code (as CMSIS hosts do), with no FPB comparator set', async () => {
    await session.core.reset({ halt: true });
    const runner = new AlgorithmRunner(session, vendor, RAM);
    await runner.load();
    try {
      const trap = runner.placement.trap;
      expect(trap).toBeGreaterThanOrEqual(runner.placement.base + vendor.blob.length);
      expect(trap + 4).toBeLessThanOrEqual(runner.placement.stackTop - (vendor.stackSize ?? 512));
      // BKPT #0 (0xBE00), then B . (0xE7FE), little-endian.
      expect([...(await session.ap.readMemory(trap, 4))]).toEqual([0x00, 0xbe, 0xfe, 0xe7]);
      await session.core.haltCause(); // clears DFSR
      expect(await runner.call(vendor.pcInit!, [0, 0, FNC_ERASE], 'Init', 1000)).toBe(0);
      expect(await session.core.readCoreRegister(CoreReg.pc)).toBe(trap);
      expect(await session.core.haltCause()).toBe('breakpoint'); // DFSR.BKPT
      for (let i = 0; i < 4; i++) expect(await session.ap.read32(0xe0002008 + 4 * i)).toBe(0); // FP_COMP0..3 unused
      expect(await runner.call(vendor.pcUninit!, [FNC_ERASE], 'UnInit', 1000)).toBe(0);
    } finally {
      await runner.unload();
    }
  }, 60_000);
});
