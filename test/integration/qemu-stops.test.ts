/**
 * Halting debug on the QEMU boards as on silicon (ARMv7-M C1.5–C1.6, ARMv6-M C1): BKPT halts the core
 * with DFSR.BKPT and the PC at the BKPT; DEMCR vector catch halts on a fault handler's first
 * instruction with DFSR.VCATCH; a blank board that is resumed locks up (DHCSR.S_LOCKUP) and the
 * process lives on. The programs are assembled by hand here; gdb-multiarch on a second QEMU's own
 * stub says what the registers are just before the BKPT executes, the state silicon halts in.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DebugSession } from '../../core/arm/session';
import { CoreReg, DEMCR, DFSR, DHCSR, SCS } from '../../core/arm/registers';
import { SimulatedProbe } from '../../core/sim/cmsis-dap-probe';
import { QemuTarget } from '../../main/emu/qemu-target';
import { parseGdbRegisters, runGdb, thumbImage, writeThumbElf } from '../support/gdb-observer';

const machines = [
  { board: 'microbit', core: 'Cortex-M0' },
  { board: 'lm3s6965evb', core: 'Cortex-M3' },
] as const;

// 0x40: movs r0,#1; movs r1,#2; bkpt #0x12; movs r0,#3; b .   0x4a: NMI b .   0x4c: HardFault: movs r5,#7; b 0x4c
const BKPT_PROGRAM = thumbImage([
  { at: 0, words: [0x20004000, 0x41, 0x4b, 0x4d] },
  { at: 0x40, halfwords: [0x2001, 0x2102, 0xbe12, 0x2003, 0xe7fe, 0xe7fe, 0x2507, 0xe7fd] },
]);
// 0x40: movs r0,#1; udf #0x42; b .   0x46: NMI b .   0x48: HardFault: movs r5,#7; b 0x48
const UDF_PROGRAM = thumbImage([
  { at: 0, words: [0x20004000, 0x41, 0x47, 0x49] },
  { at: 0x40, halfwords: [0x2001, 0xde42, 0xe7fe, 0xe7fe, 0x2507, 0xe7fd] },
]);

// 0x40: bkpt #1   0x42: HardFault: bkpt #2 (a fault inside HardFault: lockup)   0x44: NMI b .
const LOCKUP_PROGRAM = thumbImage([
  { at: 0, words: [0x20004000, 0x41, 0x45, 0x43] },
  { at: 0x40, halfwords: [0xbe01, 0xbe02, 0xe7fe] },
]);

const REGS = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9', 'r10', 'r11', 'r12', 'sp', 'lr', 'pc', 'xpsr'] as const;

async function open(board: 'microbit' | 'lm3s6965evb', elf?: string) {
  const target = await QemuTarget.start({ board, elf });
  const probe = new SimulatedProbe({ flavour: 'v2-bulk', target });
  const session = await DebugSession.open(probe.transport, { responseTimeoutMs: 3000, haltTimeoutMs: 2000 });
  return { target, session };
}

async function waitForHalt(session: DebugSession): Promise<void> {
  expect(await session.core.waitForHalt(5000)).toBe(true);
}

let opened: { target: QemuTarget; session: DebugSession } | null = null;
afterEach(async () => {
  await opened?.session.close().catch(() => undefined);
  await opened?.target.close();
  opened = null;
});

describe.each(machines)('$board ($core): stops as on silicon', ({ board }) => {
  const bkptElf = writeThumbElf(`bkpt-${board}`, BKPT_PROGRAM);
  const udfElf = writeThumbElf(`udf-${board}`, UDF_PROGRAM);

  it('BKPT with C_DEBUGEN halts at the BKPT with DFSR.BKPT, registers as GDB sees them before it executes', async () => {
    opened = await open(board, bkptElf);
    const { session } = opened;
    await session.core.reset({ halt: true });
    await session.core.resume();
    await waitForHalt(session);
    const dfsr = await session.ap.read32(SCS.DFSR);
    expect(dfsr & DFSR.BKPT).toBe(DFSR.BKPT);
    expect(dfsr & DFSR.VCATCH).toBe(0);
    const ours = await session.core.readCoreRegisters(REGS.map((r) => CoreReg[r]));
    const gdb = parseGdbRegisters(await runGdb(board, bkptElf, ['break *0x44', 'continue', 'info registers']));
    expect(gdb.get('pc')).toBe(0x44);
    REGS.forEach((name, i) => expect({ name, value: ours[i] }).toEqual({ name, value: gdb.get(name) }));
    // The firmware never saw an exception: resuming at the BKPT halts there again, nothing ran.
    await session.core.resume();
    await waitForHalt(session);
    expect(await session.core.readCoreRegister(CoreReg.pc)).toBe(0x44);
    expect(await session.core.readCoreRegister(CoreReg.r5)).toBe(0);
    // Stepping over it by moving the PC on runs the rest of the program.
    await session.core.writeCoreRegister(CoreReg.pc, 0x46);
    await session.core.step();
    expect(await session.core.readCoreRegister(CoreReg.r0)).toBe(3);
  });

  it('a step onto a BKPT halts at it (DFSR.BKPT) instead of entering HardFault', async () => {
    opened = await open(board, bkptElf);
    const { session } = opened;
    await session.core.reset({ halt: true });
    await session.core.step();
    await session.core.step();
    expect(await session.core.readCoreRegister(CoreReg.pc)).toBe(0x44);
    await session.core.step();
    expect(await session.core.readCoreRegister(CoreReg.pc)).toBe(0x44);
    expect((await session.core.readCoreRegister(CoreReg.xpsr)) & 0x1ff).toBe(0);
    expect((await session.ap.read32(SCS.DFSR)) & DFSR.BKPT).toBe(DFSR.BKPT);
  });

  it('without C_DEBUGEN a BKPT is the HardFault the firmware handles, as on silicon', async () => {
    opened = await open(board, bkptElf);
    const { session } = opened;
    await session.core.reset({ halt: true });
    // Release the core with halting debug off (DHCSR write without C_DEBUGEN).
    await session.ap.write32(SCS.DHCSR, DHCSR.DBGKEY);
    await new Promise((r) => setTimeout(r, 100));
    await session.core.halt();
    const [pc, xpsr, r5] = await session.core.readCoreRegisters([CoreReg.pc, CoreReg.xpsr, CoreReg.r5]);
    expect(xpsr & 0x1ff).toBe(3); // in HardFault
    expect([0x4c, 0x4e]).toContain(pc);
    expect(r5).toBe(7);
  });

  it('DEMCR.VC_HARDERR halts on the HardFault handler\'s first instruction with DFSR.VCATCH; without it the handler runs', async () => {
    opened = await open(board, udfElf);
    const { session } = opened;
    await session.core.reset({ halt: true });
    const demcr = await session.ap.read32(SCS.DEMCR);
    await session.ap.write32(SCS.DEMCR, demcr | DEMCR.VC_HARDERR);
    await session.core.resume();
    await waitForHalt(session);
    expect((await session.ap.read32(SCS.DFSR)) & DFSR.VCATCH).toBe(DFSR.VCATCH);
    const [pc, xpsr, sp, r5] = await session.core.readCoreRegisters([CoreReg.pc, CoreReg.xpsr, CoreReg.sp, CoreReg.r5]);
    expect(pc).toBe(0x48);
    expect(xpsr & 0x1ff).toBe(3);
    expect(r5).toBe(0); // not one handler instruction ran
    const frame = await session.ap.readMemory(sp, 32);
    expect(new DataView(frame.buffer).getUint32(24, true)).toBe(0x42); // stacked PC: the UDF
    // The same with the catch off: the firmware's handler runs.
    await session.core.reset({ halt: true });
    await session.ap.write32(SCS.DEMCR, demcr & ~DEMCR.VC_HARDERR);
    await session.core.resume();
    await new Promise((r) => setTimeout(r, 100));
    expect(await session.core.isHalted()).toBe(false);
    await session.core.halt();
    expect(await session.core.readCoreRegister(CoreReg.r5)).toBe(7);
  });

  it('a lockup QEMU cannot survive (a fault inside HardFault) still reads as lockup and the process lives', async () => {
    opened = await open(board, writeThumbElf(`lockup-${board}`, LOCKUP_PROGRAM));
    const { session } = opened;
    await session.core.reset({ halt: true });
    await session.ap.write32(SCS.DHCSR, DHCSR.DBGKEY); // run with halting debug off: both BKPTs fault
    const deadline = Date.now() + 5000;
    while (!(await session.core.status()).lockup && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const status = await session.core.status();
    expect(status.lockup).toBe(true);
    expect(status.halted).toBe(false);
    await session.core.halt();
    // The registers QEMU printed as it ended: in HardFault, at its BKPT.
    const [pc, xpsr] = await session.core.readCoreRegisters([CoreReg.pc, CoreReg.xpsr]);
    expect(pc).toBe(0x42);
    expect(xpsr & 0x1ff).toBe(3);
    await expect(session.ap.readMemory(0x20000000, 4)).rejects.toThrow();
  });

  it('a blank board that is resumed locks up (DHCSR.S_LOCKUP), the process lives, a halt and a reset recover', async () => {
    opened = await open(board);
    const { session, target } = opened;
    await session.core.reset({ halt: true });
    await session.core.resume();
    await new Promise((r) => setTimeout(r, 200));
    const status = await session.core.status();
    expect(status.lockup).toBe(true);
    expect(status.halted).toBe(false);
    expect((await target.isLockedUp())).toBe(true);
    // Memory stays readable through the debug port, as on silicon.
    expect((await session.ap.readMemory(0x20000000, 4)).length).toBe(4);
    await session.core.halt();
    const after = await session.core.status();
    expect(after.halted).toBe(true);
    expect(after.lockup).toBe(false);
    expect((await session.core.readCoreRegister(CoreReg.xpsr)) & 0x1ff).toBe(3);
    await session.core.reset({ halt: true });
    expect((await session.core.readCoreRegister(CoreReg.xpsr)) & 0x1ff).toBe(0);
  });
});

describe.each(machines)('$board ($core): a flash loader in RAM on a blank chip', ({ board }) => {
  // What OpenOCD's nRF51 loader meets: the vector table is erased (every handler 0xffffffff) and it
  // runs on the stack pointer the blank chip reset to (0xfffffffc), so no exception frame can be
  // pushed. On silicon the BKPT halts before any exception is taken (ARMv6-M C1.5.1, ARMv7-M
  // C1.5.1: with C_DEBUGEN, BKPT is a debug event that halts), so none of that matters.
  it('BKPT halts at the BKPT with DFSR.BKPT, in Thread mode, registers untouched, SP unused', async () => {
    opened = await open(board); // factory-fresh: no firmware
    const { session } = opened;
    await session.core.halt();
    const loader = 0x20000100;
    // movs r0,#1; movs r1,#2; bkpt #0x34; b .
    await session.ap.writeMemory(loader, new Uint8Array([0x01, 0x20, 0x02, 0x21, 0x34, 0xbe, 0xfe, 0xe7]));
    await session.core.writeCoreRegisters([
      [CoreReg.sp, 0xfffffffc],
      [CoreReg.pc, loader],
      [CoreReg.xpsr, 0x01000000],
    ]);
    await session.ap.write32(SCS.DFSR, 0x1f); // write-one-to-clear
    await session.core.resume();
    await waitForHalt(session);
    expect((await session.ap.read32(SCS.DFSR)) & (DFSR.BKPT | DFSR.VCATCH)).toBe(DFSR.BKPT);
    expect(await session.core.readCoreRegisters([CoreReg.r0, CoreReg.r1, CoreReg.sp, CoreReg.pc])).toEqual([1, 2, 0xfffffffc, loader + 4]);
    expect((await session.core.readCoreRegister(CoreReg.xpsr)) & 0x1ff).toBe(0); // no exception entered
    expect((await session.ap.read32(SCS.DHCSR)) & DHCSR.S_LOCKUP).toBe(0);
    // Resumed at the BKPT, it halts there again at once.
    await session.core.resume();
    await waitForHalt(session);
    expect(await session.core.readCoreRegister(CoreReg.pc)).toBe(loader + 4);
  });
});
