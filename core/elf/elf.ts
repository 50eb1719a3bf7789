/**
 * ELF32 little-endian ARM executables, as rustc/rust-lld and the CMSIS-Pack .FLM format produce
 * them (System V ABI gABI; ARM ELF supplement "ELF for the Arm Architecture"). Bytes in, a model
 * out; every refusal names the file, the table and the offending field.
 */

export class ElfError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
    this.name = 'ElfError';
  }
}

export interface ElfSegment {
  index: number;
  type: number;
  /** File offset of the segment's bytes. */
  offset: number;
  vaddr: number;
  /** Load (physical) address: where the bytes live in flash. */
  paddr: number;
  fileSize: number;
  memSize: number;
  flags: number;
}

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  address: number;
  offset: number;
  size: number;
}

export interface ElfSymbol {
  name: string;
  value: number;
  size: number;
  type: number;
  binding: number;
  sectionIndex: number;
  section: string;
}

export const PT_LOAD = 1;
export const SHT_NOBITS = 8;
export const SHT_SYMTAB = 2;
export const STT_FUNC = 2;
export const EM_ARM = 40;

export class ElfFile {
  readonly entry: number;
  readonly segments: ElfSegment[] = [];
  readonly sections: ElfSection[] = [];
  readonly symbols: ElfSymbol[] = [];
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly name: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 52) this.fail(`truncated: ${bytes.length} bytes is shorter than an ELF32 header (52)`);
    if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) this.fail('not an ELF file (bad magic)');
    if (bytes[4] !== 1) this.fail(`ELF class ${bytes[4] === 2 ? 'ELFCLASS64 (64-bit)' : bytes[4]} is not ELFCLASS32: not a Cortex-M image`);
    if (bytes[5] !== 1) this.fail(`ELF data encoding ${bytes[5] === 2 ? 'big-endian' : bytes[5]} is not little-endian`);
    const machine = this.u16(18);
    if (machine !== EM_ARM) this.fail(`ELF machine ${machine} is not ARM (${EM_ARM})`);
    this.entry = this.u32(24);
    this.readSegments();
    this.readSections();
    this.readSymbols();
  }

  get type(): number {
    return this.u16(16);
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  sectionData(section: ElfSection): Uint8Array {
    if (section.type === SHT_NOBITS) return new Uint8Array(section.size);
    return this.slice(section.offset, section.size, `section ${section.name || section.index}`);
  }

  segmentData(segment: ElfSegment): Uint8Array {
    return this.slice(segment.offset, segment.fileSize, `program header ${segment.index}`);
  }

  symbol(name: string): ElfSymbol | undefined {
    return this.symbols.find((s) => s.name === name);
  }

  private readSegments(): void {
    const phoff = this.u32(28);
    const phentsize = this.u16(42);
    const phnum = this.u16(44);
    if (phnum === 0) return;
    if (phentsize < 32) this.fail(`program header entry size ${phentsize} is too small`);
    this.need(phoff, phentsize * phnum, 'program header table');
    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize;
      const segment: ElfSegment = {
        index: i,
        type: this.u32(o),
        offset: this.u32(o + 4),
        vaddr: this.u32(o + 8),
        paddr: this.u32(o + 12),
        fileSize: this.u32(o + 16),
        memSize: this.u32(o + 20),
        flags: this.u32(o + 24),
      };
      if (segment.type === PT_LOAD && segment.fileSize > 0) this.need(segment.offset, segment.fileSize, `program header ${i} data`);
      this.segments.push(segment);
    }
  }

  private readSections(): void {
    const shoff = this.u32(32);
    const shentsize = this.u16(46);
    const shnum = this.u16(48);
    const shstrndx = this.u16(50);
    if (shnum === 0 || shoff === 0) return;
    if (shentsize < 40) this.fail(`section header entry size ${shentsize} is too small`);
    this.need(shoff, shentsize * shnum, 'section header table');
    const raw = [];
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * shentsize;
      raw.push({ nameOffset: this.u32(o), type: this.u32(o + 4), flags: this.u32(o + 8), address: this.u32(o + 12), offset: this.u32(o + 16), size: this.u32(o + 20) });
    }
    const names = shstrndx < raw.length ? raw[shstrndx] : undefined;
    for (let i = 0; i < raw.length; i++) {
      const r = raw[i];
      const name = names && names.type !== SHT_NOBITS ? this.cString(names.offset, names.size, r.nameOffset) : '';
      this.sections.push({ index: i, name, type: r.type, flags: r.flags, address: r.address, offset: r.offset, size: r.size });
    }
  }

  private readSymbols(): void {
    const symtab = this.sections.find((s) => s.type === SHT_SYMTAB);
    if (!symtab) return;
    const strtabIndex = this.u32(this.u32(32) + symtab.index * this.u16(46) + 24); // sh_link
    const strtab = this.sections[strtabIndex];
    if (!strtab) this.fail(`symbol table links to missing string table ${strtabIndex}`);
    this.need(symtab.offset, symtab.size, 'symbol table');
    this.need(strtab.offset, strtab.size, 'symbol string table');
    for (let o = symtab.offset + 16; o + 16 <= symtab.offset + symtab.size; o += 16) {
      const info = this.bytes[o + 12];
      const sectionIndex = this.u16(o + 14);
      this.symbols.push({
        name: this.cString(strtab.offset, strtab.size, this.u32(o)),
        value: this.u32(o + 4),
        size: this.u32(o + 8),
        type: info & 0xf,
        binding: info >> 4,
        sectionIndex,
        section: this.sections[sectionIndex]?.name ?? '',
      });
    }
  }

  private readonly stringTables = new Map<string, StringTable>();

  /**
   * The NUL-terminated string at `at` in a string table. Each table is decoded once; names are
   * slices of it, so a crafted file whose names share one long unterminated run costs linear time,
   * not (names × run length).
   */
  private cString(tableOffset: number, tableSize: number, at: number): string {
    if (at >= tableSize) return '';
    const key = `${tableOffset}:${tableSize}`;
    let table = this.stringTables.get(key);
    if (!table) {
      const start = Math.min(tableOffset, this.bytes.length);
      table = new StringTable(this.bytes.subarray(start, Math.min(tableOffset + tableSize, this.bytes.length)));
      this.stringTables.set(key, table);
    }
    return table.at(at);
  }

  private slice(offset: number, size: number, what: string): Uint8Array {
    this.need(offset, size, what);
    return this.bytes.subarray(offset, offset + size);
  }

  private need(offset: number, size: number, what: string): void {
    if (offset + size > this.bytes.length) {
      this.fail(`truncated: ${what} at offset 0x${offset.toString(16)} (+${size} bytes) runs past the end of the file (${this.bytes.length} bytes)`);
    }
  }

  private u16(o: number): number {
    return this.view.getUint16(o, true);
  }
  private u32(o: number): number {
    return this.view.getUint32(o, true);
  }
  private fail(detail: string): never {
    throw new ElfError(this.name, detail);
  }
}

/** A string table's bytes as Latin-1 text, with its NUL positions for O(log n) lookups. */
class StringTable {
  private readonly text: string;
  /** Offsets of the NUL bytes, ascending. */
  private readonly nuls: number[] = [];

  constructor(bytes: Uint8Array) {
    let text = '';
    for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode(...bytes.subarray(i, i + 8192));
    this.text = text;
    for (let i = bytes.indexOf(0); i >= 0; i = bytes.indexOf(0, i + 1)) this.nuls.push(i);
  }

  /** The string from `offset` to the next NUL (or the table's end). */
  at(offset: number): string {
    if (offset >= this.text.length) return '';
    let lo = 0;
    let hi = this.nuls.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.nuls[mid] < offset) lo = mid + 1;
      else hi = mid;
    }
    return this.text.slice(offset, lo < this.nuls.length ? this.nuls[lo] : this.text.length);
  }
}
