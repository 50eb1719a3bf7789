/**
 * Dapdeck's RP2040 boot ROM (firmware-samples/bootrom, Rust) on the emulated Pico, called as
 * firmware and flash algorithms call it: the header at 0x10 ('M' 'u' 0x01, 16-bit pointers to the
 * function table and to rom_table_lookup; RP2040 datasheet 2.8.3), lookup by two-letter code on the
 * core, then its flash functions on the W25Q16JV model behind the SSI (erase granularity, program
 * across pages, XIP reads afterwards). Each call: registers set, LR at a BKPT in SRAM, run to it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DebugSession } from '../../../core/arm/session';
import { CoreReg } from '../../../core/arm/registers';
import { openProbe, type OpenedProbe } from '../../../main/probe/registry';
import { PicoEmulator } from '../../../core/sim/pico';
import { ensureSampleFirmware } from '../../../main/firmware';

const TRAP = 0x20000000; // bkpt #0
const STACK = 0x20040000;
const DATA = 0x20001000;
const code = (s: string) => s.charCodeAt(0) | (s.charCodeAt(1) << 8);

let probe: OpenedProbe;
let session: DebugSession;
let pico: PicoEmulator;

beforeAll(async () => {
  ensureSampleFirmware('bootrom', 'rp2040');
  probe = await openProbe('emu:pico');
  session = await DebugSession.open(probe.transport, { responseTimeoutMs: 3000, haltTimeoutMs: 3000 });
  pico = (probe.simulated!.options.multidrop!.dps[0].target as unknown as { chip: PicoEmulator }).chip;
  await session.core.halt();
  await session.ap.writeMemory(TRAP, Uint8Array.of(0x00, 0xbe));
});

afterAll(async () => {
  await session.close();
  await probe.close();
});

async function call(fn: number, args: number[]): Promise<number> {
  const regs: [number, number][] = args.map((v, i) => [i, v >>> 0]);
  await session.core.runWith([...regs, [CoreReg.sp, STACK], [CoreReg.lr, TRAP | 1], [CoreReg.pc, fn & ~1], [CoreReg.xpsr, 0x01000000]]);
  const [r0, pc] = (await session.core.waitForHaltThenRead([0, CoreReg.pc], 5000))!;
  expect(pc).toBe(TRAP);
  return r0;
}

const u16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);

describe('Dapdeck RP2040 boot ROM', () => {
  let funcs: Map<string, number>;

  it('has the documented header and finds every function by its two-letter code', async () => {
    const header = await session.ap.readMemory(0x10, 12);
    expect(Array.from(header.subarray(0, 3))).toEqual([0x4d, 0x75, 0x01]);
    const table = u16(header, 4);
    const lookup = u16(header, 8);
    expect(lookup & 1).toBe(1);
    funcs = new Map();
    for (const name of ['IF', 'EX', 'RE', 'RP', 'FC', 'CX', 'MC', 'MS']) {
      const fn = await call(lookup, [table, code(name)]);
      expect(fn & 1, name).toBe(1); // a Thumb function
      expect(fn, name).toBeLessThan(0x4000);
      funcs.set(name, fn);
    }
    expect(await call(lookup, [table, code('ZZ')])).toBe(0);
  });

  it('erases 4 KiB sectors, or 64 KiB blocks where they fit, and nothing else', async () => {
    pico.loadFlash(0x10000000, new Uint8Array(0x40000)); // all zeros: erased bytes show as 0xFF
    pico.flash.operations.length = 0;
    await call(funcs.get('IF')!, []);
    await call(funcs.get('EX')!, []);
    // 4 KiB before the 64 KiB boundary, then a whole block (the ROM polls BUSY through both: 195 ms
    // of the chip's time, emulated instruction by instruction).
    await call(funcs.get('RE')!, [0x1f000, 0x11000, 0x10000, 0xd8]);
    await call(funcs.get('FC')!, []);
    expect(pico.flash.operations.map((o) => [o.kind, o.address])).toEqual([
      ['erase-4k', 0x1f000],
      ['erase-64k', 0x20000],
    ]);
    const a = pico.rp2040.flash;
    expect([a[0x1efff], a[0x1f000], a[0x2ffff], a[0x30000]]).toEqual([0, 0xff, 0xff, 0]);
  });

  it('programs across pages from SRAM into the erased sector, waiting out each page, and XIP reads it back', async () => {
    const data = Uint8Array.from({ length: 768 }, (_, i) => (i * 7 + 3) & 0xff);
    await session.ap.writeMemory(DATA, data);
    pico.flash.operations.length = 0;
    await call(funcs.get('EX')!, []);
    await call(funcs.get('RP')!, [0x1f100, DATA, data.length]);
    await call(funcs.get('FC')!, []);
    await call(funcs.get('CX')!, []);
    expect(pico.flash.operations.map((o) => [o.kind, o.address])).toEqual([
      ['program', 0x1f100],
      ['program', 0x1f200],
      ['program', 0x1f300],
    ]);
    expect(Array.from(await session.ap.readMemory(0x1001f100, data.length))).toEqual(Array.from(data));
    expect(pico.flash.busy).toBe(false); // the ROM waited for the last page
  });

  it('has memset and memcpy', async () => {
    await call(funcs.get('MS')!, [DATA, 0x5a, 16]);
    await call(funcs.get('MC')!, [DATA + 16, DATA, 8]);
    expect(Array.from(await session.ap.readMemory(DATA, 28))).toEqual([...new Array(24).fill(0x5a), 0xab, 0xb2, 0xb9, 0xc0]); // then the data as written
  });
});
