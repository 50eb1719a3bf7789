/**
 * The emulated Pico's boot path through Dapdeck's boot ROM and boot2 (RP2040 datasheet 2.8.1):
 * a reset starts the core at the ROM's reset vector; the ROM reads boot2 over the SSI into the top
 * of SRAM, checks its CRC32 and enters it; boot2 leaves the SSI in XIP mode (03h reads) and enters
 * the firmware through the vector table at 0x10000100. A boot2 whose checksum does not match
 * leaves the core asleep in the ROM with the firmware never started; a rescue-DP reset sets
 * CHIP_RESET.PSM_RESTART_FLAG (bit 24, write 1 to clear: the Pico SDK's register facts), which the
 * ROM clears before it parks. The checksum itself is checked against the CRC catalogue's
 * CRC-32/MPEG-2 check value and against python3-crcmod (code nobody here wrote).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DebugSession } from '../../../core/arm/session';
import { CoreReg } from '../../../core/arm/registers';
import { PicoEmulator, PSM_RESTART_FLAG } from '../../../core/sim/pico';
import { loadImage } from '../../../core/elf';
import { crc32Mpeg2 } from '../../../core/flash/crc32';
import { boot2Valid, padBoot2 } from '../../../core/flash/boot2';
import { ensureSampleFirmware } from '../../../main/firmware';
import { picoBootRom } from '../../../main/probe/registry';
import { boot2Block } from '../../support/firmware';
import { picoSessions } from '../../support/pico';

const VTOR = 0xe000ed08;
const SSI_CTRLR0 = 0x18000000;
const SSI_SSIENR = 0x18000008;
const SSI_SPI_CTRLR0 = 0x180000f4;
const CHIP_RESET = 0x40064008;
const HAD_PSM_RESTART = 1 << 20;
const BOOT2_RAM = 0x20041f00;
const SRAM = 0x20000000;
const SRAM_SIZE = 264 * 1024;

const word = (b: Uint8Array, o = 0) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const picos = picoSessions();

/** A Pico with the ROM, `image` in its flash (after `patch`), reset and running. */
async function boot(elf: string, patch: (flash: Map<number, Uint8Array>) => void = () => undefined) {
  ensureSampleFirmware('bootrom', 'rp2040');
  const rom = picoBootRom();
  expect(rom).toBeDefined();
  const pico = new PicoEmulator({ bootrom: rom });
  const chunks = new Map(loadImage(readFileSync(elf), elf).chunks.map((c) => [c.address, Uint8Array.from(c.data)]));
  patch(chunks);
  for (const [address, data] of chunks) pico.loadFlash(address, data);
  await pico.core0.reset({ halt: false });
  const session = await picos.open(pico);
  return { pico, session, rom: rom! };
}

async function readWord(session: DebugSession, address: number): Promise<number> {
  return word(await session.ap.readMemory(address, 4));
}

/** Whether "SEGGER RTT" (the control block's ID) is anywhere in SRAM. */
async function rttInSram(session: DebugSession): Promise<boolean> {
  const sram = Buffer.from(await session.ap.readMemory(SRAM, SRAM_SIZE));
  return sram.includes('SEGGER RTT');
}

describe('boot2 checksum', () => {
  it('is CRC-32/MPEG-2: the catalogue check value, and python3-crcmod over the built boot2 and random data', () => {
    expect(crc32Mpeg2(new TextEncoder().encode('123456789'))).toBe(0x0376e6e7);
    const block = boot2Block();
    expect(block.length).toBe(256);
    const random = Uint8Array.from({ length: 1000 }, (_, i) => (i * 131 + 7) ^ (i >> 3));
    const reference = (data: Uint8Array) =>
      Number(execFileSync('/usr/bin/python3', ['-c', 'import sys, crcmod.predefined as p; print(p.mkCrcFun("crc-32-mpeg")(bytes.fromhex(sys.argv[1])))', Buffer.from(data).toString('hex')], { encoding: 'utf8' }));
    expect(crc32Mpeg2(random)).toBe(reference(random));
    // The stored word is the little-endian CRC of the first 252 bytes, as the ROM checks it.
    expect(word(block, 252)).toBe(reference(block.subarray(0, 252)));
    expect(boot2Valid(block)).toBe(true);
    expect(() => padBoot2(new Uint8Array(253))).toThrow('boot2 code is 253 bytes; it must fit in 252');
  });
});

describe('emu:pico boot through the ROM and boot2', () => {
  it('starts at the ROM reset vector; the ROM runs boot2, which sets up XIP and enters the firmware', async () => {
    const elf = ensureSampleFirmware('hello', 'rp2040');
    const { session, rom } = await boot(elf);
    // A reset with halt stops where the core starts: the ROM's reset handler, VTOR 0.
    await session.core.reset({ halt: true });
    const [pc, sp] = await session.core.readCoreRegisters([CoreReg.pc, CoreReg.sp]);
    expect(pc).toBe(word(rom, 4) & ~1);
    expect(sp).toBe(word(rom, 0));
    expect(await readWord(session, VTOR)).toBe(0);
    expect(await readWord(session, SSI_SSIENR)).toBe(0); // a fresh SSI: nothing has set up XIP yet
    // Run to the firmware's reset handler (an FPB breakpoint on its first instruction).
    const vectors = await session.ap.readMemory(0x10000100, 8);
    await session.core.setBreakpoint(word(vectors, 4) & ~1);
    await session.core.resume();
    await session.core.waitForHalt(5000);
    const [entryPc, entrySp] = await session.core.readCoreRegisters([CoreReg.pc, CoreReg.sp]);
    expect(entryPc).toBe(word(vectors, 4) & ~1);
    expect(entrySp).toBe(word(vectors, 0)); // boot2 loaded MSP from the table
    // The ROM copied boot2 to the top of SRAM through the SSI (it is the flash's first 256 bytes) ...
    expect(Array.from(await session.ap.readMemory(BOOT2_RAM, 256))).toEqual(Array.from(boot2Block()));
    // ... boot2 left the SSI in XIP mode: EEPROM read, 32-bit frames, command 03h, 24-bit address ...
    expect(await readWord(session, SSI_CTRLR0)).toBe(0x001f0300);
    expect(await readWord(session, SSI_SPI_CTRLR0)).toBe(0x03000218);
    expect(await readWord(session, SSI_SSIENR)).toBe(1);
    // ... and pointed VTOR at the firmware's table; the firmware then sets up RTT.
    expect(await readWord(session, VTOR)).toBe(0x10000100);
    await session.core.clearBreakpoint(word(vectors, 4) & ~1);
    await session.core.resume();
    await sleep(200);
    expect(await rttInSram(session)).toBe(true);
  });

  it('parks in the ROM when boot2 fails its checksum: the firmware never starts', async () => {
    const elf = ensureSampleFirmware('hello', 'rp2040');
    const { session, rom } = await boot(elf, (flash) => {
      const boot2 = flash.get(0x10000000)!;
      boot2[252] ^= 0x01; // one bit of the stored CRC
    });
    await sleep(300);
    await session.core.halt();
    const [pc] = await session.core.readCoreRegisters([CoreReg.pc]);
    const park = word(rom, 8) & ~1; // the ROM's idle loop (its NMI vector)
    expect([park, park + 2]).toContain(pc);
    expect(await readWord(session, VTOR)).toBe(0);
    expect(await readWord(session, SSI_CTRLR0)).not.toBe(0x001f0300);
    expect(await rttInSram(session)).toBe(false);
  });

  it('on a rescue reset the ROM clears PSM_RESTART_FLAG and parks; the next reset boots the firmware', async () => {
    const elf = ensureSampleFirmware('hello', 'rp2040');
    const { session, pico, rom } = await boot(elf);
    await sleep(200);
    expect(await readWord(session, VTOR)).toBe(0x10000100);
    await session.rescue();
    expect(pico.rescues).toBe(1);
    // The reset set the flag; the ROM, not the emulator, cleared it (the emulator has a ROM).
    expect(pico.hasRom).toBe(true);
    await sleep(200);
    await session.core.halt();
    const [pc] = await session.core.readCoreRegisters([CoreReg.pc]);
    const park = word(rom, 8) & ~1;
    expect([park, park + 2]).toContain(pc);
    const chipReset = await readWord(session, CHIP_RESET);
    expect(chipReset & PSM_RESTART_FLAG).toBe(0);
    expect(chipReset & HAD_PSM_RESTART).toBe(HAD_PSM_RESTART);
    expect(await readWord(session, VTOR)).toBe(0); // boot2 never ran
    await session.core.resume();
    await session.core.reset({ halt: false });
    await sleep(300);
    expect(await readWord(session, VTOR)).toBe(0x10000100);
  });

  it('keeps the flag until written with 1 (write-1-to-clear), so a ROM that never looks stays rescued', async () => {
    const pico = new PicoEmulator();
    const session = await picos.open(pico);
    pico.chipReset.chipReset |= PSM_RESTART_FLAG;
    await session.ap.writeMemory(CHIP_RESET, Uint8Array.of(0, 0, 0, 0));
    expect((await readWord(session, CHIP_RESET)) & PSM_RESTART_FLAG).toBe(PSM_RESTART_FLAG);
    await session.ap.writeMemory(CHIP_RESET, Uint8Array.of(0, 0, 0, 1));
    expect((await readWord(session, CHIP_RESET)) & PSM_RESTART_FLAG).toBe(0);
  });
});
