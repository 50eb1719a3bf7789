/**
 * The emulated Pico (rp2040js behind the multi-drop probe model) driven through a debug session:
 * run control as the ARMv6-M debug architecture defines it (DHCSR halt/step, FPB breakpoints, BKPT
 * with and without halting debug), on Thumb code assembled here by hand from the ARMv6-M ARM
 * encodings, and the RP2040 TIMER (datasheet 4.6: 1 µs ticks, paused while a core is halted by the
 * debugger, DBGPAUSE reset value).
 */
import { describe, expect, it } from 'vitest';
import { DebugSession } from '../../../core/arm/session';
import { PicoEmulator } from '../../../core/sim/pico';
import { CoreReg } from '../../../core/arm/registers';
import { picoSessions } from '../../support/pico';

/** In flash (XIP): the ARMv6-M FPB only matches addresses below 0x20000000. */
const CODE = 0x10000400;
const COUNTER = 0x20000200;
/** adds r0, #1; str r0, [r1]; b.n CODE; then bkpt #7 after it. */
const LOOP = [0x3001, 0x6008, 0xe7fc, 0xbe07];
const TIMERAWL = 0x40054028;
const SIO_CPUID = 0xd0000000;

const picos = picoSessions();

async function open() {
  const pico = new PicoEmulator();
  const session = await picos.open(pico, 2000);
  return { pico, session };
}

const halfwords = (hw: number[]) => Uint8Array.from(hw.flatMap((h) => [h & 0xff, h >> 8]));
const word = (b: Uint8Array) => (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function loadLoop(session: DebugSession, pico: PicoEmulator, code = LOOP) {
  await session.core.halt();
  pico.loadFlash(CODE, halfwords(code));
  await session.ap.writeMemory(COUNTER, new Uint8Array(4));
  await session.core.writeCoreRegisters([[0, 0], [1, COUNTER], [CoreReg.pc, CODE], [CoreReg.xpsr, 0x01000000]]);
}

describe('emu:pico run control', () => {
  it('runs code while resumed and stops it on a halt', async () => {
    const { session, pico } = await open();
    await loadLoop(session, pico);
    await session.core.resume();
    await sleep(50);
    const [a] = await session.core.readCoreRegisters([]).then(async () => [word(await session.ap.readMemory(COUNTER, 4))]);
    await sleep(20);
    const b = word(await session.ap.readMemory(COUNTER, 4));
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(a); // still running: memory reads do not stop the core
    await session.core.halt();
    const [r0, pc] = await session.core.readCoreRegisters([0, CoreReg.pc]);
    const c = word(await session.ap.readMemory(COUNTER, 4));
    await sleep(20);
    expect(word(await session.ap.readMemory(COUNTER, 4))).toBe(c); // halted: nothing runs
    expect([CODE, CODE + 2, CODE + 4]).toContain(pc);
    expect(r0 - c).toBeGreaterThanOrEqual(0);
    expect(r0 - c).toBeLessThanOrEqual(1);
  });

  it('steps one instruction per DHCSR C_STEP', async () => {
    const { session, pico } = await open();
    await loadLoop(session, pico);
    const trace: number[][] = [];
    for (let i = 0; i < 4; i++) {
      await session.core.step();
      trace.push(await session.core.readCoreRegisters([0, CoreReg.pc]));
    }
    expect(trace).toEqual([
      [1, CODE + 2],
      [1, CODE + 4],
      [1, CODE],
      [2, CODE + 2],
    ]);
    expect(word(await session.ap.readMemory(COUNTER, 4))).toBe(1);
  });

  it('halts on an FPB breakpoint before the instruction executes', async () => {
    const { session, pico } = await open();
    await loadLoop(session, pico);
    await session.core.setBreakpoint(CODE + 2);
    await session.core.resume();
    expect(await session.core.waitForHalt(2000)).toBe(true);
    const [r0, pc] = await session.core.readCoreRegisters([0, CoreReg.pc]);
    expect(pc).toBe(CODE + 2);
    expect(r0).toBe(1);
    expect(word(await session.ap.readMemory(COUNTER, 4))).toBe(0); // the str has not run
    expect((await session.core.haltCause()).toString()).toMatch(/breakpoint/i);
  });

  it('halts at a BKPT with halting debug on', async () => {
    const { session, pico } = await open();
    await loadLoop(session, pico, [0x3001, 0xbe07, 0xe7fe]);
    await session.core.writeCoreRegisters([[0, 41]]);
    await session.core.resume();
    expect(await session.core.waitForHalt(2000)).toBe(true);
    expect(await session.core.readCoreRegisters([0, CoreReg.pc])).toEqual([42, CODE + 2]);
    const dfsr = word(await session.ap.readMemory(0xe000ed30, 4));
    expect(dfsr & 0b10).toBe(0b10); // DFSR.BKPT
  });

  it('ignores the core\'s stores to the mask ROM (rp2040js would keep them, even across a reset)', async () => {
    const { session, pico } = await open();
    await loadLoop(session, pico);
    const parkLoop = word(await session.ap.readMemory(0xf0, 4));
    expect(parkLoop).toBe(0xe7fdbf30); // wfi; b .-2
    await session.core.writeCoreRegisters([[1, 0xf0]]); // the loop now stores its count into the ROM
    await session.core.resume();
    await sleep(20);
    await session.core.halt();
    const [r0] = await session.core.readCoreRegisters([0]);
    expect(r0).toBeGreaterThan(1);
    expect(word(await session.ap.readMemory(0xf0, 4))).toBe(parkLoop);
    expect(pico.rp2040.bootrom[0xf0 >>> 2]).toBe(parkLoop);
  });

  it('keeps the RP2040 timer in step with wall time while running and paused while halted', async () => {
    const { session } = await open();
    // The timer reads the emulated time at the moment of the read: between the wall times around
    // the two reads (the core sleeps in WFI meanwhile; time still passes).
    const w0 = performance.now();
    const t0 = word(await session.ap.readMemory(TIMERAWL, 4));
    const w1 = performance.now();
    await sleep(200);
    const w2 = performance.now();
    const t1 = word(await session.ap.readMemory(TIMERAWL, 4));
    const w3 = performance.now();
    expect(t1 - t0).toBeGreaterThanOrEqual(Math.floor((w2 - w1) * 1000) - 1);
    expect(t1 - t0).toBeLessThanOrEqual(Math.ceil((w3 - w0) * 1000) + 1);
    await session.core.halt();
    const h0 = word(await session.ap.readMemory(TIMERAWL, 4));
    await sleep(50);
    expect(word(await session.ap.readMemory(TIMERAWL, 4))).toBe(h0);
  });

  it('faults debug accesses where the RP2040 has nothing mapped', async () => {
    const { session } = await open();
    await expect(session.ap.readMemory(0x30000000, 4)).rejects.toThrow(/FAULT/);
    expect(word(await session.ap.readMemory(SIO_CPUID, 4))).toBe(0);
  });

  it('has core 1 as its own DP, parked in the boot ROM while core 0 runs', async () => {
    const { session, pico } = await open();
    await loadLoop(session, pico);
    await session.core.resume();
    await sleep(20);
    await session.selectCore(1);
    expect(word(await session.ap.readMemory(SIO_CPUID, 4))).toBe(1);
    await session.core.halt();
    const [pc] = await session.core.readCoreRegisters([CoreReg.pc]);
    expect(pc).toBeLessThan(0x4000); // in the ROM
    expect(await pico.core0.isHalted()).toBe(false);
    await session.core.resume();
    await session.selectCore(0);
    await session.core.halt();
    expect(word(await session.ap.readMemory(COUNTER, 4))).toBeGreaterThan(0);
  });

  it('resets the chip from the rescue DP; the core is parked, not running the firmware', async () => {
    const { session, pico } = await open();
    await loadLoop(session, pico);
    await session.ap.writeMemory(COUNTER, Uint8Array.of(0x0d, 0xf0, 0xed, 0xfe));
    const s = await session.rescue();
    expect(pico.rescues).toBe(1);
    expect(s.dp.targetSel).toBe(0x01002927);
    await session.core.halt();
    const [pc] = await session.core.readCoreRegisters([CoreReg.pc]);
    expect(pc).toBeLessThan(0x4000);
    // SRAM survives a reset.
    expect(word(await session.ap.readMemory(COUNTER, 4))).toBe(0xfeedf00d);
  });
});
