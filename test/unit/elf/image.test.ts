/** ELF/HEX/BIN loading from bytes built here by hand from the ELF32 layout (gABI, ARM supplement). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ElfFile, loadImage, FlashImage } from '../../../core/elf';

interface Seg {
  vaddr: number;
  paddr: number;
  data: number[];
  memSize?: number;
}

/** A minimal ELF32 LE ARM executable: header, program headers, segment data, no sections. */
function buildElf(segments: Seg[], opts: { cls?: number; data?: number; machine?: number } = {}): Uint8Array {
  const phoff = 52;
  const dataStart = phoff + 32 * segments.length;
  const total = dataStart + segments.reduce((n, s) => n + s.data.length, 0);
  const b = new Uint8Array(total);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, opts.cls ?? 1, opts.data ?? 1, 1]);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, opts.machine ?? 40, true);
  v.setUint32(20, 1, true);
  v.setUint32(24, 0x101, true); // entry (Thumb bit set)
  v.setUint32(28, phoff, true);
  v.setUint16(40, 52, true);
  v.setUint16(42, 32, true);
  v.setUint16(44, segments.length, true);
  v.setUint16(46, 40, true);
  let off = dataStart;
  segments.forEach((s, i) => {
    const p = phoff + 32 * i;
    v.setUint32(p, 1, true); // PT_LOAD
    v.setUint32(p + 4, off, true);
    v.setUint32(p + 8, s.vaddr, true);
    v.setUint32(p + 12, s.paddr, true);
    v.setUint32(p + 16, s.data.length, true);
    v.setUint32(p + 20, s.memSize ?? s.data.length, true);
    v.setUint32(p + 24, 5, true);
    b.set(s.data, off);
    off += s.data.length;
  });
  return b;
}

describe('ELF images', () => {
  it('places segments at their load address (LMA), so .data initialisers land in flash', () => {
    const elf = buildElf([
      { vaddr: 0x0, paddr: 0x0, data: [1, 2, 3, 4] },
      { vaddr: 0x20000000, paddr: 0x100, data: [9, 8, 7, 6], memSize: 16 }, // .data: runs in RAM, stored in flash
      { vaddr: 0x20000010, paddr: 0x20000010, data: [], memSize: 64 }, // .bss: nothing to flash
    ]);
    const image = loadImage(elf, 'fw.elf');
    expect(image.chunks.map((c) => [c.address, Array.from(c.data)])).toEqual([
      [0x0, [1, 2, 3, 4]],
      [0x100, [9, 8, 7, 6]],
    ]);
    expect(image.entry).toBe(0x101);
    expect(() => image.checkInside([{ name: 'flash', start: 0, size: 0x40000 }])).not.toThrow();
  });

  it('refuses wrong class, endianness and machine, naming the file and the field', () => {
    expect(() => loadImage(buildElf([], { cls: 2 }), 'x86.elf')).toThrow('x86.elf: ELF class ELFCLASS64 (64-bit) is not ELFCLASS32: not a Cortex-M image');
    expect(() => loadImage(buildElf([], { data: 2 }), 'be.elf')).toThrow('be.elf: ELF data encoding big-endian is not little-endian');
    expect(() => loadImage(buildElf([], { machine: 62 }), 'amd64.elf')).toThrow('amd64.elf: ELF machine 62 is not ARM (40)');
    expect(() => new ElfFile(Uint8Array.from([0x7f, 0x45, 0x4c]), 'tiny.elf')).toThrow('tiny.elf: truncated: 3 bytes is shorter than an ELF32 header (52)');
  });

  it('refuses truncated files, naming the table and offsets', () => {
    const full = buildElf([{ vaddr: 0, paddr: 0, data: new Array(64).fill(1) }]);
    expect(() => loadImage(full.subarray(0, 70), 'cut.elf')).toThrow('cut.elf: truncated: program header table at offset 0x34 (+32 bytes) runs past the end of the file (70 bytes)');
    expect(() => loadImage(full.subarray(0, 100), 'cut.elf')).toThrow('cut.elf: truncated: program header 0 data at offset 0x54 (+64 bytes) runs past the end of the file (100 bytes)');
  });

  it('refuses overlapping segments, naming both', () => {
    const elf = buildElf([
      { vaddr: 0, paddr: 0x0, data: new Array(0x20).fill(1) },
      { vaddr: 0, paddr: 0x10, data: new Array(0x20).fill(2) },
    ]);
    expect(() => loadImage(elf, 'overlap.elf')).toThrow('overlap.elf: segment 1 (0x00000010..0x00000030) overlaps segment 0 (0x00000000..0x00000020)');
  });

  it('refuses bytes outside flash, naming segment and range', () => {
    const image = loadImage(buildElf([{ vaddr: 0, paddr: 0x3fff0, data: new Array(0x20).fill(1) }]), 'big.elf');
    expect(() => image.checkInside([{ name: 'flash', start: 0, size: 0x40000 }])).toThrow(
      'big.elf: segment 0 has bytes at 0x00040000..0x00040010, outside every flash region (flash 0x00000000..0x00040000)',
    );
  });

  it('has nothing to flash without loadable segments', () => {
    expect(() => loadImage(buildElf([]), 'empty.elf')).toThrow('empty.elf: no loadable segments (PT_LOAD with file data): nothing to flash');
  });
});

describe('Intel HEX and BIN images', () => {
  // Records from the Intel HEX spec layout: :LLAAAATT<data>CC, CC = two's complement of the byte sum.
  const record = (type: number, address: number, data: number[]) => {
    const bytes = [data.length, address >> 8, address & 0xff, type, ...data];
    const sum = (0x100 - (bytes.reduce((a, b) => a + b, 0) & 0xff)) & 0xff;
    return ':' + [...bytes, sum].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join('');
  };

  it('loads data records with extended linear addresses', () => {
    const text = [record(4, 0, [0x00, 0x01]), record(0, 0x0010, [1, 2, 3, 4]), record(1, 0, [])].join('\n') + '\n';
    const image = loadImage(new TextEncoder().encode(text), 'fw.hex');
    expect(image.chunks.map((c) => [c.address, Array.from(c.data)])).toEqual([[0x00010010, [1, 2, 3, 4]]]);
  });

  it('names the line of a bad checksum', () => {
    const good = record(0, 0, [1, 2, 3, 4]);
    const bad = good.slice(0, -2) + '00';
    const text = [record(0, 0x10, [5, 6, 7, 8]), bad, record(1, 0, [])].join('\n');
    expect(() => loadImage(new TextEncoder().encode(text), 'bad.hex')).toThrow('bad.hex: invalid Intel HEX at line 2: checksum 0x00 is wrong (expected 0xf2)');
  });

  it('reads what binutils objcopy writes, at addresses from 0x80000000 up too', () => {
    // objcopy (GNU binutils, not this project) places a binary with extended linear address records.
    const dir = mkdtempSync(join(tmpdir(), 'dapdeck-hex-'));
    const data = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
    writeFileSync(join(dir, 'fw.bin'), data);
    for (const base of [0x08000000, 0x90000000, 0xfffd1000]) {
      const hexFile = join(dir, `fw-${base.toString(16)}.hex`);
      execFileSync('objcopy', ['-I', 'binary', '-O', 'ihex', '--change-addresses', `0x${base.toString(16)}`, join(dir, 'fw.bin'), hexFile]);
      const text = readFileSync(hexFile, 'utf8');
      expect(text).toMatch(new RegExp(`^:02000004${(base >>> 16).toString(16).toUpperCase().padStart(4, '0')}`, 'm'));
      const image = loadImage(readFileSync(hexFile), hexFile);
      expect(image.chunks).toHaveLength(1);
      expect(image.chunks[0].address).toBe(base);
      expect(Buffer.from(image.chunks[0].data).equals(Buffer.from(data))).toBe(true);
    }
  });

  it('refuses a HEX file with no data bytes, and one cut short', () => {
    const empty = [record(4, 0, [0x00, 0x00]), record(0, 0, []), record(1, 0, [])].join('\n');
    expect(() => loadImage(new TextEncoder().encode(empty), 'empty.hex')).toThrow('empty.hex: Intel HEX file has no data: nothing to flash');
    const cut = [record(0, 0, [1, 2, 3, 4])].join('\n');
    expect(() => loadImage(new TextEncoder().encode(cut), 'cut.hex')).toThrow('cut.hex: invalid Intel HEX: no end-of-file record (type 01): is the file cut short?');
    const past = [record(4, 0, [0xff, 0xff]), record(0, 0xfffe, [1, 2, 3, 4]), record(1, 0, [])].join('\n');
    expect(() => loadImage(new TextEncoder().encode(past), 'past.hex')).toThrow('past.hex: invalid Intel HEX at line 2: data at 0xfffffffe runs past the end of the 32-bit address space');
    const overlap = [record(0, 0x10, [1, 2, 3, 4]), record(0, 0x12, [5, 6]), record(1, 0, [])].join('\n');
    expect(() => loadImage(new TextEncoder().encode(overlap), 'twice.hex')).toThrow('twice.hex: HEX data from line 2 (0x00000012..0x00000014) overlaps HEX data from line 1 (0x00000010..0x00000014)');
  });

  it('places extended segment addresses (type 02) at segment × 16', () => {
    const text = [record(2, 0, [0x12, 0x34]), record(0, 0x0010, [9, 8]), record(1, 0, [])].join('\r\n') + '\r\n';
    expect(loadImage(new TextEncoder().encode(text), 'seg.hex').chunks.map((c) => [c.address, Array.from(c.data)])).toEqual([[0x12350, [9, 8]]]);
  });

  it('loads a raw binary at its base address, and insists on one', () => {
    const image = loadImage(Uint8Array.of(1, 2, 3), 'fw.bin', { base: 0x8000 });
    expect(image.chunks[0].address).toBe(0x8000);
    expect(() => loadImage(Uint8Array.of(1, 2, 3), 'fw.bin')).toThrow('fw.bin: a raw binary needs a base address (--base ADDR)');
  });

  it('builds images from chunks in address order', () => {
    const image = new FlashImage('x', [
      { address: 0x200, data: Uint8Array.of(2), source: 'b' },
      { address: 0x100, data: Uint8Array.of(1), source: 'a' },
    ]);
    expect(image.chunks.map((c) => c.source)).toEqual(['a', 'b']);
    expect(image.size).toBe(2);
  });
});
