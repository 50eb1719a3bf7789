/**
 * The emulated Raspberry Pi Pico (`emu:pico`): rp2040js's RP2040 (a Cortex-M0+ core with the
 * chip's peripherals) behind the probe model's multi-drop wire, in process and platform-free, so
 * the same code can run in a browser worker.
 *
 * rp2040js executes instructions when asked to; this file decides when. While core 0 runs, a
 * scheduler executes it in short slices on the event loop, never ahead of wall-clock time (a
 * sleeping core, WFI/WFE, skips ahead to its next timer alarm but not past "now"), so firmware
 * timers tick at their real rate, as on QEMU. With `pacing: 'modeled'` (benches) the core instead
 * runs up to the probe model's modeled clock at each debug access, so how long flashing takes is
 * the same on every machine, however fast the emulator runs. Either way, code that polls the
 * flash's status while it is busy (the ROM's wait after each erase and page program) lets emulated
 * time pass to the end of the busy time, or to the next timer alarm if that comes first, instead
 * of executing every poll: the poll that follows finds the flash ready at the same emulated
 * moment, within one pass of the polling loop, so timing is unchanged and the emulator is spared
 * millions of instructions per erase. Halting stops the slices; a step executes one
 * instruction; FPB breakpoints are checked before each instruction. A BKPT (rp2040js reports it
 * through onBreak) halts the core at the BKPT when halting debug is enabled and escalates to
 * HardFault otherwise, as on ARMv6-M. Debug accesses go to the emulator's bus directly and fault
 * where the RP2040's address map has nothing. DEMCR vector catch is not modelled here.
 *
 * rp2040js models one core. Core 1 is present as a DP and a core that stays in its boot state:
 * parked in the boot ROM (its registers readable, halt/resume honoured, nothing executed).
 *
 * The flash is a W25Q16JV model behind the SSI (core/sim/qspi-flash.ts): code that programs it
 * through the SSI, as the boot ROM's flash functions do, changes what XIP reads. Its busy time is
 * the emulator's time, which stands still while the core is halted (a simplification: a real
 * flash goes on erasing; code that waits for it, like the ROM's functions, runs on the core).
 *
 * With Dapdeck's boot ROM (firmware-samples/bootrom) loaded, a chip reset starts core 0 at the
 * ROM's reset vector (VTOR 0, SP and PC from ROM words 0 and 1) and the ROM boots as on silicon:
 * it parks on a rescue reset (CHIP_RESET.PSM_RESTART_FLAG, modelled here in VREG_AND_CHIP_RESET,
 * which rp2040js leaves unimplemented), else reads boot2 from flash through the SSI, checks its
 * CRC32 and enters it; boot2 sets up XIP and enters the firmware. Blank flash or a bad boot2 leaves
 * the core asleep in the ROM. Without a ROM image (unit tests of the bare emulator) reset stands
 * in for ROM and boot2: the firmware starts from the vector table at flash + 0x100, and a rescue
 * reset or flash without a plausible table parks the core in a WFI loop at the ROM's address.
 */
import { BasePeripheral, Simulator, type Logger, type RP2040 } from 'rp2040js';
import type { Rp2040Cores } from './rp2040-bench';
import { NorFlash, attachQspiFlash } from './qspi-flash';
import { PICO_ROM_SIZE as ROM_SIZE } from './pico-rom-image';
import { BusFault, type DebugControl, type HaltReason, type MemoryRegion, type SimTarget } from './target';

const ROM_START = 0x00000000;
const XIP_START = 0x10000000;
/** The Pico's W25Q16JV: 2 MiB. rp2040js's flash array is 16 MiB; XIP reads beyond 2 MiB are not the Pico's. */
export const PICO_FLASH_SIZE = 2 * 1024 * 1024;
const SRAM_START = 0x20000000;
const SRAM_SIZE = 264 * 1024;
const SIO_START = 0xd0000000;
const PPB_START = 0xe0000000;
/** Where boot2 hands over: the application's vector table follows the 256-byte boot2. */
const APP_VECTORS = XIP_START + 0x100;
/** A `wfi; b .-2` loop in the ROM area where a core waits when there is nothing to run. */
const PARK_LOOP = 0x000000f0;
/** VREG_AND_CHIP_RESET (RP2040 datasheet 2.10.6): VREG, BOD, CHIP_RESET. */
const VREG_AND_CHIP_RESET = 0x40064000;
/** CHIP_RESET fields: set by a rescue-DP reset and checked by the boot ROM (write 1 to clear). */
export const PSM_RESTART_FLAG = 1 << 24;
const HAD_PSM_RESTART = 1 << 20;
const HAD_POR = 1 << 8;
/** clk_sys after the Pico SDK's clock setup: 125 MHz. */
export const PICO_CYCLE_NANOS = 8;
/** Wall time one scheduler slice may take before it yields to the event loop (probe traffic). */
const SLICE_MS = 4;
/** Emulated time a busy core may fall behind wall time before the backlog is dropped. */
const MAX_BACKLOG_NANOS = 20e6;

export const PICO_CPUID = 0x410cc601;
export const PICO_DPIDR = 0x0bc12477;

const PICO_MEMORY_MAP: MemoryRegion[] = [
  { name: 'rom', kind: 'peripheral', start: ROM_START, size: ROM_SIZE },
  { name: 'flash', kind: 'flash', start: XIP_START, size: PICO_FLASH_SIZE },
  { name: 'sram', kind: 'ram', start: SRAM_START, size: SRAM_SIZE },
  { name: 'apb/ahb peripherals', kind: 'peripheral', start: 0x40000000, size: 0x20000000 },
  { name: 'sio', kind: 'peripheral', start: SIO_START, size: 0x1000 },
];

/**
 * 'wall': the core runs at most as fast as wall-clock time (firmware timers tick in real time).
 * 'modeled': the core runs up to the probe model's modeled clock (deterministic benches).
 */
export type PicoPacing = 'wall' | 'modeled';

const quietLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** The chip: rp2040js plus what this bench adds (reset, rescue, bus rules, core 1's boot state). */
export class PicoEmulator implements Rp2040Cores {
  private sim: Simulator;
  readonly core0: PicoCore0;
  readonly core1: ParkedCore;
  /** The rescue DP's power request is set: the chip is held in reset. */
  heldInReset = false;
  rescues = 0;
  /** The external QSPI flash, behind the SSI; it keeps its state across chip resets. */
  readonly flash: NorFlash;
  /** Emulated nanoseconds before the last chip reset (each reset starts a fresh emulator clock). */
  private nanosBefore = 0;
  /** VREG_AND_CHIP_RESET's registers: in the always-on domain, so they outlive a chip reset. */
  readonly chipReset = { vreg: 0xb1, bod: 0x91, chipReset: HAD_POR };
  /** Whether Dapdeck's boot ROM is loaded (then reset runs it; otherwise reset stands in for it). */
  readonly hasRom: boolean;

  /** What emulated time follows: wall-clock time, or the probe model's modeled clock. */
  readonly pacing: PicoPacing;

  /**
   * `bootrom`: Dapdeck's own boot ROM image (firmware-samples/bootrom), loaded at 0; its function
   * table and flash functions are then there for code on the core, as on a real RP2040.
   */
  constructor(options: { bootrom?: Uint8Array; pacing?: PicoPacing } = {}) {
    this.pacing = options.pacing ?? 'wall';
    this.sim = newSimulator();
    this.hasRom = options.bootrom !== undefined;
    this.flash = new NorFlash({ array: () => this.sim.rp2040.flash, now: () => (this.nanosBefore + this.sim.clock.nanos) / 1e9 });
    attachQspiFlash(this.sim.rp2040, this.flash);
    attachChipReset(this.sim.rp2040, this.chipReset);
    this.sim.rp2040.flash.fill(0xff);
    if (options.bootrom) loadRom(this.sim.rp2040, options.bootrom);
    else writeParkLoop(this.sim.rp2040);
    this.core0 = new PicoCore0(this);
    this.core1 = new ParkedCore(this, 1);
  }

  get rp2040(): RP2040 {
    return this.sim.rp2040;
  }

  get clock() {
    return this.sim.clock;
  }

  /** The emulator clock's reading (nanoseconds since the last chip reset) at emulated time `seconds`. */
  nanosAt(seconds: number): number {
    return seconds * 1e9 - this.nanosBefore;
  }

  /** Put bytes straight into the flash array (a programmed chip), bypassing the bus. */
  loadFlash(address: number, data: Uint8Array): void {
    const offset = address - XIP_START;
    if (offset < 0 || offset + data.length > PICO_FLASH_SIZE) {
      throw new Error(`0x${address.toString(16)}+${data.length} is outside the Pico's 2 MiB flash at 0x10000000`);
    }
    this.rp2040.flash.set(data, offset);
  }

  /**
   * A chip reset: a fresh rp2040js (peripherals at their reset values) with the same flash, SRAM
   * (not cleared by a reset) and ROM; then the boot path.
   */
  resetChip(options: { rescue?: boolean } = {}): void {
    const old = this.sim.rp2040;
    this.nanosBefore += this.sim.clock.nanos;
    this.sim = newSimulator();
    const chip = this.sim.rp2040;
    attachQspiFlash(chip, this.flash);
    attachChipReset(chip, this.chipReset);
    chip.flash.set(old.flash);
    chip.sram.set(old.sram);
    chip.bootrom.set(old.bootrom);
    chip.onBreak = (code) => this.core0.onBreak(code);
    // The rescue DP's reset restarts the power-on state machine with the flag set for the ROM.
    if (options.rescue) this.chipReset.chipReset = PSM_RESTART_FLAG | HAD_PSM_RESTART;
    this.boot();
  }

  /**
   * Start core 0 after a reset: at the ROM's reset vector when there is a ROM; else what the ROM
   * and boot2 would leave behind — VTOR at the application's vector table, SP and PC from it — or,
   * on a rescue reset (the flag cleared, as the ROM does) or without a plausible table, parked.
   */
  boot(): void {
    const chip = this.rp2040;
    const core = chip.core;
    if (this.hasRom) {
      core.VTOR = 0;
      core.SP = chip.bootrom[0];
      core.PC = chip.bootrom[1] & ~1;
      return;
    }
    const rescued = (this.chipReset.chipReset & PSM_RESTART_FLAG) !== 0;
    this.chipReset.chipReset &= ~PSM_RESTART_FLAG;
    const sp = chip.readUint32(APP_VECTORS);
    const pc = chip.readUint32(APP_VECTORS + 4);
    const plausible = sp >= SRAM_START && sp <= SRAM_START + SRAM_SIZE && (pc & 1) === 1 && pc >= XIP_START && pc < XIP_START + PICO_FLASH_SIZE;
    if (rescued || !plausible) {
      core.SP = SRAM_START + SRAM_SIZE;
      core.PC = parkAddress(chip);
      return;
    }
    core.VTOR = APP_VECTORS;
    core.SP = sp;
    core.PC = pc & ~1;
  }

  async rescue(phase: 'hold' | 'release'): Promise<void> {
    if (phase === 'hold') {
      this.heldInReset = true;
      this.core0.stopForReset();
      return;
    }
    if (!this.heldInReset) return;
    this.heldInReset = false;
    this.rescues++;
    // The boot ROM sees the rescue flag and parks the cores instead of starting the firmware.
    this.resetChip({ rescue: true });
    this.core0.afterReset(false);
    this.core1.afterReset(false);
  }

  /** Bus read as the debugger sees it (core's view: SIO CPUID differs per core). */
  read(address: number, length: number, coreId: number): Uint8Array {
    const out = new Uint8Array(length);
    const chip = this.rp2040;
    for (let i = 0; i < length; ) {
      const a = (address + i) >>> 0;
      if (a >= SRAM_START && a < SRAM_START + SRAM_SIZE) {
        const n = Math.min(length - i, SRAM_START + SRAM_SIZE - a);
        out.set(chip.sram.subarray(a - SRAM_START, a - SRAM_START + n), i);
        i += n;
        continue;
      }
      if (a >= XIP_START && a < XIP_START + 0x4000000) {
        // Four XIP aliases (cached, no-alloc, no-cache, no-cache-no-alloc) of the same flash.
        const offset = a & 0xffffff;
        const n = Math.min(length - i, chip.flash.length - offset);
        out.set(chip.flash.subarray(offset, offset + n), i);
        i += n;
        continue;
      }
      if (a < ROM_SIZE) {
        out[i] = (chip.bootrom[a >>> 2] >>> ((a & 3) * 8)) & 0xff;
        i++;
        continue;
      }
      // A peripheral register is read once per access, whatever its size: reads can have side
      // effects (the SSI's DR0 pops its receive FIFO).
      const word = (a & ~3) >>> 0;
      this.checkMapped(word, 'read');
      const value = word === SIO_START ? coreId : chip.readUint32(word);
      for (let b = a & 3; b < 4 && i < length; b++, i++) out[i] = (value >>> (b * 8)) & 0xff;
    }
    return out;
  }

  write(address: number, data: Uint8Array): void {
    const chip = this.rp2040;
    for (let i = 0; i < data.length; ) {
      const a = (address + i) >>> 0;
      if (a >= SRAM_START && a < SRAM_START + SRAM_SIZE) {
        const n = Math.min(data.length - i, SRAM_START + SRAM_SIZE - a);
        chip.sram.set(data.subarray(i, i + n), a - SRAM_START);
        i += n;
        continue;
      }
      if (a < ROM_SIZE || (a >= XIP_START && a < XIP_START + 0x4000000)) {
        // ROM is read-only and XIP flash is programmed through the SSI, not by bus writes.
        i++;
        continue;
      }
      this.checkMapped((a & ~3) >>> 0, 'write');
      if ((a & 3) === 0 && i + 4 <= data.length) {
        chip.writeUint32(a, (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)) >>> 0);
        i += 4;
      } else {
        chip.writeUint8(a, data[i]);
        i++;
      }
    }
  }

  /** The RP2040 address map: peripherals rp2040js knows, SIO, the PPB; anything else faults. */
  private checkMapped(address: number, access: 'read' | 'write'): void {
    if (address >= SIO_START && address < SIO_START + 0x1000) return;
    if (address >= PPB_START && address < PPB_START + 0x100000) return;
    if (address >= 0x40000000 && address < 0x60000000 && this.rp2040.findPeripheral(address)) return;
    if (address >= 0x18000000 && address < 0x18000100) return; // XIP_SSI
    if (address >= 0x50100000 && address < 0x50101000) return; // USB DPSRAM
    throw new BusFault(address, access);
  }

  close(): void {
    this.core0.stopForReset();
  }
}

function newSimulator(): Simulator {
  const sim = new Simulator();
  sim.rp2040.logger = quietLogger;
  protectRom(sim.rp2040);
  return sim;
}

/**
 * The mask ROM cannot be written; rp2040js stores core writes below 0x4000 into its ROM array (and
 * a chip reset would carry the damage over). Byte and halfword stores reach writeUint32 too.
 */
function protectRom(chip: RP2040): void {
  const write = chip.writeUint32.bind(chip);
  chip.writeUint32 = (address: number, value: number) => {
    if (address >>> 0 >= ROM_SIZE) write(address, value);
  };
}

/** Without a ROM image, a stand-in for the boot ROM's idle path: `wfi` (0xBF30), `b .-2` (0xE7FD). */
function writeParkLoop(chip: RP2040): void {
  chip.bootrom[PARK_LOOP >>> 2] = 0xe7fdbf30;
}

function loadRom(chip: RP2040, image: Uint8Array): void {
  if (image.length > ROM_SIZE) throw new Error(`boot ROM image of ${image.length} bytes does not fit the RP2040's 16 KiB ROM`);
  const words = new Uint8Array(ROM_SIZE);
  words.set(image);
  chip.bootrom.set(new Uint32Array(words.buffer));
}

/** Where a core waits with nothing to run: the ROM's own idle loop (its NMI vector), else ours. */
function parkAddress(chip: RP2040): number {
  const nmi = chip.bootrom[2];
  return nmi !== 0 && (nmi & 1) === 1 && nmi < ROM_SIZE ? (nmi & ~1) >>> 0 : PARK_LOOP;
}

/**
 * VREG_AND_CHIP_RESET with its registers in `state` (kept by the emulator across chip resets):
 * VREG (VSEL, HIZ, EN; ROK reads 1 while enabled), BOD, and CHIP_RESET, whose PSM_RESTART_FLAG is
 * cleared by writing 1 and whose HAD_* bits are read-only (the Pico SDK's register facts).
 */
class ChipResetBlock extends BasePeripheral {
  constructor(
    chip: RP2040,
    private readonly state: PicoEmulator['chipReset'],
  ) {
    super(chip, 'VREG_AND_CHIP_RESET');
  }

  override readUint32(offset: number): number {
    switch (offset) {
      case 0x0:
        return this.state.vreg | ((this.state.vreg & 3) === 1 ? 1 << 12 : 0);
      case 0x4:
        return this.state.bod;
      case 0x8:
        return this.state.chipReset;
    }
    return 0;
  }

  override writeUint32(offset: number, value: number): void {
    if (offset === 0x0) this.state.vreg = value & 0xf3;
    else if (offset === 0x4) this.state.bod = value & 0xf1;
    else if (offset === 0x8 && value & PSM_RESTART_FLAG) this.state.chipReset &= ~PSM_RESTART_FLAG;
  }
}

function attachChipReset(chip: RP2040, state: PicoEmulator['chipReset']): void {
  (chip.peripherals as Record<number, unknown>)[(VREG_AND_CHIP_RESET >>> 14) << 2] = new ChipResetBlock(chip, state);
}

/** Core 0: rp2040js's core, executed by the scheduler below. */
export class PicoCore0 implements SimTarget {
  readonly description = 'rp2040js Raspberry Pi Pico (RP2040), core 0';
  readonly cpuid = PICO_CPUID;
  readonly dpidr = PICO_DPIDR;
  readonly memoryMap = PICO_MEMORY_MAP;
  private halted = false;
  private reason: HaltReason = 'unknown';
  private readonly breakpoints = new Set<number>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private wallAnchor = 0;
  private nanosAnchor = 0;
  /** The probe model's clock (modeled seconds), and its reading when the core last started. */
  private probeClock: (() => number) | null = null;
  private probeAnchor = 0;
  /** The last catch-up ended in a wait for the busy flash, cut short at "now". */
  private waitingForFlash = false;
  private broke = false;
  private closed = false;
  private debug: DebugControl = { debugEnabled: false, demcr: 0 };
  /** Instructions executed since the emulator started (tests and benches read it). */
  instructions = 0;

  constructor(readonly chip: PicoEmulator) {
    chip.rp2040.onBreak = (code) => this.onBreak(code);
    chip.boot();
    this.schedule(0);
  }

  onBreak(_code: number): void {
    this.broke = true;
  }

  attachClock(now: () => number): void {
    this.probeClock = now;
  }

  /** Paced by the probe model's clock rather than by wall-clock time. */
  private get modeled(): boolean {
    return this.chip.pacing === 'modeled' && this.probeClock !== null;
  }

  async setDebugControl(control: DebugControl): Promise<void> {
    this.debug = { ...control };
  }

  /** Halting debug is on and DEMCR.VC_CORERESET (bit 0) set: a reset stops at the reset vector. */
  get catchesReset(): boolean {
    return this.debug.debugEnabled && (this.debug.demcr & 1) !== 0;
  }

  async readMemory(address: number, length: number): Promise<Uint8Array> {
    this.catchUp();
    return this.chip.read(address, length, 0);
  }

  async writeMemory(address: number, data: Uint8Array): Promise<void> {
    this.catchUp();
    this.chip.write(address, data);
  }

  async halt(): Promise<void> {
    this.catchUp();
    if (this.halted) return;
    this.stopTimer();
    this.halted = true;
    this.reason = 'request';
    // A debug halt is a wake-up event: a core sleeping in WFI/WFE leaves the sleep (ARMv6-M C1.2).
    this.chip.rp2040.core.waiting = false;
  }

  async resume(): Promise<void> {
    if (!this.halted) return;
    this.halted = false;
    this.schedule(0);
  }

  async step(): Promise<void> {
    if (!this.halted) await this.halt();
    const core = this.chip.rp2040.core;
    core.waiting = false;
    this.execute(core);
    this.halted = true;
    this.reason = this.broke ? 'bkpt' : 'step';
    this.broke = false;
  }

  async isHalted(): Promise<boolean> {
    this.catchUp();
    return this.halted;
  }

  haltReason(): HaltReason {
    return this.reason;
  }

  async readRegister(reg: number): Promise<number> {
    const core = this.chip.rp2040.core;
    if (reg <= 12) return core.registers[reg] >>> 0;
    switch (reg) {
      case 13:
        return core.SP >>> 0;
      case 14:
        return core.LR >>> 0;
      case 15:
        // rp2040js enters an exception handler with the vector's Thumb bit left in PC (it masks
        // the bit when fetching): the architectural PC is even.
        return (core.PC & ~1) >>> 0;
      case 16:
        return core.xPSR >>> 0;
      case 17:
        return core.readSpecialRegister(8) >>> 0; // MSP
      case 18:
        return core.readSpecialRegister(9) >>> 0; // PSP
      case 20:
        return ((core.readSpecialRegister(20) << 24) | (core.readSpecialRegister(16) & 1)) >>> 0; // CONTROL, PRIMASK
    }
    throw new BusFault(reg, 'read');
  }

  async writeRegister(reg: number, value: number): Promise<void> {
    const core = this.chip.rp2040.core;
    value >>>= 0;
    if (reg <= 12) {
      core.registers[reg] = value;
      return;
    }
    switch (reg) {
      case 13:
        core.SP = value;
        return;
      case 14:
        core.LR = value;
        return;
      case 15:
        core.PC = value & ~1;
        return;
      case 16:
        core.xPSR = value;
        return;
      case 17:
        core.writeSpecialRegister(8, value);
        return;
      case 18:
        core.writeSpecialRegister(9, value);
        return;
      case 20:
        core.writeSpecialRegister(16, value & 1);
        core.writeSpecialRegister(20, (value >>> 24) & 3);
        return;
    }
    throw new BusFault(reg, 'write');
  }

  /** SYSRESETREQ resets the whole RP2040 (both cores and the peripherals), then the boot path runs. */
  async reset(options: { halt: boolean }): Promise<void> {
    this.stopTimer();
    this.chip.resetChip();
    this.afterReset(options.halt);
    this.chip.core1.afterReset(false);
  }

  afterReset(halt: boolean): void {
    this.broke = false;
    this.halted = halt;
    this.reason = halt ? 'vector-catch' : 'unknown';
    if (!halt) this.schedule(0);
  }

  stopForReset(): void {
    this.stopTimer();
  }

  async setBreakpoint(address: number): Promise<void> {
    this.breakpoints.add(address >>> 0);
  }

  async clearBreakpoint(address: number): Promise<void> {
    this.breakpoints.delete(address >>> 0);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopTimer();
  }

  /**
   * The core read the flash's status and found it busy: emulated time passes to the end of the
   * busy time, or to the next timer alarm (an interrupt then comes on time), or to `target`
   * ("now"), whichever comes first.
   */
  private skipFlashWait(target: number): void {
    const chip = this.chip;
    const clock = chip.clock;
    let until = Math.min(chip.nanosAt(chip.flash.busyUntilSeconds), target);
    if (clock.nanosToNextAlarm > 0) until = Math.min(until, clock.nanos + clock.nanosToNextAlarm);
    if (until > clock.nanos) clock.tick(until - clock.nanos);
    this.waitingForFlash = clock.nanos >= target && chip.flash.busy;
  }

  // ---- the scheduler ----

  private stopTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.halted || this.chip.heldInReset) return;
    this.stopTimer();
    if (delayMs === 0) {
      this.wallAnchor = now();
      this.nanosAnchor = this.chip.clock.nanos;
      this.probeAnchor = this.probeClock?.() ?? 0;
    }
    // Paced by the probe's clock, the core runs at debug accesses only: the clock moves only then.
    if (this.modeled) return;
    this.timer = setTimeout(() => this.slice(), delayMs);
  }

  /**
   * One instruction. A BKPT leaves PC at the BKPT: with halting debug on, `broke` stays set and the
   * caller halts; without, the debug event escalates to HardFault (ARMv6-M C1.5), returning to the BKPT.
   */
  private execute(core: RP2040['core']): number {
    const cycles = core.executeInstruction();
    this.instructions++;
    if (this.broke) {
      core.PC = (core.PC - core.breakRewind) >>> 0;
      if (!this.debug.debugEnabled) {
        this.broke = false;
        core.exceptionEntry(3);
      }
    }
    return cycles;
  }

  /** A timer slice: catch up with wall time, then come back when there is more to do. */
  private slice(): void {
    this.timer = null;
    if (this.closed || this.halted || this.chip.heldInReset) return;
    this.catchUp();
    if (this.halted) return;
    const chip = this.chip;
    const clock = chip.clock;
    if (this.waitingForFlash) {
      // Waiting for the flash: come back when its busy time is over (or soon, for the probe).
      const left = chip.nanosAt(chip.flash.busyUntilSeconds) - clock.nanos;
      this.timer = setTimeout(() => this.slice(), Math.min(Math.max(left / 1e6, 1), 20));
    } else if (chip.rp2040.core.waiting) {
      // Sleeping: come back when the next alarm is due in wall time (or soon, to notice a debugger
      // write that woke it).
      const toAlarm = clock.nanosToNextAlarm;
      const delay = toAlarm > 0 ? Math.min(Math.max(toAlarm / 1e6, 1), 20) : 10;
      this.timer = setTimeout(() => this.slice(), delay);
    } else {
      this.timer = setTimeout(() => this.slice(), 0);
    }
  }

  /**
   * Run the core up to wall-clock "now", for at most SLICE_MS of wall time. Also called before every
   * debug access, so what the debugger sees is the state at the moment it looks, as on a real chip.
   */
  private catchUp(): void {
    if (this.closed || this.halted || this.chip.heldInReset) return;
    const chip = this.chip;
    const clock = chip.clock;
    const start = now();
    const modeled = this.modeled;
    const target = modeled ? this.nanosAnchor + (this.probeClock!() - this.probeAnchor) * 1e9 : this.nanosAnchor + (start - this.wallAnchor) * 1e6;
    this.waitingForFlash = false;
    for (let n = 1; clock.nanos < target; n++) {
      const core = chip.rp2040.core;
      if (core.waiting) {
        const toAlarm = clock.nanosToNextAlarm;
        // Asleep: time passes up to the next timer alarm (which may wake the core) or up to now.
        const advance = toAlarm > 0 ? Math.min(toAlarm, target - clock.nanos) : target - clock.nanos;
        clock.tick(advance);
        // rp2040js wakes a sleeping core for NVIC interrupts but not for SysTick (its alarm only
        // pends the exception): any pending exception that would be taken ends WFI (ARMv6-M B1.5.19).
        if (core.interruptsUpdated && core.checkForInterrupts()) core.waiting = false;
        continue;
      }
      if (this.breakpoints.has((core.PC & ~1) >>> 0)) {
        this.halted = true;
        this.reason = 'breakpoint';
        return;
      }
      const cycles = this.execute(core);
      if (this.broke) {
        this.broke = false;
        this.halted = true;
        this.reason = 'bkpt';
        return;
      }
      clock.tick(cycles * PICO_CYCLE_NANOS);
      if (chip.flash.takeBusyPoll()) this.skipFlashWait(target);
      if (!modeled && (n & 0x3ff) === 0 && now() - start > SLICE_MS) {
        // The emulator cannot keep up with wall time: let emulated time run slower rather than
        // race to catch up later.
        if (target - clock.nanos > MAX_BACKLOG_NANOS) this.nanosAnchor -= target - clock.nanos - MAX_BACKLOG_NANOS;
        return;
      }
    }
  }
}

/**
 * Core 1 in its boot state: parked in the boot ROM waiting to be launched. rp2040js does not
 * execute a second core, so this one never leaves the loop; the debugger can still halt it, read
 * its registers and set breakpoints (which it never reaches).
 */
export class ParkedCore implements SimTarget {
  readonly description: string;
  readonly cpuid = PICO_CPUID;
  readonly dpidr = PICO_DPIDR;
  readonly memoryMap = PICO_MEMORY_MAP;
  private halted = false;
  private reason: HaltReason = 'unknown';
  private readonly registers = new Uint32Array(21);

  constructor(
    private readonly chip: PicoEmulator,
    private readonly coreId: number,
  ) {
    this.description = `rp2040js Raspberry Pi Pico (RP2040), core ${coreId} (parked in the boot ROM)`;
    this.afterReset(false);
  }

  afterReset(halt: boolean): void {
    this.registers.fill(0);
    this.registers[13] = SRAM_START + SRAM_SIZE - 0x1000 * (2 - this.coreId);
    this.registers[17] = this.registers[13];
    this.registers[15] = parkAddress(this.chip.rp2040);
    this.registers[16] = 0x01000000;
    this.halted = halt;
    this.reason = halt ? 'vector-catch' : 'unknown';
  }

  async readMemory(address: number, length: number): Promise<Uint8Array> {
    return this.chip.read(address, length, this.coreId);
  }
  async writeMemory(address: number, data: Uint8Array): Promise<void> {
    this.chip.write(address, data);
  }
  async halt(): Promise<void> {
    if (!this.halted) this.reason = 'request';
    this.halted = true;
  }
  async resume(): Promise<void> {
    this.halted = false;
  }
  /** The parked core's loop is `wfi; b .-2`: a step alternates between its two instructions. */
  async step(): Promise<void> {
    const park = parkAddress(this.chip.rp2040);
    this.registers[15] = this.registers[15] === park ? park + 2 : park;
    this.halted = true;
    this.reason = 'step';
  }
  async isHalted(): Promise<boolean> {
    return this.halted;
  }
  haltReason(): HaltReason {
    return this.reason;
  }
  async readRegister(reg: number): Promise<number> {
    if (reg <= 18) return this.registers[reg];
    if (reg === 20) return this.registers[19];
    throw new BusFault(reg, 'read');
  }
  async writeRegister(reg: number, value: number): Promise<void> {
    if (reg <= 18) this.registers[reg] = value >>> 0;
    else if (reg === 20) this.registers[19] = value >>> 0;
    else throw new BusFault(reg, 'write');
  }
  /**
   * A system reset from core 1's AIRCR resets the chip, as from core 0's; core 0 then stops at its
   * reset vector if its own debugger asked for that (its DEMCR.VC_CORERESET), as OpenOCD's
   * `reset halt` does for both cores before it releases either.
   */
  async reset(options: { halt: boolean }): Promise<void> {
    await this.chip.core0.reset({ halt: this.chip.core0.catchesReset });
    this.afterReset(options.halt);
  }
  async setBreakpoint(): Promise<void> {}
  async clearBreakpoint(): Promise<void> {}
  async close(): Promise<void> {}
}

function now(): number {
  return performance.now();
}
