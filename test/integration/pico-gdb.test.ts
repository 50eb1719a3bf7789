/**
 * emu:pico under Debian's gdb-multiarch 13.1 (a client nobody here wrote) through `dapdeck gdb`
 * and the multi-drop probe model: a hand-assembled program (ARMv6-M Thumb encodings) in the
 * Pico's flash after the samples' boot2. `monitor reset halt` stops at the boot ROM's reset
 * handler, as on silicon; continuing runs the ROM and boot2 into the program's vector table at
 * 0x10000100, where a hardware breakpoint stops it before the store, stepi executes exactly that
 * store, continue comes round again. (SRAM keeps what the program stored before the reset, so the
 * counter is only compared after a store.)
 */
import { execFile } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { DebugSession } from '../../core/arm/session';
import { openProbe } from '../../main/probe/registry';
import { runGdbServer } from '../../main/cli/gdb';
import { thumbImage, writeThumbElf } from '../support/gdb-observer';
import { boot2Block } from '../support/firmware';

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

function gdb(port: number, commands: string[]): Promise<string> {
  const args = ['-nx', '-batch', '-ex', 'set pagination off', '-ex', 'set confirm off', '-ex', 'set architecture armv6-m', '-ex', `target extended-remote 127.0.0.1:${port}`, ...commands.flatMap((c) => ['-ex', c])];
  return new Promise((done) => execFile('gdb-multiarch', args, { timeout: 60_000 }, (_err, stdout, stderr) => done(stdout + stderr)));
}

describe('emu:pico with gdb-multiarch', () => {
  it('breaks, steps and continues in code running from the Pico flash', async () => {
    const elf = writeThumbElf('pico-loop', Uint8Array.from([...boot2Block(), ...IMAGE]), 0x10000000);
    const probe = await openProbe('emu:pico', { elf });
    const session = await DebugSession.open(probe.transport, { responseTimeoutMs: 3000, haltTimeoutMs: 1000 });
    const abort = new AbortController();
    let listening!: (port: number) => void;
    const port = new Promise<number>((r) => (listening = r));
    const lines: string[] = [];
    const running = runGdbServer(session, probe, { host: '127.0.0.1', port: '0', rtt: false }, {
      facts: {},
      scan: [],
      channels: [],
      defmtChannel: 0,
      output: { colour: false },
      out: (t) => lines.push(t),
      warn: (t) => lines.push(t),
      signal: abort.signal,
      onListening: listening,
    });
    stop = async () => {
      abort.abort();
      await running;
      await session.close();
      await probe.close();
    };
    const out = await gdb(await port, [
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
    ]);
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
