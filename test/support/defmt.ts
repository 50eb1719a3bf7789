/** Helpers for defmt tests: a symbol list as an ELF with a defmt table would have it. */
import type { DefmtSymbol } from '../../core/defmt';

export function symbolsFor(table: Record<string, [string, string]>, opts: { version?: string; timestamp?: string; encoding?: string } = {}): DefmtSymbol[] {
  const symbols: DefmtSymbol[] = Object.entries(table).map(([index, [tag, data]]) => ({
    name: JSON.stringify({ package: 'app', tag, data, disambiguator: String(1000 + Number(index)), crate_name: 'app' }),
    address: Number(index),
    section: '.defmt',
  }));
  symbols.push({ name: `_defmt_version_ = ${opts.version ?? '4'}`, address: 0, section: '' });
  symbols.push({ name: `_defmt_encoding_ = ${opts.encoding ?? 'rzcobs'}`, address: 0, section: '' });
  if (opts.timestamp) {
    symbols.push({ name: JSON.stringify({ package: 'app', tag: 'defmt_timestamp', data: opts.timestamp, disambiguator: '1', crate_name: 'app' }), address: 500, section: '.defmt' });
  }
  return symbols;
}
