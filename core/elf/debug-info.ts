/**
 * Code addresses to source, from DWARF (versions 2–5, 32-bit format): which function an address is
 * in, the functions inlined there (DW_TAG_inlined_subroutine, with the call site each was inlined
 * at: DW_AT_call_file/call_line/call_column), and the file:line:column of the address from the
 * line-number program. Names are the DIE's own name qualified by its enclosing namespaces and
 * types, the way the debug info declares it ("core::ptr::read_volatile<u32>"), which is also how
 * GDB names Rust frames.
 *
 * Whatever this reader does not understand in a unit ends that unit's walk, not the lookup: the
 * other units still answer, and a caller falls back to the symbol table.
 */
import { Cursor, DwarfError, F, dwarfSections, displayPath, readAbbrevs, readLineProgramHeader, readUnitHeader, readValue, type Sections, type Value } from './dwarf';
import type { ElfFile } from './elf';

export interface SourceLocation {
  /** Relative to the compilation directory where the file is under it ("src/main.rs"), else absolute. */
  file: string;
  line: number;
  /** 0 when the producer gave none. */
  column: number;
}

export interface SourceFrame {
  /** Qualified function name. */
  name: string;
  location?: SourceLocation;
  /** Inlined into the next frame of the same address (which is where it was called). */
  inlined: boolean;
}

const TAG = { compile_unit: 0x11, partial_unit: 0x3c, subprogram: 0x2e, inlined_subroutine: 0x1d } as const;
/** DIEs whose names qualify the functions declared inside them. */
const SCOPE_TAGS = new Set([0x39 /* namespace */, 0x13 /* structure */, 0x17 /* union */, 0x04 /* enumeration */, 0x02 /* class */, 0x33 /* variant_part */]);
const AT = {
  name: 0x03, stmt_list: 0x10, low_pc: 0x11, high_pc: 0x12, comp_dir: 0x1b, abstract_origin: 0x31, specification: 0x47,
  ranges: 0x55, call_column: 0x57, call_file: 0x58, call_line: 0x59, linkage_name: 0x6e, mips_linkage_name: 0x2007,
  str_offsets_base: 0x72, addr_base: 0x73, rnglists_base: 0x74,
} as const;
const REF_FORMS: Set<number> = new Set([F.ref1, F.ref2, F.ref4, F.ref_udata]);

type Range = [start: number, end: number];

interface Die {
  tag: number;
  parent: number;
  name?: string;
  linkageName?: string;
  origin?: number;
  specification?: number;
}

interface CodeScope {
  ranges: Range[];
  /** The DIE, for its name. */
  die: number;
  depth: number;
  /** The concrete subprogram this scope is in (itself for a subprogram). */
  subprogram: number;
  call?: SourceLocation;
}

interface LineRow {
  address: number;
  file: string;
  line: number;
  column: number;
}

interface Sequence {
  start: number;
  end: number;
  rows: LineRow[];
}

export class DebugInfo {
  private readonly dies = new Map<number, Die>();
  private readonly subprograms: CodeScope[] = [];
  private readonly inlines: CodeScope[] = [];
  private readonly sequences: Sequence[] = [];

  private constructor(private readonly s: Sections | null) {
    if (!s) return;
    let offset = 0;
    while (offset + 11 <= s.info.length) {
      const c = new Cursor(s.info, offset);
      const length = c.u32();
      if (length === 0xffffffff || length === 0) break;
      const next = offset + 4 + length;
      try {
        this.readUnit(c, offset, next);
      } catch (err) {
        if (!(err instanceof DwarfError)) throw err;
      }
      offset = next;
    }
    this.sequences.sort((a, b) => a.start - b.start);
    this.subprograms.sort((a, b) => a.ranges[0][0] - b.ranges[0][0]);
  }

  static fromElf(elf: ElfFile): DebugInfo {
    return new DebugInfo(dwarfSections(elf));
  }

  get hasFunctions(): boolean {
    return this.subprograms.length > 0;
  }

  /** The source line of `address` from the line-number program. */
  lineAt(address: number): SourceLocation | undefined {
    const seqs = this.sequences;
    let lo = 0;
    let hi = seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqs[mid].start <= address) lo = mid + 1;
      else hi = mid;
    }
    // Sequences may overlap (a discarded function's code at address 0): the latest-starting one that covers it.
    for (let i = lo - 1; i >= 0; i--) {
      const seq = seqs[i];
      if (address >= seq.end) continue;
      const rows = seq.rows;
      let a = 0;
      let b = rows.length;
      while (a < b) {
        const mid = (a + b) >>> 1;
        if (rows[mid].address <= address) a = mid + 1;
        else b = mid;
      }
      const row = rows[a - 1];
      if (row) return { file: row.file, line: row.line, column: row.column };
      return undefined;
    }
    return undefined;
  }

  /**
   * The frames at `address`, innermost first: the functions inlined there (each at the line it is
   * at), then the function that holds the code, at the call site of its outermost inlined callee.
   * Empty when no debug info covers the address.
   */
  framesAt(address: number): SourceFrame[] {
    const sub = this.subprogramAt(address);
    if (!sub) return [];
    const chain = this.inlines.filter((s) => s.subprogram === sub.die && covers(s.ranges, address)).sort((a, b) => b.depth - a.depth);
    const frames: SourceFrame[] = [];
    let location = this.lineAt(address);
    for (const inline of chain) {
      frames.push({ name: this.qualifiedName(inline.die), location, inlined: true });
      location = inline.call;
    }
    frames.push({ name: this.qualifiedName(sub.die), location, inlined: false });
    return frames;
  }

  /** The start and end of the function holding `address` (from its DWARF ranges). */
  functionRange(address: number): Range | undefined {
    const sub = this.subprogramAt(address);
    return sub?.ranges.find((r) => address >= r[0] && address < r[1]);
  }

  private subprogramAt(address: number): CodeScope | undefined {
    let best: CodeScope | undefined;
    for (const s of this.subprograms) {
      if (s.ranges[0][0] > address && s.ranges.every((r) => r[0] > address)) continue;
      if (!covers(s.ranges, address)) continue;
      // Code at address 0 from functions the linker dropped can overlap a real one: the smallest wins.
      if (!best || span(s.ranges) < span(best.ranges)) best = s;
    }
    return best;
  }

  /** "module::Type::function": the DIE's name (through its abstract origin and declaration) inside its scopes. */
  qualifiedName(offset: number): string {
    let die = this.dies.get(offset);
    let name: string | undefined;
    for (let hops = 0; die && hops < 8; hops++) {
      name ??= die.name;
      const next = die.origin ?? die.specification;
      if (next === undefined) break;
      const nextDie = this.dies.get(next);
      if (!nextDie) break;
      die = nextDie;
    }
    if (!die) return '??';
    name ??= die.name ?? die.linkageName ?? '??';
    const scopes: string[] = [];
    for (let p = this.dies.get(die.parent); p && SCOPE_TAGS.has(p.tag); p = this.dies.get(p.parent)) scopes.unshift(p.name ?? '{anonymous}');
    return [...scopes, name].join('::');
  }

  private readUnit(c: Cursor, unitOffset: number, end: number): void {
    const s = this.s!;
    const header = readUnitHeader(c);
    if (!header) return;
    const { version, addrSize, abbrevOffset } = header;
    const abbrevs = readAbbrevs(s.abbrev, abbrevOffset);
    const unit = { version, addrSize, strOffsetsBase: 8, addrBase: 8, rnglistsBase: 12, base: 0, compDir: '', files: [] as string[] };
    // Enclosing DIEs with children: offset, and for code scopes their entry (for depth and subprogram).
    const stack: { offset: number; scope?: CodeScope }[] = [];
    const pendingCalls: { scope: CodeScope; file: number; line: number; column: number }[] = [];
    while (c.o < end) {
      const offset = c.o;
      const code = c.uleb();
      if (code === 0) {
        stack.pop();
        continue;
      }
      const a = abbrevs.get(code);
      if (!a) throw new DwarfError(`unknown abbreviation ${code}`);
      const die: Die = { tag: a.tag, parent: stack.length ? stack[stack.length - 1].offset : -1 };
      let low: number | undefined;
      let high: number | undefined;
      let highIsOffset = false;
      let rangesAt: { value: number; indexed: boolean } | undefined;
      let lowIndex: number | undefined;
      let stmtList: number | undefined;
      const call = { file: 0, line: 0, column: 0 };
      for (const spec of a.attrs) {
        const v: Value = readValue(c, spec.form, s, unit, spec.implicit);
        switch (spec.name) {
          case AT.name:
            if (typeof v === 'string') die.name = v;
            break;
          case AT.linkage_name:
          case AT.mips_linkage_name:
            if (typeof v === 'string') die.linkageName = v;
            break;
          case AT.abstract_origin:
          case AT.specification:
            if (typeof v === 'number') {
              const target = REF_FORMS.has(spec.form) ? unitOffset + v : v;
              if (spec.name === AT.abstract_origin) die.origin = target;
              else die.specification = target;
            }
            break;
          case AT.low_pc:
            if (typeof v === 'number') {
              if (spec.form === F.addr) low = v;
              else lowIndex = v; // addrx forms
            }
            break;
          case AT.high_pc:
            if (typeof v === 'number') {
              // An address form holds the end; addrx forms index .debug_addr; constants are a length.
              const indexed = spec.form === F.addrx || (spec.form >= F.addrx1 && spec.form <= F.addrx4);
              high = indexed ? this.indexedAddress(unit.addrBase, v) : v;
              highIsOffset = spec.form !== F.addr && !indexed;
            }
            break;
          case AT.ranges:
            if (typeof v === 'number') rangesAt = { value: v, indexed: spec.form === F.rnglistx };
            break;
          case AT.call_file:
            if (typeof v === 'number') call.file = v;
            break;
          case AT.call_line:
            if (typeof v === 'number') call.line = v;
            break;
          case AT.call_column:
            if (typeof v === 'number') call.column = v;
            break;
          case AT.stmt_list:
            if (typeof v === 'number') stmtList = v;
            break;
          case AT.comp_dir:
            if (typeof v === 'string') unit.compDir = v;
            break;
          case AT.str_offsets_base:
            if (typeof v === 'number') unit.strOffsetsBase = v;
            break;
          case AT.addr_base:
            if (typeof v === 'number') unit.addrBase = v;
            break;
          case AT.rnglists_base:
            if (typeof v === 'number') unit.rnglistsBase = v;
            break;
        }
      }
      this.dies.set(offset, die);
      if (lowIndex !== undefined) low = this.indexedAddress(unit.addrBase, lowIndex);
      if (a.tag === TAG.compile_unit || a.tag === TAG.partial_unit) {
        unit.base = low ?? 0;
        if (stmtList !== undefined) {
          const header = readLineProgramHeader(s, stmtList, unit.compDir, addrSize);
          if (header) {
            unit.files = header.files.map((f) => displayPath(f, unit.compDir));
            this.readLineProgram(header.programStart, header.end, header, unit.files);
          }
        }
      }
      let scope: CodeScope | undefined;
      if (a.tag === TAG.subprogram || a.tag === TAG.inlined_subroutine) {
        let ranges: Range[] = [];
        if (low !== undefined && high !== undefined) ranges = [[low, highIsOffset ? low + high : high]];
        else if (rangesAt) ranges = this.readRanges(rangesAt, unit);
        else if (low !== undefined) ranges = [[low, low + 1]];
        ranges = ranges.filter((r) => r[1] > r[0]);
        const enclosing = [...stack].reverse().find((e) => e.scope)?.scope;
        if (ranges.length && a.tag === TAG.subprogram) {
          scope = { ranges, die: offset, depth: 0, subprogram: offset };
          this.subprograms.push(scope);
        } else if (ranges.length && enclosing) {
          scope = { ranges, die: offset, depth: enclosing.depth + 1, subprogram: enclosing.subprogram };
          this.inlines.push(scope);
          pendingCalls.push({ scope, ...call });
        }
      }
      if (a.children) stack.push({ offset, scope: scope ?? [...stack].reverse().find((e) => e.scope)?.scope });
    }
    for (const p of pendingCalls) if (p.line) p.scope.call = { file: unit.files[p.file] ?? `<file ${p.file}>`, line: p.line, column: p.column };
  }

  private indexedAddress(addrBase: number, index: number): number | undefined {
    const a = this.s?.addr;
    const at = addrBase + index * 4;
    if (!a || at + 4 > a.length) return undefined;
    return (a[at] | (a[at + 1] << 8) | (a[at + 2] << 16) | (a[at + 3] << 24)) >>> 0;
  }

  /** DW_AT_ranges: a .debug_ranges list (DWARF ≤ 4) or a .debug_rnglists list (DWARF 5). */
  private readRanges(at: { value: number; indexed: boolean }, unit: { version: number; base: number; rnglistsBase: number; addrBase: number }): Range[] {
    const out: Range[] = [];
    let base = unit.base;
    if (unit.version < 5) {
      const r = this.s?.ranges;
      if (!r) return out;
      const c = new Cursor(r, at.value);
      for (;;) {
        const start = c.u32();
        const end = c.u32();
        if (start === 0 && end === 0) return out;
        if (start === 0xffffffff) base = end;
        else out.push([(base + start) >>> 0, (base + end) >>> 0]);
      }
    }
    const r = this.s?.rnglists;
    if (!r) return out;
    let offset = at.value;
    if (at.indexed) {
      const c = new Cursor(r, unit.rnglistsBase + 4 * at.value);
      offset = unit.rnglistsBase + c.u32();
    }
    const c = new Cursor(r, offset);
    const addrx = (i: number) => this.indexedAddress(unit.addrBase, i) ?? 0;
    for (;;) {
      const kind = c.u8();
      switch (kind) {
        case 0: // DW_RLE_end_of_list
          return out;
        case 1: // base_addressx
          base = addrx(c.uleb());
          break;
        case 2: {
          // startx_endx
          const s = addrx(c.uleb());
          out.push([s, addrx(c.uleb())]);
          break;
        }
        case 3: {
          // startx_length
          const s = addrx(c.uleb());
          out.push([s, s + c.uleb()]);
          break;
        }
        case 4: {
          // offset_pair
          const s = c.uleb();
          out.push([base + s, base + c.uleb()]);
          break;
        }
        case 5: // base_address
          base = c.u32();
          break;
        case 6: {
          // start_end
          const s = c.u32();
          out.push([s, c.u32()]);
          break;
        }
        case 7: {
          // start_length
          const s = c.u32();
          out.push([s, s + c.uleb()]);
          break;
        }
        default:
          throw new DwarfError(`unknown range list entry ${kind}`);
      }
    }
  }

  /** Runs a line-number program (DWARF 5 section 6.2), keeping each sequence's rows. */
  private readLineProgram(start: number, end: number, h: { version: number; minInstructionLength: number; defaultIsStmt: boolean; lineBase: number; lineRange: number; opcodeBase: number; standardOpcodeLengths: number[] }, files: string[]): void {
    const c = new Cursor(this.s!.line!, start, Math.min(end, this.s!.line!.length));
    const firstFile = h.version >= 5 ? 0 : 1;
    let address = 0;
    let file = firstFile;
    let line = 1;
    let column = 0;
    let isStmt = h.defaultIsStmt;
    let rows: LineRow[] = [];
    const fileName = (i: number) => files[i] ?? `<file ${i}>`;
    // Rows GDB does not record are left out the same way, so an address maps to the line GDB
    // gives it: line 0 ("no source line", compiler-made code keeps the line before it), and a
    // non-statement row that only switches file at the address of the row before.
    let sequenceStart: number | undefined;
    const emit = () => {
      sequenceStart ??= address;
      const last = rows[rows.length - 1];
      if (line === 0) return;
      if (last && last.address === address && last.file !== fileName(file) && !isStmt) return;
      rows.push({ address, file: fileName(file), line, column });
    };
    const reset = () => {
      address = 0;
      file = firstFile;
      line = 1;
      column = 0;
      isStmt = h.defaultIsStmt;
    };
    while (c.o < c.end) {
      const op = c.u8();
      if (op >= h.opcodeBase) {
        const adjusted = op - h.opcodeBase;
        address += Math.floor(adjusted / h.lineRange) * h.minInstructionLength;
        line += h.lineBase + (adjusted % h.lineRange);
        emit();
        continue;
      }
      switch (op) {
        case 0: {
          // extended
          const len = c.uleb();
          const next = c.o + len;
          const sub = c.u8();
          if (sub === 1) {
            // end_sequence (its start is the first row's address, recorded or not)
            if (rows.length) this.sequences.push({ start: Math.min(rows[0].address, sequenceStart ?? rows[0].address), end: address, rows });
            sequenceStart = undefined;
            rows = [];
            reset();
          } else if (sub === 2) address = c.u32(); // set_address
          c.o = next;
          break;
        }
        case 1: // copy
          emit();
          break;
        case 2: // advance_pc
          address += c.uleb() * h.minInstructionLength;
          break;
        case 3: // advance_line
          line += c.sleb();
          break;
        case 4: // set_file
          file = c.uleb();
          break;
        case 5: // set_column
          column = c.uleb();
          break;
        case 6: // negate_stmt
          isStmt = !isStmt;
          break;
        case 8: // const_add_pc
          address += Math.floor((255 - h.opcodeBase) / h.lineRange) * h.minInstructionLength;
          break;
        case 9: // fixed_advance_pc
          address += c.u16();
          break;
        default:
          // negate_stmt, basic_block, prologue_end, epilogue_begin, set_isa and unknown: skip their operands
          for (let i = 0; i < (h.standardOpcodeLengths[op - 1] ?? 0); i++) c.uleb();
      }
    }
  }
}

function covers(ranges: Range[], address: number): boolean {
  return ranges.some((r) => address >= r[0] && address < r[1]);
}

function span(ranges: Range[]): number {
  return ranges.reduce((n, r) => n + r[1] - r[0], 0);
}
