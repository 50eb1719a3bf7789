/**
 * CMSIS-Pack package descriptions (.pdsc): the devices a vendor's Device Family Pack describes,
 * turned into the same chip model as probe-rs target files (./target-file.ts).
 *
 * Devices nest as family → subFamily → device → variant, each level inheriting what the levels
 * above it say: `processor` attributes accumulate (per Pname on multi-core parts), `memory`
 * regions are keyed by their name (or the older id, IROM1/IRAM1…) and a lower level's region of
 * the same key replaces the upper one, `algorithm`s add up (a lower level's entry for the same
 * file and start replaces the upper one). A device with variants becomes one chip per variant.
 *
 * Algorithms are the pack's .FLM files; the pdsc's `start`/`size` say which flash range each one
 * programs on that device (one FLM serves several flash sizes), `RAMstart`/`RAMsize` where it runs.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { AlgorithmError, algorithmFromFlm, type FlashAlgorithm } from './algorithm';
import { expandSectors, type Sector } from './planner';
import { MAX_SECTORS, type AddressRange, type ChipDescription, type CoreDescription, type MemoryRegion, type TargetDescription } from './target-file';

export interface PdscMemory {
  /** `name`, or the older `id` (IROM1, IRAM1…). */
  key: string;
  start: number;
  size: number;
  /** Access letters as the pdsc gives them (r, w, x, p …), or derived from an IROM/IRAM id. */
  access: string;
  startup: boolean;
  default: boolean;
  /** The processor that sees it (multi-core devices), if the pdsc says. */
  processor?: string;
}

export interface PdscAlgorithm {
  /** Path inside the pack, forward slashes. */
  file: string;
  start: number;
  size: number;
  ram?: AddressRange;
  default: boolean;
  /** The processor it is for (multi-core devices), if the pdsc says. */
  processor?: string;
}

export interface PdscProcessor {
  name?: string;
  /** Dcore: Cortex-M0, Cortex-M0+, Cortex-M4, … */
  core?: string;
}

export interface PdscDevice {
  name: string;
  family: string;
  subFamily?: string;
  /** Dvendor without its numeric code ("Nordic Semiconductor:54" → "Nordic Semiconductor"). */
  vendor?: string;
  processors: PdscProcessor[];
  memory: PdscMemory[];
  algorithms: PdscAlgorithm[];
}

export interface PdscPack {
  vendor: string;
  name: string;
  /** The newest release listed (the first), when there is one. */
  version?: string;
  description?: string;
  devices: PdscDevice[];
}

interface Level {
  family?: string;
  subFamily?: string;
  vendor?: string;
  processors: Map<string, PdscProcessor>;
  memory: Map<string, PdscMemory>;
  algorithms: Map<string, PdscAlgorithm>;
}

const LISTS = new Set(['family', 'subFamily', 'device', 'variant', 'processor', 'memory', 'algorithm', 'release']);

type Element = Record<string, any>;

const attr = (e: Element, name: string): string | undefined => {
  const v = e[`@_${name}`];
  return v === undefined ? undefined : String(v).trim();
};

/** A name from the file as a message shows it: quoted and escaped when it holds control characters (one line). */
const shown = (s: string) => (/[\x00-\x1f\x7f]/.test(s) ? JSON.stringify(s) : s);

function number(e: Element, name: string, where: string, required: boolean): number | undefined {
  const text = attr(e, name);
  if (text === undefined || text === '') {
    if (required) throw new AlgorithmError(`${where}: ${name} is missing`);
    return undefined;
  }
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new AlgorithmError(`${where}: ${name} must be an address or size, got ${JSON.stringify(text)}`);
  return n;
}

const flag = (e: Element, name: string) => {
  const v = attr(e, name)?.toLowerCase();
  return v === '1' || v === 'true';
};

/** A path as the pdsc names a file in the pack: forward slashes, no leading "./". */
export function packPath(p: string): string {
  return p.replace(/\\/g, '/').replace(/^(\.\/)+/, '');
}

function inherit(parent: Level, e: Element, where: string): Level {
  const level: Level = {
    family: parent.family,
    subFamily: parent.subFamily,
    vendor: attr(e, 'Dvendor')?.replace(/:\d+$/, '') ?? parent.vendor,
    processors: new Map([...parent.processors].map(([k, p]) => [k, { ...p }])),
    memory: new Map(parent.memory),
    algorithms: new Map(parent.algorithms),
  };
  for (const p of (e.processor ?? []) as Element[]) {
    const name = attr(p, 'Pname');
    // A processor without Pname refines the one processor the levels above describe.
    const key = name ?? (level.processors.size === 1 ? [...level.processors.keys()][0] : '');
    const before = level.processors.get(key);
    level.processors.set(key, { name: name ?? before?.name, core: attr(p, 'Dcore') ?? before?.core });
  }
  for (const [i, m] of ((e.memory ?? []) as Element[]).entries()) {
    const id = attr(m, 'id');
    const key = attr(m, 'name') ?? id;
    if (!key) throw new AlgorithmError(`${where}: memory[${i}] has neither name nor id`);
    // Without access (the older form), a region's kind is in its id or name: IROMn read-execute, IRAMn read-write-execute.
    const access = attr(m, 'access') ?? (/^IROM/i.test(key) ? 'rx' : 'rwx');
    const processor = attr(m, 'Pname');
    const start = number(m, 'start', `${where}: memory ${shown(key)}`, true)!;
    const size = number(m, 'size', `${where}: memory ${shown(key)}`, true)!;
    if (start + size > 2 ** 32) throw new AlgorithmError(`${where}: memory ${shown(key)}: start ${hex(start)} and size ${hex(size)} run past the 32-bit address space`);
    level.memory.set(key, { key, start, size, access, startup: flag(m, 'startup'), default: flag(m, 'default'), processor });
  }
  for (const a of (e.algorithm ?? []) as Element[]) {
    const name = attr(a, 'name');
    if (!name) throw new AlgorithmError(`${where}: an algorithm has no name (the .FLM file)`);
    // Only Keil-style algorithms are CMSIS .FLMs (FlashOS.h); IAR and SEGGER ones are their tools' own.
    const style = attr(a, 'style') ?? 'Keil';
    if (!/^(keil|cmsis)$/i.test(style)) continue;
    const w = `${where}: algorithm ${shown(name)}`;
    const start = number(a, 'start', w, true)!;
    const size = number(a, 'size', w, true)!;
    if (size === 0 || start + size > 2 ** 32) throw new AlgorithmError(`${w}: start ${hex(start)} and size ${hex(size)} do not fit the 32-bit address space`);
    const ramStart = number(a, 'RAMstart', w, false);
    const ramSize = number(a, 'RAMsize', w, false);
    if ((ramStart === undefined) !== (ramSize === undefined)) throw new AlgorithmError(`${w}: RAMstart and RAMsize go together`);
    const file = packPath(name);
    const processor = attr(a, 'Pname');
    level.algorithms.set(`${file.toLowerCase()}@${start}@${processor ?? ''}`, {
      file,
      start,
      size,
      ram: ramStart === undefined ? undefined : { start: ramStart, size: ramSize! },
      default: flag(a, 'default'),
      processor,
    });
  }
  return level;
}

function device(level: Level, name: string): PdscDevice {
  return {
    name,
    family: level.family ?? '',
    subFamily: level.subFamily,
    vendor: level.vendor,
    processors: [...level.processors.values()],
    memory: [...level.memory.values()],
    algorithms: [...level.algorithms.values()],
  };
}

export function parsePdsc(xml: string, file: string): PdscPack {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new AlgorithmError(`${file}: not valid XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', parseAttributeValue: false, parseTagValue: false, isArray: (tag) => LISTS.has(tag) });
  let doc: Element;
  try {
    doc = parser.parse(xml) as Element;
  } catch (err) {
    // What the validator lets through and the parser still cannot read.
    throw new AlgorithmError(`${file}: not valid XML: ${(err as Error).message.split('\n')[0]}`);
  }
  const pkg = doc.package as Element | undefined;
  if (!pkg || typeof pkg !== 'object') throw new AlgorithmError(`${file}: not a CMSIS-Pack description (no <package> element)`);
  const text = (v: unknown) => (typeof v === 'string' ? v.trim() : v && typeof v === 'object' && '#text' in v ? String((v as Element)['#text']).trim() : undefined);
  const vendor = text(pkg.vendor);
  const name = text(pkg.name);
  if (!vendor || !name) throw new AlgorithmError(`${file}: the package has no ${vendor ? 'name' : 'vendor'}`);
  const release = ((pkg.releases as Element | undefined)?.release ?? []) as Element[];
  const devices: PdscDevice[] = [];
  const families = ((pkg.devices as Element | undefined)?.family ?? []) as Element[];
  const top: Level = { processors: new Map(), memory: new Map(), algorithms: new Map() };
  for (const [fi, f] of families.entries()) {
    const familyName = attr(f, 'Dfamily');
    if (!familyName) throw new AlgorithmError(`${file}: family[${fi}] has no Dfamily`);
    const family = inherit({ ...top, family: familyName }, f, `${file}: family ${shown(familyName)}`);
    const devicesOf = (parent: Level, e: Element, where: string) => {
      for (const [di, d] of ((e.device ?? []) as Element[]).entries()) {
        const dname = attr(d, 'Dname');
        if (!dname) throw new AlgorithmError(`${where}: device[${di}] has no Dname`);
        const level = inherit(parent, d, `${file}: device ${shown(dname)}`);
        const variants = (d.variant ?? []) as Element[];
        if (variants.length === 0) devices.push(device(level, dname));
        for (const [vi, v] of variants.entries()) {
          const vname = attr(v, 'Dvariant');
          if (!vname) throw new AlgorithmError(`${file}: device ${shown(dname)}: variant[${vi}] has no Dvariant`);
          devices.push(device(inherit(level, v, `${file}: variant ${shown(vname)}`), vname));
        }
      }
    };
    devicesOf(family, f, `${file}: family ${shown(familyName)}`);
    for (const [si, s] of ((f.subFamily ?? []) as Element[]).entries()) {
      const sub = attr(s, 'DsubFamily');
      if (!sub) throw new AlgorithmError(`${file}: family ${shown(familyName)}: subFamily[${si}] has no DsubFamily`);
      devicesOf(inherit({ ...family, subFamily: sub }, s, `${file}: subFamily ${shown(sub)}`), s, `${file}: subFamily ${shown(sub)}`);
    }
  }
  return { vendor, name, version: release.length ? attr(release[0], 'version') : undefined, description: text(pkg.description), devices };
}

/** probe-rs's core type for a CMSIS Dcore (empty when Dapdeck has no type for it: no core check). */
export function coreTypeOfDcore(dcore: string | undefined): string {
  const d = (dcore ?? '').toUpperCase();
  if (/^(CORTEX-M0\+?|CORTEX-M1|SC000)$/.test(d)) return 'armv6m';
  if (/^(CORTEX-M3|SC300)$/.test(d)) return 'armv7m';
  if (/^(CORTEX-M4|CORTEX-M7)$/.test(d)) return 'armv7em';
  if (/^(CORTEX-M23|CORTEX-M33|CORTEX-M35P|CORTEX-M52|CORTEX-M55|CORTEX-M85|STAR-MC1|ARMV8MBL|ARMV8MML|ARMV81MML)$/.test(d)) return 'armv8m';
  return '';
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/** Sector layout of an algorithm as runs relative to its flash start (for placing it elsewhere). */
function layoutOf(a: FlashAlgorithm): { offset: number; size: number }[] {
  const runs: { offset: number; size: number }[] = [];
  for (const s of a.flash.sectors) {
    if (runs.length === 0 || runs[runs.length - 1].size !== s.size) runs.push({ offset: s.address - a.flash.start, size: s.size });
  }
  return runs;
}

/** The FLM placed where the pdsc says it programs on this device. */
function placed(flm: FlashAlgorithm, entry: PdscAlgorithm, name: string, where: string): FlashAlgorithm {
  const layout = layoutOf(flm).filter((r) => r.offset < entry.size);
  const count = layout.reduce((n, r, i) => n + Math.ceil(((i + 1 < layout.length ? layout[i + 1].offset : entry.size) - r.offset) / r.size), 0);
  if (count > MAX_SECTORS) throw new AlgorithmError(`${where}: ${hex(entry.size)} bytes in the .FLM's sectors make ${count} sectors (at most ${MAX_SECTORS})`);
  let sectors: Sector[] | undefined;
  const flash = { ...flm.flash, start: entry.start, size: entry.size, sectors: [] as Sector[] };
  Object.defineProperty(flash, 'sectors', { enumerable: true, get: () => (sectors ??= expandSectors(entry.start, entry.size, layout)) });
  return { ...flm, name, default: entry.default, ramRange: entry.ram, cores: entry.processor ? [entry.processor] : [], flash };
}

/**
 * The pack's devices as a target description. `readFile` gives a file of the pack by its path
 * (case as the pdsc spells it; undefined when the pack has no such file).
 */
export function pdscToTarget(pack: PdscPack, readFile: (path: string) => Uint8Array | undefined, file: string): TargetDescription {
  const flms = new Map<string, FlashAlgorithm>();
  const algorithms = new Map<string, FlashAlgorithm>();
  const names = new Set<string>();
  const algorithmFor = (entry: PdscAlgorithm, deviceName: string): FlashAlgorithm => {
    const key = `${entry.file.toLowerCase()}|${entry.start}|${entry.size}|${entry.default}|${entry.ram?.start}|${entry.ram?.size}|${entry.processor ?? ''}`;
    const known = algorithms.get(key);
    if (known) return known;
    let flm = flms.get(entry.file.toLowerCase());
    if (!flm) {
      const bytes = readFile(entry.file);
      if (!bytes) throw new AlgorithmError(`${file}: device ${shown(deviceName)} names flash algorithm ${shown(entry.file)}, which is not in the pack`);
      flm = algorithmFromFlm(bytes, `${file}: ${shown(entry.file)}`);
      flms.set(entry.file.toLowerCase(), flm);
    }
    const base = entry.file.split('/').pop()!.replace(/\.flm$/i, '');
    let name = names.has(base) ? `${base}@${hex(entry.start)}` : base;
    for (let n = 2; names.has(name); n++) name = `${base}@${hex(entry.start)}#${n}`;
    names.add(name);
    const algorithm = placed(flm, entry, name, `${file}: device ${shown(deviceName)}: algorithm ${shown(entry.file)}`);
    algorithms.set(key, algorithm);
    return algorithm;
  };
  const chips: ChipDescription[] = pack.devices.map((d) => {
    const coreList: CoreDescription[] = (d.processors.length ? d.processors : [{}]).map((p, i) => ({ name: p.name ?? (i === 0 ? 'main' : `core${i}`), type: coreTypeOfDcore(p.core) }));
    const memoryMap: MemoryRegion[] = d.memory.map((m) => {
      const a = m.access.toLowerCase();
      const kind = a.includes('p') ? 'generic' : a.includes('w') ? 'ram' : 'nvm';
      return { kind, name: m.key, start: m.start, size: m.size, cores: m.processor ? [m.processor] : [], access: { read: a.includes('r'), write: a.includes('w'), execute: a.includes('x'), boot: m.startup }, isAlias: false };
    });
    const own = d.algorithms.map((entry) => algorithmFor(entry, d.name));
    // A range an algorithm programs that no memory element lists (UICR, option bytes) is flash too.
    for (const a of own) {
      const inside = memoryMap.some((m) => m.kind === 'nvm' && m.start <= a.flash.start && m.start + m.size >= a.flash.start + a.flash.size);
      if (!inside) memoryMap.push({ kind: 'nvm', name: a.name, start: a.flash.start, size: a.flash.size, cores: [], access: { read: true, write: false, execute: true, boot: false }, isAlias: false });
    }
    return {
      name: d.name,
      family: d.family,
      cores: coreList.map((c) => c.type).filter(Boolean),
      coreList,
      memoryMap,
      flash: memoryMap.filter((m) => m.kind === 'nvm').map(({ start, size }) => ({ start, size })),
      ram: memoryMap.filter((m) => m.kind === 'ram').map(({ start, size }) => ({ start, size })),
      algorithms: own.map((a) => a.name),
    };
  });
  return { name: `${pack.vendor}.${pack.name}${pack.version ? ` ${pack.version}` : ''}`, file, chips, algorithms: [...algorithms.values()], chipDetection: [] };
}
