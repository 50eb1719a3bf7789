/**
 * Cortex-M exceptions and fault status in words: the exception numbers (ARMv7-M B1.5.2), which
 * DEMCR vector catch bit catches each fault (C1.6.5), and CFSR/HFSR decoded (B3.2.15, B3.2.16).
 * Platform-free and I/O-free: the CLI's stop report, the probe model and a GDB server share it.
 */
import { DEMCR } from './registers';

export const EXCEPTION = { Reset: 1, NMI: 2, HardFault: 3, MemManage: 4, BusFault: 5, UsageFault: 6, SVCall: 11, DebugMonitor: 12, PendSV: 14, SysTick: 15 } as const;

export function exceptionName(n: number): string {
  const entry = Object.entries(EXCEPTION).find(([, v]) => v === n);
  if (entry) return entry[0];
  return n >= 16 ? `IRQ ${n - 16}` : `exception ${n}`;
}

export const HFSR = { VECTTBL: 1 << 1, FORCED: 1 << 30, DEBUGEVT: 0x80000000 } as const;

/** CFSR = UFSR[31:16] | BFSR[15:8] | MMFSR[7:0]. */
export const CFSR = {
  IACCVIOL: 1 << 0,
  DACCVIOL: 1 << 1,
  MUNSTKERR: 1 << 3,
  MSTKERR: 1 << 4,
  MLSPERR: 1 << 5,
  MMARVALID: 1 << 7,
  IBUSERR: 1 << 8,
  PRECISERR: 1 << 9,
  IMPRECISERR: 1 << 10,
  UNSTKERR: 1 << 11,
  STKERR: 1 << 12,
  LSPERR: 1 << 13,
  BFARVALID: 1 << 15,
  UNDEFINSTR: 1 << 16,
  INVSTATE: 1 << 17,
  INVPC: 1 << 18,
  NOCP: 1 << 19,
  UNALIGNED: 1 << 24,
  DIVBYZERO: 1 << 25,
} as const;

/**
 * The DEMCR bit that catches entry to `exception`: HardFault, MemManage, BusFault, and UsageFault
 * split by cause (NOCP → VC_NOCPERR; UNALIGNED, DIVBYZERO → VC_CHKERR; UNDEFINSTR, INVSTATE, INVPC
 * → VC_STATERR). 0 when no catch bit covers it.
 */
export function vectorCatchBit(exception: number, cfsr: number): number {
  switch (exception) {
    case EXCEPTION.HardFault:
      return DEMCR.VC_HARDERR;
    case EXCEPTION.MemManage:
      return DEMCR.VC_MMERR;
    case EXCEPTION.BusFault:
      return DEMCR.VC_BUSERR;
    case EXCEPTION.UsageFault:
      return (cfsr & CFSR.NOCP ? DEMCR.VC_NOCPERR : 0) | (cfsr & (CFSR.UNALIGNED | CFSR.DIVBYZERO) ? DEMCR.VC_CHKERR : 0) | (cfsr & (CFSR.UNDEFINSTR | CFSR.INVSTATE | CFSR.INVPC) ? DEMCR.VC_STATERR : 0);
    default:
      return 0;
  }
}

/** Every catch bit for the fault vectors (what `--catch-hardfault` style options enable). */
export const VC_ALL_FAULTS = DEMCR.VC_HARDERR | DEMCR.VC_INTERR | DEMCR.VC_BUSERR | DEMCR.VC_STATERR | DEMCR.VC_CHKERR | DEMCR.VC_NOCPERR | DEMCR.VC_MMERR;

/** A BKPT instruction's immediate, or null when the halfword is not a BKPT (T1 encoding 0xBExx). */
export function bkptImmediate(halfword: number): number | null {
  return halfword >>> 8 === 0xbe ? halfword & 0xff : null;
}

export interface FaultStatus {
  cfsr: number;
  hfsr: number;
  mmfar: number;
  bfar: number;
}

/** The set fault status bits as words, with MMFAR/BFAR where their VALID bits say they hold the address. */
export function describeFaultStatus(s: FaultStatus): string[] {
  const hex = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, '0')}`;
  const words: string[] = [];
  const c = s.cfsr;
  if (s.hfsr & HFSR.VECTTBL) words.push('vector table read fault (HFSR.VECTTBL)');
  if (s.hfsr & HFSR.FORCED) words.push('escalated to HardFault (HFSR.FORCED)');
  if (s.hfsr & HFSR.DEBUGEVT) words.push('debug event with halting debug off (HFSR.DEBUGEVT)');
  if (c & CFSR.IACCVIOL) words.push('instruction access violation (IACCVIOL)');
  if (c & CFSR.DACCVIOL) words.push(`data access violation${c & CFSR.MMARVALID ? ` at ${hex(s.mmfar)}` : ''} (DACCVIOL)`);
  if (c & CFSR.MUNSTKERR) words.push('MemManage fault on unstacking (MUNSTKERR)');
  if (c & CFSR.MSTKERR) words.push('MemManage fault on stacking (MSTKERR)');
  if (c & CFSR.MLSPERR) words.push('MemManage fault on lazy FP state (MLSPERR)');
  if (c & CFSR.IBUSERR) words.push('bus error on instruction fetch (IBUSERR)');
  if (c & CFSR.PRECISERR) words.push(`precise bus error${c & CFSR.BFARVALID ? ` at ${hex(s.bfar)}` : ''} (PRECISERR)`);
  if (c & CFSR.IMPRECISERR) words.push('imprecise bus error (IMPRECISERR)');
  if (c & CFSR.UNSTKERR) words.push('bus error on unstacking (UNSTKERR)');
  if (c & CFSR.STKERR) words.push('bus error on stacking (STKERR)');
  if (c & CFSR.LSPERR) words.push('bus error on lazy FP state (LSPERR)');
  if (c & CFSR.UNDEFINSTR) words.push('undefined instruction (UNDEFINSTR)');
  if (c & CFSR.INVSTATE) words.push('invalid state: Thumb bit clear (INVSTATE)');
  if (c & CFSR.INVPC) words.push('invalid EXC_RETURN (INVPC)');
  if (c & CFSR.NOCP) words.push('no coprocessor (NOCP)');
  if (c & CFSR.UNALIGNED) words.push('unaligned access (UNALIGNED)');
  if (c & CFSR.DIVBYZERO) words.push('divide by zero (DIVBYZERO)');
  return words;
}
