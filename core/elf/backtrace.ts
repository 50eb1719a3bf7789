/**
 * Backtraces of a halted Cortex-M core from its registers, its memory and the firmware's ELF, as
 * probe-run prints them: each frame unwound with the `.debug_frame` CFI (cfi.ts), through
 * exception entry (an EXC_RETURN value in LR means the caller's registers are in the frame the
 * core stacked: ARMv7-M B1.5.6–B1.5.8, ARMv6-M B1.5.6), inlined functions from DWARF
 * (debug-info.ts) with file:line:column for each frame, Rust names, and a note when the stack
 * pointer is below the end of the statics (the stack ran past its end).
 *
 * The unwind stops at the ELF's entry function (as GDB does by default), at a return address that
 * cannot be code, or where there is no call frame information (said in the result).
 */
import { CallFrameTable, type UnwindRow } from './cfi';
import { DebugInfo, type SourceFrame, type SourceLocation } from './debug-info';
import { demangle } from './demangle';
import { DwarfError } from './dwarf';
import type { ElfFile } from './elf';
import { STT_FUNC } from './elf';

const SHF_WRITE = 0x1;
const SHF_ALLOC = 0x2;
const SP = 13;
const LR = 14;
const PC = 15;

export interface UnwindMemory {
  /** A 32-bit little-endian word of target memory; throws when it cannot be read. */
  read32(address: number): Promise<number>;
}

export interface CoreState {
  /** r0–r15 as the core holds them. */
  registers: number[];
  /** The process stack pointer (an EXC_RETURN that returns to thread mode on PSP finds its frame there). */
  psp?: number;
}

export interface BacktraceFrame {
  /** The frame's code address: the PC where it stopped or was interrupted, else its return address. */
  pc: number;
  /** SP in this frame. */
  sp: number;
  /** Qualified function name, or "??" where neither debug info nor a symbol covers the address. */
  name: string;
  location?: SourceLocation;
  /** Inlined into the frame that follows (same address). */
  inlined: boolean;
  /** An exception interrupted this frame: the frame before it is the handler. */
  interrupted: boolean;
}

export interface Backtrace {
  frames: BacktraceFrame[];
  /** Why the unwind ended early (not at the entry function or an end of the call chain). */
  ended?: string;
  /** Frames left out by the limit. */
  truncated: boolean;
  /** The lowest SP seen was below the end of the statics: the stack overflowed. */
  overflow?: { sp: number; stackEnd: number };
}

/** What an ELF knows for backtraces: CFI, DWARF functions and lines, symbols, the stack's end. */
export class ProgramInfo {
  /** The lowest address the stack may use: the end of the statics in the stack's RAM. */
  readonly stackEnd?: number;
  private readonly functions: { start: number; end: number; name: string }[];
  private readonly entry: number;
  private debugInfo?: DebugInfo;
  private frameTable?: CallFrameTable;

  /** DWARF is read when first needed (a stop), not when a run starts. */
  get debug(): DebugInfo {
    return (this.debugInfo ??= DebugInfo.fromElf(this.elf));
  }

  get cfi(): CallFrameTable {
    return (this.frameTable ??= CallFrameTable.fromElf(this.elf));
  }

  constructor(readonly elf: ElfFile) {
    this.entry = elf.entry & ~1;
    this.functions = elf.symbols
      .filter((s) => s.type === STT_FUNC && s.name)
      .map((s) => ({ start: s.value & ~1, end: (s.value & ~1) + Math.max(s.size, 2), name: demangle(s.name) }))
      .sort((a, b) => a.start - b.start);
    this.stackEnd = findStackEnd(elf);
  }

  /**
   * The function holding `address`: "name+0x12", named by the debug info where it covers the
   * address (a symbol table may give one address many names: handlers aliased by the linker
   * script), else by the symbol table (demangled); null when neither knows it.
   */
  functionAt(address: number): string | null {
    const a = (address & ~1) >>> 0;
    const range = this.debug.functionRange(a);
    const frames = range ? this.debug.framesAt(a) : [];
    if (range && frames.length) return `${frames[frames.length - 1].name}${a > range[0] ? `+0x${(a - range[0]).toString(16)}` : ''}`;
    return this.symbolAt(a);
  }

  /** The function symbol holding `address`: "name+0x12" (demangled), or null. */
  symbolAt(address: number): string | null {
    const a = (address & ~1) >>> 0;
    let best: { start: number; name: string } | null = null;
    for (const f of this.functions) {
      if (f.start > a) break;
      if (a < f.end && (!best || f.start > best.start)) best = f;
    }
    return best ? `${best.name}${a > best.start ? `+0x${(a - best.start).toString(16)}` : ''}` : null;
  }

  /** Frames at a code address: DWARF (inlined ones first), else the symbol's name, else "??". */
  framesAt(address: number): SourceFrame[] {
    const frames = this.debug.framesAt(address);
    if (frames.length) return frames;
    const symbol = this.symbolAt(address);
    return [{ name: symbol ? symbol.replace(/\+0x[0-9a-f]+$/, '') : '??', location: this.debug.lineAt(address), inlined: false }];
  }

  /** Whether `address` is in the ELF's entry function (where GDB, and this, stop unwinding). */
  inEntryFunction(address: number): boolean {
    const range = this.debug.functionRange(this.entry);
    if (range) return address >= range[0] && address < range[1];
    const f = this.functions.find((x) => x.start === this.entry);
    return !!f && address >= f.start && address < f.end;
  }
}

/** EXC_RETURN: the value LR holds in a handler (0xFFFFFFxx; ARMv7-M B1.5.8, ARMv8-M adds more forms). */
export function isExcReturn(value: number): boolean {
  return value >>> 8 === 0xffffff && value !== 0xffffffff && value !== 0xfffffffe;
}

/** DCRSR.REGSEL of PSP (ARMv7-M C1.6.3; r0–r15 are 0–15). */
const REGSEL_PSP = 18;

/**
 * Unwinds a halted core: r0–r15 and PSP read in one register batch (`readCoreRegisters` takes
 * DCRSR.REGSEL numbers, as CortexM's does), memory word by word.
 */
export async function unwindHaltedCore(program: ProgramInfo, core: { readCoreRegisters(regs: readonly number[]): Promise<number[]> }, memory: UnwindMemory, limit = 50): Promise<Backtrace> {
  const values = await core.readCoreRegisters([...Array.from({ length: 16 }, (_, i) => i), REGSEL_PSP]);
  return unwind(program, { registers: values.slice(0, 16), psp: values[16] }, memory, limit);
}

/** Unwinds from the core's registers, at most `limit` frames (inlined frames count). */
export async function unwind(program: ProgramInfo, state: CoreState, memory: UnwindMemory, limit = 50): Promise<Backtrace> {
  const frames: BacktraceFrame[] = [];
  let regs: (number | undefined)[] = state.registers.slice(0, 16);
  let pc = regs[PC]!;
  let interrupted = false;
  let first = true;
  let lowestSp = regs[SP]!;
  const result: Backtrace = { frames, truncated: false };
  const hex = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, '0')}`;
  for (;;) {
    const address = (pc & ~1) >>> 0;
    // A return address is the instruction after the call: look the call itself up (as GDB does).
    const lookup = first || interrupted ? address : address - 1;
    const sp = regs[SP]!;
    lowestSp = Math.min(lowestSp, sp);
    const source = program.framesAt(lookup);
    for (let i = 0; i < source.length; i++) {
      if (frames.length >= limit) {
        result.truncated = true;
        break;
      }
      frames.push({ pc: address, sp, name: source[i].name, location: source[i].location, inlined: source[i].inlined, interrupted: interrupted && i === 0 });
    }
    if (result.truncated || program.inEntryFunction(lookup)) break;
    let row: UnwindRow | null;
    try {
      row = program.cfi.rowAt(lookup);
    } catch (err) {
      if (!(err instanceof DwarfError)) throw err;
      result.ended = `the call frame information at ${hex(address)} cannot be read (${err.message})`;
      break;
    }
    // Where there is none (code without debug info, or a jump to a bad address) the innermost or
    // interrupted frame is taken as a leaf: nothing pushed yet, the return address still in LR.
    if (!row && (first || interrupted)) row = { cfa: { register: SP, offset: 0 }, registers: new Map(), returnAddressRegister: LR };
    if (!row) {
      result.ended = `no call frame information for ${hex(address)}`;
      break;
    }
    if (!('register' in row.cfa) || regs[row.cfa.register] === undefined) {
      result.ended = `the frame address at ${hex(address)} needs a DWARF expression`;
      break;
    }
    const cfa = (regs[row.cfa.register]! + row.cfa.offset) >>> 0;
    const next = regs.slice();
    next[SP] = cfa;
    try {
      for (const [reg, rule] of row.registers) {
        if (rule.kind === 'offset') next[reg] = await memory.read32((cfa + rule.offset) >>> 0);
        else if (rule.kind === 'val-offset') next[reg] = (cfa + rule.offset) >>> 0;
        else if (rule.kind === 'register') next[reg] = regs[rule.register];
        else if (rule.kind === 'undefined' || rule.kind === 'expression') next[reg] = undefined;
      }
    } catch (err) {
      result.ended = `the stack at ${hex(cfa)} cannot be read (${(err as Error).message})`;
      break;
    }
    const ra = next[row.returnAddressRegister];
    if (ra === undefined) break; // the outermost frame says so
    if (isExcReturn(ra)) {
      // Exception entry: r0–r3, r12, LR, PC, xPSR stacked on the stack the interrupted code used.
      const frameAt = ra & 0x4 ? state.psp : cfa;
      if (frameAt === undefined) {
        result.ended = 'the exception frame is on the process stack, whose pointer was not read';
        break;
      }
      try {
        const words: number[] = [];
        for (let i = 0; i < 8; i++) words.push(await memory.read32((frameAt + 4 * i) >>> 0));
        [next[0], next[1], next[2], next[3], next[12], next[LR], next[PC]] = words;
        const xpsr = words[7];
        // The FP extended frame (EXC_RETURN bit 4 clear) adds S0–S15, FPSCR and a reserved word.
        next[SP] = (frameAt + 32 + (ra & 0x10 ? 0 : 0x48) + (xpsr & (1 << 9) ? 4 : 0)) >>> 0;
      } catch (err) {
        result.ended = `the exception frame at ${hex(frameAt)} cannot be read (${(err as Error).message}): a stacking fault?`;
        lowestSp = Math.min(lowestSp, frameAt);
        break;
      }
      pc = next[PC]!;
      interrupted = true;
    } else {
      if ((ra & ~1) === 0 || ra >>> 0 >= 0xfffffffe) break; // the end of the call chain
      if (!interrupted && !first && ra === pc && cfa === sp) {
        result.ended = `the frame at ${hex(address)} unwinds to itself`;
        break;
      }
      pc = ra;
      interrupted = false;
    }
    if (next[SP]! < sp) {
      result.ended = `the stack pointer goes down (${hex(sp)} to ${hex(next[SP]!)}) at ${hex(address)}: the stack is corrupt`;
      break;
    }
    regs = next;
    first = false;
  }
  if (program.stackEnd !== undefined && lowestSp < program.stackEnd) result.overflow = { sp: lowestSp, stackEnd: program.stackEnd };
  return result;
}

/** The backtrace as probe-run prints it ("stack backtrace:", numbered frames, "at file:line:col"). */
export function formatBacktrace(bt: Backtrace, limit?: number): string {
  const lines = ['stack backtrace:'];
  bt.frames.forEach((f, i) => {
    if (f.interrupted) lines.push('      <exception entry>');
    lines.push(`${String(i).padStart(4)}: 0x${f.pc.toString(16).padStart(8, '0')} @ ${f.name}${f.inlined ? ' (inlined)' : ''}`);
    if (f.location) lines.push(`        at ${f.location.file}:${f.location.line}${f.location.column ? `:${f.location.column}` : ''}`);
  });
  if (bt.truncated) lines.push(`  (the backtrace stops at ${limit ?? bt.frames.length} frames: --backtrace-limit N shows more)`);
  if (bt.ended) lines.push(`  (the backtrace ends here: ${bt.ended})`);
  if (bt.overflow) {
    const h = (v: number) => `0x${v.toString(16).padStart(8, '0')}`;
    lines.push(`note: the stack overflowed: SP reached ${h(bt.overflow.sp)}, below the stack's end at ${h(bt.overflow.stackEnd)} (where the statics end)`);
  }
  return lines.join('\n') + '\n';
}

/**
 * The end of the statics in the RAM the stack is in: the initial SP (the vector table's first word)
 * is the stack's top; the writable sections below it in the same 256 MiB region hold the statics.
 */
function findStackEnd(elf: ElfFile): number | undefined {
  const vectors = elf.section('.vector_table');
  if (!vectors || vectors.size < 4) return undefined;
  const data = elf.sectionData(vectors);
  const top = (data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24)) >>> 0;
  let end: number | undefined;
  for (const s of elf.sections) {
    if ((s.flags & (SHF_ALLOC | SHF_WRITE)) !== (SHF_ALLOC | SHF_WRITE) || s.size === 0) continue;
    if (s.address >= top || s.address >>> 28 !== (top - 1) >>> 28) continue;
    end = Math.max(end ?? 0, s.address + s.size);
  }
  return end;
}
