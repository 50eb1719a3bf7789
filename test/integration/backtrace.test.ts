/**
 * Backtraces of the stop block (`--backtrace`), checked two ways on both emulated boards:
 * - against GDB: Debian's gdb-multiarch, attached to QEMU's own GDB stub on a second QEMU running
 *   the same image and stopped at the same PC, unwinds with its own DWARF CFI reader, exception-frame
 *   sniffer, inline-frame and line-table code. Its `bt` (function names and file:line per frame,
 *   after folding "a/../b" in paths) must equal ours frame for frame;
 * - against the call chain each sample's source makes (panic: main → average → sum → check_reading
 *   → panic_fmt → the panic handler; fault: main → read_sensor → read_register; selftest: main →
 *   checksums → assert_failed → … → panic handler → exit → semihost; overflow: main → measure
 *   (recursing until SP passes the end of .bss) → panic_fmt → the panic handler, with the overflow
 *   note naming the linker's own `_ebss` as the stack's end).
 */
import { execFile } from 'node:child_process';
import { posix } from 'node:path';
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ElfFile } from '../../core/elf/elf';
import { firmwarePath } from '../support/firmware';
import { runGdb } from '../support/gdb-observer';

const BIN = resolve(__dirname, '../../bin/dapdeck.cjs');

function dapdeck(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 90000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as NodeJS.ErrnoException & { code?: number }).code as unknown as number) ?? 1 : 0, stdout, stderr });
    });
  });
}

interface Frame {
  name: string;
  /** "file:line", paths with "a/../b" folded; '' when the frame has no line. */
  at: string;
}

/** Our stop block's "stack backtrace:" frames, and where "<exception entry>" came (the index of the frame after it). */
function ourFrames(stderr: string): { frames: (Frame & { pc: number })[]; exceptionAt: number[] } {
  const lines = stderr.slice(stderr.indexOf('stack backtrace:')).split('\n').slice(1);
  const frames: (Frame & { pc: number })[] = [];
  const exceptionAt: number[] = [];
  for (const line of lines) {
    const f = /^\s+\d+: 0x([0-9a-f]{8}) @ (.+?)(?: \(inlined\))?$/.exec(line);
    const at = /^\s+at (.+?):(\d+)(?::\d+)?$/.exec(line);
    if (f) frames.push({ pc: parseInt(f[1], 16), name: f[2], at: '' });
    else if (at) frames[frames.length - 1].at = `${posix.normalize(at[1])}:${at[2]}`;
    else if (/^\s+<exception entry>$/.test(line)) exceptionAt.push(frames.length);
    else break;
  }
  return { frames, exceptionAt };
}

/** GDB's `bt`, innermost first; "<signal handler called>" (its name for exception entry) noted by position. */
function gdbFrames(bt: string): { frames: Frame[]; exceptionAt: number[] } {
  const frames: Frame[] = [];
  const exceptionAt: number[] = [];
  for (const line of bt.split('\n')) {
    if (!/^#\d+\s/.test(line)) continue;
    if (line.includes('<signal handler called>')) {
      exceptionAt.push(frames.length);
      continue;
    }
    const m = /^#\d+\s+(?:0x[0-9a-f]+ in )?(.+?) \(.*?\)(?: at (\S+):(\d+))?$/.exec(line);
    expect(m, `GDB frame line: ${line}`).not.toBeNull();
    frames.push({ name: m![1], at: m![2] ? `${posix.normalize(m![2])}:${m![3]}` : '' });
  }
  return { frames, exceptionAt };
}

const CHAINS: Record<string, string[]> = {
  overflow: [],
  panic: ['panic::rt::DefaultHandler', 'panic::panic', 'core::panicking::panic_fmt', 'panic::check_reading', 'panic::sum', 'panic::average', 'panic::main', 'panic::rt::Reset'],
  fault: ['fault::rt::DefaultHandler', 'core::ptr::read_volatile<u32>', 'fault::read_register', 'fault::read_sensor', 'fault::main', 'fault::rt::Reset'],
};

describe.each(['microbit', 'lm3s6965evb'] as const)('backtraces on %s equal GDB\'s and the samples\' call chains', (board) => {
  it.each(['panic', 'fault', 'overflow'])('%s: HardFault, unwound through the exception frame', async (sample) => {
    const elf = firmwarePath(sample, board);
    const r = await dapdeck(['attach', '--probe', `emu:${board}`, '--elf', elf, '--timeout', '30']);
    expect(r.code, r.stderr).toBe(5);
    const ours = ourFrames(r.stderr);
    // Vector catch stops on the handler's first instruction: GDB stops there too (same image, same PC).
    const bt = await runGdb(board, elf, ['set width 0', `break *0x${ours.frames[0].pc.toString(16)}`, 'continue', 'bt'], elf);
    const theirs = gdbFrames(bt);
    expect(ours.frames.map(({ name, at }) => ({ name, at })), bt).toEqual(theirs.frames);
    expect(ours.exceptionAt).toEqual(theirs.exceptionAt);
    expect(ours.exceptionAt).toEqual([1]);
    // The source's call chain; on the LM3S6965 the fault sample jumps to 0xe0100000 (no code there:
    // "??"), from read_register's tail call, so read_sensor is the caller there.
    let chain = board === 'lm3s6965evb' && sample === 'fault' ? ['fault::rt::DefaultHandler', '??', 'fault::read_sensor', 'fault::main', 'fault::rt::Reset'] : CHAINS[sample];
    if (sample === 'overflow') {
      // measure(0) … measure(depth): depth + 1 calls, as the panic message counts them.
      const depth = Number(/stack overflow at depth (\d+)/.exec(r.stdout)![1]);
      expect(depth).toBeGreaterThan(10);
      chain = ['overflow::rt::DefaultHandler', 'overflow::panic', 'core::panicking::panic_fmt', ...Array<string>(depth + 1).fill('overflow::measure'), 'overflow::main', 'overflow::rt::Reset'];
      const ebss = new ElfFile(readFileSync(elf), elf).symbol('_ebss')!.value;
      const note = /note: the stack overflowed: SP reached 0x([0-9a-f]{8}), below the stack's end at 0x([0-9a-f]{8})/.exec(r.stderr);
      expect(note, r.stderr).not.toBeNull();
      expect(parseInt(note![2], 16)).toBe(ebss);
      expect(parseInt(note![1], 16)).toBeLessThan(ebss);
    } else {
      expect(r.stderr).not.toContain('note: the stack overflowed');
    }
    expect(ours.frames.map((f) => f.name)).toEqual(chain);
    if (sample === 'panic') {
      expect(ours.frames[3].at).toBe('firmware-samples/panic/src/main.rs:25'); // the panic! in check_reading
      expect(r.stderr).toContain('  panic: sensor reading 250 out of range (limit 100)\n    at firmware-samples/panic/src/main.rs:25:9\n');
    } else if (sample === 'fault' && board === 'microbit') {
      // read_volatile inlined into read_register: same address, the call site's line for the outer frame.
      expect(ours.frames[1].pc).toBe(ours.frames[2].pc);
      expect(r.stderr).toMatch(/@ core::ptr::read_volatile<u32> \(inlined\)\n\s+at \/usr\/src\/rustc-[\d.]+\/library\/core\/src\/ptr\/mod\.rs:\d+:\d+\n/);
      expect(ours.frames[2].at).toBe('firmware-samples/fault/src/main.rs:27');
    }
  }, 90000); // dapdeck and gdb-multiarch, each on its own QEMU

  it('selftest: the failing test\'s semihosting exit, from the panic handler down to the test and main', async () => {
    const elf = firmwarePath('selftest', board);
    const r = await dapdeck(['attach', '--probe', `emu:${board}`, '--elf', elf, '--timeout', '30']);
    expect(r.code, r.stderr).toBe(1);
    const ours = ourFrames(r.stderr);
    // QEMU serves the semihosting calls itself here, so the firmware runs to the same BKPT.
    const bt = await runGdb(board, elf, ['set width 0', `break *0x${ours.frames[0].pc.toString(16)}`, 'continue', 'bt'], elf, ['-semihosting-config', 'enable=on,target=native']);
    expect(ours.frames.map(({ name, at }) => ({ name, at })), bt).toEqual(gdbFrames(bt).frames);
    const names = ours.frames.map((f) => f.name);
    expect(names.slice(0, 3)).toEqual(['selftest::semihost', 'selftest::exit', 'selftest::panic']);
    expect(names.slice(-3)).toEqual(['selftest::checksums', 'selftest::main', 'selftest::rt::Reset']);
    expect(r.stderr).toContain('  panic: assertion failed: `(left == right)`\n');
  }, 90000);
});

describe('backtrace options', () => {
  it('--backtrace-limit cuts the frames and says so; --backtrace=never leaves it out; a bad --backtrace is a usage error', async () => {
    const elf = firmwarePath('panic', 'microbit');
    const limited = await dapdeck(['attach', '--probe', 'emu:microbit', '--elf', elf, '--timeout', '30', '--backtrace-limit', '3']);
    expect(ourFrames(limited.stderr).frames.map((f) => f.name)).toEqual(['panic::rt::DefaultHandler', 'panic::panic', 'core::panicking::panic_fmt']);
    expect(limited.stderr).toContain('(the backtrace stops at 3 frames: --backtrace-limit N shows more)');
    const never = await dapdeck(['attach', '--probe', 'emu:microbit', '--elf', elf, '--timeout', '30', '--backtrace=never']);
    expect(never.code).toBe(5);
    expect(never.stderr).toContain('dapdeck: stopped: HardFault');
    expect(never.stderr).not.toContain('stack backtrace:');
    const bad = await dapdeck(['attach', '--probe', 'emu:microbit', '--backtrace', 'sometimes']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--backtrace.*sometimes/);
  }, 90000); // three dapdeck runs
});
