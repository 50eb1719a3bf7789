/**
 * Target-side setup for instrumentation-free interrupt timelines: DWT exception trace through the
 * ITM, out of the TPIU as SWO in UART (NRZ) mode (ARMv7-M: C1.6 DEMCR, C1.7 ITM, C1.8 DWT, C1.10
 * TPIU). ARMv6-M (Cortex-M0/M0+) has no ITM: refused with a clear message.
 */
import { DebugError } from '../dap/errors';
import type { MemAp } from './mem-ap';

const DEMCR = 0xe000edfc;
const ITM_LAR = 0xe0000fb0;
const ITM_TCR = 0xe0000e80;
const ITM_TER = 0xe0000e00;
const DWT_CTRL = 0xe0001000;
const TPIU_CSPSR = 0xe0040004;
const TPIU_ACPR = 0xe0040010;
const TPIU_SPPR = 0xe00400f0;
const TPIU_FFCR = 0xe0040304;

export interface SwoSetup {
  /** TRACECLKIN (usually the core clock), Hz. */
  traceClockHz: number;
  /** Wanted SWO rate; the prescaler makes traceClockHz / (ACPR + 1). */
  baud: number;
}

/** Returns the baud the target's prescaler actually produces. */
/** `arch` as CortexM identifies it ('armv6-m', 'armv7-m', …). */
export async function enableExceptionTrace(ap: MemAp, setup: SwoSetup, arch: string): Promise<number> {
  if (arch === 'armv6-m' || arch === 'armv8-m.base') throw new DebugError('target', `this core (${arch}) has no ITM/DWT exception trace: SWO timelines need an ARMv7-M or ARMv8-M Mainline core (use SystemView over RTT instead)`);
  const acpr = Math.max(0, Math.round(setup.traceClockHz / setup.baud) - 1);
  const actual = setup.traceClockHz / (acpr + 1);
  const demcr = await ap.read32(DEMCR);
  await ap.write32(DEMCR, (demcr | (1 << 24)) >>> 0); // TRCENA: power up ITM/DWT/TPIU
  await ap.write32(TPIU_CSPSR, 1); // port size 1 (as SWO needs)
  await ap.write32(TPIU_ACPR, acpr);
  await ap.write32(TPIU_SPPR, 2); // NRZ (UART)
  await ap.write32(TPIU_FFCR, 0x100); // formatter off: ITM bytes go out raw
  await ap.write32(ITM_LAR, 0xc5acce55);
  // ITMENA | TSENA | SYNCENA | DWTENA, trace bus ID 1, timestamps at the full clock.
  await ap.write32(ITM_TCR, (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 16));
  await ap.write32(ITM_TER, 0xffffffff);
  const dwt = await ap.read32(DWT_CTRL);
  await ap.write32(DWT_CTRL, (dwt | (1 << 16)) >>> 0); // EXCTRCENA
  if (((await ap.read32(ITM_TCR)) & 1) === 0) throw new DebugError('target', 'the ITM did not enable (TCR.ITMENA reads 0 after unlocking): is trace powered on this part?');
  return actual;
}

export async function disableExceptionTrace(ap: MemAp): Promise<void> {
  const dwt = await ap.read32(DWT_CTRL);
  await ap.write32(DWT_CTRL, (dwt & ~(1 << 16)) >>> 0);
  await ap.write32(ITM_TCR, 0);
}
