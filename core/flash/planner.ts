/**
 * The flash planner: which sectors an image touches, what each must contain afterwards, and (given
 * the CRC the target reports for each) which can be skipped.
 *
 * A sector the image covers only partly must keep its other bytes, so its current contents are read
 * back first and the image is laid over them — the planner only says which sectors need that.
 * Pages that would be programmed with nothing but the erased value are left out: after an erase
 * they already hold it.
 */
import { crc32 } from './crc32';

export interface Sector {
  readonly address: number;
  readonly size: number;
}

export interface FlashGeometry {
  /** Sectors in address order, covering the flash region(s) without gaps inside a region. */
  readonly sectors: readonly Sector[];
  readonly pageSize: number;
  /** What erased flash reads as (0xFF on most NOR flash). */
  readonly erasedValue: number;
}

export interface ImageChunkLike {
  readonly address: number;
  readonly data: Uint8Array;
}

export interface SectorPlan {
  readonly sector: Sector;
  /** Bytes of this sector the image provides, relative to the sector start ([start, end) ranges). */
  readonly covered: readonly [number, number][];
  /** True when some bytes of the sector are not in the image and must be preserved. */
  readonly partial: boolean;
}

/** Sectors touched by the image, with the covered byte ranges. Throws if a byte falls outside every sector. */
export function touchedSectors(chunks: readonly ImageChunkLike[], geometry: FlashGeometry): SectorPlan[] {
  const plans = new Map<number, [number, number][]>();
  const sectors = geometry.sectors;
  for (const chunk of chunks) {
    let addr = chunk.address;
    const end = chunk.address + chunk.data.length;
    while (addr < end) {
      const index = findSector(sectors, addr);
      if (index < 0) {
        throw new RangeError(`address 0x${addr.toString(16).padStart(8, '0')} is not inside any flash sector`);
      }
      const s = sectors[index];
      const stop = Math.min(end, s.address + s.size);
      const list = plans.get(index) ?? [];
      list.push([addr - s.address, stop - s.address]);
      plans.set(index, list);
      addr = stop;
    }
  }
  return [...plans.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, ranges]) => {
      const covered = mergeRanges(ranges);
      const total = covered.reduce((n, [a, b]) => n + (b - a), 0);
      return { sector: sectors[index], covered, partial: total < sectors[index].size };
    });
}

/** The sector's final contents: `current` (or erased bytes) with the image laid over it. */
export function sectorContents(plan: SectorPlan, chunks: readonly ImageChunkLike[], erasedValue: number, current?: Uint8Array): Uint8Array {
  const { address, size } = plan.sector;
  const out = current ? Uint8Array.from(current) : new Uint8Array(size).fill(erasedValue);
  for (const chunk of chunks) {
    const from = Math.max(chunk.address, address);
    const to = Math.min(chunk.address + chunk.data.length, address + size);
    if (from < to) out.set(chunk.data.subarray(from - chunk.address, to - chunk.address), from - address);
  }
  return out;
}

/** Page offsets (within the sector) that hold anything but the erased value. */
export function pagesToProgram(contents: Uint8Array, pageSize: number, erasedValue: number): number[] {
  const pages: number[] = [];
  for (let off = 0; off < contents.length; off += pageSize) {
    const page = contents.subarray(off, off + pageSize);
    if (page.some((b) => b !== erasedValue)) pages.push(off);
  }
  return pages;
}

export function sectorCrc(contents: Uint8Array): number {
  return crc32(contents);
}

/**
 * Expand "N sectors of S bytes from A" descriptions (as FLM and probe-rs YAML give them). A sector
 * running past the next layout entry or the end of flash is cut there (a 4 KiB erase unit over a
 * 256-byte UICR is the UICR).
 */
export function expandSectors(start: number, size: number, layout: readonly { offset: number; size: number }[]): Sector[] {
  const sectors: Sector[] = [];
  const sorted = [...layout].sort((a, b) => a.offset - b.offset);
  for (let i = 0; i < sorted.length; i++) {
    const end = i + 1 < sorted.length ? sorted[i + 1].offset : size;
    if (!(sorted[i].size > 0)) throw new RangeError(`sector size ${sorted[i].size} at offset 0x${sorted[i].offset.toString(16)} is not positive`);
    for (let off = sorted[i].offset; off < end; off += sorted[i].size) sectors.push({ address: start + off, size: Math.min(sorted[i].size, end - off) });
  }
  return sectors;
}

function findSector(sectors: readonly Sector[], address: number): number {
  let lo = 0;
  let hi = sectors.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = sectors[mid];
    if (address < s.address) hi = mid - 1;
    else if (address >= s.address + s.size) lo = mid + 1;
    else return mid;
  }
  return -1;
}

function mergeRanges(ranges: [number, number][]): [number, number][] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}
