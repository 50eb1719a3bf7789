/** The ELF reader on files built here: sections, symbols, and names from crafted string tables. */
import { describe, expect, it } from 'vitest';
import { ElfFile } from '../../../core/elf';
import { SHF_ALLOC, SHF_EXECINSTR, SHT_NOBITS, buildElf, longSectionNameElf } from '../../support/elf-builder';

describe('ELF sections and symbols', () => {
  it('reads section and symbol names from their string tables', () => {
    const bytes = buildElf({
      sections: [
        { name: '.text', flags: SHF_ALLOC | SHF_EXECINSTR, address: 0x100, data: Uint8Array.of(1, 2, 3, 4) },
        { name: '.bss', type: SHT_NOBITS, flags: SHF_ALLOC, address: 0x20000000, size: 64 },
      ],
      symbols: [
        { name: 'main', value: 0x101, size: 4, section: '.text' },
        { name: 'BUFFER', value: 0x20000000, size: 64, info: 0x11, section: '.bss' },
      ],
    });
    const elf = new ElfFile(bytes, 'small.elf');
    expect(elf.sections.map((s) => s.name)).toEqual(['', '.text', '.bss', '.symtab', '.strtab', '.shstrtab']);
    expect(Array.from(elf.sectionData(elf.section('.text')!))).toEqual([1, 2, 3, 4]);
    expect(elf.symbol('main')).toMatchObject({ value: 0x101, size: 4, section: '.text', type: 2, binding: 1 });
    expect(elf.symbol('BUFFER')).toMatchObject({ value: 0x20000000, section: '.bss', type: 1 });
  });

  it('reads a crafted 500 KB ELF whose 9998 section names share one unterminated 100 KB run (in linear time)', () => {
    // Scanning every name to its NUL made this (sections × run length) work: over 30 s for 500 KB.
    // Its speed is a benchmark row (bench/elf.ts); this checks the result.
    const { bytes, sections, runLength } = longSectionNameElf(500_000);
    expect(bytes.length).toBeGreaterThan(490_000);
    const elf = new ElfFile(bytes, 'crafted.elf');
    expect(elf.sections).toHaveLength(sections);
    // Section i names offset 1 + i: the rest of the run, to the end of the table (no NUL).
    expect(elf.sections[1].name).toBe('A'.repeat(runLength - 2));
    expect(elf.sections[sections - 1].name.length).toBe(runLength - 1 - ((sections - 1) % (runLength - 1)));
    expect(elf.section('PrgCode')).toBeUndefined();
  });

  it('stops a name at its NUL, at the end of its table, and at the end of the file', () => {
    const bytes = buildElf({ sections: [{ name: 'PrgCode', data: Uint8Array.of(0) }, { name: 'DevDscr', data: Uint8Array.of(0) }] });
    const elf = new ElfFile(bytes, 'names.elf');
    expect(elf.section('PrgCode')?.index).toBe(1);
    expect(elf.section('DevDscr')?.index).toBe(2);
    expect(elf.section('PrgCod')).toBeUndefined();
  });
});
