/** ELF files (core/elf) as flash images and as defmt tables with DWARF locations (decode --elf). */
import { ElfError, ElfFile, FlashImage, ImageError } from '../../../core/elf';
import { DefmtTableError, defmtTableFromElf } from '../../../core/defmt';
import { FormatStringError } from '../../../core/defmt/parser';
import { SHF_ALLOC, SHF_EXECINSTR, SHT_NOBITS, buildElf } from '../../support/elf-builder';
import { int, pick, type FuzzTarget } from '../harness';

const defmtSymbol = (tag: string, data: string, index: number) => ({ name: JSON.stringify({ package: 'app', tag, data, disambiguator: String(index), crate_name: 'app' }), value: index, section: '.defmt' });

export function elfSeeds(): Uint8Array[] {
  const code = Uint8Array.from({ length: 64 }, (_, i) => (i * 13) & 0xff);
  return [
    buildElf({ entry: 0x101, segments: [{ vaddr: 0, paddr: 0, data: code }, { vaddr: 0x20000000, paddr: 0x400, data: Uint8Array.of(1, 2, 3, 4), memSize: 16 }] }),
    buildElf({
      entry: 0x101,
      segments: [{ vaddr: 0, paddr: 0, data: code }],
      sections: [
        { name: '.text', flags: SHF_ALLOC | SHF_EXECINSTR, address: 0x100, data: code },
        { name: '.bss', type: SHT_NOBITS, flags: SHF_ALLOC, address: 0x20000000, size: 256 },
        { name: '.defmt', data: new Uint8Array(8) },
      ],
      symbols: [
        { name: 'main', value: 0x101, size: 64, section: '.text' },
        { name: '_SEGGER_RTT', value: 0x20000000, size: 64, info: 0x11, section: '.bss' },
        { name: '_defmt_version_ = 4', value: 0, section: '' },
        { name: '_defmt_encoding_ = rzcobs', value: 0, section: '' },
        defmtSymbol('defmt_info', 'tick {=u32}', 1),
        defmtSymbol('defmt_warn', '{=u8:#04x} {=str} {=[u8]:a}', 2),
        defmtSymbol('defmt_timestamp', '{=u64:us}', 3),
      ],
    }),
  ];
}

/** Header fields worth hitting with boundary values (offsets in the ELF32 header). */
const HEADER_FIELDS = [24, 28, 32, 42, 44, 46, 48, 50];

export const elfTarget: FuzzTarget<{ sections: number; symbols: number }> = {
  name: 'elf',
  description: 'ELF32 reader: header, program and section headers, string tables, symbols; flash image and defmt table from it',
  shortIterations: 3000,
  seeds: elfSeeds,
  mutate(input, { rng }) {
    const b = Uint8Array.from(input);
    if (b.length < 52) return b;
    const v = new DataView(b.buffer);
    const at = pick(rng, HEADER_FIELDS);
    const wide = at < 40;
    const value = pick(rng, [0, 1, 0xffff, 0x7fffffff, 0xffffffff, int(rng, b.length * 2), b.length - int(rng, 64)]) >>> 0;
    if (wide) v.setUint32(at, value, true);
    else v.setUint16(at, value & 0xffff, true);
    return b;
  },
  run(input) {
    const elf = new ElfFile(input, 'fuzz.elf');
    for (const s of elf.sections) if (s.type !== SHT_NOBITS && s.size < 1 << 20) elf.sectionData(s);
    try {
      FlashImage.fromElf(elf);
    } catch (err) {
      if (!(err instanceof ImageError)) throw err;
    }
    try {
      const table = defmtTableFromElf(elf);
      for (const entry of table.entries.values()) void entry.format;
    } catch (err) {
      if (!(err instanceof DefmtTableError)) throw err;
    }
    return { sections: elf.sections.length, symbols: elf.symbols.length };
  },
  expectedErrors: [ElfError, ImageError, DefmtTableError, FormatStringError],
  knownInvalid(input) {
    if (input.length < 52) return `${input.length} bytes is shorter than an ELF32 header`;
    if (input[0] !== 0x7f || input[1] !== 0x45 || input[2] !== 0x4c || input[3] !== 0x46) return 'no ELF magic';
    if (input[4] !== 1 || input[5] !== 1) return 'not ELFCLASS32 little-endian';
    if ((input[18] | (input[19] << 8)) !== 40) return 'machine is not EM_ARM';
    return null;
  },
};
