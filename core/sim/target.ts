/**
 * What sits behind the simulated debug port: the target's bus and core as a debugger sees them.
 *
 * The probe model (core/sim) turns SWD transfers into calls on this interface; the Cortex-M debug
 * registers (DHCSR, DCRSR, DCRDR, DEMCR, AIRCR, FPB) are modelled in core/sim on top of it, so a
 * backend only supplies plain bus access and run control. Two backends exist: an in-process memory
 * model (core/sim/memory-target.ts) and QEMU through its GDB stub (main/emu/qemu-target.ts).
 *
 * Every method may be slow (QEMU round-trips over TCP), hence async.
 */

/** A bus error on the target: the MEM-AP answers a transfer to this address with a FAULT. */
export class BusFault extends Error {
  constructor(
    readonly address: number,
    readonly access: 'read' | 'write',
  ) {
    super(`bus fault on ${access} at 0x${(address >>> 0).toString(16).padStart(8, '0')}`);
    this.name = 'BusFault';
  }
}

export interface MemoryRegion {
  readonly name: string;
  readonly kind: 'flash' | 'ram' | 'peripheral';
  readonly start: number;
  readonly size: number;
}

/**
 * Core register numbers as DCRSR.REGSEL encodes them (ARMv6-M/ARMv7-M ARM, C1.6.3 / B1.5.?):
 * 0–12 r0–r12, 13 SP (current), 14 LR, 15 DebugReturnAddress (PC), 16 xPSR, 17 MSP, 18 PSP,
 * 20 CONTROL[31:24] FAULTMASK[23:16] BASEPRI[15:8] PRIMASK[7:0].
 */
export type CoreRegister = number;

/**
 * Why a core stopped by itself or on request: 'breakpoint' is an FPB comparator, 'bkpt' a BKPT
 * instruction (both set DFSR.BKPT), 'vector-catch' a DEMCR catch (DFSR.VCATCH), 'watchpoint' a DWT
 * comparator (DFSR.DWTTRAP).
 */
export type HaltReason = 'request' | 'breakpoint' | 'bkpt' | 'step' | 'vector-catch' | 'watchpoint' | 'unknown';

export type WatchAccess = 'read' | 'write' | 'access';

/**
 * What the debugger has enabled (ARMv7-M C1.6.2 DHCSR.C_DEBUGEN, C1.6.5 DEMCR): with halting debug
 * on, a BKPT halts the core instead of escalating to HardFault, and the DEMCR VC_* bits halt the
 * core on entry to the matching fault handler.
 */
export interface DebugControl {
  debugEnabled: boolean;
  /** DEMCR as written (only the VC_* bits matter to a backend). */
  demcr: number;
}

export interface SimTarget {
  /** e.g. "QEMU microbit (nRF51822, Cortex-M0)". */
  readonly description: string;
  /** SCB CPUID value this core reports at 0xE000ED00. */
  readonly cpuid: number;
  /** SW-DP DPIDR (IDCODE) this target's debug port reports. */
  readonly dpidr: number;
  /** Flash, RAM and peripheral regions, for scanning and for refusing images outside flash. */
  readonly memoryMap: readonly MemoryRegion[];
  /**
   * The chip an on-board probe is wired to, as it reports it in DAP_Info 0x05/0x06 (Target Device
   * Vendor/Name; DAPLink on a micro:bit names its nRF51822). Absent: the probe does not say.
   */
  readonly targetDevice?: { vendor: string; name: string };

  /** Byte-exact bus reads and writes; throw BusFault for unmapped addresses. */
  readMemory(address: number, length: number): Promise<Uint8Array>;
  writeMemory(address: number, data: Uint8Array): Promise<void>;

  halt(): Promise<void>;
  resume(): Promise<void>;
  /** Execute one instruction; the core is halted before and after. */
  step(): Promise<void>;
  /** Whether the core is halted now (a breakpoint hit while running shows up here). */
  isHalted(): Promise<boolean>;
  haltReason(): HaltReason;
  /**
   * The core is in lockup (an unrecoverable fault in HardFault or NMI): not halted, executing
   * nothing, DHCSR.S_LOCKUP set until a reset or a debugger halt. Backends that cannot lock up omit it.
   */
  isLockedUp?(): Promise<boolean>;
  /** DHCSR.C_DEBUGEN and DEMCR changed (the debug model calls this on every change). */
  setDebugControl?(control: DebugControl): Promise<void>;
  /** Only valid while halted. */
  readRegister(reg: CoreRegister): Promise<number>;
  writeRegister(reg: CoreRegister, value: number): Promise<void>;
  /** System reset (as AIRCR.SYSRESETREQ); with `halt`, stop at the reset vector (DEMCR.VC_CORERESET). */
  reset(options: { halt: boolean }): Promise<void>;
  /** Hardware breakpoints (the FPB model calls these when FP_COMPn is written/cleared). */
  setBreakpoint(address: number): Promise<void>;
  clearBreakpoint(address: number): Promise<void>;
  /**
   * Data watchpoints (the DWT model calls these when a comparator is armed/disarmed). Backends
   * that run no code leave them out: the comparators are then registers only.
   */
  setWatchpoint?(address: number, length: number, access: WatchAccess): Promise<void>;
  clearWatchpoint?(address: number, length: number, access: WatchAccess): Promise<void>;
  /** After a 'watchpoint' halt: the data address whose access stopped the core. */
  watchpointHit?(): number | null;
  /**
   * Modeled target-side time (e.g. a flash algorithm running) since the last call, which the probe
   * model adds to its wire clock. Backends without a model of their own timing omit it.
   */
  takeElapsedSeconds?(): number;
  /**
   * Whether the target reset by itself (the firmware's SYSRESETREQ, a watchdog) since the last
   * call: DHCSR.S_RESET_ST reports it. Backends that cannot tell omit it.
   */
  takeSelfReset?(): boolean;
  /**
   * Hands the target the probe model's clock (modeled seconds), for targets that model how long
   * their code runs (the in-process target's emulated flash algorithms): the core reads as running
   * until the probe's clock passes the end of the emulated call.
   */
  attachClock?(now: () => number): void;
  /** Release whatever the backend holds (process, socket). */
  close(): Promise<void>;
}
