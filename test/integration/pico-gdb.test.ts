/**
 * emu:pico under Debian's gdb-multiarch 13.1 (a client nobody here wrote) through `dapdeck gdb`
 * and the multi-drop probe model: a hand-assembled program (ARMv6-M Thumb encodings) in the
 * Pico's flash after the samples' boot2. `monitor reset halt` stops at the boot ROM's reset
 * handler, as on silicon; continuing runs the ROM and boot2 into the program's vector table at
 * 0x10000100, where a hardware breakpoint stops it before the store, stepi executes exactly that
 * store, continue comes round again. (SRAM keeps what the program stored before the reset, so the
 * counter is only compared after a store.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { thumbImage, writeThumbElf } from '../support/gdb-observer';
import { boot2Block } from '../support/firmware';
import { gdbBatch, servePicoToGdb } from '../support/pico';

const COUNTER = 0x20000200;
// At 0x10000100: initial SP, reset vector (Thumb), then the code at 0x10000108.
const IMAGE = thumbImage([
  { at: 0x00, words: [0x20042000, 0x10000109] },
  // movs r0,#0; ldr r1,[pc,#12]; loop: adds r0,#1; str r0,[r1]; b.n loop; nop x3; literal
  { at: 0x08, halfwords: [0x2000, 0x4903, 0x3001, 0x6008, 0xe7fc, 0xbf00, 0xbf00, 0xbf00] },
  { at: 0x18, words: [COUNTER] },
]);

let stop: (() => Promise<void>) | null = null;
afterEach(async () => {
  await stop?.();
  stop = null;
});

describe('emu:pico with gdb-multiarch', () => {
  it('breaks, steps and continues in code running from the Pico flash', async () => {
    const elf = writeThumbElf('pico-loop', Uint8Array.from([...boot2Block(), ...IMAGE]), 0x10000000);
    const lines: string[] = [];
    const server = await servePicoToGdb(elf, lines);
    stop = server.stop;
    const out = await gdbBatch(server.port, [
      'monitor reset halt',
      'maintenance flush register-cache',
      'print/x $pc',
      'print/x *(unsigned int *)4',
      'hbreak *0x1000010e',
      'continue',
      'print/x $pc',
      'print $r0',
      'x/wx 0x20000200',
      'stepi',
      'print/x $pc',
      'x/wx 0x20000200',
      'continue',
      'print $r0',
      'delete',
      'detach',
    ], { before: ['set architecture armv6-m'] });
    if (process.env.GDB_TEST_DEBUG) console.log(out, lines.join(''));
    const values = [...out.matchAll(/^\$\d+ = (\S+)$/gm)].map((m) => m[1]);
    // After reset the core is at the boot ROM's reset handler (ROM word 1, without the Thumb bit).
    expect(Number(values[0])).toBe(Number(values[1]) & ~1);
    expect(Number(values[0])).toBeLessThan(0x4000);
    expect(out).toMatch(/Hardware assisted breakpoint 1 at 0x1000010e/);
    expect(values.slice(2, 4)).toEqual(['0x1000010e', '1']); // stopped before the first store
    expect(values[4]).toBe('0x10000110'); // stepi executed the store
    expect(out).toMatch(/0x20000200:\s+0x00000001/);
    expect(values[5]).toBe('2'); // round the loop once more to the breakpoint
  });
});
