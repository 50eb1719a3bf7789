/**
 * The chip database: the built-in probe-rs-style target files in core/flash/targets (data, not
 * code), plus any --target-file the user passes (and --algo). A chip in a file the user passes
 * replaces a built-in chip of the same name, and says so once. Resolving a chip gives its memory
 * map and, for every programmable region, the flash algorithm that programs it (probe-rs's rule:
 * the chip's algorithms whose address range covers the region, `default: true` preferred).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { AlgorithmError, algorithmFromFlm, type FlashAlgorithm } from '../core/flash/algorithm';
import { parseTargetYaml, type AddressRange, type ChipDescription, type MemoryRegion, type TargetDescription } from '../core/flash/target-file';
import { REPO_ROOT } from './firmware';
import { loadPackTargets } from './packs';

export const BUILTIN_TARGETS = resolve(REPO_ROOT, 'core', 'flash', 'targets');

export type ChipSource = 'built-in' | 'pack' | 'target file';

export interface KnownChip {
  chip: ChipDescription;
  target: TargetDescription;
  source: ChipSource;
}

export interface ChipDatabase {
  chips: KnownChip[];
  targets: TargetDescription[];
  /** One line about chips a user's file replaced, when any did. */
  notice?: string;
}

/** A programmable region and the algorithm that programs it (limited to the region). */
export interface RegionAlgorithm {
  region: AddressRange & { name?: string };
  algorithm: FlashAlgorithm;
}

export interface ResolvedChip {
  chip: ChipDescription;
  source: ChipSource;
  file: string;
  /** The algorithm of the boot (else first) programmable region. */
  algorithm: FlashAlgorithm;
  /** Every programmable region that has an algorithm, in address order. */
  regions: RegionAlgorithm[];
  /** RAM the algorithms run in. */
  ram: AddressRange;
  notice?: string;
}

function readFile(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AlgorithmError(`${what} ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message}`);
  }
}

export function readTargetFile(path: string): TargetDescription {
  return parseTargetYaml(new TextDecoder().decode(readFile(path, 'target file')), path);
}

export function builtinTargetFiles(): string[] {
  return readdirSync(BUILTIN_TARGETS)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => resolve(BUILTIN_TARGETS, f));
}

export function loadChipDatabase(options: { targetFiles?: string[] } = {}): ChipDatabase {
  const builtin = builtinTargetFiles().map(readTargetFile);
  const packs = loadPackTargets();
  const user = (options.targetFiles ?? []).map(readTargetFile);
  const byName = new Map<string, KnownChip>();
  const replaced = new Map<string, string[]>(); // where the description now comes from → chips
  const add = (target: TargetDescription, source: ChipSource) => {
    for (const chip of target.chips) {
      const key = chip.name.toLowerCase();
      const before = byName.get(key);
      if (before?.source === 'built-in' && source !== 'built-in') {
        const from = source === 'pack' ? `pack ${target.name}` : 'your target file';
        replaced.set(from, [...(replaced.get(from) ?? []), chip.name]);
      }
      if (before) byName.delete(key); // the later file wins, and lists where it stands
      byName.set(key, { chip, target, source });
    }
  };
  for (const t of builtin) add(t, 'built-in');
  for (const t of packs.targets) add(t, 'pack');
  for (const t of user) add(t, 'target file');
  const notices = [...packs.problems];
  for (const [from, names] of replaced) notices.push(`${names.join(', ')}: using the description from ${from} instead of the built-in one`);
  return {
    chips: [...byName.values()],
    targets: [...builtin, ...packs.targets, ...user],
    notice: notices.length ? notices.join('; ') : undefined,
  };
}

export function listChips(db = loadChipDatabase()): string[] {
  return db.chips.map((c) => c.chip.name);
}

export function findChip(name: string, db: ChipDatabase): KnownChip {
  const known = db.chips.find((c) => c.chip.name.toLowerCase() === name.toLowerCase());
  if (known) return known;
  const names = listChips(db);
  const near = names.filter((n) => n.toLowerCase().includes(name.toLowerCase()));
  const shown = near.length ? near : names;
  throw new AlgorithmError(
    `unknown chip "${name}" (${near.length ? 'did you mean' : 'known'}: ${shown.slice(0, 12).join(', ')}${shown.length > 12 ? `, … ${shown.length - 12} more` : ''}; see dapdeck chips, or add one with --target-file FILE)`,
  );
}

/** The algorithm limited to `region`: its sectors there only, and no chip erase that would reach beyond it. */
export function limitToRegion(algorithm: FlashAlgorithm, region: AddressRange): FlashAlgorithm {
  const f = algorithm.flash;
  if (f.start === region.start && f.size === region.size && f.pageSize <= f.size) return algorithm;
  const start = Math.max(f.start, region.start);
  const end = Math.min(f.start + f.size, region.start + region.size);
  return {
    ...algorithm,
    pcEraseAll: f.start === start && f.size === end - start ? algorithm.pcEraseAll : undefined,
    // A ProgramPage call cannot reach past the region either.
    flash: { ...f, start, size: end - start, pageSize: Math.min(f.pageSize, end - start), sectors: f.sectors.filter((s) => s.address >= start && s.address + s.size <= end) },
  };
}

/** probe-rs's choice for one region: the chip's algorithms covering it, the default one if several. */
export function algorithmForRegion(chip: ChipDescription, target: TargetDescription, region: MemoryRegion): FlashAlgorithm | undefined {
  const own = chip.algorithms.map((n) => target.algorithms.find((a) => a.name === n)).filter((a): a is FlashAlgorithm => !!a);
  const covers = (a: FlashAlgorithm) => a.flash.start <= region.start && a.flash.start + a.flash.size >= region.start + region.size;
  const forCores = (a: FlashAlgorithm) => a.cores.length === 0 || region.cores.length === 0 || region.cores.some((c) => a.cores.includes(c));
  const candidates = own.filter((a) => covers(a) && forCores(a));
  if (candidates.length <= 1) return candidates[0];
  const defaults = candidates.filter((a) => a.default);
  if (defaults.length === 1) return defaults[0];
  throw new AlgorithmError(
    `chip ${chip.name}: region ${hex(region.start)}..${hex(region.start + region.size)} is covered by ${defaults.length ? `${defaults.length} default` : candidates.length} flash algorithms (${(defaults.length ? defaults : candidates).map((a) => a.name).join(', ')}); pass one with --algo`,
  );
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

export function resolveKnownChip(known: KnownChip, options: { algo?: string } = {}): Omit<ResolvedChip, 'notice'> {
  const { chip, target, source } = known;
  for (const name of chip.algorithms) {
    if (!target.algorithms.some((a) => a.name === name)) throw new AlgorithmError(`chip ${chip.name} names flash algorithm ${name}, which its target file does not define`);
  }
  let regions: RegionAlgorithm[];
  if (options.algo) {
    const algorithm = algorithmFromFlm(readFile(options.algo, 'flash algorithm'), options.algo);
    regions = [{ region: { start: algorithm.flash.start, size: algorithm.flash.size }, algorithm }];
  } else {
    const nvm = chip.memoryMap.filter((m) => m.kind === 'nvm' && !m.isAlias);
    regions = [];
    for (const region of nvm) {
      const algorithm = algorithmForRegion(chip, target, region);
      if (algorithm) regions.push({ region: { start: region.start, size: region.size, name: region.name }, algorithm: limitToRegion(algorithm, region) });
    }
    if (regions.length === 0) {
      throw new AlgorithmError(
        chip.algorithms.length === 0
          ? `chip ${chip.name} has no flash algorithm in ${target.file}; pass one with --algo FILE.FLM`
          : `chip ${chip.name}: none of its flash algorithms (${chip.algorithms.join(', ')}) covers a flash region of its memory map`,
      );
    }
    regions.sort((a, b) => a.region.start - b.region.start);
  }
  const boot = chip.memoryMap.find((m) => m.kind === 'nvm' && m.access.boot && !m.isAlias);
  const primary = regions.find((r) => boot && r.region.start === boot.start) ?? regions[0];
  // A pack names the RAM its algorithm runs in (RAMstart/RAMsize); else the chip's RAM.
  const ramRegion = primary.algorithm.ramRange ?? chip.memoryMap.find((m) => m.kind === 'ram' && !m.isAlias && m.access.execute && m.access.write);
  if (!ramRegion) throw new AlgorithmError(`chip ${chip.name} has no RAM region to run a flash algorithm in`);
  return { chip, source, file: target.file, algorithm: primary.algorithm, regions, ram: { start: ramRegion.start, size: ramRegion.size } };
}

export function resolveChip(name: string, options: { targetFiles?: string[]; algo?: string } = {}): ResolvedChip {
  const db = loadChipDatabase(options);
  return { ...resolveKnownChip(findChip(name, db), options), notice: db.notice };
}

const sum = (ranges: { size: number }[]) => ranges.reduce((n, r) => n + r.size, 0);

/** The row `dapdeck chips` shows for a chip (and gives in JSON). */
export function chipSummary(k: KnownChip) {
  return {
    name: k.chip.name,
    family: k.chip.family,
    cores: k.chip.cores,
    flashBytes: sum(k.chip.flash),
    ramBytes: sum(k.chip.ram),
    source: k.source,
    file: k.target.file,
    /** The pack (VENDOR.NAME VERSION) a pack's chip comes from. */
    pack: k.source === 'pack' ? k.target.name : undefined,
  };
}
