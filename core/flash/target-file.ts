/**
 * probe-rs target-description files ("chip family" YAML), read in full: the form probe-rs writes
 * since 2022, with YAML tags (`- !Nvm`, `- !Ram`, `- !Generic`, `core_access_options: !Arm`,
 * `ap: !v1 0`, `chip_detection: - !NordicConfigId` …), and the older untagged form
 * (`- Nvm: {…}`). Both become the same model: chips (variants) with their cores, a memory map of
 * several regions, the flash algorithms each region is programmed with, and the data a target
 * reports that tells the chips apart (chip_detection).
 *
 * Fields Dapdeck has no use for are ignored quietly, as are tags it does not know (the value
 * under them is kept untagged). Every number is checked before use: a sector of size 0, a
 * negative or fractional size, or a range that ends before it starts is an error naming the
 * file, the chip or algorithm, and the field — never an endless loop over sectors.
 */
import { parseDocument, visit, YAMLMap, type Tags } from 'yaml';
import { AlgorithmError, base64Decode, type FlashAlgorithm, type FlashProperties } from './algorithm';
import { expandSectors, type Sector } from './planner';

export interface AddressRange {
  start: number;
  size: number;
}

export interface MemoryRegion extends AddressRange {
  kind: 'nvm' | 'ram' | 'generic';
  name?: string;
  /** Core names that see this region (empty: the file does not say, so every core). */
  cores: string[];
  access: { read: boolean; write: boolean; execute: boolean; boot: boolean };
  /** Another view of memory listed elsewhere (probe-rs `is_alias`, formerly `is_alternate`): never programmed through. */
  isAlias: boolean;
}

export interface CoreDescription {
  name: string;
  /** probe-rs core type: armv6m, armv7m, armv7em, armv8m, riscv, … */
  type: string;
  /** The access port the core sits behind (ADIv5 `v1` APSEL, or an ADIv6 `v2` address). */
  ap?: { version: 1 | 2; address: number };
  /**
   * On an SWD multi-drop wire (ADIv5.2), the TARGETSEL value that selects this core's DP
   * (TINSTANCE[31:28] | TARGETID[27:0]; probe-rs `core_access_options.targetsel`).
   */
  targetSel?: number;
}

/** How a target tells which chip of a family it is (probe-rs `chip_detection`). */
export type ChipDetection =
  | { method: 'NordicConfigId'; configIdAddress: number; hwid: Map<number, string> }
  | { method: 'NordicFicrInfo'; partAddress: number; variantAddress: number; part: number; variants: Map<number, string> }
  /** A method Dapdeck does not read yet (AtsamDsu, Espressif, InfineonXmcScu, …): kept by name. */
  | { method: string; unread: true };

export interface ChipDescription {
  name: string;
  /** The family (the file's `name`). */
  family: string;
  /** Core types, one per core (kept beside `coreList` for the core check). */
  cores: string[];
  coreList: CoreDescription[];
  memoryMap: MemoryRegion[];
  /** Programmable regions (Nvm, not aliases) and RAM regions, in file order. */
  flash: AddressRange[];
  ram: AddressRange[];
  /** Names of the flash algorithms this chip may use. */
  algorithms: string[];
  /** The JEP106 part number the chip's ROM table reports, when the file gives it. */
  part?: number;
  /** Where RTT control blocks may be, when the file narrows it (else all RAM). */
  rttScanRanges?: AddressRange[];
}

export interface TargetDescription {
  /** Family name. */
  name: string;
  file: string;
  /** JEP106 manufacturer (continuation code `cc`, identity `id`). */
  manufacturer?: { id: number; cc: number };
  chips: ChipDescription[];
  algorithms: FlashAlgorithm[];
  chipDetection: ChipDetection[];
}

/** Most sectors one algorithm's flash may be cut into (a description asking for more is an error, not a hang). */
export const MAX_SECTORS = 1 << 20;

/** Tags whose value is a mapping, and tags on a scalar, as probe-rs writes them. */
const MAP_TAGS = ['Nvm', 'Ram', 'Generic', 'Arm', 'Riscv', 'Xtensa', 'NordicConfigId', 'NordicFicrInfo', 'AtsamDsu', 'Espressif', 'InfineonXmcScu', 'InfineonPsocSiid', 'RenesasPnr', 'WchLink'];
const SCALAR_TAGS = ['v1', 'v2'];
const KNOWN_TAGS = new Set([...MAP_TAGS, ...SCALAR_TAGS]);

/**
 * `!Tag value` read as `{ Tag: value }`: the externally tagged form serde uses, and the form
 * target files had before tags, so one reader serves both.
 */
const CUSTOM_TAGS: Tags = [
  ...MAP_TAGS.map((name) => ({
    tag: `!${name}`,
    collection: 'map' as const,
    resolve(map: unknown) {
      const wrapped = new YAMLMap();
      wrapped.set(name, map);
      return wrapped;
    },
  })),
  ...SCALAR_TAGS.map((name) => ({
    tag: `!${name}`,
    resolve: (text: string) => ({ [name]: text }),
  })),
];

type Where = string;

/** A whole number in [min, max], from a YAML number or a string such as "0x400". */
function integer(v: unknown, where: Where, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v.trim()) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    const want = min === 1 ? 'a positive whole number' : min === 0 ? 'a whole number ≥ 0' : `a whole number from ${min}`;
    throw new AlgorithmError(`${where}: ${field} must be ${want}${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, got ${JSON.stringify(v) ?? String(v)}`);
  }
  return n;
}

function optionalInteger(v: unknown, where: Where, field: string, min = 0, max?: number): number | undefined {
  return v === undefined || v === null ? undefined : integer(v, where, field, min, max);
}

function range(r: unknown, where: Where, field: string): AddressRange {
  if (!r || typeof r !== 'object') throw new AlgorithmError(`${where}: ${field} is missing (start and end expected)`);
  const { start, end } = r as { start?: unknown; end?: unknown };
  const s = integer(start, where, `${field}.start`);
  const e = integer(end, where, `${field}.end`);
  if (e <= s) throw new AlgorithmError(`${where}: ${field} ends (${hex(e)}) before it starts (${hex(s)})`);
  return { start: s, size: e - s };
}

function bool(v: unknown, fallback: boolean): boolean {
  return typeof v === 'boolean' ? v : fallback;
}

const hex = (n: number) => `0x${n.toString(16)}`;

function list(v: unknown, where: Where, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new AlgorithmError(`${where}: ${field} must be a list`);
  return v;
}

/** `{ Tag: body }` → [Tag, body]; anything else → [undefined, value]. */
function tagged(v: unknown): [string | undefined, any] {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const keys = Object.keys(v);
    if (keys.length === 1 && /^[A-Za-z]\w*$/.test(keys[0])) return [keys[0], (v as Record<string, unknown>)[keys[0]]];
  }
  return [undefined, v];
}

export function parseTargetYaml(text: string, file: string): TargetDescription {
  let doc: any;
  try {
    // logLevel 'silent': no YAMLWarning printed for a tag we do not know; such a tag is read like
    // ours (`{ Tag: value }`), so an unknown region kind or detection method is skipped by name.
    const parsed = parseDocument(text, { customTags: CUSTOM_TAGS, logLevel: 'silent', uniqueKeys: false });
    if (parsed.errors.length) throw parsed.errors[0];
    visit(parsed, {
      Node(_, node) {
        const tag = node.tag;
        if (!tag || !tag.startsWith('!') || tag.startsWith('!!') || KNOWN_TAGS.has(tag.slice(1))) return undefined;
        node.tag = undefined;
        const wrapped = new YAMLMap();
        wrapped.set(tag.slice(1), node);
        return wrapped;
      },
    });
    doc = parsed.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new AlgorithmError(`${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new AlgorithmError(`${file}: empty target description`);
  const family = String(doc.name ?? file);
  const variants = list(doc.variants ?? doc.chips, file, 'variants');
  // Which chips use each algorithm: an error in an algorithm names them.
  const users = new Map<string, string[]>();
  for (const c of variants as any[]) for (const a of list(c?.flash_algorithms, file, 'flash_algorithms')) users.set(String(a), [...(users.get(String(a)) ?? []), String(c?.name)]);
  const algorithms = list(doc.flash_algorithms, file, 'flash_algorithms').map((a: any, i) => {
    const name = a?.name === undefined ? `flash_algorithms[${i}]` : String(a.name);
    const used = users.get(name);
    return algorithmFromYaml(a, `${file}: flash algorithm ${name}${used ? ` (used by ${used.join(', ')})` : ''}`);
  });
  const chips = variants.map((c: any, i) => {
    if (!c?.name) throw new AlgorithmError(`${file}: variants[${i}] has no name`);
    return chipFromYaml(c, family, `${file}: chip ${String(c.name)}`);
  });
  let manufacturer: TargetDescription['manufacturer'];
  if (doc.manufacturer && typeof doc.manufacturer === 'object') {
    manufacturer = { id: integer(doc.manufacturer.id, file, 'manufacturer.id', 0, 0x7f), cc: integer(doc.manufacturer.cc, file, 'manufacturer.cc', 0, 0xf) };
  }
  const chipDetection = list(doc.chip_detection, file, 'chip_detection').map((d, i) => detectionFromYaml(d, `${file}: chip_detection[${i}]`));
  return { name: family, file, manufacturer, chips, algorithms, chipDetection };
}

function chipFromYaml(c: any, family: string, where: Where): ChipDescription {
  const coreList: CoreDescription[] = list(c.cores, where, 'cores').map((k: any, i) => {
    const [, options] = tagged(k?.core_access_options);
    let ap: CoreDescription['ap'];
    const [version, address] = tagged(options?.ap);
    if (version === undefined && options?.ap !== undefined) ap = { version: 1, address: integer(options.ap, where, `cores[${i}].core_access_options.ap`, 0, 0xff) };
    else if (version === 'v1') ap = { version: 1, address: integer(address, where, `cores[${i}].core_access_options.ap`, 0, 0xff) };
    else if (version === 'v2') ap = { version: 2, address: integer(address, where, `cores[${i}].core_access_options.ap`) };
    const targetSel = optionalInteger(options?.targetsel, where, `cores[${i}].core_access_options.targetsel`, 0, 0xffffffff);
    return { name: String(k?.name ?? `core${i}`), type: String(k?.type ?? ''), ap, ...(targetSel === undefined ? {} : { targetSel }) };
  });
  const memoryMap: MemoryRegion[] = [];
  for (const [i, entry] of list(c.memory_map, where, 'memory_map').entries()) {
    const [kind, body] = tagged(entry);
    const k = kind === 'Nvm' ? 'nvm' : kind === 'Ram' ? 'ram' : kind === 'Generic' ? 'generic' : undefined;
    if (!k || !body || typeof body !== 'object') continue; // a region kind Dapdeck does not know
    const r = range(body.range, where, `memory_map[${i}].range`);
    const access = body.access && typeof body.access === 'object' ? body.access : {};
    memoryMap.push({
      kind: k,
      name: body.name === undefined || body.name === null ? undefined : String(body.name),
      ...r,
      cores: list(body.cores, where, `memory_map[${i}].cores`).map(String),
      access: { read: bool(access.read, true), write: bool(access.write, true), execute: bool(access.execute, true), boot: bool(access.boot, bool(body.is_boot_memory, false)) },
      isAlias: bool(body.is_alias, bool(body.is_alternate, false)),
    });
  }
  const rtt = c.rtt_scan_ranges === undefined || c.rtt_scan_ranges === null ? undefined : list(c.rtt_scan_ranges, where, 'rtt_scan_ranges').map((r, i) => range(r, where, `rtt_scan_ranges[${i}]`));
  return {
    name: String(c.name),
    family,
    cores: coreList.map((k) => k.type).filter(Boolean),
    coreList,
    memoryMap,
    flash: memoryMap.filter((m) => m.kind === 'nvm' && !m.isAlias).map(({ start, size }) => ({ start, size })),
    ram: memoryMap.filter((m) => m.kind === 'ram' && !m.isAlias).map(({ start, size }) => ({ start, size })),
    algorithms: list(c.flash_algorithms, where, 'flash_algorithms').map(String),
    part: optionalInteger(c.part, where, 'part', 0, 0xfff),
    rttScanRanges: rtt,
  };
}

/** A `{ hex key: chip name }` map. */
function nameTable(v: unknown, where: Where, field: string): Map<number, string> {
  const out = new Map<number, string>();
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new AlgorithmError(`${where}: ${field} must be a mapping of values to chip names`);
  for (const [key, name] of Object.entries(v)) out.set(integer(key, where, `${field} key`, 0, 0xffffffff), String(name));
  return out;
}

function detectionFromYaml(d: unknown, where: Where): ChipDetection {
  const [method, body] = tagged(d);
  if (!method) throw new AlgorithmError(`${where}: no detection method (a tag such as !NordicConfigId)`);
  if (method === 'NordicConfigId') {
    return { method, configIdAddress: integer(body?.configid_address, where, 'configid_address', 0, 0xffffffff), hwid: nameTable(body?.hwid, where, 'hwid') };
  }
  if (method === 'NordicFicrInfo') {
    return {
      method,
      partAddress: integer(body?.part_address, where, 'part_address', 0, 0xffffffff),
      variantAddress: integer(body?.variant_address, where, 'variant_address', 0, 0xffffffff),
      part: integer(body?.part, where, 'part', 0, 0xffffffff),
      variants: nameTable(body?.variants, where, 'variants'),
    };
  }
  return { method, unread: true };
}

function algorithmFromYaml(a: any, where: Where): FlashAlgorithm {
  if (!a || typeof a !== 'object') throw new AlgorithmError(`${where}: not a mapping`);
  if (!a.instructions) throw new AlgorithmError(`${where}: no instructions`);
  let blob: Uint8Array;
  try {
    blob = base64Decode(String(a.instructions).replace(/\s+/g, ''));
  } catch {
    throw new AlgorithmError(`${where}: instructions are not valid base64`);
  }
  const p = a.flash_properties;
  if (!p || typeof p !== 'object') throw new AlgorithmError(`${where}: no flash_properties`);
  const { start, size } = range(p.address_range, where, 'flash_properties.address_range');
  // Entry points are offsets from the start of the instructions (probe-rs adds its own header in
  // front and the load address); a set bit 0 only marks Thumb code.
  const entry = (key: string, required: boolean) => {
    if (a[key] === undefined || a[key] === null) {
      if (required) throw new AlgorithmError(`${where}: no ${key}`);
      return undefined;
    }
    const offset = integer(a[key], where, key) & ~1;
    if (offset >= blob.length) throw new AlgorithmError(`${where}: ${key} ${hex(offset)} is outside the ${blob.length}-byte instructions`);
    return offset;
  };
  const encoding = a.transfer_encoding === undefined || a.transfer_encoding === null ? 'raw' : String(a.transfer_encoding).toLowerCase();
  if (encoding !== 'raw' && encoding !== 'miniz') throw new AlgorithmError(`${where}: transfer_encoding must be raw or miniz, got ${JSON.stringify(a.transfer_encoding)}`);
  const pageSize = integer(p.page_size, where, 'flash_properties.page_size', 1, 0x100000);
  const layout = list(p.sectors, where, 'flash_properties.sectors').map((s: any, i) => ({
    offset: integer(s?.address, where, `flash_properties.sectors[${i}].address`, 0, size - 1),
    size: integer(s?.size, where, `flash_properties.sectors[${i}].size`, 1, 0xffffffff),
  }));
  if (layout.length === 0) throw new AlgorithmError(`${where}: flash_properties.sectors lists no sectors`);
  const count = layout.reduce((n, s, i) => n + Math.ceil(((i + 1 < layout.length ? layout[i + 1].offset : size) - s.offset) / s.size), 0);
  if (count > MAX_SECTORS) throw new AlgorithmError(`${where}: flash_properties.sectors cut ${hex(size)} bytes into ${count} sectors (at most ${MAX_SECTORS})`);
  for (let i = 1; i < layout.length; i++) {
    if (layout[i].offset <= layout[i - 1].offset) throw new AlgorithmError(`${where}: flash_properties.sectors[${i}].address ${hex(layout[i].offset)} does not follow ${hex(layout[i - 1].offset)}`);
  }
  const flash: FlashProperties = {
    start,
    size,
    pageSize,
    erasedValue: p.erased_byte_value === undefined ? 0xff : integer(p.erased_byte_value, where, 'flash_properties.erased_byte_value', 0, 0xff),
    programPageTimeoutMs: p.program_page_timeout === undefined ? 100 : integer(p.program_page_timeout, where, 'flash_properties.program_page_timeout', 1, 3_600_000),
    eraseSectorTimeoutMs: p.erase_sector_timeout === undefined ? 3000 : integer(p.erase_sector_timeout, where, 'flash_properties.erase_sector_timeout', 1, 3_600_000),
    sectors: [],
  };
  // Sectors are expanded when first used: a file describes many chips and algorithms (an nRF52
  // algorithm spans 0x0..0x10002000 in 4 KiB sectors), and only the chosen chip's are needed.
  let sectors: Sector[] | undefined;
  Object.defineProperty(flash, 'sectors', { enumerable: true, get: () => (sectors ??= expandSectors(start, size, layout)) });
  return {
    name: String(a.name ?? 'algorithm'),
    description: String(a.description ?? a.name ?? ''),
    default: a.default === true,
    blob,
    pcInit: entry('pc_init', false),
    pcUninit: entry('pc_uninit', false),
    pcProgramPage: entry('pc_program_page', true)!,
    pcEraseSector: entry('pc_erase_sector', true)!,
    pcEraseAll: entry('pc_erase_all', false),
    pcVerify: entry('pc_verify', false),
    pcBlankCheck: entry('pc_blank_check', false),
    pcCrc32: entry('pc_dapdeck_crc32', false),
    pcCrc32Sectors: entry('pc_dapdeck_crc32_sectors', false),
    dataSectionOffset: integer(a.data_section_offset, where, 'data_section_offset', 0, 0xffffffff),
    loadAddress: optionalInteger(a.load_address, where, 'load_address', 0, 0xffffffff),
    dataLoadAddress: optionalInteger(a.data_load_address, where, 'data_load_address', 0, 0xffffffff),
    stackSize: optionalInteger(a.stack_size, where, 'stack_size', 1, 0x100000),
    transferEncoding: encoding,
    cores: list(a.cores, where, 'cores').map(String),
    flash,
  };
}
