/**
 * ELF reading of crafted files: section names that all run into one long unterminated string
 * (issue 10, item 9: 100 KB took 5 s and 500 KB over 30 s when each name was scanned to its NUL).
 * Wall-clock figures: this machine's CPU, not modeled.
 */
import { ElfFile } from '../core/elf/elf';
import { longSectionNameElf } from '../test/support/elf-builder';

export async function benchElf(): Promise<object[]> {
  const rows: object[] = [];
  for (const size of [100_000, 500_000, 2_000_000]) {
    const { bytes, sections, runLength } = longSectionNameElf(size);
    const times: number[] = [];
    for (let rep = 0; rep < 5; rep++) {
      const started = performance.now();
      new ElfFile(bytes, 'crafted.elf');
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    rows.push({ bench: 'elf-crafted-section-names', bytes: bytes.length, sections, nameRunBytes: runLength, medianMs: Number(times[2].toFixed(1)), measured: 'wall clock, this machine' });
  }
  return rows;
}
