/**
 * Flashing the emulated Raspberry Pi Pico (`emu:pico`) as a real one is flashed: Dapdeck's RP2040
 * algorithm (firmware-samples/flash-rp2040) runs on the emulated core, finds the boot ROM's flash
 * functions through the table at 0x14/0x18 by their two-letter codes (RP2040 datasheet 2.8.3) and
 * erases and programs the W25Q16JV model through the SSI. Nothing else can change that flash:
 * debugger writes to XIP are ignored, so every erase and page program the flash model records was
 * sent by code on the core.
 *
 * Over the v2 bulk and the v1 HID probe models: an ELF (built here from the ELF layout), the same
 * bytes as Intel HEX (written by binutils' objcopy), a BIN and UF2 files (written by the `uf2` npm
 * package) flash, verify and read back as the image; a second flash skips what is unchanged and
 * erases only the sector that changed; a flash cell that no longer programs is caught by verify
 * (the flash is never reported good); a UF2 for another family is refused.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DebugSession } from '../../core/arm/session';
import { loadImage, uf2FamiliesOfChip } from '../../core/elf';
import type { FlashImage } from '../../core/elf/image';
import { flashRegions, type FlashReport } from '../../core/flash/flasher';
import type { PicoCore0, PicoEmulator } from '../../core/sim/pico';
import { openProbe, type OpenedProbe } from '../../main/probe/registry';
import { resolveChip } from '../../main/targets';
import { dapdeck } from '../support/cli';
import { buildElf } from '../support/elf-builder';
import { ensureSampleFirmware } from '../../main/firmware';
import { expectHelloBootsOnPico } from '../support/pico';
import { uf2FromImage } from '../support/uf2';

const XIP = 0x10000000;
const SECTOR = 4096;
const RP2040_FAMILY = 0xe48bff56;
const NRF52_FAMILY = 0x1b57745f;

/** Two pieces of firmware-like bytes: 10.5 KiB from the start of flash, 768 bytes across a sector boundary. */
const PIECES = [
  { address: XIP, length: 0x2a00 },
  { address: XIP + 0x3f00, length: 0x300 },
];
const bytesAt = (address: number, length: number, salt = 0) => Uint8Array.from({ length }, (_, i) => (((address + i) * 131 + 7 + salt) ^ ((address + i) >>> 8)) & 0xff);

const dir = mkdtempSync(join(tmpdir(), 'dapdeck-pico-flash-'));
const chip = resolveChip('RP2040');
const rp2040 = { name: 'RP2040', families: uf2FamiliesOfChip('RP2040') };

function elfImage(salt = 0): { file: string; image: FlashImage } {
  const file = join(dir, `image-${salt}.elf`);
  const segments = PIECES.map((p) => ({ vaddr: p.address, paddr: p.address, data: bytesAt(p.address, p.length, salt) }));
  writeFileSync(file, buildElf({ entry: XIP + 0x101, segments, sections: segments.map((s, i) => ({ name: `.text${i}`, address: s.vaddr, data: s.data, flags: 6 })) }));
  return { file, image: loadImage(readFileSync(file), file, { chip: rp2040 }) };
}

/** Flash contents as the debugger reads them through XIP. */
async function readBack(session: DebugSession, image: FlashImage): Promise<void> {
  for (const c of image.chunks) expect(Buffer.from(await session.ap.readMemory(c.address, c.data.length)), `0x${c.address.toString(16)}`).toEqual(Buffer.from(c.data));
}

describe.each(['v2-bulk', 'v1-hid'] as const)('flashing emu:pico through its boot ROM over the %s probe model', (flavour) => {
  let probe: OpenedProbe;
  let session: DebugSession;
  let pico: PicoEmulator;
  const flash = (image: FlashImage): Promise<FlashReport> => flashRegions(session, chip.regions, image, { ram: chip.ram, verify: true });
  const operations = () => pico.flash.operations.splice(0).map((o) => `${o.kind} ${(o.address & ~(SECTOR - 1)).toString(16)}`);

  beforeAll(async () => {
    ensureSampleFirmware('bootrom', 'rp2040');
    ensureSampleFirmware('flash-rp2040', 'rp2040');
    probe = await openProbe('emu:pico', { flavour });
    session = await DebugSession.open(probe.transport, { responseTimeoutMs: 3000, haltTimeoutMs: 3000 });
    pico = (probe.target as PicoCore0).chip;
  });

  afterAll(async () => {
    await session?.close();
    await probe?.close();
  });

  it('flashes an ELF into the blank flash, verifies it and reads it back; the ROM left XIP on', async () => {
    const { image } = elfImage();
    pico.flash.operations.length = 0;
    const report = await flash(image);
    expect(report).toMatchObject({ verified: true, verifyMethod: 'crc', sectorsTouched: 5, sectorsBlank: 5, sectorsErased: 0 });
    // 256-byte page programs only where the image has bytes (each 4 KiB call is split by the ROM).
    const pages = operations();
    expect(pages.every((o) => o.startsWith('program '))).toBe(true);
    expect(pages.length).toBe(report.bytesProgrammed / 256);
    await readBack(session, image);
    // UnInit ended with flash_enter_cmd_xip: the SSI is in EEPROM-read (XIP) mode with the 03h command.
    const ctrlr0 = await session.ap.read32(0x18000000);
    const spiCtrlr0 = await session.ap.read32(0x180000f4);
    expect((ctrlr0 >>> 8) & 3).toBe(3);
    expect(spiCtrlr0 >>> 24).toBe(0x03);
  }, 120_000);

  it('the same bytes as an objcopy HEX: every sector skipped, nothing erased or programmed', async () => {
    const { file, image } = elfImage();
    const bin = join(dir, 'flash.bin');
    const hex = join(dir, 'image.hex');
    // A HEX nobody here wrote: binutils from the flash contents between the pieces' ends.
    const end = PIECES[1].address + PIECES[1].length;
    writeFileSync(bin, image.bytes(XIP, end - XIP, 0xff));
    execFileSync('objcopy', ['-I', 'binary', '-O', 'ihex', '--change-addresses', `0x${XIP.toString(16)}`, bin, hex]);
    expect(file).toMatch(/\.elf$/);
    const report = await flash(loadImage(readFileSync(hex), hex, { chip: rp2040 }));
    expect(report).toMatchObject({ verified: true, sectorsTouched: 5, sectorsSkipped: 5, sectorsErased: 0, pagesProgrammed: 0 });
    expect(operations()).toEqual([]);
  }, 120_000);

  it('a BIN with one byte changed: only its sector is erased and programmed again', async () => {
    const { image } = elfImage();
    const raw = new Uint8Array(0x2a00);
    raw.set(image.chunks.find((c) => c.address === XIP)!.data);
    raw[0x1234] ^= 0x5a;
    const bin = join(dir, 'changed.bin');
    writeFileSync(bin, raw);
    const changed = loadImage(readFileSync(bin), bin, { format: 'bin', base: XIP });
    const report = await flash(changed);
    expect(report).toMatchObject({ verified: true, sectorsTouched: 3, sectorsSkipped: 2, sectorsErased: 1 });
    const ops = operations();
    expect(ops[0]).toBe('erase-4k 1000');
    expect(new Set(ops.slice(1))).toEqual(new Set(['program 1000']));
    await readBack(session, changed);
  }, 120_000);

  it('a UF2 for the RP2040 family flashes and verifies; one for the NRF52 family is refused', async () => {
    const { image } = elfImage();
    const uf2 = join(dir, 'image.uf2');
    writeFileSync(uf2, uf2FromImage(image, RP2040_FAMILY));
    const fromUf2 = loadImage(readFileSync(uf2), uf2, { chip: rp2040 });
    const report = await flash(fromUf2);
    expect(report).toMatchObject({ verified: true, sectorsTouched: 5, sectorsSkipped: 4, sectorsErased: 1 }); // the sector the BIN changed
    await readBack(session, image);
    operations();
    const other = join(dir, 'nrf52.uf2');
    writeFileSync(other, uf2FromImage(image, NRF52_FAMILY));
    expect(() => loadImage(readFileSync(other), other, { chip: rp2040 })).toThrow(`${other}: a UF2 for NRF52 (0x1b57745f), not for RP2040, whose UF2 family is RP2040 (0xe48bff56)`);
  }, 120_000);

  it('a worn flash cell that does not program is caught by verify; the flash is not reported good', async () => {
    const { image } = elfImage(1);
    // A byte whose new value has bit 0 clear: with that bit stuck at 1 the page program leaves it wrong.
    const data = image.chunks[0].data;
    const at = data.findIndex((b, i) => i >= 0x2000 && (b & 1) === 0);
    pico.flash.stuckHigh.set(at, 0x01);
    try {
      await expect(flash(image)).rejects.toThrow(/verify failed: sector 0x10002000\.\.0x10003000 has CRC 0x[0-9a-f]{8}, expected 0x[0-9a-f]{8}/);
    } finally {
      pico.flash.stuckHigh.clear();
    }
    // Flashing again (the cell works again) finds that one sector wrong and rewrites it only.
    operations();
    const report = await flash(image);
    expect(report).toMatchObject({ verified: true, sectorsTouched: 5, sectorsSkipped: 4, sectorsErased: 1 });
    expect(operations()[0]).toBe('erase-4k 2000');
    await readBack(session, image);
  }, 120_000);
});

describe('Dapdeck flashes the hello sample into a blank emu:pico, which then boots it through the ROM and boot2', () => {
  it('flashes and verifies hello-rp2040.elf; after a reset its defmt log streams over RTT', async () => {
    const elf = ensureSampleFirmware('hello', 'rp2040');
    const probe = await openProbe('emu:pico');
    const session = await DebugSession.open(probe.transport, { responseTimeoutMs: 3000, haltTimeoutMs: 3000 });
    try {
      const image = loadImage(readFileSync(elf), elf);
      const report = await flashRegions(session, chip.regions, image, { ram: chip.ram, verify: true });
      expect(report).toMatchObject({ verified: true, sectorsSkipped: 0 });
      await readBack(session, image);
      // The flash starts with the sample's boot2: the ROM checks its CRC and enters it, boot2 sets
      // up XIP and enters the firmware, which logs over RTT.
      await expectHelloBootsOnPico(session, elf);
    } finally {
      await session.close();
      await probe.close();
    }
  }, 120_000);
});

describe('dapdeck flash --probe emu:pico (the CLI)', () => {
  it('detects the RP2040 from its TARGETID, flashes a UF2 and verifies; refuses a UF2 for another family', async () => {
    const { image } = elfImage(2);
    const uf2 = join(dir, 'cli.uf2');
    writeFileSync(uf2, uf2FromImage(image, RP2040_FAMILY));
    const r = await dapdeck('flash', '--probe', 'emu:pico', '--json', uf2);
    expect(r.stderr).toContain('dapdeck: chip RP2040, detected from Cortex-M0+ (armv6m); DP TARGETID 0x01002927 selected by TARGETSEL 0x01002927 → RP2040');
    expect(r.stderr).toMatch(/RP2040: 5 sectors in the image, 0 erased \(5 already blank\), \d+ pages programmed \(\d+ bytes\), verified \(crc\)/);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ chip: 'RP2040', verified: true });
    const other = join(dir, 'cli-nrf52.uf2');
    writeFileSync(other, uf2FromImage(image, NRF52_FAMILY));
    const refused = await dapdeck('flash', '--probe', 'emu:pico', '--chip', 'RP2040', other);
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toMatch(/^dapdeck: error: .*cli-nrf52\.uf2: a UF2 for NRF52 \(0x1b57745f\), not for RP2040/);
  }, 120_000);
});
