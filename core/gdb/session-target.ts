/**
 * The GDB server's view of a debug session: registers through DCRSR, memory through the MEM-AP,
 * run control, breakpoints (a BKPT instruction written into RAM, an FPB comparator for code in
 * flash, chosen by address), DWT watchpoints, and GDB's `load` through the chip's flash algorithm
 * with the same plan/skip/verify as `dapdeck flash`.
 */
import type { DebugSession } from '../arm/session';
import { DwtWatchpoints, type WatchKind } from '../arm/dwt';
import { CoreReg, DEMCR, SCB, SCS } from '../arm/registers';
import { describeFaultStatus, exceptionName, VC_ALL_FAULTS } from '../arm/faults';
import { DebugError } from '../dap/errors';
import { hex32 } from '../dap/protocol';
import { FlashImage, type ImageChunk } from '../elf/image';
import { describeReport, flashRegions as flashChipRegions, type FlashOptions, type RegionFlash } from '../flash/flasher';
import type { RamRegion } from '../flash/runner';
import { leWord, parseLeWord } from './packets';
import type { GdbTarget, SemihostingResult, StopReason, WatchType } from './server';
import { SemihostingServer, type SemihostingHost } from '../arm/semihosting';
import { readBkpt, SEMIHOSTING_BKPT } from '../arm/stop';
import { flashRegions, memoryMapXml, registerSet, SPECIAL_SHIFT, targetXml, type GdbRegister } from './target-description';

/** BKPT #0 (Thumb, 0xBE00): halts the core in halting debug (ARMv7-M A7.7.17). */
const BKPT = Uint8Array.of(0x00, 0xbe);
/** Media and VFP Feature Register 0: non-zero when the FP extension is present. */
const MVFR0 = 0xe000ef40;
const FLASH_LINE = 64;

export interface SessionTargetOptions {
  /** Where flash is (breakpoints there use the FPB; memory writes there are checked). */
  flash: readonly { start: number; size: number }[];
  /** The chip's programmable regions and their algorithms: enable the memory map and GDB's `load` into flash. */
  algorithm?: { regions: readonly RegionFlash[]; ram: RamRegion; options?: Pick<FlashOptions, 'chipErase' | 'skipUnchanged'> };
  /** Serve the firmware's semihosting calls here (its output goes to this host); without it, GDB sees them as stops. */
  semihosting?: SemihostingHost;
}

export class SessionTarget implements GdbTarget {
  private readonly dwt: DwtWatchpoints;
  /** Software breakpoints: address → the halfword the BKPT replaced. */
  private readonly software = new Map<number, Uint8Array>();
  private readonly hardware = new Set<number>();
  private erased: { start: number; size: number }[] = [];
  /** DEMCR's vector-catch bits before this client armed its own (put back on detach). */
  private catchBefore: number | null = null;
  private lockedUp = false;
  /**
   * Flash read while the core is halted, by 64-byte line: GDB reads the same instructions again
   * and again while it steps (to decode them), and flash cannot change while the core is stopped
   * (only the core or our flasher programs it). Dropped whenever the core runs or anything writes.
   */
  private readonly flashLines = new Map<number, Uint8Array>();
  /** pc and sp read for the stop reason, handed to the stop reply (the core has not moved since). */
  private stopRegisters: { pc: number; sp: number } | null = null;
  private written: ImageChunk[] = [];

  private constructor(
    readonly session: DebugSession,
    readonly registers: GdbRegister[],
    private readonly options: SessionTargetOptions,
  ) {
    this.dwt = new DwtWatchpoints(session.ap);
  }

  private get mainline(): boolean {
    return this.registers.some((r) => r.name === 'basepri');
  }

  static async create(session: DebugSession, options: SessionTargetOptions): Promise<SessionTarget> {
    const arch = session.core.identity?.arch ?? (await session.core.identify()).arch;
    const mainline = arch !== 'armv6-m' && arch !== 'armv8-m.base';
    const fpu = (arch === 'armv7e-m' || arch === 'armv8-m.main') && (await session.ap.read32(MVFR0)) !== 0;
    return new SessionTarget(session, registerSet({ mainline, fpu }), options);
  }

  /**
   * Catch faults: a HardFault (and on ARMv7-M every configurable fault) halts on its handler's
   * first instruction, so GDB stops where the firmware went wrong instead of the handler running.
   */
  async attach(): Promise<void> {
    const demcr = await this.session.ap.read32(SCS.DEMCR);
    if (this.catchBefore === null) this.catchBefore = demcr & VC_ALL_FAULTS;
    const wanted = this.mainline ? VC_ALL_FAULTS : DEMCR.VC_HARDERR;
    await this.session.ap.write32(SCS.DEMCR, (demcr | wanted) >>> 0);
  }

  targetXml(): string {
    return targetXml(this.registers);
  }

  memoryMapXml(): string | null {
    const regions = this.options.algorithm?.regions;
    return regions?.length ? memoryMapXml(flashRegions(regions.flatMap((r) => r.algorithm.flash.sectors))) : null;
  }

  registerCount(): number {
    return this.registers.length;
  }

  // ---- registers ----

  private regsels(regs: readonly GdbRegister[]): number[] {
    const set = new Set<number>();
    for (const r of regs) {
      const s = r.source;
      if ('reg' in s) set.add(s.reg);
      else if ('special' in s) set.add(CoreReg.special);
      else set.add(s.sPair).add(s.sPair + 1);
    }
    return [...set];
  }

  private async values(regs: readonly GdbRegister[]): Promise<string[]> {
    const sels = this.regsels(regs);
    const raw = await this.session.core.readCoreRegisters(sels);
    const value = new Map(sels.map((s, i) => [s, raw[i]]));
    return regs.map((r) => {
      const s = r.source;
      if ('reg' in s) return leWord(value.get(s.reg)!);
      if ('special' in s) return leWord((value.get(CoreReg.special)! >>> SPECIAL_SHIFT[s.special]) & 0xff);
      return leWord(value.get(s.sPair)!) + leWord(value.get(s.sPair + 1)!);
    });
  }

  private register(n: number): GdbRegister {
    const r = this.registers[n];
    if (!r) throw new DebugError('core', `no register ${n} (the target description has ${this.registers.length})`);
    return r;
  }

  async readAllRegisters(): Promise<string> {
    return (await this.values(this.registers)).join('');
  }

  async readRegister(n: number): Promise<string> {
    return (await this.values([this.register(n)]))[0];
  }

  async writeRegister(n: number, hex: string): Promise<void> {
    const r = this.register(n);
    this.stopRegisters = null;
    if (hex.length !== r.bits / 4) throw new DebugError('core', `register ${r.name} takes ${r.bits / 4} hex digits, got ${hex.length}`);
    const s = r.source;
    if ('reg' in s) return this.session.core.writeCoreRegister(s.reg, parseLeWord(hex));
    if ('sPair' in s) {
      return this.session.core.writeCoreRegisters([
        [s.sPair, parseLeWord(hex.slice(0, 8))],
        [s.sPair + 1, parseLeWord(hex.slice(8))],
      ]);
    }
    const shift = SPECIAL_SHIFT[s.special];
    const old = await this.session.core.readCoreRegister(CoreReg.special);
    const next = ((old & ~(0xff << shift)) | ((parseLeWord(hex) & 0xff) << shift)) >>> 0;
    await this.session.core.writeCoreRegister(CoreReg.special, next);
  }

  async writeAllRegisters(hex: string): Promise<void> {
    let at = 0;
    for (const [n, r] of this.registers.entries()) {
      const digits = hex.slice(at, at + r.bits / 4);
      at += r.bits / 4;
      if (digits.length < r.bits / 4) break;
      if (/x/i.test(digits)) continue; // GDB marks registers it has no value for
      await this.writeRegister(n, digits);
    }
  }

  // ---- memory ----

  async readMemory(address: number, length: number): Promise<Uint8Array> {
    if (length === 0 || !this.inFlash(address) || !this.inFlash(address + length - 1)) return this.session.ap.readMemory(address, length);
    const first = Math.floor(address / FLASH_LINE) * FLASH_LINE;
    const end = address + length;
    const missing: number[] = [];
    for (let line = first; line < end; line += FLASH_LINE) if (!this.flashLines.has(line)) missing.push(line);
    if (missing.length) {
      const start = missing[0];
      const bytes = await this.session.ap.readMemory(start, missing[missing.length - 1] + FLASH_LINE - start);
      for (let line = start; line < start + bytes.length; line += FLASH_LINE) this.flashLines.set(line, bytes.subarray(line - start, line - start + FLASH_LINE));
    }
    const out = new Uint8Array(length);
    for (let line = first; line < end; line += FLASH_LINE) {
      const data = this.flashLines.get(line)!;
      const from = Math.max(address, line);
      const to = Math.min(end, line + FLASH_LINE);
      out.set(data.subarray(from - line, to - line), from - address);
    }
    return out;
  }

  /** The core is about to run, or something wrote: cached reads may be stale. */
  private forget(): void {
    this.flashLines.clear();
    this.stopRegisters = null;
  }

  /** RAM and peripherals take bus writes; flash does not (real flash needs its controller), so a write there must already match. */
  async writeMemory(address: number, data: Uint8Array): Promise<void> {
    this.forget();
    await this.session.ap.writeMemory(address, data);
    const flash = this.options.flash.find((f) => address < f.start + f.size && address + data.length > f.start);
    if (!flash) return;
    const back = await this.session.ap.readMemory(address, data.length);
    const bad = back.findIndex((b, i) => b !== data[i]);
    if (bad >= 0) {
      throw new DebugError(
        'target',
        `${hex32(address + bad)} is flash, which memory writes cannot change (reads 0x${back[bad].toString(16).padStart(2, '0')}, GDB wrote 0x${data[bad].toString(16).padStart(2, '0')})${this.options.algorithm ? '' : ': start dapdeck gdb with --chip so GDB\'s load programs it with the flash algorithm'}`,
      );
    }
  }

  // ---- run control ----

  halt(): Promise<void> {
    this.forget();
    return this.session.core.halt();
  }

  resume(): Promise<void> {
    this.forget();
    return this.session.core.resume();
  }

  step(): Promise<void> {
    this.forget();
    return this.session.core.step();
  }

  /** Halted, or locked up (which only a halt or a reset ends: halted here, reported as a fault). */
  async isHalted(): Promise<boolean> {
    const status = await this.session.core.status();
    if (status.halted) return true;
    if (!status.lockup) return false;
    await this.session.core.halt();
    this.lockedUp = true;
    return true;
  }

  async stopReason(): Promise<StopReason> {
    const cause = await this.session.core.haltCause();
    if (this.lockedUp) {
      this.lockedUp = false;
      return { kind: 'fault', exception: 'lockup', details: ['the core locked up (a fault while handling HardFault, or a HardFault vector it cannot execute)', ...(await this.faultStatus())] };
    }
    switch (cause) {
      case 'breakpoint': {
        const [pc, sp] = await this.session.core.readCoreRegisters([CoreReg.pc, CoreReg.sp]);
        this.stopRegisters = { pc, sp };
        if (this.software.has(pc & ~1)) return { kind: 'breakpoint', software: true };
        if (this.hardware.has(pc & ~1)) return { kind: 'breakpoint', software: false };
        const imm = await readBkpt(this.session.core, pc);
        if (imm === SEMIHOSTING_BKPT) {
          if (!this.options.semihosting) return { kind: 'other', description: 'a semihosting call (BKPT 0xAB), not served (--no-semihosting)' };
          const [op, arg] = await this.session.core.readCoreRegisters([CoreReg.r0, CoreReg.r1]);
          return { kind: 'semihosting', op, arg, pc };
        }
        return { kind: 'other', description: imm === null ? 'a BKPT instruction in the firmware' : `a BKPT #0x${imm.toString(16)} in the firmware` };
      }
      case 'watchpoint': {
        const wp = (await this.dwt.matched()) ?? (this.dwt.active.length === 1 ? this.dwt.active[0] : null);
        if (!wp) return { kind: 'other', description: 'DWT event with no armed watchpoint matched' };
        return { kind: 'watchpoint', type: wp.kind === 'write' ? 'watch' : wp.kind === 'read' ? 'rwatch' : 'awatch', address: wp.address };
      }
      case 'vector-catch': {
        const exception = (await this.session.core.readCoreRegister(CoreReg.xpsr)) & 0x1ff;
        if (exception <= 1) return { kind: 'reset' };
        return { kind: 'fault', exception: exceptionName(exception), details: await this.faultStatus() };
      }
      case 'request':
        return { kind: 'request' };
      default:
        return { kind: 'other', description: cause };
    }
  }

  /** The fault status registers in words (ARMv6-M has none of them). */
  private async faultStatus(): Promise<string[]> {
    if (!this.mainline) return [];
    const [cfsr, hfsr, mmfar, bfar] = await Promise.all([SCB.CFSR, SCB.HFSR, SCB.MMFAR, SCB.BFAR].map((a) => this.session.ap.read32(a)));
    return describeFaultStatus({ cfsr, hfsr, mmfar, bfar });
  }

  private semihostingServer: SemihostingServer | null = null;

  async semihosting(call: { op: number; arg: number; pc: number }): Promise<SemihostingResult> {
    if (!this.options.semihosting) throw new DebugError('target', 'semihosting is not served here');
    this.semihostingServer ??= new SemihostingServer(this.session.core, this.options.semihosting);
    // The call writes r0 and the PC: the pc and sp read for the stop no longer hold.
    this.stopRegisters = null;
    return this.semihostingServer.serve(call.op, call.arg, call.pc);
  }

  async expedite(): Promise<{ pc: number; sp: number }> {
    if (this.stopRegisters) return this.stopRegisters;
    const [pc, sp] = await this.session.core.readCoreRegisters([CoreReg.pc, CoreReg.sp]);
    return { pc, sp };
  }

  reset(halt: boolean): Promise<void> {
    this.forget();
    return this.session.core.reset({ halt });
  }

  // ---- breakpoints and watchpoints ----

  private inFlash(address: number): boolean {
    return this.options.flash.some((f) => address >= f.start && address < f.start + f.size);
  }

  async insertBreakpoint(type: 0 | 1, address: number, _kind: number): Promise<void> {
    const addr = address & ~1;
    if (this.software.has(addr) || this.hardware.has(addr)) return;
    if (type === 0 && !this.inFlash(addr)) {
      // Code in RAM: a BKPT instruction, as long as the memory takes it (else fall back to the FPB).
      const original = await this.session.ap.readMemory(addr, 2);
      await this.session.ap.writeMemory(addr, BKPT);
      const back = await this.session.ap.readMemory(addr, 2);
      if (back[0] === BKPT[0] && back[1] === BKPT[1]) {
        this.software.set(addr, original);
        return;
      }
    }
    await this.session.core.setBreakpoint(addr);
    this.hardware.add(addr);
  }

  async removeBreakpoint(_type: 0 | 1, address: number, _kind: number): Promise<void> {
    const addr = address & ~1;
    const original = this.software.get(addr);
    if (original) {
      await this.session.ap.writeMemory(addr, original);
      this.software.delete(addr);
      return;
    }
    if (this.hardware.delete(addr)) await this.session.core.clearBreakpoint(addr);
  }

  insertWatchpoint(type: WatchType, address: number, length: number): Promise<void> {
    return this.dwt.set({ address, length, kind: type as WatchKind });
  }

  removeWatchpoint(type: WatchType, address: number, length: number): Promise<void> {
    return this.dwt.clear({ address, length, kind: type as WatchKind });
  }

  // ---- flash (GDB's load) ----

  private requireAlgorithm() {
    const a = this.options.algorithm;
    if (!a) throw new DebugError('target', 'no flash algorithm: start dapdeck gdb with --chip to let GDB program flash');
    return a;
  }

  async flashErase(address: number, length: number): Promise<void> {
    this.requireAlgorithm();
    this.erased.push({ start: address, size: length });
  }

  async flashWrite(address: number, data: Uint8Array): Promise<void> {
    this.requireAlgorithm();
    this.written.push({ address, data: Uint8Array.from(data), source: `vFlashWrite at ${hex32(address)}` });
  }

  /**
   * GDB erased blocks and wrote into them: the blocks' final contents are the erased value with
   * the writes laid over them. That image goes through the flasher, which skips sectors already
   * holding it, erases and programs the rest, and verifies; then the core starts from reset.
   */
  async flashDone(): Promise<string> {
    this.forget();
    const { regions, ram, options } = this.requireAlgorithm();
    const erased = this.erased;
    const written = this.written;
    this.erased = [];
    this.written = [];
    const chunks: ImageChunk[] = [];
    for (const range of mergeRanges(erased)) {
      const region = regions.find((r) => range.start >= r.region.start && range.start < r.region.start + r.region.size);
      if (!region) throw new DebugError('target', `GDB erased ${hex32(range.start)}, which no flash region of the chip covers`);
      const data = new Uint8Array(range.size).fill(region.algorithm.flash.erasedValue);
      for (const w of written) {
        const from = Math.max(w.address, range.start);
        const to = Math.min(w.address + w.data.length, range.start + range.size);
        if (from < to) data.set(w.data.subarray(from - w.address, to - w.address), from - range.start);
      }
      chunks.push({ address: range.start, data, source: `GDB flash block ${hex32(range.start)}` });
    }
    for (const w of written) {
      if (!erased.some((r) => w.address >= r.start && w.address + w.data.length <= r.start + r.size)) {
        throw new DebugError('target', `GDB wrote flash at ${hex32(w.address)} (${w.data.length} bytes) outside the blocks it erased`);
      }
    }
    if (!chunks.length) return 'nothing to flash';
    const report = await flashChipRegions(this.session, regions, new FlashImage('GDB load', chunks), { ram, verify: true, ...options });
    if (!report.verified) throw new DebugError('target', `flash not verified: ${describeReport(report)}`);
    // The algorithm ran on the core: start the firmware from a clean reset (SP from its vector table).
    await this.session.core.reset({ halt: true });
    await this.session.core.haltCause();
    return describeReport(report);
  }

  // ---- leaving ----

  /** Every breakpoint and watchpoint this client set, removed. */
  async clearAll(): Promise<void> {
    for (const addr of [...this.software.keys()]) await this.removeBreakpoint(0, addr, 2);
    for (const addr of [...this.hardware]) await this.removeBreakpoint(1, addr, 2);
    await this.dwt.clearAll();
  }

  async detach(): Promise<void> {
    await this.clearAll();
    if (this.catchBefore !== null) {
      const demcr = await this.session.ap.read32(SCS.DEMCR);
      await this.session.ap.write32(SCS.DEMCR, ((demcr & ~VC_ALL_FAULTS) | this.catchBefore) >>> 0);
      this.catchBefore = null;
    }
    if (await this.session.core.isHalted()) await this.session.core.resume();
  }
}

function mergeRanges(ranges: readonly { start: number; size: number }[]): { start: number; size: number }[] {
  const out: { start: number; size: number }[] = [];
  for (const r of [...ranges].sort((a, b) => a.start - b.start)) {
    const last = out[out.length - 1];
    if (last && r.start <= last.start + last.size) last.size = Math.max(last.size, r.start + r.size - last.start);
    else out.push({ ...r });
  }
  return out;
}
