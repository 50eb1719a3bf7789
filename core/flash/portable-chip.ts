/**
 * A resolved chip — its programmable regions, each with the flash algorithm that programs it, and
 * the RAM the algorithms run in — as plain JSON, for `dapdeck serve` to hand the app whatever chip
 * it knows (built in, from a pack or a target file) without the app reading YAML, .pdsc or .FLM
 * files itself. Blobs travel as base64, sectors as runs of equal size.
 */
import { base64Decode, base64Encode, type FlashAlgorithm, type FlashProperties } from './algorithm';
import type { RegionFlash } from './flasher';
import type { AddressRange } from './target-file';

/** Sectors as runs: `count` sectors of `size` bytes from `start`. */
type PortableFlash = Omit<FlashProperties, 'sectors'> & { sectorRuns: { start: number; size: number; count: number }[] };

export type PortableAlgorithm = Omit<FlashAlgorithm, 'blob' | 'flash'> & { blob: string; flash: PortableFlash };

export interface PortableChip {
  name: string;
  family: string;
  /** Core types (armv6m, armv7em …), for the core check. */
  cores: string[];
  ram: AddressRange;
  regions: { name?: string; start: number; size: number; algorithm: PortableAlgorithm }[];
}

function portableAlgorithm(a: FlashAlgorithm): PortableAlgorithm {
  const { blob, flash, ...rest } = a;
  const { sectors, ...props } = flash;
  const sectorRuns: { start: number; size: number; count: number }[] = [];
  for (const s of sectors) {
    const last = sectorRuns[sectorRuns.length - 1];
    if (last && last.size === s.size && last.start + last.count * last.size === s.address) last.count++;
    else sectorRuns.push({ start: s.address, size: s.size, count: 1 });
  }
  return { ...rest, blob: base64Encode(blob), flash: { ...props, sectorRuns } };
}

function algorithmFromPortable(p: PortableAlgorithm): FlashAlgorithm {
  const { blob, flash, ...rest } = p;
  const { sectorRuns, ...props } = flash;
  const sectors = sectorRuns.flatMap((r) => Array.from({ length: r.count }, (_, i) => ({ address: r.start + i * r.size, size: r.size })));
  return { ...rest, blob: base64Decode(blob), flash: { ...props, sectors } };
}

export function portableChip(c: { chip: { name: string; family: string; cores: string[] }; regions: readonly RegionFlash[]; ram: AddressRange }): PortableChip {
  return {
    name: c.chip.name,
    family: c.chip.family,
    cores: c.chip.cores,
    ram: c.ram,
    regions: c.regions.map((r) => ({ name: r.region.name, start: r.region.start, size: r.region.size, algorithm: portableAlgorithm(r.algorithm) })),
  };
}

export function chipFromPortable(p: PortableChip): { chip: { name: string; cores: string[] }; regions: RegionFlash[]; ram: AddressRange } {
  return {
    chip: { name: p.name, cores: p.cores },
    ram: p.ram,
    regions: p.regions.map((r) => ({ region: { name: r.name, start: r.start, size: r.size }, algorithm: algorithmFromPortable(r.algorithm) })),
  };
}
