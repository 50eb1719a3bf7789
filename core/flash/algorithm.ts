/**
 * Flash algorithms: position-independent code that runs in target RAM and programs the chip's
 * flash (the CMSIS-Pack "Flash Programming Algorithm" interface, FlashOS.h). Two file forms load
 * into the same model:
 * - .FLM: an ELF with PrgCode/PrgData sections, entry-point symbols and a FlashDevice in DevDscr;
 * - probe-rs target-description YAML: base64 instructions, pc_* entry offsets, flash properties
 *   (read by ./target-file.ts, with the chips and memory maps around them).
 */
export { parseTargetYaml, type ChipDescription, type TargetDescription } from './target-file';
import { ElfFile, SHT_NOBITS } from '../elf/elf';
import { expandSectors, type Sector } from './planner';

export interface FlashProperties {
  start: number;
  size: number;
  pageSize: number;
  erasedValue: number;
  sectors: Sector[];
  programPageTimeoutMs: number;
  eraseSectorTimeoutMs: number;
}

export interface FlashAlgorithm {
  name: string;
  description: string;
  /** Code and data, loaded as one blob; entry points are offsets into it. */
  blob: Uint8Array;
  pcInit?: number;
  pcUninit?: number;
  pcProgramPage: number;
  pcEraseSector: number;
  pcEraseAll?: number;
  pcVerify?: number;
  pcBlankCheck?: number;
  /**
   * Dapdeck's on-target CRC-32 routine (address, size, table) → crc, if the algorithm has one;
   * `table` is the 256-word CRC-32 table the runner places in RAM beside the algorithm.
   */
  pcCrc32?: number;
  /**
   * Dapdeck's CRC-32 of consecutive sectors (address, sectorSize, count, table) → 0, the CRCs
   * stored in RAM after the table (word 256 on): one call for a whole run of sectors.
   */
  pcCrc32Sectors?: number;
  /** Offset of the data section: r9 (static base) for algorithms built read-write position-independent. */
  dataSectionOffset: number;
  /** Preferred when several algorithms of a chip cover the same region (probe-rs `default`). */
  default: boolean;
  /** Where the code must be loaded (not position-independent); else anywhere in RAM. */
  loadAddress?: number;
  /** Where the page buffers must be; else after the code and stack. */
  dataLoadAddress?: number;
  /** Stack the algorithm needs (default 512 bytes, as CMSIS hosts give). */
  stackSize?: number;
  /** 'miniz': ProgramPage takes compressed pages (Espressif algorithms). */
  transferEncoding: 'raw' | 'miniz';
  /** Core names the algorithm runs on (empty: any). */
  cores: string[];
  /** RAM a CMSIS-Pack names for this algorithm (RAMstart/RAMsize); else the chip's RAM. */
  ramRange?: { start: number; size: number };
  flash: FlashProperties;
}

export class AlgorithmError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AlgorithmError';
  }
}

const ENTRY_POINTS = {
  Init: 'pcInit',
  UnInit: 'pcUninit',
  ProgramPage: 'pcProgramPage',
  EraseSector: 'pcEraseSector',
  EraseChip: 'pcEraseAll',
  Verify: 'pcVerify',
  BlankCheck: 'pcBlankCheck',
  Dapdeck_Crc32: 'pcCrc32',
  Dapdeck_Crc32Sectors: 'pcCrc32Sectors',
} as const;

/** The largest algorithm blob accepted (code + data): 4 MiB, beyond the RAM of any Cortex-M part. */
const MAX_ALGORITHM_BYTES = 4 << 20;

/** The most sectors a FlashDevice may describe (4 GiB in 4 KiB sectors): more is a corrupt table. */
const MAX_SECTORS = 1 << 20;

/** Load a CMSIS-Pack .FLM (an ELF). */
export function algorithmFromFlm(bytes: Uint8Array, name: string): FlashAlgorithm {
  const elf = new ElfFile(bytes, name);
  const code = elf.section('PrgCode');
  if (!code) throw new AlgorithmError(`${name}: not a flash algorithm: no PrgCode section`);
  const data = elf.section('PrgData');
  const dscr = elf.section('DevDscr');
  if (!dscr) throw new AlgorithmError(`${name}: not a flash algorithm: no DevDscr section (FlashDevice description)`);
  // The blob is PrgCode followed by PrgData, at their link addresses relative to PrgCode. It runs
  // from target RAM: PrgData before PrgCode, or a blob bigger than any Cortex-M's RAM, is a corrupt file.
  if (data && data.address < code.address) throw new AlgorithmError(`${name}: PrgData at 0x${data.address.toString(16)} is linked before PrgCode (0x${code.address.toString(16)})`);
  const dataEnd = data ? data.address + data.size : code.address + code.size;
  const blobSize = Math.max(dataEnd, code.address + code.size) - code.address;
  if (blobSize > MAX_ALGORITHM_BYTES) throw new AlgorithmError(`${name}: PrgCode and PrgData span ${blobSize} bytes, more than a flash algorithm can have in target RAM (${MAX_ALGORITHM_BYTES})`);
  const blob = new Uint8Array(blobSize);
  blob.set(elf.sectionData(code), 0);
  if (data && data.type !== SHT_NOBITS) blob.set(elf.sectionData(data), data.address - code.address);
  const entries: Partial<Record<(typeof ENTRY_POINTS)[keyof typeof ENTRY_POINTS], number>> = {};
  for (const [symbol, field] of Object.entries(ENTRY_POINTS)) {
    const s = elf.symbols.find((x) => x.name === symbol && x.sectionIndex === code.index);
    if (!s) continue;
    const offset = (s.value & ~1) - code.address;
    if (offset < 0 || offset >= code.size) throw new AlgorithmError(`${name}: entry point ${symbol} at 0x${s.value.toString(16)} is outside PrgCode (0x${code.address.toString(16)}, ${code.size} bytes)`);
    entries[field] = offset;
  }
  if (entries.pcProgramPage === undefined) throw new AlgorithmError(`${name}: flash algorithm has no ProgramPage entry point`);
  if (entries.pcEraseSector === undefined) throw new AlgorithmError(`${name}: flash algorithm has no EraseSector entry point`);
  const device = parseFlashDevice(elf.sectionData(dscr), name);
  return {
    name: name.split('/').pop()!.replace(/\.(flm|elf)$/i, ''),
    description: device.name,
    blob,
    pcProgramPage: entries.pcProgramPage,
    pcEraseSector: entries.pcEraseSector,
    pcInit: entries.pcInit,
    pcUninit: entries.pcUninit,
    pcEraseAll: entries.pcEraseAll,
    pcVerify: entries.pcVerify,
    pcBlankCheck: entries.pcBlankCheck,
    pcCrc32: entries.pcCrc32,
    pcCrc32Sectors: entries.pcCrc32Sectors,
    dataSectionOffset: data ? data.address - code.address : blob.length,
    default: false,
    transferEncoding: 'raw',
    cores: [],
    flash: device.flash,
  };
}

/**
 * FlashDevice (FlashOS.h): u16 Vers; char DevName[128]; u16 DevType; u32 DevAdr, szDev, szPage,
 * Res; u8 valEmpty; (3 bytes padding) u32 toProg, toErase; then {u32 szSector, AddrSector}[]
 * ending with 0xFFFFFFFF.
 */
function parseFlashDevice(d: Uint8Array, file: string): { name: string; flash: FlashProperties } {
  if (d.length < 168) throw new AlgorithmError(`${file}: FlashDevice description is ${d.length} bytes, too short`);
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  let end = 2;
  while (end < 130 && d[end] !== 0) end++;
  const name = String.fromCharCode(...d.subarray(2, end));
  const start = v.getUint32(132, true);
  const size = v.getUint32(136, true);
  const layout: { offset: number; size: number }[] = [];
  for (let o = 160; o + 8 <= d.length; o += 8) {
    const sectorSize = v.getUint32(o, true);
    const offset = v.getUint32(o + 4, true);
    if (sectorSize === 0xffffffff) break;
    if (sectorSize === 0) throw new AlgorithmError(`${file}: FlashDevice sector entry ${layout.length} has size 0`);
    layout.push({ offset, size: sectorSize });
  }
  if (layout.length === 0) throw new AlgorithmError(`${file}: FlashDevice lists no sectors`);
  if (start + size > 2 ** 32) throw new AlgorithmError(`${file}: FlashDevice ${size} bytes at 0x${start.toString(16)} run past the end of the 32-bit address space`);
  // Sector runs: each from its offset to the next run's (or the device end); count before expanding.
  const runs = [...layout].sort((a, b) => a.offset - b.offset);
  let count = 0;
  for (let i = 0; i < runs.length; i++) {
    const end = i + 1 < runs.length ? runs[i + 1].offset : size;
    if (runs[i].offset >= size) throw new AlgorithmError(`${file}: FlashDevice sector run ${i} starts at offset 0x${runs[i].offset.toString(16)}, past the device's ${size} bytes`);
    count += Math.ceil((end - runs[i].offset) / runs[i].size);
    if (count > MAX_SECTORS) throw new AlgorithmError(`${file}: FlashDevice describes more than ${MAX_SECTORS} sectors (sector size ${runs[i].size} over ${end - runs[i].offset} bytes): not a real flash`);
  }
  return {
    name,
    flash: {
      start,
      size,
      pageSize: v.getUint32(140, true),
      erasedValue: d[148],
      sectors: expandSectors(start, size, layout),
      programPageTimeoutMs: v.getUint32(152, true) || 100,
      eraseSectorTimeoutMs: v.getUint32(156, true) || 3000,
    },
  };
}

/** Write an algorithm out in the probe-rs YAML form (entry points relative to the blob start). */
export function algorithmToYaml(algo: FlashAlgorithm): Record<string, unknown> {
  const hex = (n: number) => `0x${n.toString(16)}`;
  const out: Record<string, unknown> = {
    name: algo.name,
    description: algo.description,
    default: true,
    instructions: base64Encode(algo.blob),
    pc_init: algo.pcInit === undefined ? null : hex(algo.pcInit),
    pc_uninit: algo.pcUninit === undefined ? null : hex(algo.pcUninit),
    pc_program_page: hex(algo.pcProgramPage),
    pc_erase_sector: hex(algo.pcEraseSector),
    pc_erase_all: algo.pcEraseAll === undefined ? null : hex(algo.pcEraseAll),
    pc_verify: algo.pcVerify === undefined ? null : hex(algo.pcVerify),
    pc_blank_check: algo.pcBlankCheck === undefined ? null : hex(algo.pcBlankCheck),
    pc_dapdeck_crc32: algo.pcCrc32 === undefined ? null : hex(algo.pcCrc32),
    pc_dapdeck_crc32_sectors: algo.pcCrc32Sectors === undefined ? null : hex(algo.pcCrc32Sectors),
    data_section_offset: hex(algo.dataSectionOffset),
    flash_properties: {
      address_range: { start: hex(algo.flash.start), end: hex(algo.flash.start + algo.flash.size) },
      page_size: hex(algo.flash.pageSize),
      erased_byte_value: hex(algo.flash.erasedValue),
      program_page_timeout: algo.flash.programPageTimeoutMs,
      erase_sector_timeout: algo.flash.eraseSectorTimeoutMs,
      sectors: compressSectors(algo.flash),
    },
  };
  return out;
}

function compressSectors(flash: FlashProperties): { size: string; address: string }[] {
  const out: { size: string; address: string }[] = [];
  let lastSize = -1;
  for (const s of flash.sectors) {
    if (s.size !== lastSize) out.push({ size: `0x${s.size.toString(16)}`, address: `0x${(s.address - flash.start).toString(16)}` });
    lastSize = s.size;
  }
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export function base64Encode(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    s += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < bytes.length ? B64[(n >> 6) & 63] : '=') + (i + 2 < bytes.length ? B64[n & 63] : '=');
  }
  return s;
}

export function base64Decode(text: string): Uint8Array {
  if (text.length % 4 !== 0 || /[^A-Za-z0-9+/=]/.test(text)) throw new Error('invalid base64');
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const n = (B64.indexOf(text[i]) << 18) | (B64.indexOf(text[i + 1]) << 12) | ((B64.indexOf(text[i + 2]) & 63) << 6) | (B64.indexOf(text[i + 3]) & 63);
    if (o < out.length) out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 0xff;
    if (o < out.length) out[o++] = n & 0xff;
  }
  return out;
}
