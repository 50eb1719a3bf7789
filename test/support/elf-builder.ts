/**
 * ELF32 little-endian ARM files built here from the layout in the System V gABI and the ARM ELF
 * supplement: header, program headers, sections (with .symtab/.strtab/.shstrtab made from the
 * names given) — for parser tests, fuzz seeds and benchmarks, never fetched binaries.
 */

export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_NOBITS = 8;
export const SHF_ALLOC = 2;
export const SHF_EXECINSTR = 4;

export interface BuildSegment {
  vaddr: number;
  paddr: number;
  data: Uint8Array;
  memSize?: number;
}

export interface BuildSection {
  name: string;
  type?: number;
  flags?: number;
  address?: number;
  data?: Uint8Array;
  /** For SHT_NOBITS: the size it occupies in memory. */
  size?: number;
}

export interface BuildSymbol {
  name: string;
  value: number;
  size?: number;
  /** STT_* | STB_* << 4 (default: a global function). */
  info?: number;
  /** The section it belongs to, by name ('' = undefined section). */
  section: string;
}

export interface BuildElf {
  entry?: number;
  segments?: BuildSegment[];
  sections?: BuildSection[];
  symbols?: BuildSymbol[];
}

/** A string table: NUL first, then each name NUL-terminated; returns the offsets. */
function stringTable(names: string[]): { bytes: Uint8Array; offsets: number[] } {
  const parts: number[] = [0];
  const offsets = names.map((n) => {
    if (n === '') return 0;
    const at = parts.length;
    for (const c of Buffer.from(n, 'latin1')) parts.push(c);
    parts.push(0);
    return at;
  });
  return { bytes: Uint8Array.from(parts), offsets };
}

export function buildElf(spec: BuildElf): Uint8Array {
  const segments = spec.segments ?? [];
  const userSections = spec.sections ?? [];
  const symbols = spec.symbols ?? [];
  // Section 0 is the null section; then the user's, then .symtab/.strtab if any, then .shstrtab.
  const sections: (BuildSection & { link?: number; entsize?: number; info?: number })[] = [{ name: '', type: 0 }, ...userSections];
  if (symbols.length) {
    const strtab = stringTable(symbols.map((s) => s.name));
    const sym = new Uint8Array(16 * (symbols.length + 1));
    const sv = new DataView(sym.buffer);
    symbols.forEach((s, i) => {
      const o = 16 * (i + 1);
      sv.setUint32(o, strtab.offsets[i], true);
      sv.setUint32(o + 4, s.value >>> 0, true);
      sv.setUint32(o + 8, s.size ?? 0, true);
      sym[o + 12] = s.info ?? 0x12;
      const index = s.section === '' ? 0 : sections.findIndex((x) => x.name === s.section);
      if (index < 0) throw new Error(`symbol ${s.name}: no section ${s.section}`);
      sv.setUint16(o + 14, index, true);
    });
    sections.push({ name: '.symtab', type: SHT_SYMTAB, data: sym, link: sections.length + 1, entsize: 16, info: 1 });
    sections.push({ name: '.strtab', type: SHT_STRTAB, data: strtab.bytes });
  }
  const shstr = stringTable([...sections.map((s) => s.name), '.shstrtab']);
  sections.push({ name: '.shstrtab', type: SHT_STRTAB, data: shstr.bytes });
  const nameOffsets = shstr.offsets;

  const phoff = 52;
  let offset = phoff + 32 * segments.length;
  const segmentOffsets = segments.map((s) => {
    const at = offset;
    offset += s.data.length;
    return at;
  });
  const sectionOffsets = sections.map((s) => {
    const at = offset;
    if (s.type !== SHT_NOBITS) offset += s.data?.length ?? 0;
    return at;
  });
  offset = (offset + 3) & ~3;
  const shoff = offset;
  const total = shoff + 40 * sections.length;
  const b = new Uint8Array(total);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 40, true); // EM_ARM
  v.setUint32(20, 1, true);
  v.setUint32(24, spec.entry ?? 0, true);
  v.setUint32(28, segments.length ? phoff : 0, true);
  v.setUint32(32, shoff, true);
  v.setUint32(36, 0x05000200, true); // EF_ARM_EABI_VER5 | EF_ARM_ABI_FLOAT_SOFT
  v.setUint16(40, 52, true);
  v.setUint16(42, 32, true);
  v.setUint16(44, segments.length, true);
  v.setUint16(46, 40, true);
  v.setUint16(48, sections.length, true);
  v.setUint16(50, sections.length - 1, true);
  segments.forEach((s, i) => {
    const p = phoff + 32 * i;
    v.setUint32(p, 1, true); // PT_LOAD
    v.setUint32(p + 4, segmentOffsets[i], true);
    v.setUint32(p + 8, s.vaddr >>> 0, true);
    v.setUint32(p + 12, s.paddr >>> 0, true);
    v.setUint32(p + 16, s.data.length, true);
    v.setUint32(p + 20, s.memSize ?? s.data.length, true);
    v.setUint32(p + 24, 5, true);
    b.set(s.data, segmentOffsets[i]);
  });
  sections.forEach((s, i) => {
    const h = shoff + 40 * i;
    v.setUint32(h, nameOffsets[i], true);
    v.setUint32(h + 4, s.type ?? SHT_PROGBITS, true);
    v.setUint32(h + 8, s.flags ?? 0, true);
    v.setUint32(h + 12, (s.address ?? 0) >>> 0, true);
    v.setUint32(h + 16, i === 0 ? 0 : sectionOffsets[i], true);
    v.setUint32(h + 20, s.type === SHT_NOBITS ? (s.size ?? 0) : (s.data?.length ?? 0), true);
    v.setUint32(h + 24, s.link ?? 0, true);
    v.setUint32(h + 28, s.info ?? 0, true);
    v.setUint32(h + 32, 4, true);
    v.setUint32(h + 36, s.entsize ?? 0, true);
    if (s.data && s.type !== SHT_NOBITS) b.set(s.data, sectionOffsets[i]);
  });
  return b;
}

/**
 * A valid-looking ELF whose section names all run into one long unterminated string: `count`
 * section headers naming offsets 1, 2, 3, … of a `runLength`-byte run of 'A' with no NUL. A reader
 * that scans each name to its NUL does count × runLength work.
 */
export function longSectionNameElf(totalBytes: number): { bytes: Uint8Array; sections: number; runLength: number } {
  const runLength = Math.floor(totalBytes / 5);
  const sections = Math.min(65535, Math.floor((totalBytes - 52 - runLength) / 40));
  const shoff = 52 + runLength;
  const b = new Uint8Array(shoff + 40 * sections);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  v.setUint16(16, 2, true);
  v.setUint16(18, 40, true);
  v.setUint32(20, 1, true);
  v.setUint32(32, shoff, true);
  v.setUint16(40, 52, true);
  v.setUint16(42, 32, true);
  v.setUint16(46, 40, true);
  v.setUint16(48, sections, true);
  v.setUint16(50, 0, true); // section 0 is the name table: the run
  b.fill(0x41, 52, shoff);
  for (let i = 0; i < sections; i++) {
    const h = shoff + 40 * i;
    v.setUint32(h, i === 0 ? 0 : 1 + (i % (runLength - 1)), true);
    v.setUint32(h + 4, i === 0 ? SHT_STRTAB : SHT_PROGBITS, true);
    v.setUint32(h + 16, 52, true);
    v.setUint32(h + 20, runLength, true);
  }
  return { bytes: b, sections, runLength };
}
