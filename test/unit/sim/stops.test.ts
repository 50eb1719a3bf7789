/**
 * The in-process Cortex-M model halts, faults and locks up as silicon does (ARMv7-M ARM C1.5–C1.6,
 * B1.5.6, B1.5.15; ARMv6-M ARM C1): BKPT with C_DEBUGEN set halts at the BKPT with DFSR.BKPT;
 * without it the debug event is a HardFault with HFSR.DEBUGEVT; DEMCR vector catch halts on the
 * handler's first instruction with DFSR.VCATCH; a fault in HardFault is lockup (DHCSR.S_LOCKUP,
 * bit 19), which a debugger halt or a reset ends. Bit positions are the manuals'.
 */
import { describe, expect, it } from 'vitest';
import { DebugSession } from '../../../core/arm/session';
import { CFSR, HFSR } from '../../../core/arm/faults';
import { CoreReg, DEMCR, DFSR, DHCSR, SCB, SCS } from '../../../core/arm/registers';
import { SimulatedProbe } from '../../../core/sim/cmsis-dap-probe';
import { MemoryTarget } from '../../../core/sim/memory-target';

const u32le = (...words: number[]) => {
  const out = new Uint8Array(4 * words.length);
  const v = new DataView(out.buffer);
  words.forEach((w, i) => v.setUint32(4 * i, w >>> 0, true));
  return out;
};

/** Vector table (SP, Reset 0x41, NMI 0x4b, HardFault 0x4d, MemManage 0x4d, BusFault 0x4d, UsageFault 0x4d) and a BKPT at 0x44. */
async function open(preset: 'cortex-m0' | 'cortex-m3', hardFaultVector = 0x4d) {
  const target = new MemoryTarget(preset);
  target.loadFlash(0, u32le(0x20004000, 0x41, 0x4b, hardFaultVector, 0x4d, 0x4d, 0x4d));
  target.loadFlash(0x40, Uint8Array.of(0x01, 0x20, 0x02, 0x21, 0x12, 0xbe, 0xfe, 0xe7));
  const probe = new SimulatedProbe({ flavour: 'v2-bulk', target });
  const session = await DebugSession.open(probe.transport, { responseTimeoutMs: 200 });
  await session.core.reset({ halt: true });
  return { target, session };
}

describe.each(['cortex-m0', 'cortex-m3'] as const)('%s model: stops', (preset) => {
  it('BKPT with C_DEBUGEN halts at the BKPT with DFSR.BKPT, and again on every resume', async () => {
    const { session } = await open(preset);
    await session.core.writeCoreRegister(CoreReg.pc, 0x44);
    await session.core.resume();
    expect(await session.core.waitForHalt(100)).toBe(true);
    expect(await session.core.readCoreRegister(CoreReg.pc)).toBe(0x44);
    expect((await session.ap.read32(SCS.DFSR)) & DFSR.BKPT).toBe(DFSR.BKPT);
    expect(await session.core.haltCause()).toBe('breakpoint');
    await session.core.step();
    expect(await session.core.readCoreRegister(CoreReg.pc)).toBe(0x44);
    expect((await session.ap.read32(SCS.DFSR)) & DFSR.BKPT).toBe(DFSR.BKPT);
  });

  it('without C_DEBUGEN a BKPT is a HardFault: frame stacked, handler entered, HFSR.DEBUGEVT on ARMv7-M', async () => {
    const { session, target } = await open(preset);
    await session.core.writeCoreRegisters([[CoreReg.pc, 0x44], [CoreReg.r0, 0x1234]]);
    await session.ap.write32(SCS.DHCSR, DHCSR.DBGKEY);
    expect(await session.core.isHalted()).toBe(false);
    expect(target.registers[15]).toBe(0x4c);
    expect(target.registers[16] & 0x1ff).toBe(3);
    expect(target.registers[14]).toBe(0xfffffff9);
    const frame = await target.readMemory(target.registers[13], 32);
    const v = new DataView(frame.buffer);
    expect(v.getUint32(0, true)).toBe(0x1234); // r0
    expect(v.getUint32(24, true)).toBe(0x44); // return address: the BKPT
    expect(await session.ap.read32(SCB.HFSR)).toBe(preset === 'cortex-m3' ? HFSR.DEBUGEVT : 0);
  });

  it('DEMCR.VC_HARDERR halts on the HardFault handler\'s first instruction with DFSR.VCATCH', async () => {
    const { session, target } = await open(preset);
    await session.ap.write32(SCS.DEMCR, DEMCR.VC_HARDERR);
    expect((await session.ap.read32(SCS.DEMCR)) & DEMCR.VC_HARDERR).toBe(DEMCR.VC_HARDERR);
    await session.core.resume();
    await target.takeException(5, { cfsr: CFSR.PRECISERR | CFSR.BFARVALID, bfar: 0x30000000 });
    expect(await session.core.isHalted()).toBe(true);
    expect((await session.ap.read32(SCS.DFSR)) & DFSR.VCATCH).toBe(DFSR.VCATCH);
    expect(await session.core.readCoreRegister(CoreReg.pc)).toBe(0x4c);
    expect((await session.core.readCoreRegister(CoreReg.xpsr)) & 0x1ff).toBe(3); // BusFault escalated
    if (preset === 'cortex-m3') {
      expect(await session.ap.read32(SCB.HFSR)).toBe(HFSR.FORCED);
      expect(await session.ap.read32(SCB.CFSR)).toBe(CFSR.PRECISERR | CFSR.BFARVALID);
      expect(await session.ap.read32(SCB.BFAR)).toBe(0x30000000);
    }
  });

  it('without a catch the fault handler runs; ARMv6-M keeps only VC_HARDERR and VC_CORERESET of DEMCR', async () => {
    const { session, target } = await open(preset);
    await session.ap.write32(SCS.DEMCR, DEMCR.VC_BUSERR | DEMCR.VC_CORERESET);
    expect(await session.ap.read32(SCS.DEMCR)).toBe(preset === 'cortex-m0' ? DEMCR.VC_CORERESET : DEMCR.VC_BUSERR | DEMCR.VC_CORERESET);
    await session.core.resume();
    await target.takeException(3);
    expect(await session.core.isHalted()).toBe(false);
    expect(target.registers[15]).toBe(0x4c);
  });

  it('a fault in HardFault is lockup: S_LOCKUP, not halted, no instruction retires; a halt ends it, a reset too', async () => {
    const { session, target } = await open(preset);
    await session.core.resume();
    await target.takeException(3);
    await target.takeException(3);
    let status = await session.core.status();
    expect(status.lockup).toBe(true);
    expect(status.halted).toBe(false);
    expect(status.dhcsr & DHCSR.S_RETIRE_ST).toBe(0);
    await session.core.halt();
    status = await session.core.status();
    expect(status.lockup).toBe(false);
    expect(status.halted).toBe(true);
    await session.core.resume();
    await target.takeException(3);
    await target.takeException(3);
    expect((await session.core.status()).lockup).toBe(true);
    await session.core.reset({ halt: true });
    status = await session.core.status();
    expect(status.lockup).toBe(false);
    expect(status.halted).toBe(true);
  });

  it('a HardFault vector the core cannot execute (Thumb bit clear) is lockup at once', async () => {
    const { session, target } = await open(preset, 0x4c);
    await session.core.resume();
    await target.takeException(3);
    expect((await session.core.status()).lockup).toBe(true);
  });
});
