/**
 * The .debug_frame reader against GNU readelf's own interpretation of the same section
 * (`readelf --debug-dump=frames-interp`, binutils): for every row of every FDE in the built
 * samples, the CFA rule and each register's rule at that address must be what readelf says.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CallFrameTable, type RegisterRule } from '../../../core/elf/cfi';
import { ElfFile } from '../../../core/elf/elf';
import { firmwarePath } from '../../support/firmware';

interface ReadelfRow {
  loc: number;
  cfa: string;
  regs: Map<number, string>;
}

function readelfRows(file: string): ReadelfRow[] {
  const text = execFileSync('readelf', ['--debug-dump=frames-interp', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const rows: ReadelfRow[] = [];
  let columns: number[] = [];
  let dropped = false;
  for (const line of text.split('\n')) {
    const fde = /FDE cie=\S+ pc=([0-9a-f]+)\.\./.exec(line);
    // FDEs of code the linker dropped keep address 0 and overlap real code: not a lookup's business.
    if (fde) dropped = parseInt(fde[1], 16) === 0;
    if (dropped) continue;
    if (/^\s+LOC\s+CFA/.test(line)) {
      columns = line.trim().split(/\s+/).slice(2).map((n) => (n === 'ra' ? 14 : Number(n.slice(1))));
      continue;
    }
    const m = /^([0-9a-f]{8}) (\S+)\s*(.*)$/.exec(line);
    if (!m || !columns || /FDE|CIE/.test(line)) continue;
    const cells = m[3].trim() ? m[3].trim().split(/\s+/) : [];
    rows.push({ loc: parseInt(m[1], 16), cfa: m[2], regs: new Map(cells.map((c, i) => [columns[i], c])) });
  }
  return rows;
}

/** Our rule in readelf's notation: u (none/undefined), s (same), c-8 (at CFA-8), v+8, rN. */
function notation(rule: RegisterRule | undefined): string {
  if (!rule || rule.kind === 'undefined') return 'u';
  if (rule.kind === 'same') return 's';
  if (rule.kind === 'offset') return `c${rule.offset >= 0 ? '+' : ''}${rule.offset}`;
  if (rule.kind === 'val-offset') return `v${rule.offset >= 0 ? '+' : ''}${rule.offset}`;
  if (rule.kind === 'register') return `r${rule.register}`;
  return 'exp';
}

describe.each([
  ['panic', 'lm3s6965evb'],
  ['selftest', 'microbit'],
] as const)('CFI of %s-%s equals readelf\'s interpretation', (sample, board) => {
  it('every FDE row: CFA and saved registers', () => {
    const file = firmwarePath(sample, board);
    const table = CallFrameTable.fromElf(new ElfFile(readFileSync(file), file));
    const rows = readelfRows(file);
    expect(rows.length).toBeGreaterThan(50);
    expect(table.size).toBeGreaterThan(100);
    for (const r of rows) {
      const row = table.rowAt(r.loc);
      expect(row, `0x${r.loc.toString(16)}`).not.toBeNull();
      const cfa = 'register' in row!.cfa ? `r${row!.cfa.register}+${row!.cfa.offset}` : 'exp';
      expect(cfa, `CFA at 0x${r.loc.toString(16)}`).toBe(r.cfa);
      for (const [reg, want] of r.regs) expect(notation(row!.registers.get(reg)), `r${reg} at 0x${r.loc.toString(16)}`).toBe(want);
    }
  });
});
