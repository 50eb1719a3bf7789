/**
 * An in-process Cortex-M target for fast tests: real memory maps, a fake core (no instruction
 * execution), and hooks for MMIO models and for emulating code that runs when the core resumes.
 */
import { BusFault, type DebugControl, type HaltReason, type MemoryRegion, type SimTarget } from './target';
import { SCB } from '../arm/registers';
import { EXCEPTION, HFSR, bkptImmediate, vectorCatchBit } from '../arm/faults';

export type MemoryTargetPreset = 'cortex-m0' | 'cortex-m3' | 'rp2040';

interface PresetSpec {
  description: string;
  cpuid: number;
  dpidr: number;
  flashSize: number;
  ramSize: number;
  /** Where flash sits on the bus (0 on the nRF51/LM3S; XIP flash at 0x10000000 on the RP2040). */
  flashStart?: number;
  /** Where reset fetches SP and PC (the vector table), when not at 0. */
  vectorTable?: number;
}

/**
 * CPUID: Cortex-M0 r0p0 = 0x410CC200 (ARM DDI 0432C 4.2), Cortex-M3 r2p0 = 0x412FC230 (DDI 0337I).
 * DPIDR: the Cortex-M0 SW-DP (DP v1, MINDP) 0x0BB11477; the Cortex-M3 SW-DP 0x1BA01477.
 */
const PRESETS: Record<MemoryTargetPreset, PresetSpec> = {
  'cortex-m0': { description: 'in-process Cortex-M0 model (nRF51822 memory map)', cpuid: 0x410cc200, dpidr: 0x0bb11477, flashSize: 256 * 1024, ramSize: 16 * 1024 },
  'cortex-m3': { description: 'in-process Cortex-M3 model (LM3S6965 memory map)', cpuid: 0x412fc230, dpidr: 0x1ba01477, flashSize: 256 * 1024, ramSize: 64 * 1024 },
  // RP2040: Cortex-M0+ r0p1 (CPUID 0x410CC601), DPv2 SW-DP 0x0BC12477, 2 MiB QSPI flash on a Pico,
  // 264 KiB SRAM. No boot ROM here: reset fetches the vectors boot2 would hand over (flash + 0x100).
  rp2040: { description: 'in-process RP2040 model (two Cortex-M0+ cores, Pico memory map)', cpuid: 0x410cc601, dpidr: 0x0bc12477, flashSize: 2 * 1024 * 1024, ramSize: 264 * 1024, flashStart: 0x10000000, vectorTable: 0x10000100 },
};

/** RP2040 SIO block: CPUID at offset 0 reads 0 on core 0 and 1 on core 1 (datasheet 2.3.1.7). */
const SIO_BASE = 0xd0000000;

export interface Peripheral {
  read(offset: number, size: 1 | 2 | 4): number;
  write(offset: number, size: 1 | 2 | 4, value: number): void;
}

export interface ResumeContext {
  target: MemoryTarget;
  pc: number;
}

/**
 * Called when the core resumes. Return the modeled seconds the emulated code ran and where it
 * stopped ('breakpoint' halts the core again), or undefined to leave the core running.
 */
export type ResumeHook = (ctx: ResumeContext) => { seconds: number; halt: HaltReason } | undefined;

const RAM_START = 0x20000000;
const PPB_START = 0xe0000000;
const PPB_SIZE = 0x00100000;

export class MemoryTarget implements SimTarget {
  readonly description: string;
  readonly cpuid: number;
  readonly dpidr: number;
  readonly memoryMap: MemoryRegion[];
  readonly flash: Uint8Array;
  readonly ram: Uint8Array;
  readonly registers = new Uint32Array(21);
  onResume: ResumeHook | null = null;
  /** Called with the modeled time before every bus access: firmware models (an RTT producer) catch up here. */
  onAccess: ((now: number) => void) | null = null;
  private readonly peripherals: { start: number; size: number; model: Peripheral }[] = [];
  private readonly ppb = new Map<number, number>();
  private halted = false;
  private reason: HaltReason = 'unknown';
  private readonly breakpoints = new Set<number>();
  private elapsed = 0;
  private clock: () => number = () => 0;
  /** Modeled time at which an emulated call running on the core returns (then the core halts). */
  private haltAt: number | null = null;
  private pendingReason: HaltReason = 'unknown';
  /** Total modeled seconds the core spent running emulated code (e.g. flash algorithm calls). */
  busySeconds = 0;
  resets = 0;
  private debug: DebugControl = { debugEnabled: false, demcr: 0 };
  private lockedUp = false;
  private readonly flashStart: number;
  private readonly vectorTable: number;

  /**
   * `core` and `shareMemoryWith` build a second core of a multi-core part: same flash and RAM,
   * its own registers, run state and breakpoints (and its own SIO CPUID on the RP2040).
   */
  constructor(preset: MemoryTargetPreset = 'cortex-m3', options: { core?: number; shareMemoryWith?: MemoryTarget } = {}) {
    const spec = PRESETS[preset];
    const core = options.core ?? 0;
    this.description = preset === 'rp2040' ? `${spec.description}, core ${core}` : spec.description;
    this.cpuid = spec.cpuid;
    this.dpidr = spec.dpidr;
    this.flashStart = spec.flashStart ?? 0;
    this.vectorTable = spec.vectorTable ?? 0;
    // Fresh NOR flash reads erased (0xFF), as on real nRF51/LM3S parts.
    this.flash = options.shareMemoryWith?.flash ?? new Uint8Array(spec.flashSize).fill(0xff);
    this.ram = options.shareMemoryWith?.ram ?? new Uint8Array(spec.ramSize);
    this.memoryMap = [
      { name: 'flash', kind: 'flash', start: this.flashStart, size: spec.flashSize },
      { name: 'ram', kind: 'ram', start: RAM_START, size: spec.ramSize },
      { name: 'peripherals', kind: 'peripheral', start: 0x40000000, size: 0x20000000 },
    ];
    if (preset === 'rp2040') {
      this.memoryMap.push({ name: 'sio', kind: 'peripheral', start: SIO_BASE, size: 0x180 });
      this.addPeripheral(SIO_BASE, 4, { read: (offset) => (offset === 0 ? core : 0), write: () => undefined });
    }
  }

  /** Map an MMIO model (e.g. a flash controller) at [start, start+size). */
  addPeripheral(start: number, size: number, model: Peripheral): void {
    this.peripherals.push({ start, size, model });
  }

  /** Load bytes straight into flash (as a factory image would be), bypassing the bus rules. */
  loadFlash(address: number, data: Uint8Array): void {
    this.flash.set(data, address - this.flashStart);
  }

  get breakpointAddresses(): number[] {
    return [...this.breakpoints];
  }

  // ---- bus ----

  async readMemory(address: number, length: number): Promise<Uint8Array> {
    this.onAccess?.(this.clock());
    const out = new Uint8Array(length);
    for (let i = 0; i < length; ) {
      const a = (address + i) >>> 0;
      const region = this.backing(a);
      if (region) {
        const n = Math.min(length - i, region.bytes.length - region.offset);
        out.set(region.bytes.subarray(region.offset, region.offset + n), i);
        i += n;
        continue;
      }
      out[i] = this.readByteSlow(a);
      i++;
    }
    return out;
  }

  async writeMemory(address: number, data: Uint8Array): Promise<void> {
    this.onAccess?.(this.clock());
    for (let i = 0; i < data.length; ) {
      const a = (address + i) >>> 0;
      if (a >= this.flashStart && a < this.flashStart + this.flash.length) {
        // Writes to flash over the bus do nothing: programming goes through the flash controller.
        i++;
        continue;
      }
      if (a >= RAM_START && a < RAM_START + this.ram.length) {
        const n = Math.min(data.length - i, RAM_START + this.ram.length - a);
        this.ram.set(data.subarray(i, i + n), a - RAM_START);
        i += n;
        continue;
      }
      const p = this.peripheralAt(a);
      if (p) {
        p.model.write(a - p.start, 1, data[i]);
        i++;
        continue;
      }
      if (a >= PPB_START && a < PPB_START + PPB_SIZE) {
        this.ppb.set(a, data[i]);
        i++;
        continue;
      }
      throw new BusFault(a, 'write');
    }
  }

  private backing(a: number): { bytes: Uint8Array; offset: number } | null {
    if (a >= this.flashStart && a < this.flashStart + this.flash.length) return { bytes: this.flash, offset: a - this.flashStart };
    if (a >= RAM_START && a < RAM_START + this.ram.length) return { bytes: this.ram, offset: a - RAM_START };
    return null;
  }

  private peripheralAt(a: number) {
    return this.peripherals.find((p) => a >= p.start && a < p.start + p.size);
  }

  private readByteSlow(a: number): number {
    const p = this.peripheralAt(a);
    if (p) return p.model.read(a - p.start, 1) & 0xff;
    if (a >= PPB_START && a < PPB_START + PPB_SIZE) return this.ppb.get(a) ?? 0;
    throw new BusFault(a, 'read');
  }

  // ---- core ----

  attachClock(now: () => number): void {
    this.clock = now;
  }

  /** An emulated call whose time is up has returned: the core is halted at its breakpoint. */
  private settle(): void {
    if (this.haltAt !== null && this.clock() >= this.haltAt) {
      this.haltAt = null;
      this.halted = true;
      this.reason = this.pendingReason;
    }
  }

  async halt(): Promise<void> {
    this.settle();
    this.haltAt = null;
    this.lockedUp = false; // a debugger halt ends lockup (ARMv7-M B1.5.15)
    if (!this.halted) {
      this.halted = true;
      this.reason = 'request';
    }
  }

  async resume(): Promise<void> {
    if (this.lockedUp) return; // only a reset or a halt ends lockup
    this.halted = false;
    const outcome = this.onResume?.({ target: this, pc: this.registers[15] });
    // The fake core executes nothing, except that a BKPT where it resumes is met at once.
    if (!outcome && this.bkptAtPc() !== null) {
      await this.breakpointInstruction();
      return;
    }
    if (outcome) {
      // The core runs for the emulated duration, concurrently with the probe (which may keep
      // transferring data meanwhile), and halts when the probe's clock has moved past it.
      this.busySeconds += outcome.seconds;
      this.haltAt = this.clock() + outcome.seconds;
      this.pendingReason = outcome.halt;
    }
  }

  /** The fake core executes a 16-bit instruction: PC advances by 2 (a BKPT is a debug event instead). */
  async step(): Promise<void> {
    if (this.bkptAtPc() !== null) {
      await this.breakpointInstruction();
      if (this.halted) return;
      this.halted = true;
      this.reason = 'step';
      return;
    }
    this.registers[15] = (this.registers[15] + 2) >>> 0;
    this.halted = true;
    this.reason = 'step';
  }

  async setDebugControl(control: DebugControl): Promise<void> {
    this.debug = { ...control };
  }

  async isLockedUp(): Promise<boolean> {
    return this.lockedUp;
  }

  /** A BKPT instruction at `address` (an emulated call returning there halts on it, see flash-emulator.ts). */
  holdsBkpt(address: number): boolean {
    return this.bkptAt(address) !== null;
  }

  /** DHCSR.C_DEBUGEN: a BKPT halts the core (else it escalates to HardFault). */
  get haltingDebug(): boolean {
    return this.debug.debugEnabled;
  }

  private bkptAtPc(): number | null {
    return this.bkptAt(this.registers[15]);
  }

  /** The BKPT immediate of the instruction at `address`, or null when it is not a BKPT (encoding 0xBExx). */
  private bkptAt(address: number): number | null {
    const pc = address >>> 0;
    const region = this.backing(pc);
    if (!region || region.offset + 2 > region.bytes.length) return null;
    return bkptImmediate(region.bytes[region.offset] | (region.bytes[region.offset + 1] << 8));
  }

  /**
   * BKPT as silicon treats it (ARMv7-M C1.5): with halting debug enabled the core halts at the
   * instruction (DFSR.BKPT); without it the debug event escalates to HardFault with HFSR.DEBUGEVT.
   */
  private async breakpointInstruction(): Promise<void> {
    if (this.debug.debugEnabled) {
      this.halted = true;
      this.reason = 'bkpt';
      return;
    }
    await this.takeException(EXCEPTION.HardFault, { hfsr: HFSR.DEBUGEVT });
  }

  /**
   * Exception entry as the core performs it (ARMv7-M B1.5.6): the eight-word frame on the current
   * stack, LR = EXC_RETURN, PC from the vector table. A configurable fault whose handler is disabled
   * in SHCSR (and every fault on ARMv6-M) escalates to HardFault (HFSR.FORCED). A fault while in
   * HardFault or NMI, or a handler the core cannot execute, is lockup. With halting debug enabled, a
   * DEMCR vector catch for the exception halts the core on the handler's first instruction.
   * Tests use it to model a firmware fault; `status` sets the fault status registers it would set.
   */
  async takeException(exception: number, status: { cfsr?: number; hfsr?: number; mmfar?: number; bfar?: number } = {}): Promise<void> {
    const v6m = this.cpuid === PRESETS['cortex-m0'].cpuid;
    const current = this.registers[16] & 0x1ff;
    if (exception >= 4 && exception <= 6) {
      const enable = 1 << (16 + exception - 4); // SHCSR MEMFAULTENA, BUSFAULTENA, USGFAULTENA
      if (v6m || !(this.readWord(SCB.SHCSR) & enable)) {
        this.orWord(SCB.CFSR, status.cfsr ?? 0);
        if (status.mmfar !== undefined) this.writeWord(SCB.MMFAR, status.mmfar);
        if (status.bfar !== undefined) this.writeWord(SCB.BFAR, status.bfar);
        return this.takeException(EXCEPTION.HardFault, { hfsr: HFSR.FORCED });
      }
    }
    if (exception === EXCEPTION.HardFault && (current === EXCEPTION.HardFault || current === EXCEPTION.NMI)) {
      this.enterLockup();
      return;
    }
    if (!v6m) {
      this.orWord(SCB.CFSR, status.cfsr ?? 0);
      this.orWord(SCB.HFSR, status.hfsr ?? 0);
      if (status.mmfar !== undefined) this.writeWord(SCB.MMFAR, status.mmfar);
      if (status.bfar !== undefined) this.writeWord(SCB.BFAR, status.bfar);
    }
    const r = this.registers;
    let sp = r[13];
    const pad = !v6m && sp & 4 ? 4 : 0;
    sp = (sp - 32 - pad) >>> 0;
    const frame = [r[0], r[1], r[2], r[3], r[12], r[14], r[15], (r[16] & ~(1 << 9)) | (pad ? 1 << 9 : 0)];
    const bytes = new Uint8Array(32);
    frame.forEach((w, i) => bytes.set([w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24], 4 * i));
    const vtor = v6m ? 0 : this.readWord(SCB.VTOR);
    let vector: number;
    try {
      await this.writeMemory(sp, bytes);
      vector = this.readWord(vtor + 4 * exception);
    } catch (err) {
      if (!(err instanceof BusFault)) throw err;
      this.enterLockup(); // a stacking or vector fetch fault this model does not derive further
      return;
    }
    r[13] = sp;
    r[17] = sp;
    r[14] = current === 0 ? 0xfffffff9 : 0xfffffff1;
    r[15] = vector & ~1;
    r[16] = ((vector & 1) << 24) | exception;
    const executable = (vector & 1) === 1 && this.backing(vector & ~1) !== null;
    if (!executable && (exception === EXCEPTION.HardFault || exception === EXCEPTION.NMI)) {
      this.enterLockup();
      return;
    }
    if (this.debug.debugEnabled && this.debug.demcr & vectorCatchBit(exception, this.readWord(SCB.CFSR) | (status.cfsr ?? 0))) {
      this.halted = true;
      this.reason = 'vector-catch';
      this.haltAt = null;
    }
  }

  private enterLockup(): void {
    this.lockedUp = true;
    this.halted = false;
    this.haltAt = null;
  }

  private readWord(address: number): number {
    const region = this.backing(address);
    if (region) {
      const b = region.bytes;
      const o = region.offset;
      return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
    }
    if (address >= PPB_START && address < PPB_START + PPB_SIZE) {
      let w = 0;
      for (let i = 3; i >= 0; i--) w = (w << 8) | (this.ppb.get(address + i) ?? 0);
      return w >>> 0;
    }
    throw new BusFault(address, 'read');
  }

  private writeWord(address: number, value: number): void {
    for (let i = 0; i < 4; i++) this.ppb.set(address + i, (value >>> (8 * i)) & 0xff);
  }

  private orWord(address: number, bits: number): void {
    if (bits) this.writeWord(address, this.readWord(address) | bits);
  }

  async isHalted(): Promise<boolean> {
    this.settle();
    return this.halted;
  }

  haltReason(): HaltReason {
    return this.reason;
  }

  async readRegister(reg: number): Promise<number> {
    this.settle();
    return this.registers[this.index(reg)];
  }

  async writeRegister(reg: number, value: number): Promise<void> {
    this.registers[this.index(reg)] = value >>> 0;
  }

  private index(reg: number): number {
    if (reg <= 18) return reg;
    if (reg === 20) return 19;
    throw new BusFault(reg, 'read');
  }

  /** Reset: SP and PC from the vector table (ARMv7-M B1.5.5), xPSR with the Thumb bit. */
  async reset(options: { halt: boolean }): Promise<void> {
    this.resets++;
    this.lockedUp = false;
    for (const a of [SCB.CFSR, SCB.HFSR, SCB.MMFAR, SCB.BFAR, SCB.SHCSR, SCB.VTOR]) this.writeWord(a, 0);
    this.registers.fill(0);
    const v = await this.readMemory(this.vectorTable, 8);
    const sp = (v[0] | (v[1] << 8) | (v[2] << 16) | (v[3] << 24)) >>> 0;
    const reset = (v[4] | (v[5] << 8) | (v[6] << 16) | (v[7] << 24)) >>> 0;
    this.registers[13] = sp & ~3;
    this.registers[17] = sp & ~3;
    this.registers[15] = reset & ~1;
    this.registers[16] = 0x01000000;
    this.registers[14] = 0xffffffff;
    this.halted = options.halt;
    this.reason = options.halt ? 'vector-catch' : 'unknown';
  }

  async setBreakpoint(address: number): Promise<void> {
    this.breakpoints.add(address >>> 0);
  }

  async clearBreakpoint(address: number): Promise<void> {
    this.breakpoints.delete(address >>> 0);
  }

  takeElapsedSeconds(): number {
    const e = this.elapsed;
    this.elapsed = 0;
    return e;
  }

  async close(): Promise<void> {}
}
