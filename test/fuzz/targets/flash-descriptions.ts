/** Flash algorithm descriptions: probe-rs target YAML, CMSIS-Pack .pdsc and .FLM files (ELF-based). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { AlgorithmError, algorithmFromFlm, type FlashAlgorithm } from '../../../core/flash/algorithm';
import { parseTargetYaml, type TargetDescription } from '../../../core/flash/target-file';
import { parsePdsc, pdscToTarget } from '../../../core/flash/pdsc';
import { ElfError } from '../../../core/elf';
import { SHF_ALLOC, SHF_EXECINSTR, SHT_NOBITS, buildElf } from '../../support/elf-builder';
import { int, pick, type FuzzTarget } from '../harness';

const enc = (text: string) => new TextEncoder().encode(text);
const dec = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Numbers worth putting where a YAML file has a number: zero, negative, fractional, huge, not a number. */
const ODD_NUMBERS = ['0x0', '0', '-1', '-0x400', '0.5', '1e300', '0xffffffff', '0x100000000', '4294967296', '9007199254740993', '.nan', '.inf', '"0x400"', 'null', '[]', '{}', '1'];

function checkAlgorithm(a: FlashAlgorithm): void {
  for (const key of ['pcInit', 'pcUninit', 'pcProgramPage', 'pcEraseSector', 'pcEraseAll', 'pcVerify', 'pcBlankCheck'] as const) {
    const v = a[key];
    if (v !== undefined && !(v >= 0 && v < a.blob.length)) throw new Error(`${a.name}: ${key} ${v} is outside the ${a.blob.length}-byte blob`);
  }
  const f = a.flash;
  let end = f.start;
  for (const s of f.sectors) {
    if (!(s.size > 0) || !Number.isInteger(s.size)) throw new Error(`${a.name}: sector at 0x${s.address.toString(16)} has size ${s.size}`);
    if (s.address < end) throw new Error(`${a.name}: sectors out of order or overlapping at 0x${s.address.toString(16)}`);
    end = s.address + s.size;
  }
  if (f.sectors.length > 1 << 22) throw new Error(`${a.name}: ${f.sectors.length} sectors`);
}

export const targetYamlTarget: FuzzTarget<TargetDescription> = {
  name: 'target-yaml',
  description: 'probe-rs target description YAML (tags, memory maps, algorithms, sector layouts)',
  shortIterations: 500,
  seeds: () => [enc(readFileSync(resolve(__dirname, '../../../core/flash/targets/nrf51.yaml'), 'utf8'))],
  mutate(input, { rng }) {
    // Replace one number in the text with an odd one: sizes, addresses, offsets, timeouts.
    const text = dec(input);
    const numbers = [...text.matchAll(/(?<=[:\s-])(0x[0-9a-fA-F]+|\d+)(?=\s*(\n|,|\}|$))/g)];
    if (!numbers.length) return input;
    const m = pick(rng, numbers);
    return enc(text.slice(0, m.index) + pick(rng, ODD_NUMBERS) + text.slice(m.index! + m[0].length));
  },
  run: (input) => parseTargetYaml(dec(input), 'fuzz.yaml'),
  expectedErrors: [AlgorithmError],
  check(t) {
    for (const a of t.algorithms) checkAlgorithm(a);
  },
  timeLimitMs: 2000,
};

/** FlashDevice (FlashOS.h) bytes: version, name, type, start, size, page size, erased value, timeouts, sectors. */
export function flashDevice(start: number, size: number, sectors: [number, number][]): Uint8Array {
  const d = new Uint8Array(160 + 8 * (sectors.length + 1));
  const v = new DataView(d.buffer);
  v.setUint16(0, 0x0101, true);
  d.set(enc('Fuzz 256kB Flash'), 2);
  v.setUint16(130, 1, true);
  v.setUint32(132, start, true);
  v.setUint32(136, size, true);
  v.setUint32(140, 1024, true);
  d[148] = 0xff;
  v.setUint32(152, 100, true);
  v.setUint32(156, 3000, true);
  sectors.forEach(([sz, addr], i) => {
    v.setUint32(160 + 8 * i, sz, true);
    v.setUint32(164 + 8 * i, addr, true);
  });
  v.setUint32(160 + 8 * sectors.length, 0xffffffff, true);
  v.setUint32(164 + 8 * sectors.length, 0xffffffff, true);
  return d;
}

export function flmSeeds(): Uint8Array[] {
  const code = Uint8Array.from({ length: 96 }, (_, i) => (0x40 + i) & 0xff);
  const symbols = ['Init', 'UnInit', 'EraseChip', 'EraseSector', 'ProgramPage', 'Verify'].map((name, i) => ({ name, value: 16 * i + 1, section: 'PrgCode' }));
  return [
    buildElf({
      sections: [
        { name: 'PrgCode', flags: SHF_ALLOC | SHF_EXECINSTR, address: 0, data: code },
        { name: 'PrgData', flags: SHF_ALLOC, address: 96, data: Uint8Array.of(1, 2, 3, 4) },
        { name: 'DevDscr', flags: SHF_ALLOC, address: 0x1000, data: flashDevice(0, 0x40000, [[0x400, 0]]) },
      ],
      symbols,
    }),
    buildElf({
      sections: [
        { name: 'PrgCode', flags: SHF_ALLOC | SHF_EXECINSTR, address: 0, data: code },
        { name: 'PrgData', type: SHT_NOBITS, flags: SHF_ALLOC, address: 128, size: 64 },
        { name: 'DevDscr', flags: SHF_ALLOC, address: 0x1000, data: flashDevice(0x08000000, 0x100000, [[0x4000, 0], [0x10000, 0x10000], [0x20000, 0x20000]]) },
      ],
      symbols,
    }),
  ];
}

export const flmTarget: FuzzTarget<FlashAlgorithm> = {
  name: 'flm',
  description: 'CMSIS-Pack .FLM flash algorithms: PrgCode/PrgData/DevDscr sections, entry symbols, FlashDevice sectors',
  shortIterations: 2000,
  seeds: flmSeeds,
  mutate(input, { rng }) {
    // Hit the FlashDevice fields and section header addresses/sizes with boundary values.
    const b = Uint8Array.from(input);
    if (b.length < 52) return b;
    const v = new DataView(b.buffer);
    const shoff = v.getUint32(32, true);
    const shnum = v.getUint16(48, true);
    const value = pick(rng, [0, 1, 4, 0x400, 0x7fffffff, 0x80000000, 0xfffffc00, 0xffffffff]);
    if (rng() < 0.5 && shnum && shoff + 40 * shnum <= b.length) {
      const h = shoff + 40 * int(rng, shnum);
      v.setUint32(h + pick(rng, [12, 16, 20]), value, true);
    } else {
      const dev = b.length - 40 * shnum - int(rng, 64);
      if (dev > 4 && dev + 4 <= b.length) v.setUint32(dev & ~3, value, true);
    }
    return b;
  },
  run: (input) => algorithmFromFlm(input, 'fuzz.flm'),
  expectedErrors: [AlgorithmError, ElfError],
  check: checkAlgorithm,
};

/** A package description in a vendor DFP's shape, written here: nesting, inheritance, both memory forms. */
const PDSC_SEED = `<?xml version="1.0" encoding="UTF-8"?>
<package schemaVersion="1.7.2">
  <vendor>FuzzVendor</vendor>
  <name>Fuzz_DFP</name>
  <releases><release version="1.0.0">seed</release></releases>
  <devices>
    <family Dfamily="Fuzz Series" Dvendor="FuzzVendor:1">
      <processor Dcore="Cortex-M4" Dfpu="SP_FPU"/>
      <memory id="IRAM1" start="0x20000000" size="0x8000" default="1"/>
      <algorithm name="Flash\\main.FLM" start="0x00000000" size="0x40000" RAMstart="0x20000000" RAMsize="0x2000" default="1"/>
      <subFamily DsubFamily="FuzzA">
        <memory id="IROM1" start="0x00000000" size="0x40000" startup="1" default="1"/>
        <device Dname="FUZZ_A1">
          <algorithm name="Flash/main.FLM" start="0x10001000" size="0x400"/>
          <variant Dvariant="FUZZ_A1_QFN"/>
          <variant Dvariant="FUZZ_A1_M0"><processor Dcore="Cortex-M0"/></variant>
        </device>
      </subFamily>
      <device Dname="FUZZ_B">
        <memory name="Flash" access="rx" start="0x08000000" size="0x20000" startup="1"/>
        <memory name="SRAM" access="rwx" start="0x20000000" size="0x4000"/>
        <algorithm name="Flash/main.FLM" start="0x08000000" size="0x20000" default="1"/>
      </device>
    </family>
  </devices>
</package>`;

let pdscFlm: Uint8Array | undefined;

const ODD_ATTRIBUTES = ['0x0', '0', '-1', '0x100000000', '0xffffffff', '0xfffffc00', '1e300', '0x', '', 'lots', '0x400', '1', 'true', 'IAR', 'Cortex-A9', '../../x.FLM', 'Flash/missing.FLM'];

export const pdscTarget: FuzzTarget<TargetDescription> = {
  name: 'pdsc',
  description: 'CMSIS-Pack .pdsc package descriptions: XML, device nesting and inheritance, memory, algorithms placed on a .FLM',
  shortIterations: 800,
  seeds: () => [enc(PDSC_SEED)],
  mutate(input, { rng }) {
    const text = dec(input);
    if (rng() < 0.2) {
      // Structure: a tag cut out (unbalanced XML) or an element dropped.
      const tags = [...text.matchAll(/<\/?[A-Za-z][^>]*>/g)];
      if (!tags.length) return input;
      const t = pick(rng, tags);
      return enc(text.slice(0, t.index) + text.slice(t.index! + t[0].length));
    }
    const attributes = [...text.matchAll(/([A-Za-z]+)="([^"]*)"/g)];
    if (!attributes.length) return input;
    const a = pick(rng, attributes);
    return enc(text.slice(0, a.index) + `${a[1]}="${pick(rng, ODD_ATTRIBUTES)}"` + text.slice(a.index! + a[0].length));
  },
  run: (input) => {
    const flm = (pdscFlm ??= flmSeeds()[0]);
    return pdscToTarget(parsePdsc(dec(input), 'fuzz.pdsc'), (path) => (/^flash\/main\.flm$/i.test(path) ? flm : undefined), 'fuzz.pdsc');
  },
  expectedErrors: [AlgorithmError, ElfError],
  check(t) {
    for (const a of t.algorithms) checkAlgorithm(a);
    for (const c of t.chips) for (const m of c.memoryMap) if (!(m.size >= 0 && m.start + m.size <= 2 ** 32)) throw new Error(`${c.name}: region ${m.name} outside 4 GiB`);
  },
  timeLimitMs: 3000,
};
