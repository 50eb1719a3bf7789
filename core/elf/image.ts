/**
 * A flash image independent of its file format: bytes placed at their load addresses.
 * ELF: the file bytes of each PT_LOAD segment at its physical (load) address — `.data` initialisers
 * therefore land in flash where the reset handler copies them from, not at their RAM address.
 */
import { ElfFile, PT_LOAD } from './elf';

export interface ImageChunk {
  address: number;
  data: Uint8Array;
  /** What the bytes came from, for messages ("segment 1", "record at line 12"). */
  source: string;
}

export interface Region {
  name: string;
  start: number;
  size: number;
}

export class ImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageError';
  }
}

export class FlashImage {
  constructor(
    readonly name: string,
    readonly chunks: ImageChunk[],
    readonly entry?: number,
  ) {
    this.chunks.sort((a, b) => a.address - b.address);
    for (let i = 1; i < this.chunks.length; i++) {
      const prev = this.chunks[i - 1];
      const cur = this.chunks[i];
      if (cur.address < prev.address + prev.data.length) {
        throw new ImageError(
          `${name}: ${cur.source} (${hexRange(cur.address, cur.data.length)}) overlaps ${prev.source} (${hexRange(prev.address, prev.data.length)})`,
        );
      }
    }
  }

  get size(): number {
    return this.chunks.reduce((n, c) => n + c.data.length, 0);
  }

  /** The bytes of this image inside [start, start+size) (empty when none are). */
  within(start: number, size: number): FlashImage {
    const chunks: ImageChunk[] = [];
    for (const c of this.chunks) {
      const from = Math.max(start, c.address);
      const to = Math.min(start + size, c.address + c.data.length);
      if (from < to) chunks.push({ ...c, address: from, data: c.data.subarray(from - c.address, to - c.address) });
    }
    return new FlashImage(this.name, chunks, this.entry);
  }

  /** [start, start+size) as one array: this image's bytes where it has any, `fill` elsewhere. */
  bytes(start: number, size: number, fill = 0): Uint8Array {
    const out = new Uint8Array(size).fill(fill);
    for (const c of this.within(start, size).chunks) out.set(c.data, c.address - start);
    return out;
  }

  /** Refuse any byte that is not inside one of `regions`, naming the chunk and the address range. */
  checkInside(regions: readonly Region[]): void {
    for (const chunk of this.chunks) {
      let addr = chunk.address;
      const end = chunk.address + chunk.data.length;
      while (addr < end) {
        const region = regions.find((r) => addr >= r.start && addr < r.start + r.size);
        if (!region) {
          const next = regions.filter((r) => r.start > addr).sort((a, b) => a.start - b.start)[0];
          const stop = Math.min(end, next ? next.start : end);
          throw new ImageError(
            `${this.name}: ${chunk.source} has bytes at ${hexRange(addr, stop - addr)}, outside every flash region (${regions.map((r) => `${r.name} ${hexRange(r.start, r.size)}`).join(', ')})`,
          );
        }
        addr = Math.min(end, region.start + region.size);
      }
    }
  }

  static fromElf(elf: ElfFile): FlashImage {
    const chunks: ImageChunk[] = [];
    for (const segment of elf.segments) {
      if (segment.type !== PT_LOAD || segment.fileSize === 0) continue;
      chunks.push({ address: segment.paddr, data: elf.segmentData(segment), source: `segment ${segment.index}` });
    }
    if (chunks.length === 0) throw new ImageError(`${elf.name}: no loadable segments (PT_LOAD with file data): nothing to flash`);
    return new FlashImage(elf.name, chunks, elf.entry);
  }

  static fromBin(bytes: Uint8Array, name: string, base: number): FlashImage {
    if (bytes.length === 0) throw new ImageError(`${name}: empty file`);
    if (!Number.isInteger(base) || base < 0 || base + bytes.length > 2 ** 32) {
      throw new ImageError(`${name}: ${bytes.length} bytes at base 0x${base.toString(16)} run past the end of the 32-bit address space`);
    }
    return new FlashImage(name, [{ address: base, data: bytes, source: 'binary' }]);
  }
}

export function hexRange(start: number, length: number): string {
  const h = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
  return `${h(start)}..${h(start + length)}`;
}
