/**
 * Flashing real firmware onto the emulated micro:bit through the strict probe model, with the
 * project's own nRF51 flash algorithm running on the emulated CPU (QEMU models the NVMC).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DebugSession } from '../../core/arm/session';
import { SimulatedProbe } from '../../core/sim/cmsis-dap-probe';
import { algorithmFromFlm, type FlashAlgorithm } from '../../core/flash/algorithm';
import { eraseFlash, flashImage, FlashError } from '../../core/flash/flasher';
import { loadImage } from '../../core/elf';
import { FlashImage } from '../../core/elf/image';
import { RttSession } from '../../core/rtt/session';
import { readChannelText } from '../support/rtt';
import { QemuTarget } from '../../main/emu/qemu-target';
import { firmwarePath } from '../support/firmware';

const RAM = { start: 0x20000000, size: 16 * 1024 };

/** The image with the byte at `address` XOR-ed, as a rebuilt firmware with one changed function would differ. */
function patched(image: FlashImage, address: number, xor: number): FlashImage {
  const chunks = image.chunks.map((c) => {
    if (address < c.address || address >= c.address + c.data.length) return c;
    const data = Uint8Array.from(c.data);
    data[address - c.address] ^= xor;
    return { ...c, data };
  });
  return new FlashImage(`${image.name} (patched at 0x${address.toString(16)})`, chunks);
}

describe('flashing hello onto a blank emulated micro:bit', () => {
  let target: QemuTarget;
  let session: DebugSession;
  let algorithm: FlashAlgorithm;
  let image: FlashImage;

  beforeAll(async () => {
    target = await QemuTarget.start({ board: 'microbit' });
    const probe = new SimulatedProbe({ flavour: 'v2-bulk', target });
    session = await DebugSession.open(probe.transport, { responseTimeoutMs: 3000, haltTimeoutMs: 1000 });
    const flm = firmwarePath('flash-nrf51', 'microbit');
    algorithm = algorithmFromFlm(readFileSync(flm), flm);
    const elf = firmwarePath('hello', 'microbit');
    image = loadImage(readFileSync(elf), elf);
  });

  afterAll(async () => {
    await session?.close();
    await target?.close();
  });

  it('programs, verifies, and the firmware runs after reset', async () => {
    const phases = new Set<string>();
    const report = await flashImage(session, algorithm, image, { ram: RAM, onProgress: (p) => phases.add(p.phase) });
    expect(report.verified).toBe(true);
    expect(report.verifyMethod).toBe('crc');
    expect(report.sectorsSkipped).toBe(0);
    // A factory-fresh nRF51 reads erased (0xFF): the algorithm's BlankCheck finds nothing to erase.
    expect(report.sectorsBlank).toBe(report.sectorsTouched);
    expect(report.sectorsErased).toBe(0);
    expect(report.pagesProgrammed).toBeGreaterThan(0);
    expect([...phases]).toEqual(['plan', 'erase', 'program', 'verify']);
    // Flash holds the image (read over the bus, which the model allows for flash).
    for (const chunk of image.chunks) {
      expect(Buffer.from(await session.ap.readMemory(chunk.address, chunk.data.length))).toEqual(Buffer.from(chunk.data));
    }

    await session.core.reset({ halt: false });
    const deadline = Date.now() + 5000;
    // Scanned as the product scans: RAM may still hold copies of the image's "SEGGER RTT" string
    // (the flash algorithm's page buffers) until the firmware has set its block up.
    const rtt = await RttSession.attach(session.ap, { scan: [RAM], timeoutMs: 5000 });
    expect(rtt.block.up[1].name).toBe('Text');
    const text = await readChannelText(rtt, 1, (t) => t.includes('#2\n'), deadline);
    expect(text).toMatch(/^hello from dapdeck #1\nhello from dapdeck #2\n/);
  });

  it('skips every sector when flashing the same image again', async () => {
    const report = await flashImage(session, algorithm, image, { ram: RAM });
    expect(report.sectorsSkipped).toBe(report.sectorsTouched);
    expect(report.sectorsErased).toBe(0);
    expect(report.pagesProgrammed).toBe(0);
  });

  it('reprograms only the sector that changed', async () => {
    // Change one byte inside the image's second sector (as a changed function would).
    const changed = patched(image, 0x410, 0xff);
    const report = await flashImage(session, algorithm, changed, { ram: RAM });
    expect(report.sectorsErased).toBe(1);
    expect(report.sectorsSkipped).toBe(report.sectorsTouched - 1);
    expect(report.pagesProgrammed).toBe(1);
    expect(report.verified).toBe(true);
    const original = (await session.ap.readMemory(0x410, 1))[0];
    expect(original).toBe(changed.chunks[1].data[0x410 - 0xc0]);
    // And back to the original.
    const back = await flashImage(session, algorithm, image, { ram: RAM });
    expect(back.sectorsErased).toBe(1);
  });

  it('catches a byte corrupted after programming', async () => {
    const changed = patched(image, 0x20, 0x55); // forces sector 0 to be reprogrammed
    const value = changed.chunks[0].data[0x40];
    let corrupted = false;
    const attempt = flashImage(session, algorithm, changed, {
      ram: RAM,
      onProgress: (p) => {
        if (p.phase === 'verify' && p.done === 0 && !corrupted) {
          corrupted = true;
          // A flipped bit in flash that programming did not put there (QEMU's stub writes flash directly).
          void target.backdoorWrite(0x40, Uint8Array.of(value ^ 0x01));
        }
      },
    });
    await expect(attempt).rejects.toThrow(FlashError);
    await expect(attempt).rejects.toThrow(/verify failed: sector 0x00000000\.\.0x00000400 has CRC 0x[0-9a-f]{8}, expected 0x[0-9a-f]{8}/);
  });

  it('after a chip erase, finds the flash blank on the target and programs without erasing', async () => {
    // The board holds hello by now; ERASEALL (run on the emulated CPU) erases it to 0xFF, then the
    // algorithm's own BlankCheck (run on the emulated CPU) must report every touched sector blank.
    await eraseFlash(session, algorithm, { ram: RAM });
    expect(Array.from(await session.ap.readMemory(0, 8))).toEqual(new Array(8).fill(0xff));
    const report = await flashImage(session, algorithm, image, { ram: RAM });
    expect(report).toMatchObject({ sectorsBlank: report.sectorsTouched, sectorsErased: 0, chipErase: false, verified: true, verifyMethod: 'crc' });
    for (const chunk of image.chunks) {
      expect(Buffer.from(await session.ap.readMemory(chunk.address, chunk.data.length))).toEqual(Buffer.from(chunk.data));
    }
  });

  it('refuses an image outside flash, naming file, segment and addresses', async () => {
    const outside = new FlashImage('app.elf', [{ address: 0x3ff00, data: new Uint8Array(0x200), source: 'segment 2' }]);
    await expect(flashImage(session, algorithm, outside, { ram: RAM })).rejects.toThrow(
      /app\.elf: segment 2 has bytes at 0x00040000\.\.0x00040100, outside every flash region \(flash-nrf51-microbit flash 0x00000000\.\.0x00040000\)/,
    );
  });
});

describe('a flash algorithm that faults', () => {
  it('is reported with the exception the core is in, not only as a timeout', async () => {
    // EraseSector's first instruction replaced by UDF: on the Cortex-M0 that escalates to HardFault,
    // as an algorithm touching a peripheral another chip does not have would on silicon. The board
    // holds hello, so sector 0 is not blank and must be erased.
    const target = await QemuTarget.start({ board: 'microbit', elf: firmwarePath('hello', 'microbit') });
    try {
      const probe = new SimulatedProbe({ flavour: 'v2-bulk', target });
      const session = await DebugSession.open(probe.transport, { responseTimeoutMs: 3000, haltTimeoutMs: 1000 });
      const flm = firmwarePath('flash-nrf51', 'microbit');
      const good = algorithmFromFlm(readFileSync(flm), flm);
      const blob = Uint8Array.from(good.blob);
      blob.set([0x00, 0xde], good.pcEraseSector); // udf #0
      const broken = { ...good, blob };
      const image = new FlashImage('app.bin', [{ address: 0, data: new Uint8Array(1024).fill(0x11), source: 'binary' }]);
      const attempt = flashImage(session, broken, image, { ram: RAM, chipErase: false, skipUnchanged: false });
      await expect(attempt).rejects.toThrow(FlashError);
      await expect(attempt).rejects.toThrow(/^flash algorithm EraseSector\(0x00000000\) (did not return: the core took HardFault, whose vector led to the return trap|did not return within \d+ ms \(core halted at pc 0x[0-9a-f]{8}, in HardFault|stopped at 0x[0-9a-f]{8} instead of returning \(crashed or faulted, in HardFault) — is the algorithm for this chip\?/);
      await session.close();
    } finally {
      await target.close();
    }
  }, 30_000);
});
