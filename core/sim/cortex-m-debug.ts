/**
 * The Cortex-M debug view of the bus, between the MEM-AP model and a SimTarget: the SCS debug
 * registers (ARMv7-M ARM C1.6; ARMv6-M ARM C1.6), FPB breakpoints (C1.11), the ROM table and
 * CoreSight component IDs. Every other address goes to the target's bus.
 */
import { BusFault, type SimTarget, type WatchAccess } from './target';
import { DEMCR as DEMCR_BITS, DFSR as DFSR_BITS, DHCSR as DHCSR_BITS } from '../arm/registers';

const CPUID = 0xe000ed00;
const AIRCR = 0xe000ed0c;
const DFSR = 0xe000ed30;
const DHCSR = 0xe000edf0;
const DCRSR = 0xe000edf4;
const DCRDR = 0xe000edf8;
const DEMCR = 0xe000edfc;
const FP_CTRL = 0xe0002000;
const FP_REMAP = 0xe0002004;
const FP_COMP0 = 0xe0002008;
const ROM_TABLE = 0xe00ff000;
const DWT_CTRL = 0xe0001000;
const DWT_COMP0 = 0xe0001020;
const FUNCTION_MATCHED = 1 << 24;
/** DWT_FUNCTION[3:0] data-address watchpoint encodings (ARMv6-M and ARMv7-M C1.8). */
const WATCH_FUNCTIONS: Record<number, WatchAccess> = { 0b0101: 'read', 0b0110: 'write', 0b0111: 'access' };

/** One DWT comparator: its registers and what it has armed on the target. */
interface DwtComparator {
  comp: number;
  mask: number;
  fn: number;
  matched: boolean;
  armed: { address: number; length: number; access: WatchAccess } | null;
}

const S_REGRDY = 1 << 16;
const S_HALT = 1 << 17;
const S_RETIRE_ST = 1 << 24;
const S_RESET_ST = 1 << 25;
const C_DEBUGEN = 1;
const C_HALT = 2;
const C_STEP = 4;
const C_MASKINTS = 8;

export interface CortexMDebugOptions {
  /** ARMv6-M (M0/M0+) or ARMv7-M (M3/M4): sets FPB size and ROM table contents. */
  arch: 'v6m' | 'v7m';
}

export class CortexMDebugModel {
  private dhcsrControl = 0;
  private dcrdr = 0;
  private demcr = 0;
  private dfsr = 0;
  private regReady = true;
  private resetSeen = false;
  private fpEnabled = false;
  private readonly fpComp: number[];
  private readonly ppbScratch = new Map<number, number>();

  constructor(
    readonly target: SimTarget,
    readonly options: CortexMDebugOptions,
  ) {
    this.fpComp = new Array(options.arch === 'v6m' ? 4 : 6).fill(0);
    // Cortex-M0: 2 DWT comparators; Cortex-M3: 4 (their TRMs; DWT_CTRL.NUMCOMP reports it).
    this.dwt = Array.from({ length: options.arch === 'v6m' ? 2 : 4 }, () => ({ comp: 0, mask: 0, fn: 0, matched: false, armed: null }));
  }

  private readonly dwt: DwtComparator[];

  private dwtRegister(address: number): { c: DwtComparator; field: 'comp' | 'mask' | 'fn' } | null {
    const offset = address - DWT_COMP0;
    if (offset < 0 || offset >= 16 * this.dwt.length || offset % 16 === 12) return null;
    return { c: this.dwt[offset >> 4], field: (['comp', 'mask', 'fn'] as const)[(offset % 16) >> 2] };
  }

  private async writeDwt(c: DwtComparator, field: 'comp' | 'mask' | 'fn', value: number): Promise<void> {
    if (field === 'comp') c.comp = value >>> 0;
    else if (field === 'mask') c.mask = value & 0x1f;
    else c.fn = value & 0xf;
    // What the comparator now watches, passed on to a target that runs code (QEMU).
    const access = WATCH_FUNCTIONS[c.fn];
    const length = 2 ** c.mask;
    const want = access ? { address: (c.comp - (c.comp % length)) >>> 0, length, access } : null;
    const same = want && c.armed && want.address === c.armed.address && want.length === c.armed.length && want.access === c.armed.access;
    if (same || (!want && !c.armed)) return;
    if (c.armed) await this.target.clearWatchpoint?.(c.armed.address, c.armed.length, c.armed.access);
    c.armed = null;
    if (want && this.target.setWatchpoint) {
      await this.target.setWatchpoint(want.address, want.length, want.access);
      c.armed = want;
    }
  }

  /** The target was reset from outside (nRESET, power): DHCSR reports it once. */
  noteExternalReset(): void {
    this.resetSeen = true;
    this.dfsr = 0;
  }

  /**
   * A block read about to stream [address, address+length) word by word: fetch it from the target
   * in one call (a QEMU round trip per word would be ~1 ms each). Plain memory only; if the range
   * faults, nothing is cached and the words fault one by one, at the exact address.
   */
  async beginBurst(address: number, length: number): Promise<void> {
    this.burst = null;
    if (length <= 4 || this.isDebugRegister(address) || this.isDebugRegister(address + length - 4) || address >= 0xe0000000) return;
    try {
      this.burst = { address, bytes: await this.target.readMemory(address, length) };
    } catch (err) {
      if (!(err instanceof BusFault)) throw err;
    }
  }

  endBurst(): void {
    this.burst = null;
  }

  private burst: { address: number; bytes: Uint8Array } | null = null;

  async read32(address: number): Promise<number> {
    const burst = this.burst;
    if (burst && address >= burst.address && address + 4 <= burst.address + burst.bytes.length) {
      const o = address - burst.address;
      const b = burst.bytes;
      return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
    }
    switch (address) {
      case CPUID:
        return this.target.cpuid >>> 0;
      case AIRCR:
        // VECTKEYSTAT reads as 0xFA05 (ARMv7-M B3.2.6).
        return 0xfa050000;
      case DFSR:
        await this.noteHaltReason();
        return this.dfsr;
      case DHCSR:
        return this.readDhcsr();
      case DCRSR:
        return 0; // write-only
      case DCRDR:
        return this.dcrdr >>> 0;
      case DEMCR:
        return this.demcr >>> 0;
      case FP_CTRL:
        // NUM_CODE[7:4], KEY reads 0, ENABLE bit 0; REV[31:28] = 0 (FPB version 1).
        return ((this.fpComp.length << 4) | (this.fpEnabled ? 1 : 0)) >>> 0;
      case FP_REMAP:
        return 0;
    }
    if (address >= FP_COMP0 && address < FP_COMP0 + 4 * this.fpComp.length) return this.fpComp[(address - FP_COMP0) >> 2] >>> 0;
    if (address === DWT_CTRL) return (((this.ppbScratch.get(DWT_CTRL) ?? 0) & 0x0fffffff) | (this.dwt.length << 28)) >>> 0;
    const dwt = this.dwtRegister(address);
    if (dwt) {
      if (dwt.field !== 'fn') return dwt.c[dwt.field] >>> 0;
      await this.noteHaltReason();
      const value = (dwt.c.fn | (dwt.c.matched ? FUNCTION_MATCHED : 0)) >>> 0;
      dwt.c.matched = false; // MATCHED clears on read
      return value;
    }
    const rom = this.romTableWord(address);
    if (rom !== undefined) return rom;
    if (address === 0xe0000fb4) return this.itmUnlocked ? 0b01 : 0b11; // ITM LSR: implemented, locked?
    if (address === 0xe0000fb0) return 0; // LAR is write-only
    if (this.isPpbScratch(address)) return this.ppbScratch.get(address) ?? 0;
    const bytes = await this.target.readMemory(address, 4);
    return (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
  }

  async write32(address: number, value: number): Promise<void> {
    value >>>= 0;
    switch (address) {
      case CPUID:
        return;
      case AIRCR:
        return this.writeAircr(value);
      case DFSR:
        this.dfsr &= ~value; // write one to clear
        return;
      case DHCSR:
        return this.writeDhcsr(value);
      case DCRSR:
        return this.writeDcrsr(value);
      case DCRDR:
        this.dcrdr = value;
        return;
      case DEMCR:
        // ARMv6-M implements only VC_HARDERR and VC_CORERESET of the catch bits (and DWTENA, bit 24).
        this.demcr = value & (this.options.arch === 'v6m' ? 0x01000401 : 0x010f07f1);
        await this.tellDebugControl();
        return;
      case FP_CTRL:
        // The KEY bit must be written as one for the write to take effect (ARMv7-M C1.11.3).
        if (value & 2) await this.setFpEnabled((value & 1) !== 0);
        return;
      case FP_REMAP:
        return;
    }
    if (address >= FP_COMP0 && address < FP_COMP0 + 4 * this.fpComp.length) return this.writeFpComp((address - FP_COMP0) >> 2, value);
    const dwt = this.dwtRegister(address);
    if (dwt) {
      // The DWT ignores writes until DEMCR.TRCENA (DWTENA on ARMv6-M) powers it up.
      if (this.demcr & DEMCR_BITS.TRCENA) await this.writeDwt(dwt.c, dwt.field, value);
      return;
    }
    if (this.romTableWord(address) !== undefined) return;
    if (this.isPpbScratch(address)) {
      // ITM, DWT and TPIU ignore writes until DEMCR.TRCENA powers trace up; the ITM's control
      // registers also stay locked until LAR is written with the CoreSight key (ARMv7-M D1/C1.7).
      if (!(this.demcr & (1 << 24))) return;
      if (address === 0xe0000fb0) {
        this.itmUnlocked = value === 0xc5acce55;
        return;
      }
      if (address >= 0xe0000e00 && address < 0xe0000f00 && !this.itmUnlocked) return;
      this.ppbScratch.set(address, value);
      return;
    }
    await this.target.writeMemory(address, Uint8Array.of(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24));
  }

  /** Sub-word access: debug registers are word-only in this model; memory is byte-addressable. */
  async readSized(address: number, size: 1 | 2): Promise<number> {
    if (this.isDebugRegister(address)) {
      const word = await this.read32(address & ~3);
      return (word >>> ((address & 3) * 8)) & (size === 1 ? 0xff : 0xffff);
    }
    const bytes = await this.target.readMemory(address, size);
    return size === 1 ? bytes[0] : bytes[0] | (bytes[1] << 8);
  }

  async writeSized(address: number, size: 1 | 2, value: number): Promise<void> {
    if (this.isDebugRegister(address)) {
      // Sub-word writes to the debug registers are UNPREDICTABLE (ARMv7-M C1.6): refuse them.
      throw new BusFault(address, 'write');
    }
    await this.target.writeMemory(address, size === 1 ? Uint8Array.of(value & 0xff) : Uint8Array.of(value & 0xff, (value >>> 8) & 0xff));
  }

  private isDebugRegister(address: number): boolean {
    const a = (address & ~3) >>> 0;
    return (a >= 0xe000ed00 && a <= 0xe000ed3c) || (a >= DHCSR && a <= DEMCR) || (a >= FP_CTRL && a < 0xe0003000) || (a >= ROM_TABLE && a < ROM_TABLE + 0x1000);
  }

  /** DWT and ITM (and TPIU on v7-M) are plain registers here: enough for discovery, not for tracing. */
  private itmUnlocked = false;

  private isPpbScratch(address: number): boolean {
    return (address >= 0xe0000000 && address < 0xe0002000) || (address >= 0xe0040000 && address < 0xe0041000);
  }

  /** Whether this halt's reason is already in DFSR (it is set once per halt; a debugger's clear sticks). */
  private haltNoted = false;

  /**
   * A core that stopped by itself reports why in DFSR, once per halt: BKPT for an FPB comparator
   * or a BKPT instruction, VCATCH for a vector catch, DWTTRAP (and the comparator's MATCHED) for
   * a watchpoint (ARMv7-M C1.6.1, C1.8.7).
   */
  private async noteHaltReason(): Promise<void> {
    if (!(await this.target.isHalted())) {
      this.haltNoted = false;
      return;
    }
    if (this.haltNoted) return;
    this.haltNoted = true;
    const reason = this.target.haltReason();
    if (reason === 'breakpoint' || reason === 'bkpt') this.dfsr |= DFSR_BITS.BKPT;
    else if (reason === 'vector-catch') this.dfsr |= DFSR_BITS.VCATCH;
    else if (reason === 'watchpoint') {
      this.dfsr |= DFSR_BITS.DWTTRAP;
      const hit = this.target.watchpointHit?.() ?? null;
      const armed = this.dwt.filter((c) => c.armed);
      for (const c of armed) {
        if (hit === null ? armed.length === 1 : hit >= c.armed!.address && hit < c.armed!.address + c.armed!.length) c.matched = true;
      }
    }
  }

  /** The backend needs C_DEBUGEN and DEMCR to decide what a BKPT or a fault does. */
  private debugControlSent = '';
  private async tellDebugControl(): Promise<void> {
    if (!this.target.setDebugControl) return;
    const control = { debugEnabled: (this.dhcsrControl & C_DEBUGEN) !== 0, demcr: this.demcr & ~DEMCR_BITS.TRCENA };
    const key = `${control.debugEnabled}:${control.demcr}`;
    if (key === this.debugControlSent) return;
    this.debugControlSent = key;
    await this.target.setDebugControl(control);
  }

  private async readDhcsr(): Promise<number> {
    await this.noteHaltReason();
    const halted = await this.target.isHalted();
    const lockup = !halted && (await this.target.isLockedUp?.()) === true;
    // Entering Debug state sets C_HALT, whatever halted the core (a breakpoint, BKPT, vector
    // catch, a step): a debugger that writes DHCSR back with the C_HALT it read keeps the core
    // halted (OpenOCD's Cortex-M step does exactly this after its temporary breakpoint).
    if (halted && this.dhcsrControl & C_DEBUGEN) this.dhcsrControl |= C_HALT;
    let value = this.dhcsrControl & 0xf;
    if (halted) value |= S_HALT;
    if (lockup) value |= DHCSR_BITS.S_LOCKUP;
    // S_REGRDY is only meaningful while halted; a transfer requested while running never completes.
    if (this.regReady && halted) value |= S_REGRDY;
    // A locked-up core retires no instructions.
    if (!halted && !lockup) value |= S_RETIRE_ST;
    if (this.target.takeSelfReset?.()) this.resetSeen = true;
    if (this.resetSeen) value |= S_RESET_ST;
    this.resetSeen = false; // S_RESET_ST clears on read
    return value >>> 0;
  }

  private async writeDhcsr(value: number): Promise<void> {
    // Writes without DBGKEY in [31:16] are ignored (ARMv7-M C1.6.2).
    if (value >>> 16 !== 0xa05f) return;
    const next = value & 0xf;
    const wasDebug = (this.dhcsrControl & C_DEBUGEN) !== 0;
    const halted = await this.target.isHalted();
    if (!(next & C_DEBUGEN)) {
      // Clearing C_DEBUGEN releases a halted core.
      this.dhcsrControl = 0;
      await this.tellDebugControl();
      if (halted && wasDebug) {
        this.haltNoted = false;
        await this.target.resume();
      }
      return;
    }
    // C_MASKINTS may only change while halted.
    const maskints = halted ? next & C_MASKINTS : this.dhcsrControl & C_MASKINTS;
    this.dhcsrControl = (next & (C_DEBUGEN | C_HALT | C_STEP)) | maskints;
    await this.tellDebugControl();
    if (next & C_HALT) {
      if (!halted) {
        await this.target.halt();
        this.dfsr |= 1; // HALTED
      }
      return;
    }
    if (halted) {
      this.haltNoted = false;
      if (next & C_STEP) {
        await this.target.step();
        this.dfsr |= 1;
        this.dhcsrControl |= C_HALT;
      } else {
        await this.target.resume();
      }
    }
  }

  private async writeDcrsr(value: number): Promise<void> {
    const reg = value & 0x7f;
    const write = (value & (1 << 16)) !== 0;
    if (!(await this.target.isHalted())) {
      // A transfer requested while running does not complete: S_REGRDY stays low.
      this.regReady = false;
      return;
    }
    const valid = reg <= 18 || reg === 20 || (this.options.arch === 'v7m' && reg >= 0x40 && reg <= 0x5f);
    if (!valid) {
      this.regReady = true;
      this.dcrdr = 0;
      return;
    }
    if (write) await this.target.writeRegister(reg, this.dcrdr);
    else this.dcrdr = (await this.target.readRegister(reg)) >>> 0;
    this.regReady = true;
  }

  private async writeAircr(value: number): Promise<void> {
    if (value >>> 16 !== 0x05fa) return; // VECTKEY required
    const sysreset = (value & 4) !== 0;
    const vectreset = this.options.arch === 'v7m' && (value & 1) !== 0;
    if (!sysreset && !vectreset) return;
    const halt = (this.demcr & 1) !== 0 && (this.dhcsrControl & C_DEBUGEN) !== 0;
    await this.target.reset({ halt });
    this.resetSeen = true;
    this.regReady = true;
    this.dfsr = halt ? 1 << 3 : 0; // VCATCH
    if (!halt) this.dhcsrControl &= ~(C_HALT | C_STEP);
    else this.dhcsrControl |= C_HALT;
  }

  private async setFpEnabled(enabled: boolean): Promise<void> {
    if (enabled === this.fpEnabled) return;
    for (let i = 0; i < this.fpComp.length; i++) {
      if (this.fpComp[i] & 1) await this.applyComparator(this.fpComp[i], enabled);
    }
    this.fpEnabled = enabled;
  }

  private async writeFpComp(index: number, value: number): Promise<void> {
    const old = this.fpComp[index];
    if (this.fpEnabled && old & 1) await this.applyComparator(old, false);
    this.fpComp[index] = value;
    if (this.fpEnabled && value & 1) await this.applyComparator(value, true);
  }

  /** FPB v1 comparator: COMP[28:2] is the word address; REPLACE[31:30] picks the halfword(s). */
  private async applyComparator(comp: number, set: boolean): Promise<void> {
    const word = comp & 0x1ffffffc;
    const replace = comp >>> 30;
    const addresses = replace === 1 ? [word] : replace === 2 ? [word + 2] : replace === 3 ? [word, word + 2] : [];
    for (const a of addresses) {
      if (set) await this.target.setBreakpoint(a);
      else await this.target.clearBreakpoint(a);
    }
  }

  private romTableWord(address: number): number | undefined {
    const components = this.options.arch === 'v6m' ? V6M_COMPONENTS : V7M_COMPONENTS;
    if (address >= ROM_TABLE && address < ROM_TABLE + 0x1000) {
      const offset = address - ROM_TABLE;
      // Entries: the signed offset from the ROM table base to each component, with the present and
      // 32-bit-format bits; a zero word ends the table.
      if (offset < 4 * components.length) return ((components[offset >> 2].base - ROM_TABLE) | 3) >>> 0;
      if (offset < 0xfbc) return 0;
      return componentIdWord(offset, this.options.arch === 'v6m' ? ROM_TABLE_M0 : ROM_TABLE_M3);
    }
    // Component and peripheral ID registers at the top of each component's 4 KiB block. `>>> 0`
    // keeps the block address unsigned (a bare `& ~0xfff` of 0xE000xxxx is negative in JavaScript).
    const offset = address & 0xfff;
    if (offset < 0xfbc) return undefined;
    const block = (address & ~0xfff) >>> 0;
    const component = components.find((c) => c.base === block);
    return component ? componentIdWord(offset, component.id) : undefined;
  }
}

/** What a component's identification registers hold (CoreSight Architecture Specification v2.0 B2). */
interface ComponentId {
  /** CIDR1[7:4]: 0x1 ROM table, 0x9 CoreSight component, 0xE generic IP (the Cortex-M SCS, DWT, FPB, ITM). */
  componentClass: number;
  /** PIDR0/PIDR1[3:0]: the part number ARM gave the component. */
  part: number;
  /** PIDR2[7:4]. */
  revision: number;
  /** DEVTYPE of a CoreSight-class component (0x11 = TPIU); MEMTYPE of a ROM table. */
  devtype?: number;
}

/** ROM tables: MEMTYPE (at the DEVTYPE offset) bit 0 says system memory is on this bus, as on every Cortex-M. */
const ROM_TABLE_M0: ComponentId = { componentClass: 0x1, part: 0x471, revision: 0, devtype: 1 };
const ROM_TABLE_M3: ComponentId = { componentClass: 0x1, part: 0x4c3, revision: 0, devtype: 1 };

/**
 * The components each core's ROM table lists, with the IDs the cores' technical reference manuals
 * give. Cortex-M0 (ARM DDI 0432C, 4.3 / 4.5): SCS 0x008, DWT 0x00A, BPU 0x00B. Cortex-M3 r2p0
 * (ARM DDI 0337I, 11.2 and the component chapters): SCS 0x000, ITM 0x001, DWT 0x002, FPB 0x003,
 * TPIU 0x923 (CoreSight class, DEVTYPE 0x11); the ETM slot is left out (no ETM on this part).
 */
const V6M_COMPONENTS: readonly { base: number; id: ComponentId }[] = [
  { base: 0xe000e000, id: { componentClass: 0xe, part: 0x008, revision: 0 } },
  { base: 0xe0001000, id: { componentClass: 0xe, part: 0x00a, revision: 0 } },
  { base: 0xe0002000, id: { componentClass: 0xe, part: 0x00b, revision: 0 } },
];
const V7M_COMPONENTS: readonly { base: number; id: ComponentId }[] = [
  { base: 0xe000e000, id: { componentClass: 0xe, part: 0x000, revision: 0 } },
  { base: 0xe0001000, id: { componentClass: 0xe, part: 0x002, revision: 0 } },
  { base: 0xe0002000, id: { componentClass: 0xe, part: 0x003, revision: 0 } },
  { base: 0xe0000000, id: { componentClass: 0xe, part: 0x001, revision: 0 } },
  { base: 0xe0040000, id: { componentClass: 0x9, part: 0x923, revision: 0, devtype: 0x11 } },
];

/**
 * CIDR0–3 = 0x0D, class<<4, 0x05, 0xB1; PIDR0–2 carry the part number, ARM's JEP106 identity code
 * 0x3B (with PIDR2 bit 3 saying JEP106 is used) and the revision; PIDR4 the continuation code 4.
 */
function componentIdWord(offset: number, id: ComponentId): number {
  switch (offset) {
    case 0xff0:
      return 0x0d;
    case 0xff4:
      return (id.componentClass << 4) & 0xff;
    case 0xff8:
      return 0x05;
    case 0xffc:
      return 0xb1;
    case 0xfe0:
      return id.part & 0xff;
    case 0xfe4:
      return ((id.part >> 8) & 0xf) | 0xb0;
    case 0xfe8:
      return ((id.revision & 0xf) << 4) | 0x08 | 0x3;
    case 0xfd0:
      return 0x04;
    case 0xfcc:
      return id.devtype ?? 0;
    default:
      return 0;
  }
}
