/**
 * Cortex-M run control and core registers through the SCS debug registers (ARMv7-M ARM C1.6,
 * ARMv6-M ARM C1.6).
 *
 * DHCSR, DCRSR, DCRDR and DEMCR are four consecutive words at 0xE000EDF0, so with TAR pointing there
 * they are the MEM-AP's banked registers BD0–BD3: register transfers then need no TAR rewrites and
 * batch into a single packet, and the "wait for S_REGRDY / S_HALT" polls run inside the probe as
 * DAP_Transfer value-match reads instead of host round trips.
 */
import { hex32 } from '../dap/protocol';
import { DebugError, SwdTransferError } from '../dap/errors';
import type { MemAp } from './mem-ap';
import { AIRCR, CORE_PARTS, CoreReg, DCRSR_REGWNR, DEMCR, DFSR, DHCSR, MEM_AP, SCS, type CoreRegName } from './registers';

export interface CoreIdentity {
  cpuid: number;
  name: string;
  arch: string;
  /** "r0p0" style. */
  revision: string;
}

export interface CoreStatus {
  halted: boolean;
  sleeping: boolean;
  lockup: boolean;
  /** S_RESET_ST: the core was reset since DHCSR was last read. */
  resetSinceLastRead: boolean;
  /** S_RETIRE_ST: an instruction retired since DHCSR was last read. */
  retiredSinceLastRead: boolean;
  dhcsr: number;
}

export type HaltCause = 'request' | 'breakpoint' | 'step' | 'vector-catch' | 'watchpoint' | 'external' | 'unknown';

const FP_CTRL = 0xe0002000;
const FP_COMP0 = 0xe0002008;
const BD_DHCSR = MEM_AP.BD0;
const BD_DCRSR = MEM_AP.BD1;
const BD_DCRDR = MEM_AP.BD2;
const BD_DEMCR = MEM_AP.BD3;

export class CortexM {
  identity: CoreIdentity | null = null;
  private maskInts = false;

  constructor(
    readonly ap: MemAp,
    private readonly options: { haltTimeoutMs?: number } = {},
  ) {}

  private get haltTimeoutMs() {
    return this.options.haltTimeoutMs ?? 100;
  }

  async identify(): Promise<CoreIdentity> {
    const cpuid = await this.ap.read32(SCS.CPUID);
    const implementer = cpuid >>> 24;
    const partNo = (cpuid >>> 4) & 0xfff;
    const part = implementer === 0x41 ? CORE_PARTS[partNo] : undefined;
    if (!part) {
      throw new DebugError('core', `unknown core: CPUID ${hex32(cpuid)} (implementer 0x${implementer.toString(16)}, part 0x${partNo.toString(16)}) is not a supported Cortex-M`);
    }
    this.identity = { cpuid, name: part.name, arch: part.arch, revision: `r${(cpuid >>> 20) & 0xf}p${cpuid & 0xf}` };
    return this.identity;
  }

  /** TAR → DHCSR so BD0..BD3 address DHCSR/DCRSR/DCRDR/DEMCR. */
  private bank() {
    return [...this.ap.cswOps(32, false), ...this.ap.tarOps(SCS.DHCSR)];
  }

  async status(): Promise<CoreStatus> {
    const [dhcsr] = await this.ap.dp.run([...this.bank(), ...this.ap.apRead(BD_DHCSR, 'DHCSR')], 'reading DHCSR');
    return decodeDhcsr(dhcsr);
  }

  async isHalted(): Promise<boolean> {
    return (await this.status()).halted;
  }

  /** Why the core last halted, from DFSR (cleared after reading, write-one-to-clear). */
  async haltCause(): Promise<HaltCause> {
    const dfsr = await this.ap.read32(SCS.DFSR);
    await this.ap.write32(SCS.DFSR, dfsr);
    if (dfsr & DFSR.BKPT) return 'breakpoint';
    if (dfsr & DFSR.VCATCH) return 'vector-catch';
    if (dfsr & DFSR.DWTTRAP) return 'watchpoint';
    if (dfsr & DFSR.EXTERNAL) return 'external';
    if (dfsr & DFSR.HALTED) return 'request';
    return 'unknown';
  }

  async halt(): Promise<void> {
    await this.ap.dp.run([...this.bank(), ...this.ap.apWrite(BD_DHCSR, DHCSR.DBGKEY | DHCSR.C_DEBUGEN | DHCSR.C_HALT, 'DHCSR')], 'requesting halt');
    await this.waitForDhcsr(DHCSR.S_HALT, DHCSR.S_HALT, `target did not halt within ${this.haltTimeoutMs} ms`);
  }

  async resume(): Promise<void> {
    // Clear DFSR so the next halt reason is fresh, then drop C_HALT (keeping C_DEBUGEN).
    await this.ap.write32(SCS.DFSR, 0x1f);
    await this.ap.dp.run([...this.bank(), ...this.ap.apWrite(BD_DHCSR, DHCSR.DBGKEY | DHCSR.C_DEBUGEN, 'DHCSR')], 'resuming');
    this.maskInts = false;
  }

  /** Execute one instruction with interrupts masked (so a step lands on the next instruction, not in an ISR). */
  async step(): Promise<void> {
    if (!(await this.isHalted())) throw new DebugError('core', 'cannot step: the core is running (halt it first)');
    const base = DHCSR.DBGKEY | DHCSR.C_DEBUGEN | DHCSR.C_MASKINTS;
    // C_MASKINTS may only change while halted (ARMv7-M C1.6.2): set it with C_HALT still set, then step.
    await this.ap.dp.run(
      [...this.bank(), ...this.ap.apWrite(BD_DHCSR, base | DHCSR.C_HALT, 'DHCSR'), ...this.ap.apWrite(BD_DHCSR, base | DHCSR.C_STEP, 'DHCSR')],
      'stepping',
    );
    this.maskInts = true;
    await this.waitForDhcsr(DHCSR.S_HALT, DHCSR.S_HALT, `target did not halt after a step within ${this.haltTimeoutMs} ms`);
  }

  /**
   * System reset via AIRCR.SYSRESETREQ. With `halt`, DEMCR.VC_CORERESET makes the core stop on the
   * first instruction of the reset handler, before any firmware runs.
   */
  async reset(options: { halt: boolean } = { halt: false }): Promise<void> {
    const [demcr] = await this.ap.dp.run([...this.bank(), ...this.ap.apRead(BD_DEMCR, 'DEMCR')], 'reading DEMCR');
    const demcrReset = options.halt ? demcr | DEMCR.VC_CORERESET : demcr & ~DEMCR.VC_CORERESET;
    await this.ap.dp.run(
      [
        ...this.bank(),
        ...this.ap.apWrite(BD_DHCSR, DHCSR.DBGKEY | DHCSR.C_DEBUGEN | (options.halt ? DHCSR.C_HALT : 0), 'DHCSR'),
        ...this.ap.apWrite(BD_DEMCR, demcrReset, 'DEMCR'),
      ],
      'preparing reset',
    );
    try {
      await this.ap.write32(SCS.AIRCR, AIRCR.VECTKEY | AIRCR.SYSRESETREQ);
    } catch (err) {
      // Some chips reset the debug interconnect with the system and drop the ACK of this very write.
      if (!(err instanceof DebugError)) throw err;
      this.ap.invalidate();
    }
    await this.waitForDhcsr(DHCSR.S_RESET_ST, DHCSR.S_RESET_ST, `target did not reset within ${this.haltTimeoutMs} ms`, true);
    if (options.halt) {
      await this.waitForDhcsr(DHCSR.S_HALT, DHCSR.S_HALT, `target did not halt at the reset vector within ${this.haltTimeoutMs} ms`);
      await this.ap.dp.run([...this.bank(), ...this.ap.apWrite(BD_DEMCR, demcr & ~DEMCR.VC_CORERESET, 'DEMCR')], 'clearing reset vector catch');
    }
  }

  async readCoreRegisters(regs: readonly number[]): Promise<number[]> {
    const ops = [...this.bank(), ...this.ap.apMatch(BD_DHCSR, DHCSR.S_REGRDY, DHCSR.S_REGRDY, 'DHCSR.S_REGRDY').slice(0, -1)];
    for (const reg of regs) {
      ops.push(
        ...this.ap.apWrite(BD_DCRSR, reg, 'DCRSR'),
        { port: 'ap', read: true, reg: BD_DHCSR & 0xc, match: true, value: DHCSR.S_REGRDY, label: `DHCSR.S_REGRDY for ${regName(reg)}` },
        ...this.ap.apRead(BD_DCRDR, 'DCRDR'),
      );
    }
    try {
      return (await this.ap.dp.run(ops, `reading core registers`)).map((v) => v >>> 0);
    } catch (err) {
      throw this.explainRegisterError(err);
    }
  }

  async writeCoreRegisters(entries: readonly (readonly [number, number])[]): Promise<void> {
    const ops = [...this.bank(), ...this.ap.apMatch(BD_DHCSR, DHCSR.S_REGRDY, DHCSR.S_REGRDY, 'DHCSR.S_REGRDY').slice(0, -1)];
    for (const [reg, value] of entries) {
      ops.push(
        ...this.ap.apWrite(BD_DCRDR, value, 'DCRDR'),
        ...this.ap.apWrite(BD_DCRSR, reg | DCRSR_REGWNR, 'DCRSR'),
        { port: 'ap', read: true, reg: BD_DHCSR & 0xc, match: true, value: DHCSR.S_REGRDY, label: `DHCSR.S_REGRDY for ${regName(reg)}` },
      );
    }
    try {
      await this.ap.dp.run(ops, 'writing core registers');
    } catch (err) {
      throw this.explainRegisterError(err);
    }
  }

  /**
   * Write registers, clear DFSR and resume, as one batch (one packet on most probes): what a
   * function call on the target (a flash algorithm) needs, without a round trip per step.
   */
  async runWith(entries: readonly (readonly [number, number])[]): Promise<void> {
    const ops = [...this.bank(), ...this.ap.apMatch(BD_DHCSR, DHCSR.S_REGRDY, DHCSR.S_REGRDY, 'DHCSR.S_REGRDY').slice(0, -1)];
    for (const [reg, value] of entries) {
      ops.push(
        ...this.ap.apWrite(BD_DCRDR, value, 'DCRDR'),
        ...this.ap.apWrite(BD_DCRSR, reg | DCRSR_REGWNR, 'DCRSR'),
        { port: 'ap', read: true, reg: BD_DHCSR & 0xc, match: true, value: DHCSR.S_REGRDY, label: `DHCSR.S_REGRDY for ${regName(reg)}` },
      );
    }
    // DFSR is outside the BD window: point TAR at it, clear it, and come back to DHCSR to resume.
    ops.push(...this.ap.tarOps(SCS.DFSR), ...this.ap.apWrite(MEM_AP.DRW, 0x1f, 'DFSR'), ...this.ap.tarOps(SCS.DHCSR));
    ops.push(...this.ap.apWrite(BD_DHCSR, DHCSR.DBGKEY | DHCSR.C_DEBUGEN, 'DHCSR'));
    try {
      await this.ap.dp.run(ops, 'starting code on the target');
    } catch (err) {
      throw this.explainRegisterError(err);
    }
    this.maskInts = false;
  }

  /**
   * Wait (probe-side polling) until the core halts, then read `regs` — in the same batch, so a
   * call that has finished costs one round trip. Null on timeout.
   */
  async waitForHaltThenRead(regs: readonly number[], timeoutMs: number): Promise<number[] | null> {
    const start = Date.now();
    for (;;) {
      const ops = [...this.bank(), ...this.ap.apMatch(BD_DHCSR, DHCSR.S_HALT, DHCSR.S_HALT, 'DHCSR.S_HALT')];
      ops.push({ port: 'ap', read: false, reg: 0, setMatchMask: true, value: DHCSR.S_REGRDY, label: 'match mask' });
      for (const reg of regs) {
        ops.push(
          ...this.ap.apWrite(BD_DCRSR, reg, 'DCRSR'),
          { port: 'ap', read: true, reg: BD_DHCSR & 0xc, match: true, value: DHCSR.S_REGRDY, label: `DHCSR.S_REGRDY for ${regName(reg)}` },
          ...this.ap.apRead(BD_DCRDR, 'DCRDR'),
        );
      }
      try {
        return (await this.ap.dp.run(ops, 'waiting for the core to halt')).map((v) => v >>> 0);
      } catch (err) {
        const stillRunning = err instanceof DebugError && err.cause instanceof SwdTransferError && err.cause.ack === 'value mismatch' && /S_HALT/.test(err.cause.opLabel);
        // The bank's CSW and TAR writes come before the S_HALT match, so they were done and the
        // caches stay right; the DP forgets SELECT itself (later ops in a batch may not have run).
        if (!stillRunning) throw this.explainRegisterError(err);
      }
      if (Date.now() - start > timeoutMs) return null;
      if (Date.now() - start > 5) await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  async readCoreRegister(reg: number): Promise<number> {
    return (await this.readCoreRegisters([reg]))[0];
  }
  async writeCoreRegister(reg: number, value: number): Promise<void> {
    await this.writeCoreRegisters([[reg, value]]);
  }

  // ---- FPB hardware breakpoints (ARMv7-M C1.11, ARMv8-M FPB v2) ----

  private fpb: { comparators: number; revision: number; used: (number | null)[] } | null = null;

  private async fpbInfo() {
    if (!this.fpb) {
      const ctrl = await this.ap.read32(FP_CTRL);
      const comparators = ((ctrl >>> 4) & 0xf) | (((ctrl >>> 12) & 0x7) << 4);
      this.fpb = { comparators, revision: ctrl >>> 28, used: new Array(comparators).fill(null) };
      await this.ap.write32(FP_CTRL, 0x3); // KEY | ENABLE
    }
    return this.fpb;
  }

  /** Set a hardware breakpoint on the (Thumb) instruction at `address`. */
  async setBreakpoint(address: number): Promise<void> {
    const fpb = await this.fpbInfo();
    const addr = address & ~1;
    if (fpb.used.includes(addr)) return;
    const slot = fpb.used.indexOf(null);
    if (slot < 0) throw new DebugError('core', `no free hardware breakpoint for ${hex32(addr)} (all ${fpb.comparators} FPB comparators in use)`);
    let comp: number;
    if (fpb.revision === 0) {
      // FPB v1 only matches code below 0x20000000; REPLACE picks the halfword.
      if (addr >= 0x20000000) throw new DebugError('core', `FPB v1 cannot break at ${hex32(addr)} (only code below 0x20000000)`);
      comp = (addr & 0x1ffffffc) | (addr & 2 ? 0x80000000 : 0x40000000) | 1;
    } else {
      comp = addr | 1; // FPB v2: BPADDR[31:1], BE
    }
    await this.ap.write32(FP_COMP0 + 4 * slot, comp >>> 0);
    fpb.used[slot] = addr;
  }

  async clearBreakpoint(address: number): Promise<void> {
    const fpb = await this.fpbInfo();
    const slot = fpb.used.indexOf(address & ~1);
    if (slot < 0) return;
    await this.ap.write32(FP_COMP0 + 4 * slot, 0);
    fpb.used[slot] = null;
  }

  get interruptsMasked(): boolean {
    return this.maskInts;
  }

  private explainRegisterError(err: unknown): unknown {
    if (err instanceof DebugError && err.cause instanceof SwdTransferError && err.cause.ack === 'value mismatch') {
      return new DebugError('core', `core register transfer did not complete (DHCSR.S_REGRDY stayed low): is the core halted?`, { cause: err });
    }
    return err;
  }

  /**
   * Poll DHCSR until (DHCSR & mask) === expected. Each poll is a probe-side value-match read (the probe
   * retries up to its match-retry count), repeated from the host until `timeoutMs` of wall time.
   */
  /**
   * Wait until the core halts by itself (a breakpoint after code ran), up to `timeoutMs` of wall
   * time. Returns false on timeout, leaving the core as it is.
   */
  async waitForHalt(timeoutMs: number): Promise<boolean> {
    try {
      await this.waitForDhcsr(DHCSR.S_HALT, DHCSR.S_HALT, 'timeout', false, timeoutMs);
      return true;
    } catch (err) {
      if (err instanceof DebugError && err.message === 'timeout') return false;
      throw err;
    }
  }

  private async waitForDhcsr(mask: number, expected: number, timeoutMessage: string, tolerateErrors = false, timeoutMs = this.haltTimeoutMs): Promise<void> {
    const start = Date.now();
    const deadline = start + timeoutMs;
    for (;;) {
      try {
        await this.ap.dp.run([...this.bank(), ...this.ap.apMatch(BD_DHCSR, mask, expected, 'DHCSR')], 'polling DHCSR');
        return;
      } catch (err) {
        const mismatch = err instanceof DebugError && err.cause instanceof SwdTransferError && err.cause.ack === 'value mismatch';
        if (!mismatch && !tolerateErrors) throw err;
        this.ap.invalidate();
      }
      if (Date.now() > deadline) throw new DebugError('core', timeoutMessage);
      // Each poll already spans the probe's match retries; only back off in wall time once the
      // wait is clearly long (an emulator running real code takes wall time).
      if (Date.now() - start > 5) await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
}

export function decodeDhcsr(dhcsr: number): CoreStatus {
  return {
    halted: (dhcsr & DHCSR.S_HALT) !== 0,
    sleeping: (dhcsr & DHCSR.S_SLEEP) !== 0,
    lockup: (dhcsr & DHCSR.S_LOCKUP) !== 0,
    resetSinceLastRead: (dhcsr & DHCSR.S_RESET_ST) !== 0,
    retiredSinceLastRead: (dhcsr & DHCSR.S_RETIRE_ST) !== 0,
    dhcsr: dhcsr >>> 0,
  };
}

export function regName(reg: number): string {
  const entry = Object.entries(CoreReg).find(([, n]) => n === reg);
  return entry ? entry[0] : `reg ${reg}`;
}

export function regNumber(name: string): number {
  const n = CoreReg[name.toLowerCase() as CoreRegName];
  if (n === undefined) throw new DebugError('core', `unknown core register "${name}"`);
  return n;
}
