/**
 * The whole virtual bench with real firmware: the debug layer → strict CMSIS-DAP model → QEMU
 * running the hello sample, on both emulated boards. QEMU is required: these tests fail (never
 * skip) when it is missing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DebugSession } from '../../core/arm/session';
import { CoreReg } from '../../core/arm/registers';
import { SimulatedProbe } from '../../core/sim/cmsis-dap-probe';
import { readControlBlock, scanForControlBlocks } from '../../core/rtt/control-block';
import { RttSession } from '../../core/rtt/session';
import { readChannelText } from '../support/rtt';
import { QemuTarget, runningQemuCount } from '../../main/emu/qemu-target';
import { firmwarePath } from '../support/firmware';
import type { QemuBoard } from '../../main/emu/qemu-target';

const boards: { board: QemuBoard; core: string; dpidr: number; flavour: 'v1-hid' | 'v2-bulk' }[] = [
  { board: 'microbit', core: 'Cortex-M0', dpidr: 0x0bb11477, flavour: 'v2-bulk' },
  { board: 'lm3s6965evb', core: 'Cortex-M3', dpidr: 0x1ba01477, flavour: 'v1-hid' },
];

const u32 = (b: Uint8Array, o = 0) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;

describe.each(boards)('$board through the $flavour probe model', ({ board, core, dpidr, flavour }) => {
  let target: QemuTarget;
  let session: DebugSession;

  beforeAll(async () => {
    target = await QemuTarget.start({ board, elf: firmwarePath('hello', board) });
    const probe = new SimulatedProbe({ flavour, target });
    session = await DebugSession.open(probe.transport, { responseTimeoutMs: 3000, haltTimeoutMs: 500 });
  });

  afterAll(async () => {
    await session?.close();
    await target?.close();
  });

  it('identifies the debug port and the core', () => {
    expect(session.summary!.dp.dpidr).toBe(dpidr);
    expect(session.summary!.core.name).toBe(core);
    expect(session.summary!.ap.isMemAp).toBe(true);
  });

  it('reset-and-halt stops at the reset vector before any firmware runs', async () => {
    await session.core.reset({ halt: true });
    expect(await session.core.isHalted()).toBe(true);
    const vectors = await session.ap.readMemory(0, 8);
    const [pc, sp] = await session.core.readCoreRegisters([CoreReg.pc, CoreReg.sp]);
    expect(pc).toBe(u32(vectors, 4) & ~1);
    expect(sp).toBe(u32(vectors, 0));
    expect(await session.core.haltCause()).toBe('vector-catch');
  });

  it('steps one instruction at a time and resumes', async () => {
    const before = await session.core.readCoreRegister(CoreReg.pc);
    await session.core.step();
    const after = await session.core.readCoreRegister(CoreReg.pc);
    expect(after).not.toBe(before);
    expect(after - before).toBeLessThanOrEqual(4); // one Thumb instruction (or a short branch)
    expect(await session.core.isHalted()).toBe(true);
    await session.core.resume();
    expect(await session.core.isHalted()).toBe(false);
    await session.core.halt();
    expect(await session.core.isHalted()).toBe(true);
    expect(await session.core.haltCause()).toBe('request');
  });

  it('round-trips core registers', async () => {
    const saved = await session.core.readCoreRegisters([CoreReg.r4, CoreReg.r5]);
    await session.core.writeCoreRegisters([[CoreReg.r4, 0xdeadbeef], [CoreReg.r5, 0x01234567]]);
    expect(await session.core.readCoreRegisters([CoreReg.r4, CoreReg.r5])).toEqual([0xdeadbeef, 0x01234567]);
    await session.core.writeCoreRegisters([[CoreReg.r4, saved[0]], [CoreReg.r5, saved[1]]]);
  });

  it('round-trips RAM at every size and alignment, across 1 KiB boundaries', async () => {
    const base = 0x20001000; // above the sample's .bss, below its stack
    for (const [offset, length] of [[0x3fd, 7], [0x3ff, 1], [0x7fe, 2], [0x401, 3], [0x3f0, 1100], [0x001, 300]]) {
      const data = Uint8Array.from({ length }, (_, i) => (i * 13 + offset) & 0xff);
      await session.ap.writeMemory(base + offset, data);
      expect(Buffer.from(await session.ap.readMemory(base + offset, length))).toEqual(Buffer.from(data));
    }
    await session.ap.write32(base + 0x800, 0x11223344);
    await session.ap.write16(base + 0x802, 0xa55a);
    await session.ap.write8(base + 0x801, 0x42);
    expect(await session.ap.read32(base + 0x800)).toBe(0xa55a4244);
    expect(await session.ap.read16(base + 0x800)).toBe(0x4244);
    expect(await session.ap.read8(base + 0x803)).toBe(0xa5);
  });

  it('stops at a hardware breakpoint on the SysTick handler', async () => {
    const vector = await session.ap.read32(15 * 4); // SysTick is exception 15
    const handler = vector & ~1;
    await session.core.setBreakpoint(handler);
    await session.core.resume();
    const deadline = Date.now() + 3000;
    while (!(await session.core.isHalted()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(await session.core.readCoreRegister(CoreReg.pc)).toBe(handler);
    expect(await session.core.haltCause()).toBe('breakpoint');
    await session.core.clearBreakpoint(handler);
  });

  it('reads the firmware\'s RTT output while it runs', async () => {
    await session.core.reset({ halt: false });
    let address: number | null = null;
    const deadline = Date.now() + 5000;
    while (address === null && Date.now() < deadline) address = (await scanForControlBlocks(session.ap, 0x20000000, 0x4000))[0] ?? null;
    expect(address).not.toBeNull();
    const block = await readControlBlock(session.ap, address!);
    expect(block.up.map((c) => c.name)).toEqual(['Terminal', 'Text', 'SysView']);
    const rtt = await RttSession.attach(session.ap, { address: address! });
    const text = await readChannelText(rtt, 1, (t) => /#3\n/.test(t), deadline);
    expect(text).toMatch(/^hello from dapdeck #1\nhello from dapdeck #2\nhello from dapdeck #3\n/);
    expect(await session.core.isHalted()).toBe(false);
  });
});

describe('QEMU processes', () => {
  it('are all gone once their targets are closed', () => {
    expect(runningQemuCount()).toBe(0);
  });

  it('a missing binary gives an install hint', async () => {
    await expect(QemuTarget.start({ board: 'microbit', elf: firmwarePath('hello', 'microbit'), qemuBinary: 'qemu-system-arm-missing' })).rejects.toThrow(
      /qemu-system-arm-missing not found: run scripts\/install-system-deps.sh/,
    );
  });
});
