/**
 * Target files for tests, written here in probe-rs's current tagged form (`- !Nvm`, `!Arm`,
 * `ap: !v1 0`, `- !NordicConfigId` …, numbers as plain hex) around algorithms built from this
 * repository's sources. Fetched probe-rs files are never committed; this is how their shape
 * reaches the tests.
 */
import { base64Encode, type FlashAlgorithm } from '../../core/flash/algorithm';

const hex = (n: number) => `0x${n.toString(16)}`;

export interface AlgorithmEntry {
  algorithm: FlashAlgorithm;
  name: string;
  default?: boolean;
  /** Override the address range the algorithm claims (e.g. a UICR algorithm). */
  range?: { start: number; end: number };
  stackSize?: number;
}

export function algorithmYaml(e: AlgorithmEntry): string {
  const a = e.algorithm;
  const f = a.flash;
  const range = e.range ?? { start: f.start, end: f.start + f.size };
  const entry = (key: string, v: number | undefined) => (v === undefined ? '' : `  ${key}: ${hex(v | 1)}\n`); // Thumb bit set, as probe-rs writes them
  return (
    `- name: ${e.name}\n` +
    `  description: ${a.description}\n` +
    (e.default ? '  default: true\n' : '') +
    `  instructions: ${base64Encode(a.blob)}\n` +
    entry('pc_init', a.pcInit) +
    entry('pc_uninit', a.pcUninit) +
    entry('pc_program_page', a.pcProgramPage) +
    entry('pc_erase_sector', a.pcEraseSector) +
    entry('pc_erase_all', a.pcEraseAll) +
    entry('pc_blank_check', a.pcBlankCheck) +
    `  data_section_offset: ${hex(a.dataSectionOffset)}\n` +
    (e.stackSize ? `  stack_size: ${e.stackSize}\n` : '') +
    `  flash_properties:\n` +
    `    address_range:\n      start: ${hex(range.start)}\n      end: ${hex(range.end)}\n` +
    `    page_size: ${hex(f.pageSize)}\n    erased_byte_value: ${hex(f.erasedValue)}\n` +
    `    program_page_timeout: ${f.programPageTimeoutMs}\n    erase_sector_timeout: ${f.eraseSectorTimeoutMs}\n` +
    `    sectors:\n    - size: ${hex(f.sectors[0].size)}\n      address: 0x0\n` +
    `  cores:\n  - main\n` +
    `  future_field_dapdeck_does_not_know: 7\n`
  );
}

export interface ChipEntry {
  name: string;
  flash: { start: number; end: number };
  /** Further Nvm regions (UICR, option bytes). */
  extraNvm?: { start: number; end: number; name?: string }[];
  algorithms: string[];
  coreType?: string;
}

export function chipYaml(c: ChipEntry): string {
  const nvm = (r: { start: number; end: number; name?: string }, boot: boolean) =>
    `  - !Nvm\n${r.name ? `    name: ${r.name}\n` : ''}    range:\n      start: ${hex(r.start)}\n      end: ${hex(r.end)}\n    cores:\n    - main\n${boot ? '    access:\n      boot: true\n' : ''}`;
  return (
    `- name: ${c.name}\n` +
    `  cores:\n  - name: main\n    type: ${c.coreType ?? 'armv6m'}\n    core_access_options: !Arm\n      ap: !v1 0\n` +
    `  memory_map:\n` +
    nvm(c.flash, true) +
    (c.extraNvm ?? []).map((r) => nvm(r, false)).join('') +
    `  - !Ram\n    range:\n      start: 0x20000000\n      end: 0x20004000\n    cores:\n    - main\n` +
    `  - !Ram\n    range:\n      start: 0x20000000\n      end: 0x20004000\n    cores:\n    - main\n    is_alias: true\n` +
    `  - !SomeRegionKindFromTheFuture\n    range:\n      start: 0x30000000\n      end: 0x30001000\n` +
    `  flash_algorithms:\n${c.algorithms.map((a) => `  - ${a}\n`).join('')}`
  );
}

/** A whole family file: chips, algorithms, and a NordicConfigId table (CONFIGID.HWID → chip). */
export function targetFileYaml(family: string, chips: ChipEntry[], algorithms: AlgorithmEntry[], hwid: Record<number, string> = {}): string {
  const ids = Object.entries(hwid);
  return (
    `name: ${family}\n` +
    `manufacturer:\n  id: 0x44\n  cc: 0x2\n` +
    (ids.length ? `chip_detection:\n- !NordicConfigId\n  configid_address: 0x1000005c\n  hwid:\n${ids.map(([k, v]) => `    ${hex(Number(k))}: ${v}\n`).join('')}- !SomeDetectionFromTheFuture\n  register: 0x40000000\n` : '') +
    `variants:\n${chips.map(chipYaml).join('')}` +
    `flash_algorithms:\n${algorithms.map(algorithmYaml).join('')}`
  );
}
