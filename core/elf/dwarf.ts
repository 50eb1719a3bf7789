/**
 * Just enough DWARF (versions 2–5, 32-bit format) to find where defmt log statements are: defmt's
 * macros declare each interned string as a static named `DEFMT_LOG_STATEMENT` whose debug info
 * holds the statement's file (DW_AT_decl_file, an index into the compile unit's line-program file
 * table), line (DW_AT_decl_line), address (DW_AT_location = DW_OP_addr, the string's index) and
 * enclosing namespaces (the module path, including the function it sits in).
 *
 * This walks .debug_info with .debug_abbrev, reads strings from .debug_str/.debug_line_str (and
 * .debug_str_offsets for DWARF 5 strx forms), and reads each unit's file table from the
 * .debug_line program header. Anything it does not understand ends that unit's walk, not the
 * decode: locations are a convenience, never a reason to refuse an ELF.
 */
import { ByteReader } from './bytes';
import type { ElfFile } from './elf';

export interface DeclLocation {
  file: string;
  line: number;
  /** Namespace path, e.g. "app::net::poll". */
  module: string;
}

// Tags, attributes, forms used below (DWARF 5 spec, section 7).
const DW_TAG_namespace = 0x39;
const DW_TAG_variable = 0x34;
const DW_AT_name = 0x03;
const DW_AT_stmt_list = 0x10;
const DW_AT_comp_dir = 0x1b;
const DW_AT_decl_file = 0x3a;
const DW_AT_decl_line = 0x3b;
const DW_AT_location = 0x02;
const DW_AT_str_offsets_base = 0x72;
const DW_OP_addr = 0x03;

export const F = {
  addr: 0x01, block2: 0x03, block4: 0x04, data2: 0x05, data4: 0x06, data8: 0x07, string: 0x08, block: 0x09,
  block1: 0x0a, data1: 0x0b, flag: 0x0c, sdata: 0x0d, strp: 0x0e, udata: 0x0f, ref_addr: 0x10, ref1: 0x11,
  ref2: 0x12, ref4: 0x13, ref8: 0x14, ref_udata: 0x15, indirect: 0x16, sec_offset: 0x17, exprloc: 0x18,
  flag_present: 0x19, strx: 0x1a, addrx: 0x1b, ref_sup4: 0x1c, strp_sup: 0x1d, data16: 0x1e, line_strp: 0x1f,
  ref_sig8: 0x20, implicit_const: 0x21, loclistx: 0x22, rnglistx: 0x23, ref_sup8: 0x24, strx1: 0x25, strx2: 0x26,
  strx3: 0x27, strx4: 0x28, addrx1: 0x29, addrx2: 0x2a, addrx3: 0x2b, addrx4: 0x2c,
} as const;

export class DwarfError extends Error {}

export class Cursor extends ByteReader {
  protected overrun(): never {
    throw new DwarfError('truncated DWARF data');
  }
  u24(): number {
    return this.u16() | (this.u8() << 16);
  }
  uleb(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = this.u8();
      if (shift < 53) result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if ((byte & 0x80) === 0) return result;
    }
  }
  sleb(): number {
    let result = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = this.u8();
      if (shift < 53) result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    if (byte & 0x40 && shift < 53) result -= 2 ** shift;
    return result;
  }
  cstr(): string {
    const end = this.b.indexOf(0, this.o);
    if (end < 0) throw new DwarfError('unterminated DWARF string');
    const s = utf8(this.b.subarray(this.o, end));
    this.o = end + 1;
    return s;
  }
  skip(n: number): void {
    this.need(n);
    this.o += n;
  }
}

const decoder = new TextDecoder();
const utf8 = (b: Uint8Array) => decoder.decode(b);

function cstrAt(section: Uint8Array | undefined, offset: number): string | undefined {
  if (!section || offset >= section.length) return undefined;
  const end = section.indexOf(0, offset);
  return utf8(section.subarray(offset, end < 0 ? section.length : end));
}

export interface AttrSpec {
  name: number;
  form: number;
  implicit?: number;
}
export interface Abbrev {
  tag: number;
  children: boolean;
  attrs: AttrSpec[];
}

export function readAbbrevs(section: Uint8Array, offset: number): Map<number, Abbrev> {
  const c = new Cursor(section, offset);
  const table = new Map<number, Abbrev>();
  for (;;) {
    const code = c.uleb();
    if (code === 0) return table;
    const tag = c.uleb();
    const children = c.u8() === 1;
    const attrs: AttrSpec[] = [];
    for (;;) {
      const name = c.uleb();
      const form = c.uleb();
      if (name === 0 && form === 0) break;
      attrs.push(form === F.implicit_const ? { name, form, implicit: c.sleb() } : { name, form });
    }
    table.set(code, { tag, children, attrs });
  }
}

export interface Sections {
  info: Uint8Array;
  abbrev: Uint8Array;
  str?: Uint8Array;
  lineStr?: Uint8Array;
  line?: Uint8Array;
  strOffsets?: Uint8Array;
  ranges?: Uint8Array;
  rnglists?: Uint8Array;
  addr?: Uint8Array;
}

export type Value = number | string | Uint8Array | undefined;

/** Reads one attribute value; strings resolve, blocks come back as bytes, the rest as numbers. */
export function readValue(c: Cursor, form: number, s: Sections, unit: { version: number; addrSize: number; strOffsetsBase: number }, implicit?: number): Value {
  switch (form) {
    case F.addr:
      return unit.addrSize === 4 ? c.u32() : (c.skip(unit.addrSize), undefined);
    case F.data1:
    case F.ref1:
    case F.flag:
    case F.strx1:
    case F.addrx1:
      return form === F.strx1 ? strx(c.u8(), s, unit) : c.u8();
    case F.data2:
    case F.ref2:
    case F.strx2:
    case F.addrx2:
      return form === F.strx2 ? strx(c.u16(), s, unit) : c.u16();
    case F.strx3:
    case F.addrx3:
      return form === F.strx3 ? strx(c.u24(), s, unit) : c.u24();
    case F.data4:
    case F.ref4:
    case F.sec_offset:
    case F.ref_sup4:
    case F.strx4:
    case F.addrx4:
      return form === F.strx4 ? strx(c.u32(), s, unit) : c.u32();
    case F.ref_addr:
      return unit.version <= 2 ? (unit.addrSize === 4 ? c.u32() : (c.skip(unit.addrSize), undefined)) : c.u32();
    case F.data8:
    case F.ref8:
    case F.ref_sig8:
    case F.ref_sup8:
      c.skip(8);
      return undefined;
    case F.data16:
      c.skip(16);
      return undefined;
    case F.sdata:
      return c.sleb();
    case F.udata:
    case F.ref_udata:
    case F.addrx:
    case F.loclistx:
    case F.rnglistx:
      return c.uleb();
    case F.strx:
      return strx(c.uleb(), s, unit);
    case F.string:
      return c.cstr();
    case F.strp:
      return cstrAt(s.str, c.u32());
    case F.line_strp:
      return cstrAt(s.lineStr, c.u32());
    case F.strp_sup:
      c.skip(4);
      return undefined;
    case F.flag_present:
      return 1;
    case F.implicit_const:
      return implicit;
    case F.exprloc:
    case F.block: {
      const n = c.uleb();
      c.need(n);
      const v = c.b.subarray(c.o, c.o + n);
      c.o += n;
      return v;
    }
    case F.block1:
    case F.block2:
    case F.block4: {
      const n = form === F.block1 ? c.u8() : form === F.block2 ? c.u16() : c.u32();
      c.need(n);
      const v = c.b.subarray(c.o, c.o + n);
      c.o += n;
      return v;
    }
    case F.indirect:
      return readValue(c, c.uleb(), s, unit);
    default:
      throw new DwarfError(`unknown DWARF form 0x${form.toString(16)}`);
  }
}

function strx(index: number, s: Sections, unit: { strOffsetsBase: number }): string | undefined {
  if (!s.strOffsets) return undefined;
  const at = unit.strOffsetsBase + index * 4;
  if (at + 4 > s.strOffsets.length) return undefined;
  const v = s.strOffsets;
  return cstrAt(s.str, (v[at] | (v[at + 1] << 8) | (v[at + 2] << 16) | (v[at + 3] << 24)) >>> 0);
}

/** A line program's header: its file table (index → path) and what running the program needs. */
export interface LineProgramHeader {
  version: number;
  files: string[];
  minInstructionLength: number;
  defaultIsStmt: boolean;
  lineBase: number;
  lineRange: number;
  opcodeBase: number;
  standardOpcodeLengths: number[];
  /** Offsets in .debug_line of the first opcode and of the end of this program. */
  programStart: number;
  end: number;
}

/** The header of the line program at `offset`, DWARF 2–5 (null for 64-bit DWARF, never made for 32-bit targets). */
export function readLineProgramHeader(s: Sections, offset: number, compDir: string, addrSize: number): LineProgramHeader | null {
  if (!s.line || offset >= s.line.length) return null;
  const c = new Cursor(s.line, offset);
  const length = c.u32();
  if (length === 0xffffffff) return null;
  const end = offset + 4 + length;
  const version = c.u16();
  if (version >= 5) c.skip(2); // address_size, segment_selector_size
  const headerLength = c.u32();
  const programStart = c.o + headerLength;
  const minInstructionLength = c.u8();
  if (version >= 4) c.u8(); // maximum_operations_per_instruction
  const defaultIsStmt = c.u8() !== 0;
  const lineBase = (c.u8() << 24) >> 24;
  const lineRange = c.u8();
  const opcodeBase = c.u8();
  const standardOpcodeLengths: number[] = [];
  for (let i = 1; i < opcodeBase; i++) standardOpcodeLengths.push(c.u8());
  const header = { version, minInstructionLength, defaultIsStmt, lineBase, lineRange, opcodeBase, standardOpcodeLengths, programStart, end };
  const unitInfo = { version, addrSize, strOffsetsBase: 0 };
  const join = (dir: string, file: string) => (file.startsWith('/') || !dir ? file : `${dir.replace(/\/$/, '')}/${file}`);
  if (version < 5) {
    const dirs = [compDir];
    for (let d = c.cstr(); d !== ''; d = c.cstr()) dirs.push(d);
    const files = ['']; // DWARF ≤ 4 numbers files from 1
    for (let f = c.cstr(); f !== ''; f = c.cstr()) {
      const dir = c.uleb();
      c.uleb(); // mtime
      c.uleb(); // length
      files.push(join(dirs[dir] ?? '', f));
    }
    return { ...header, files };
  }
  const readEntries = (): Record<number, Value>[] => {
    const formatCount = c.u8();
    const format: [number, number][] = [];
    for (let i = 0; i < formatCount; i++) format.push([c.uleb(), c.uleb()]);
    const count = c.uleb();
    const entries: Record<number, Value>[] = [];
    for (let i = 0; i < count; i++) {
      const e: Record<number, Value> = {};
      for (const [type, form] of format) e[type] = readValue(c, form, s, unitInfo);
      entries.push(e);
    }
    return entries;
  };
  const DW_LNCT_path = 1;
  const DW_LNCT_directory_index = 2;
  const dirs = readEntries().map((e) => String(e[DW_LNCT_path] ?? ''));
  const files = readEntries().map((e) => join(dirs[Number(e[DW_LNCT_directory_index] ?? 0)] ?? '', String(e[DW_LNCT_path] ?? '')));
  return { ...header, files };
}

/** The DWARF sections of an ELF (those it has). */
export function dwarfSections(elf: ElfFile): Sections | null {
  const data = (name: string) => {
    const section = elf.section(name);
    return section ? elf.sectionData(section) : undefined;
  };
  const info = data('.debug_info');
  const abbrev = data('.debug_abbrev');
  if (!info || !abbrev) return null;
  return { info, abbrev, str: data('.debug_str'), lineStr: data('.debug_line_str'), line: data('.debug_line'), strOffsets: data('.debug_str_offsets'), ranges: data('.debug_ranges'), rnglists: data('.debug_rnglists'), addr: data('.debug_addr') };
}

/** A path as a person reads it: relative to the compilation directory where it is under it, "a/../b" folded. */
export function displayPath(file: string, compDir: string): string {
  const dir = compDir.replace(/\/$/, '');
  if (dir && file.startsWith(dir + '/')) file = file.slice(dir.length + 1);
  return normalize(file);
}

/**
 * Locations of the defmt log statements in an ELF, by interned-string index (the static's
 * address). Paths under the unit's compilation directory are made relative to it.
 */
export function defmtLocations(elf: ElfFile): Map<number, DeclLocation> {
  const out = new Map<number, DeclLocation>();
  const s = dwarfSections(elf);
  if (!s) return out;
  const info = s.info;
  let offset = 0;
  while (offset + 11 <= info.length) {
    const c = new Cursor(info, offset);
    const length = c.u32();
    if (length === 0xffffffff || length === 0) break;
    const next = offset + 4 + length;
    try {
      walkUnit(c, s, next, out);
    } catch (err) {
      if (!(err instanceof DwarfError)) throw err;
      // A unit this reader cannot parse is skipped; the others still count.
    }
    offset = next;
  }
  return out;
}

/**
 * The rest of a unit header after its length: DWARF 5 puts the unit type first and the address
 * size before the abbreviation offset; 2–4 have the offset first and no type. Null for a unit that
 * is not a full or partial compile unit (type, skeleton and split units describe no code or data here).
 */
export function readUnitHeader(c: Cursor): { version: number; addrSize: number; abbrevOffset: number } | null {
  const version = c.u16();
  if (version >= 5) {
    const unitType = c.u8();
    const addrSize = c.u8();
    const abbrevOffset = c.u32();
    return unitType === 1 || unitType === 3 ? { version, addrSize, abbrevOffset } : null;
  }
  const abbrevOffset = c.u32();
  return { version, addrSize: c.u8(), abbrevOffset };
}

function walkUnit(c: Cursor, s: Sections, end: number, out: Map<number, DeclLocation>): void {
  const header = readUnitHeader(c);
  if (!header) return;
  const { version, addrSize, abbrevOffset } = header;
  const abbrevs = readAbbrevs(s.abbrev, abbrevOffset);
  const unit = { version, addrSize, strOffsetsBase: 8 };
  let files: string[] = [];
  let compDir = '';
  // Stack of namespace names (null for a non-namespace DIE that has children).
  const stack: (string | null)[] = [];
  let first = true;
  while (c.o < end) {
    const code = c.uleb();
    if (code === 0) {
      stack.pop();
      continue;
    }
    const a = abbrevs.get(code);
    if (!a) throw new DwarfError(`unknown abbreviation ${code}`);
    let name: string | undefined;
    let declFile: number | undefined;
    let declLine: number | undefined;
    let location: Uint8Array | undefined;
    let stmtList: number | undefined;
    for (const spec of a.attrs) {
      const v = readValue(c, spec.form, s, unit, spec.implicit);
      switch (spec.name) {
        case DW_AT_name:
          if (typeof v === 'string') name = v;
          break;
        case DW_AT_decl_file:
          if (typeof v === 'number') declFile = v;
          break;
        case DW_AT_decl_line:
          if (typeof v === 'number') declLine = v;
          break;
        case DW_AT_location:
          if (v instanceof Uint8Array) location = v;
          break;
        case DW_AT_stmt_list:
          if (typeof v === 'number') stmtList = v;
          break;
        case DW_AT_comp_dir:
          if (typeof v === 'string') compDir = v;
          break;
        case DW_AT_str_offsets_base:
          if (typeof v === 'number') unit.strOffsetsBase = v;
          break;
      }
    }
    if (first) {
      first = false;
      if (stmtList !== undefined) files = readLineProgramHeader(s, stmtList, compDir, addrSize)?.files ?? [];
    } else if (a.tag === DW_TAG_variable && name === 'DEFMT_LOG_STATEMENT' && location && location[0] === DW_OP_addr && location.length >= 5) {
      const index = (location[1] | (location[2] << 8) | (location[3] << 16) | (location[4] << 24)) >>> 0;
      const file = declFile !== undefined ? (files[declFile] ?? `<file ${declFile}>`) : '<unknown>';
      out.set(index, { file: displayPath(file, compDir), line: declLine ?? 0, module: stack.filter((n): n is string => n !== null).join('::') });
    }
    if (a.children) stack.push(a.tag === DW_TAG_namespace ? (name ?? '{anonymous}') : null);
  }
}

/** "a/src/../../common/x.rs" → "common/x.rs" where the path allows it. */
export function normalize(path: string): string {
  const parts: string[] = [];
  for (const p of path.split('/')) {
    if (p === '..' && parts.length && parts[parts.length - 1] !== '..' && parts[parts.length - 1] !== '') parts.pop();
    else if (p !== '.') parts.push(p);
  }
  return parts.join('/');
}
