/**
 * Flash algorithms: position-independent code that runs in target RAM and programs the chip's
 * flash (the CMSIS-Pack "Flash Programming Algorithm" interface, FlashOS.h). Two file forms load
 * into the same model:
 * - .FLM: an ELF with PrgCode/PrgData sections, entry-point symbols and a FlashDevice in DevDscr;
 * - probe-rs target-description YAML: base64 instructions, pc_* entry offsets, flash properties.
 */
import { parse as parseYaml } from 'yaml';
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

/** Load a CMSIS-Pack .FLM (an ELF). */
export function algorithmFromFlm(bytes: Uint8Array, name: string): FlashAlgorithm {
  const elf = new ElfFile(bytes, name);
  const code = elf.section('PrgCode');
  if (!code) throw new AlgorithmError(`${name}: not a flash algorithm: no PrgCode section`);
  const data = elf.section('PrgData');
  const dscr = elf.section('DevDscr');
  if (!dscr) throw new AlgorithmError(`${name}: not a flash algorithm: no DevDscr section (FlashDevice description)`);
  // The blob is PrgCode followed by PrgData, at their link addresses relative to PrgCode.
  const dataEnd = data ? data.address + data.size : code.address + code.size;
  const blob = new Uint8Array(Math.max(dataEnd, code.address + code.size) - code.address);
  blob.set(elf.sectionData(code), 0);
  if (data && data.type !== SHT_NOBITS) blob.set(elf.sectionData(data), data.address - code.address);
  const entries: Partial<Record<(typeof ENTRY_POINTS)[keyof typeof ENTRY_POINTS], number>> = {};
  for (const [symbol, field] of Object.entries(ENTRY_POINTS)) {
    const s = elf.symbols.find((x) => x.name === symbol && x.sectionIndex === code.index);
    if (s) entries[field] = (s.value & ~1) - code.address;
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

/** The probe-rs target-description YAML subset Dapdeck reads: chips, memory maps, algorithms. */
export interface TargetDescription {
  name: string;
  chips: ChipDescription[];
  algorithms: FlashAlgorithm[];
}

export interface ChipDescription {
  name: string;
  /** probe-rs core types (armv6m, armv7m, armv7em, armv8m, …); empty when the file does not say. */
  cores: string[];
  flash: { start: number; size: number }[];
  ram: { start: number; size: number }[];
  algorithms: string[];
}

export function parseTargetYaml(text: string, file: string): TargetDescription {
  let doc: any;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new AlgorithmError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object') throw new AlgorithmError(`${file}: empty target description`);
  const algorithms: FlashAlgorithm[] = (doc.flash_algorithms ?? []).map((a: any, i: number) => algorithmFromYaml(a, `${file}: flash_algorithms[${i}]`));
  const chips: ChipDescription[] = (doc.variants ?? doc.chips ?? []).map((c: any, i: number) => {
    if (!c?.name) throw new AlgorithmError(`${file}: variants[${i}] has no name`);
    const flash: { start: number; size: number }[] = [];
    const ram: { start: number; size: number }[] = [];
    for (const region of c.memory_map ?? []) {
      const [kind, body] = Object.entries(region)[0] as [string, any];
      const range = body?.range;
      if (!range) continue;
      const r = { start: num(range.start, `${file}: ${c.name} memory range start`), size: num(range.end, `${file}: ${c.name} memory range end`) - num(range.start, '') };
      if (kind === 'Nvm') flash.push(r);
      else if (kind === 'Ram') ram.push(r);
    }
    const cores = (c.cores ?? []).map((k: any) => String(k?.type ?? '')).filter(Boolean);
    return { name: String(c.name), cores, flash, ram, algorithms: (c.flash_algorithms ?? []).map(String) };
  });
  return { name: String(doc.name ?? file), chips, algorithms };
}

function algorithmFromYaml(a: any, where: string): FlashAlgorithm {
  if (!a?.instructions) throw new AlgorithmError(`${where}: no instructions`);
  let blob: Uint8Array;
  try {
    blob = base64Decode(String(a.instructions).replace(/\s+/g, ''));
  } catch {
    throw new AlgorithmError(`${where}: instructions are not valid base64`);
  }
  const p = a.flash_properties;
  if (!p?.address_range) throw new AlgorithmError(`${where}: no flash_properties.address_range`);
  const start = num(p.address_range.start, `${where}: address_range.start`);
  const size = num(p.address_range.end, `${where}: address_range.end`) - start;
  const need = (key: string) => {
    if (a[key] === undefined) throw new AlgorithmError(`${where}: no ${key}`);
    return num(a[key], `${where}: ${key}`);
  };
  const opt = (key: string) => (a[key] === undefined || a[key] === null ? undefined : num(a[key], `${where}: ${key}`));
  const origin = opt('load_address') ?? 0;
  // probe-rs YAML entry points are absolute addresses for the algorithm's load address; we keep offsets.
  const rel = (v: number | undefined) => (v === undefined ? undefined : v - (a.load_address !== undefined ? origin : 0));
  return {
    name: String(a.name ?? 'algorithm'),
    description: String(a.description ?? a.name ?? ''),
    blob,
    pcInit: rel(opt('pc_init')),
    pcUninit: rel(opt('pc_uninit')),
    pcProgramPage: rel(need('pc_program_page'))!,
    pcEraseSector: rel(need('pc_erase_sector'))!,
    pcEraseAll: rel(opt('pc_erase_all')),
    pcVerify: rel(opt('pc_verify')),
    pcBlankCheck: rel(opt('pc_blank_check')),
    pcCrc32: rel(opt('pc_dapdeck_crc32')),
    pcCrc32Sectors: rel(opt('pc_dapdeck_crc32_sectors')),
    dataSectionOffset: need('data_section_offset') - (a.load_address !== undefined ? origin : 0),
    flash: {
      start,
      size,
      pageSize: num(p.page_size, `${where}: page_size`),
      erasedValue: p.erased_byte_value === undefined ? 0xff : num(p.erased_byte_value, `${where}: erased_byte_value`),
      programPageTimeoutMs: p.program_page_timeout === undefined ? 100 : num(p.program_page_timeout, ''),
      eraseSectorTimeoutMs: p.erase_sector_timeout === undefined ? 3000 : num(p.erase_sector_timeout, ''),
      sectors: expandSectors(start, size, (p.sectors ?? []).map((s: any) => ({ offset: num(s.address, `${where}: sector address`), size: num(s.size, `${where}: sector size`) }))),
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

function num(v: unknown, where: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw new AlgorithmError(`${where}: "${String(v)}" is not a number`);
  return n;
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
