/**
 * The emulated micro:bit as a real nRF51822 looks to a debugger, through the `dapdeck` CLI: a
 * factory-fresh chip (erased flash and UICR; the FICR values of the nRF51 Reference Manual v3.0 and
 * nRF51822 Product Specification v3.3), peripheral writes that really happen or fault, and flash and
 * UICR that stay as the last command left them.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DebugSession } from '../../core/arm/session';
import { loadImage } from '../../core/elf';
import { SimulatedProbe } from '../../core/sim/cmsis-dap-probe';
import { QemuTarget } from '../../main/emu/qemu-target';
import { dapdeck } from '../support/cli';
import { firmwarePath } from '../support/firmware';

/** The bytes of a `dapdeck read` hex dump ("ADDRESS  xx xx …  ascii" lines). */
const dir = mkdtempSync(join(tmpdir(), 'dapdeck-board-'));

function dumpBytes(stdout: string): number[] {
  return stdout
    .trim()
    .split('\n')
    .flatMap((line) => line.slice(10, 10 + 16 * 3).trim().split(/\s+/).map((h) => Number.parseInt(h, 16)));
}

/** An emulated micro:bit with its own state file, behind the probe model, with a debug session. */
async function openBoard(state: string, fresh: boolean) {
  const target = await QemuTarget.start({ board: 'microbit', stateFile: join(process.env.DAPDECK_STATE_DIR!, state), fresh });
  const session = await DebugSession.open(new SimulatedProbe({ flavour: 'v2-bulk', target }).transport);
  return { target, session };
}

describe('emu:microbit as an nRF51822 from the factory and between commands', () => {
  it('starts factory-fresh: flash and UICR erased, the FICR of a real nRF51822-QFAA', async () => {
    const { target, session } = await openBoard('fresh.nvm', true);
    try {
      expect(Array.from(await session.ap.readMemory(0x0, 32))).toEqual(new Array(32).fill(0xff));
      expect(Array.from(await session.ap.readMemory(0x3fc00, 16))).toEqual(new Array(16).fill(0xff));
      expect(Array.from(await session.ap.readMemory(0x10001000, 16))).toEqual(new Array(16).fill(0xff));
      expect(await session.ap.read32(0x10000010)).toBe(1024); // CODEPAGESIZE
      expect(await session.ap.read32(0x10000014)).toBe(256); // CODESIZE: 256 pages
      expect(await session.ap.read32(0x10000028)).toBe(0xffffffff); // CLENR0: no protected region 0
      expect(await session.ap.read32(0x1000002c)).toBe(0xffffffff); // PPFC
      expect((await session.ap.read32(0x1000005c)) & 0xffff).toBe(0x0072); // CONFIGID.HWID: nRF51822 QFAA H0
      // Beyond the nRF51's FICR words (nRF52's INFO.PART, which tools probe first) reads erased, not a fault.
      expect(await session.ap.read32(0x10000100)).toBe(0xffffffff);
      await session.close();
    } finally {
      await target.close();
    }
  });

  it('performs peripheral writes, and faults one no device of the board can take', async () => {
    const open = (fresh: boolean) => openBoard('uicr.nvm', fresh);
    const first = await open(true);
    try {
      // NVMC CONFIG = WEN through the AHB-AP reads back, and UICR CUSTOMER[0] gets programmed.
      await first.session.ap.write32(0x4001e504, 1);
      expect(await first.session.ap.read32(0x4001e504)).toBe(1);
      await first.session.ap.write32(0x10001080, 0x12345678);
      await first.session.ap.write32(0x4001e504, 0);
      // With CONFIG back to read-only, a write to UICR changes nothing (as on the chip).
      await first.session.ap.write32(0x10001084, 0);
      expect(await first.session.ap.read32(0x10001084)).toBe(0xffffffff);
      // WDT (0x40010000) exists on the chip but not in QEMU's board: the write must not look done.
      await expect(first.session.ap.write32(0x40010000, 1)).rejects.toThrow(/FAULT/);
      await first.session.close();
    } finally {
      await first.target.close();
    }
    // UICR is flash: the next session (a new QEMU) still holds it, and so does a reset.
    const second = await open(false);
    try {
      expect(await second.session.ap.read32(0x10001080)).toBe(0x12345678);
      await second.session.core.reset({ halt: true });
      expect(await second.session.ap.read32(0x10001080)).toBe(0x12345678);
      await second.session.close();
    } finally {
      await second.target.close();
    }
  });

  it('keeps what was flashed: the next command sees the tasks sample, --fresh a blank chip', async () => {
    const tasks = firmwarePath('tasks', 'microbit');
    firmwarePath('flash-nrf51', 'microbit');
    const flashed = await dapdeck('flash', '--probe', 'emu:microbit', '--chip', 'nRF51822_xxAA', tasks);
    expect(flashed).toMatchObject({ code: 0, stderr: expect.stringMatching(/verified \(crc\)/) });
    const vectors = loadImage(readFileSync(tasks), tasks).chunks.find((c) => c.address === 0)!.data.subarray(0, 16);
    expect(dumpBytes((await dapdeck('read', '--probe', 'emu:microbit', '0x0', '16')).stdout)).toEqual(Array.from(vectors));
    // Flashing it again finds every sector unchanged on the target.
    const again = await dapdeck('flash', '--probe', 'emu:microbit', '--chip', 'nRF51822_xxAA', tasks);
    expect(again.stderr).toMatch(/(\d+) sectors in the image, \1 unchanged \(skipped\)/);
    expect(dumpBytes((await dapdeck('read', '--fresh', '--probe', 'emu:microbit', '0x0', '16')).stdout)).toEqual(new Array(16).fill(0xff));
  }, 120_000); // four CLI runs, each starting QEMU: minutes on a loaded 2-core machine

  it('decodes what Dapdeck flashed without --elf; a board rewritten from a HEX is shown undecoded, and says why', async () => {
    const tasks = firmwarePath('tasks', 'microbit');
    firmwarePath('flash-nrf51', 'microbit');
    expect((await dapdeck('flash', '--fresh', '--probe', 'emu:microbit', '--chip', 'nRF51822_xxAA', tasks)).code).toBe(0);
    // attach boots nothing: the board runs what it holds, and its output decodes with the ELF flashed.
    const watched = await dapdeck('attach', '--probe', 'emu:microbit', '--until', 'tasks: blink every', '--timeout', '30', '--no-location');
    expect(watched.stdout).toMatch(/^\d+\.\d{6} INFO  tasks: blink every 2 ms, sensor on TIMER0 every 5 ms, report every 100 ms$/m);
    expect(watched.stderr).not.toMatch(/undecoded/);
    // The same image as a HEX (binutils made it): the board holds no ELF Dapdeck knows of any more.
    const hex = join(dir, 'tasks.hex');
    execFileSync('objcopy', ['-O', 'ihex', tasks, hex]);
    expect((await dapdeck('flash', '--probe', 'emu:microbit', '--chip', 'nRF51822_xxAA', hex)).code).toBe(0);
    const raw = await dapdeck('attach', '--probe', 'emu:microbit', '--duration', '1');
    expect(raw.stderr).toMatch(/emu:microbit holds firmware that was not flashed from an ELF by dapdeck \(or the ELF changed since\): its output is shown undecoded/);
    expect(raw.stdout).not.toMatch(/INFO {2}tasks: blink every/);
  }, 180_000);
});

