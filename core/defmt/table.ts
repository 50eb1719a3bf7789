/**
 * The interned-string table of a defmt firmware: `.defmt` section symbols whose names are JSON
 * records {package, tag, data, disambiguator, crate_name}; a symbol's address is the string's index
 * on the wire. Version and encoding come from marker symbols `_defmt_version_ = N` and
 * `_defmt_encoding_ = rzcobs|raw` (defmt book, "Defmt Versions").
 */

import type { Param } from './parser';

export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export const LEVELS: readonly Level[] = ['trace', 'debug', 'info', 'warn', 'error'];

export interface TableEntry {
  tag: string;
  format: string;
  level?: Level;
  package?: string;
  crateName?: string;
  /** The format's wire parameters, filled in on first decode. */
  params?: Param[];
}

export interface DefmtSymbol {
  name: string;
  address: number;
  section: string;
}

export interface Location {
  file: string;
  line: number;
  module: string;
}

/** Wire-format versions this decoder implements (defmt 0.3.0–0.3.3 used 3; 0.3.4 onwards and 1.x use 4). */
export const SUPPORTED_VERSIONS = ['3', '4'] as const;

export class DefmtTableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DefmtTableError';
  }
}

export class DefmtTable {
  readonly entries = new Map<number, TableEntry>();
  timestamp: string | null = null;
  locations = new Map<number, Location>();

  constructor(
    readonly version: string,
    readonly encoding: 'rzcobs' | 'raw',
  ) {}

  /** Build from ELF symbols (name, address, section); `file` is named in errors. */
  static fromSymbols(symbols: readonly DefmtSymbol[], file: string): DefmtTable {
    let version: string | null = null;
    let encoding: string | null = null;
    for (const s of symbols) {
      const v = /^"?_defmt_version_ = (.+?)"?$/.exec(s.name);
      if (v) {
        if (version && version !== v[1]) throw new DefmtTableError(`${file}: multiple defmt wire format versions in use: ${version} and ${v[1]}`);
        version = v[1];
      }
      const e = /^_defmt_encoding_ = (.+)$/.exec(s.name);
      if (e) encoding = e[1];
    }
    const defmtSymbols = symbols.filter((s) => s.section === '.defmt' || s.section.startsWith('.defmt.'));
    if (defmtSymbols.length === 0) {
      throw new DefmtTableError(`${file}: the ELF has no defmt table (no .defmt symbols) — was it built with defmt?`);
    }
    if (!version) throw new DefmtTableError(`${file}: found a .defmt table but no defmt version symbol (_defmt_version_)`);
    if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
      throw new DefmtTableError(`${file}: defmt wire format version ${version} is not supported (this decoder supports versions ${SUPPORTED_VERSIONS.join(' and ')})`);
    }
    if (encoding !== null && encoding !== 'rzcobs' && encoding !== 'raw') {
      throw new DefmtTableError(`${file}: unknown defmt encoding "${encoding}" (supported: rzcobs, raw)`);
    }
    // Version 3 predates the encoding marker and always used raw framing.
    const table = new DefmtTable(version, (encoding ?? (version === '3' ? 'raw' : 'rzcobs')) as 'rzcobs' | 'raw');
    for (const s of defmtSymbols) {
      if (s.name.startsWith('_defmt') || s.name.startsWith('__DEFMT_MARKER')) continue;
      let record: { tag?: string; data?: string; package?: string; crate_name?: string; disambiguator?: string };
      try {
        record = JSON.parse(s.name);
      } catch {
        continue; // not a defmt record (a stray symbol in the section)
      }
      if (typeof record.tag !== 'string' || typeof record.data !== 'string') continue;
      const tag = record.tag;
      if (tag === 'defmt_timestamp') {
        if (table.timestamp !== null) throw new DefmtTableError(`${file}: multiple defmt timestamp formats`);
        table.timestamp = record.data;
        continue;
      }
      // Bitflags flag values live in the symbols' data, not their names; without them a
      // bitflags value prints as its number (what defmt's own decoder does when a flag is unknown).
      if (tag === 'defmt_bitflags_value') continue;
      const level = tag.startsWith('defmt_') ? (tag.slice(6) as Level) : undefined;
      table.entries.set(s.address, {
        tag,
        format: record.data,
        level: level && (LEVELS as readonly string[]).includes(level) ? level : undefined,
        package: record.package,
        crateName: record.crate_name,
      });
    }
    return table;
  }
}
