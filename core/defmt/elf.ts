/** A defmt table from an ELF: the interned strings from its symbols, locations from its DWARF. */
import { ElfFile } from '../elf/elf';
import { defmtLocations } from '../elf/dwarf';
import { DefmtTable } from './table';

export function defmtTableFromElf(elf: ElfFile): DefmtTable {
  const table = DefmtTable.fromSymbols(
    elf.symbols.map((s) => ({ name: s.name, address: s.value, section: s.section })),
    elf.name,
  );
  for (const [index, location] of defmtLocations(elf)) {
    if (table.entries.has(index)) table.locations.set(index, location);
  }
  return table;
}

/** Like defmtTableFromElf, for raw ELF bytes. */
export function loadDefmtTable(bytes: Uint8Array, file: string): DefmtTable {
  return defmtTableFromElf(new ElfFile(bytes, file));
}
