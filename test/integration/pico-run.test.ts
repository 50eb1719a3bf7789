/**
 * The Pico samples on `emu:pico` from the CLI, booted the way a Pico boots: the boot ROM checks
 * boot2's CRC32 and runs it, boot2 sets up XIP and enters the firmware.
 * - `run --chip RP2040` (flashed through the RP2040 algorithm and the ROM's flash functions,
 *   verified, reset) and `attach --elf` (the emulator's flash loaded directly) print exactly the
 *   golden lines of test/golden/hello-rp2040.txt (the micro:bit's lines, board name aside: the
 *   same source lines log them);
 * - a boot2 with one bit of its stored CRC flipped flashes and verifies, yet the ROM never enters
 *   it: no RTT control block ever appears;
 * - `trace record` of tasks-rp2040 gives lanes whose counts equal the firmware's own books, and
 *   SysTick (1 ms, clk_sys) and the RP2040 TIMER's ALARM0 (5 ms, 1 MHz) keep their 5:1 ratio;
 *   `run --trace` draws the per-task statistics table;
 * - Debian's gdb-multiarch (nobody here wrote it) unwinds from a breakpoint in hello's SysTick
 *   through the exception entry into `main`, with our ELF's DWARF and the emulated core's stack.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { boot2Block, firmwarePath } from '../support/firmware';
import { expectStatsMatchBooks, firmwareBooks } from '../support/trace';
import { gdbBatch, servePicoToGdb } from '../support/pico';

const BIN = resolve(__dirname, '../../bin/dapdeck.cjs');
const tmp = mkdtempSync(join(tmpdir(), 'dapdeck-pico-run-'));
const golden = readFileSync(resolve(__dirname, '../golden/hello-rp2040.txt'), 'utf8');

function dapdeck(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 90_000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let stop: (() => Promise<void>) | null = null;
afterEach(async () => {
  await stop?.();
  stop = null;
});

describe('the hello sample on emu:pico', () => {
  it('run --chip RP2040 flashes through the ROM, boots through ROM and boot2, and prints exactly the golden lines', async () => {
    const r = await dapdeck(['run', '--probe', 'emu:pico', '--chip', 'RP2040', '--until', '^tick 3$', '--timeout', '30', firmwarePath('hello', 'rp2040')]);
    expect(r.stderr).toMatch(/^RP2040: \d+ sectors in the image, .* verified \(crc\)/m);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(golden);
  });

  it('attach --elf (the flash loaded directly) prints the same lines', async () => {
    const r = await dapdeck(['attach', '--probe', 'emu:pico', '--elf', firmwarePath('hello', 'rp2040'), '--until', '^tick 3$', '--timeout', '30']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(golden);
  });

  it('never starts firmware whose boot2 fails the ROM\'s CRC check, though the flash verifies', async () => {
    const elf = readFileSync(firmwarePath('hello', 'rp2040'));
    const at = elf.indexOf(Buffer.from(boot2Block()));
    expect(at).toBeGreaterThan(0);
    expect(elf.indexOf(Buffer.from(boot2Block()), at + 1)).toBe(-1);
    elf[at + 252] ^= 0x01;
    const bad = join(tmp, 'hello-bad-boot2.elf');
    writeFileSync(bad, elf);
    const r = await dapdeck(['run', '--probe', 'emu:pico', '--chip', 'RP2040', '--timeout', '3', bad]);
    expect(r.stderr).toMatch(/verified \(crc\)/);
    expect(r.stderr).toMatch(/no RTT control block found .* the "SEGGER RTT" ID never appeared/);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
  });
});

describe('the tasks sample on emu:pico', () => {
  it('records a SystemView trace whose lanes match the firmware\'s books; SysTick and TIMER ALARM0 keep 5:1', async () => {
    const file = join(tmp, 'tasks.sv');
    const r = await dapdeck(['trace', 'record', '--probe', 'emu:pico', '--elf', firmwarePath('tasks', 'rp2040'), '--duration', '1', '--out', file, '--json']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const firmware = firmwareBooks(lines);
    expect(firmware.systick).toBeGreaterThan(100);
    // Both timers run from the emulator's one clock: five 1 ms SysTicks per 5 ms alarm.
    expect(Math.abs(firmware.systick - 5 * firmware.timer0)).toBeLessThanOrEqual(5);
    const s = await dapdeck(['trace', 'stats', file, '--json']);
    expect(s.code).toBe(0);
    const stats = JSON.parse(s.stdout);
    expect(stats.sysFreq).toBe(1_000_000); // TIMERAWL microseconds
    const lane = expectStatsMatchBooks(stats, firmware, 'TIMER_IRQ_0');
    // Each alarm makes `sensor` ready once: the timeline shows one sensor run per TIMER_IRQ_0.
    expect(Math.abs(lane('sensor').activations - lane('TIMER_IRQ_0').activations)).toBeLessThanOrEqual(1);
  });

  it('run --trace flashes it and draws the per-task statistics in a fixed lane order', async () => {
    const r = await dapdeck(['run', '--probe', 'emu:pico', '--chip', 'RP2040', '--trace', '--duration', '1.5', '--filter', 'warn', firmwarePath('tasks', 'rp2040')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/verified \(crc\)/);
    const rows = r.stderr.split('\n').filter((l) => /^\w+\s+(isr|task|scheduler|idle)\s+\d+ /.test(l));
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(['SysTick', 'TIMER_IRQ_0', 'blink', 'sensor', 'report', 'Scheduler', 'Idle']);
    expect(rows.every((l) => Number(l.split(/\s+/)[2]) > 0)).toBe(true);
  });
});

describe('hello on emu:pico under gdb-multiarch', () => {
  it('unwinds from a breakpoint in SysTick through the exception entry into main', async () => {
    const elf = firmwarePath('hello', 'rp2040');
    const server = await servePicoToGdb(elf);
    stop = server.stop;
    const out = await gdbBatch(server.port, ['hbreak SysTick', 'continue', 'bt', 'print/x $vtor', 'x/wx 0xe000ed08', 'delete', 'detach'], { file: elf });
    const frames = out.split('\n').filter((l) => /^#\d+\s/.test(l));
    // SysTick's first statement (the inlined atomic load's frames come first), the exception entry
    // as GDB names it, then the interrupted main and the reset handler that called it.
    const source = readFileSync(resolve(__dirname, '../../firmware-samples/hello/src/main.rs'), 'utf8').split('\n');
    const tickLine = source.indexOf('    let now = TICKS.load(Ordering::Relaxed).wrapping_add(1);') + 1;
    expect(tickLine).toBeGreaterThan(0);
    const entry = frames.findIndex((f) => f.includes('<signal handler called>'));
    expect(entry, out).toBeGreaterThan(0);
    expect(frames[entry - 1], out).toMatch(new RegExp(`hello::SysTick \\(\\) at firmware-samples/hello/src/main\\.rs:${tickLine}$`));
    const after = frames.slice(entry + 1).map((f) => /(?:in )?([\w:]+) \(/.exec(f.replace(/^#\d+\s+(0x[0-9a-f]+ in )?/, ''))?.[1]);
    expect(after.filter((name) => name?.startsWith('hello::')), out).toEqual(['hello::main', 'hello::rt::Reset']);
    // The firmware runs from the table boot2 pointed VTOR at.
    expect(out).toMatch(/0xe000ed08:\s+0x10000100/);
  });
});
