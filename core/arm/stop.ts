/**
 * Why a core stopped, named as a person reads it: from DHCSR (halted, locked up), DFSR (BKPT, vector
 * catch, halt request), the instruction at the PC (a BKPT's immediate; 0xAB is a semihosting call,
 * ARM IHI 0053 / DUI 0471), the exception the core is in (IPSR), and the SCB fault registers
 * (CFSR/HFSR, MMFAR/BFAR where valid; ARMv7-M B3.2.15–B3.2.18) with the exception frame the fault
 * pushed (the PC and LR of the code that faulted). Shared by the CLI's stop report and a GDB server.
 */
import { hex32 } from '../dap/protocol';
import type { CortexM } from './cortex-m';
import { EXCEPTION, VC_ALL_FAULTS, bkptImmediate, describeFaultStatus, exceptionName, type FaultStatus } from './faults';
import type { MemAp } from './mem-ap';
import { CoreReg, DFSR, DHCSR, SCB, SCS } from './registers';

export const SEMIHOSTING_BKPT = 0xab;

export type StopKind = 'semihosting' | 'bkpt' | 'breakpoint' | 'fault' | 'lockup' | 'halt';

export interface StopReport {
  kind: StopKind;
  /** One line: "HardFault: precise bus error at 0x30000000 (PRECISERR)", "BKPT #0x12 at 0x00000044". */
  summary: string;
  pc: number;
  sp: number;
  lr: number;
  xpsr: number;
  dfsr: number;
  dhcsr: number;
  /** The BKPT immediate when the core stopped at one. */
  bkpt?: number;
  /** Semihosting: the operation (r0) and its parameter (r1). */
  semihosting?: { op: number; arg: number };
  /** A fault: the exception taken, its status registers in words, and where the faulting code was. */
  fault?: FaultStatus & { exception: number; words: string[]; frame?: ExceptionFrame };
}

/** The eight words exception entry stacks (ARMv7-M B1.5.6): the interrupted code's state. */
export interface ExceptionFrame {
  r0: number;
  r1: number;
  r2: number;
  r3: number;
  r12: number;
  lr: number;
  pc: number;
  xpsr: number;
  /** SP of the interrupted code (above the frame, and the alignment word when xPSR bit 9 says so). */
  sp: number;
}

export function parseExceptionFrame(bytes: Uint8Array, sp: number): ExceptionFrame {
  const v = new DataView(bytes.buffer, bytes.byteOffset, 32);
  const w = (i: number) => v.getUint32(4 * i, true);
  return { r0: w(0), r1: w(1), r2: w(2), r3: w(3), r12: w(4), lr: w(5), pc: w(6), xpsr: w(7), sp: (sp + 32 + (w(7) & (1 << 9) ? 4 : 0)) >>> 0 };
}

/**
 * Examine a core that DHCSR says is halted or locked up. Reads DFSR (and clears it), the core
 * registers, and for a fault the SCB fault registers and the stacked frame. A locked-up core is
 * reported as it is (its registers need a halt, which would end the lockup: the caller decides).
 */
export async function examineStop(core: CortexM, dhcsr: number): Promise<StopReport> {
  const ap = core.ap;
  if (dhcsr & DHCSR.S_LOCKUP && !(dhcsr & DHCSR.S_HALT)) {
    return { kind: 'lockup', summary: 'lockup: the core faulted inside HardFault or NMI and stopped executing (DHCSR.S_LOCKUP)', pc: 0, sp: 0, lr: 0, xpsr: 0, dfsr: 0, dhcsr };
  }
  const dfsr = await ap.read32(SCS.DFSR);
  await ap.write32(SCS.DFSR, dfsr);
  const [r0, r1, sp, lr, pc, xpsr] = await core.readCoreRegisters([CoreReg.r0, CoreReg.r1, CoreReg.sp, CoreReg.lr, CoreReg.pc, CoreReg.xpsr]);
  const base = { pc, sp, lr, xpsr, dfsr, dhcsr };
  const exception = xpsr & 0x1ff;
  if (dfsr & DFSR.BKPT) {
    const imm = await readBkpt(core, pc);
    if (imm === SEMIHOSTING_BKPT) return { ...base, kind: 'semihosting', bkpt: imm, semihosting: { op: r0, arg: r1 }, summary: `semihosting call 0x${r0.toString(16)} at ${hex32(pc)}` };
    if (imm !== null) return { ...base, kind: 'bkpt', bkpt: imm, summary: `BKPT #0x${imm.toString(16)} at ${hex32(pc)}` };
    return { ...base, kind: 'breakpoint', summary: `breakpoint at ${hex32(pc)}` };
  }
  if (exception >= EXCEPTION.HardFault && exception <= EXCEPTION.UsageFault && (dfsr & DFSR.VCATCH || dfsr === 0)) {
    const fault = await readFault(core, exception, sp);
    const name = exceptionName(exception);
    const where = fault.frame ? ` in code at ${hex32(fault.frame.pc)}` : '';
    return { ...base, kind: 'fault', fault, summary: `${name}${fault.words.length ? `: ${fault.words.join(', ')}` : ''}${where}` };
  }
  return { ...base, kind: 'halt', summary: `halted at ${hex32(pc)}${exception ? ` in ${exceptionName(exception)}` : ''}` };
}

/** The immediate of the BKPT instruction at `pc`, or null when it is not one (or unreadable). */
export async function readBkpt(core: CortexM, pc: number): Promise<number | null> {
  try {
    return bkptImmediate(await core.ap.read16(pc & ~1));
  } catch {
    return null;
  }
}

async function readFault(core: CortexM, exception: number, sp: number): Promise<FaultStatus & { exception: number; words: string[]; frame?: ExceptionFrame }> {
  const ap = core.ap;
  const v7m = core.identity ? core.identity.arch !== 'armv6-m' : true;
  let status: FaultStatus = { cfsr: 0, hfsr: 0, mmfar: 0, bfar: 0 };
  if (v7m) {
    // ARMv6-M has no CFSR/HFSR/MMFAR/BFAR: a HardFault there carries no cause of its own.
    const words = await ap.readMemory(SCB.CFSR, 20); // CFSR, HFSR, DFSR, MMFAR, BFAR
    const v = new DataView(words.buffer, words.byteOffset, 20);
    status = { cfsr: v.getUint32(0, true), hfsr: v.getUint32(4, true), mmfar: v.getUint32(12, true), bfar: v.getUint32(16, true) };
  }
  let frame: ExceptionFrame | undefined;
  try {
    frame = parseExceptionFrame(await ap.readMemory(sp, 32), sp);
  } catch {
    frame = undefined; // the stack itself was the problem (stacking fault, overflow)
  }
  return { ...status, exception, words: describeFaultStatus(status), frame };
}

/**
 * The stop as one block (the CLI's stderr, the app's console): reason, the registers, fault status
 * in words, where the faulting code was. `functionAt` names code addresses ("name+0x12") when the
 * firmware's symbols are known.
 */
export function formatStop(report: StopReport, functionAt?: (address: number) => string | null): string {
  const where = (address: number) => {
    const name = functionAt?.(address) ?? null;
    return `${hex32(address)}${name ? ` (${name})` : ''}`;
  };
  const lines = [`dapdeck: stopped: ${report.summary}`];
  if (report.kind !== 'lockup') lines.push(`  pc ${where(report.pc)}  lr ${hex32(report.lr)}  sp ${hex32(report.sp)}  xpsr ${hex32(report.xpsr)}`);
  const f = report.fault;
  if (f) {
    if (f.cfsr || f.hfsr) lines.push(`  CFSR ${hex32(f.cfsr)}  HFSR ${hex32(f.hfsr)}`);
    if (f.frame) {
      lines.push(`  faulting code: pc ${where(f.frame.pc)}, called from ${where(f.frame.lr)}, sp ${hex32(f.frame.sp)}`);
      lines.push(`  registers: r0 ${hex32(f.frame.r0)} r1 ${hex32(f.frame.r1)} r2 ${hex32(f.frame.r2)} r3 ${hex32(f.frame.r3)} r12 ${hex32(f.frame.r12)}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** A fault stop in a few words, for a status line: "HardFault (precise bus error at 0x30000004 (PRECISERR))". */
export function faultHeadline(report: StopReport): string {
  if (!report.fault) return report.summary;
  const words = report.fault.words;
  return `${exceptionName(report.fault.exception)}${words.length ? ` (${words.join(', ')})` : ''}`;
}

/**
 * Vector catch as probe-run and probe-rs set it: every fault vector halts the core on entry, so the
 * fault is seen before its handler changes anything. `catchFaults` false leaves the handlers to run.
 */
export async function setFaultCatch(ap: Pick<MemAp, 'read32' | 'write32'>, catchFaults: boolean): Promise<void> {
  const demcr = await ap.read32(SCS.DEMCR);
  await ap.write32(SCS.DEMCR, catchFaults ? demcr | VC_ALL_FAULTS : demcr & ~VC_ALL_FAULTS);
}
