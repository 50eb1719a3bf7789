/** Shared by the browser benchmark page and its worker: a defmt table, frames, and the decode path. */
import { DefmtStream, DefmtTable, rzcobsEncode } from '../../core/defmt';
import { formatLine } from './ui/format';
import type { LogLine } from './device/protocol';

export function table(): DefmtTable {
  const rows: [number, string, string][] = [
    [1, 'defmt_info', 'tick {=u32}'],
    [2, 'defmt_debug', 'adc ch{=u8} raw={=u16} mv={=i32}'],
    [3, 'defmt_warn', 'temperature {=u16} high, limit {=u16}'],
    [4, 'defmt_error', 'fault at {=u32:#x}'],
  ];
  const symbols = rows.map(([i, tag, data]) => ({ name: JSON.stringify({ package: 'b', tag, data, disambiguator: String(i), crate_name: 'b' }), address: i, section: '.defmt' }));
  symbols.push({ name: '_defmt_version_ = 4', address: 0, section: '' }, { name: '_defmt_encoding_ = rzcobs', address: 0, section: '' });
  symbols.push({ name: JSON.stringify({ package: 'b', tag: 'defmt_timestamp', data: '{=u32:us}', disambiguator: '0', crate_name: 'b' }), address: 9, section: '.defmt' });
  const t = DefmtTable.fromSymbols(symbols, 'bench.elf');
  for (const [i] of rows) t.locations.set(i, { file: 'src/main.rs', line: 10 + i, module: 'app::sensors' });
  return t;
}

export function frames(n: number): Uint8Array {
  const parts: number[] = [];
  const u16 = (v: number) => [v & 0xff, (v >> 8) & 0xff];
  const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
  for (let k = 0; k < n; k++) {
    const kind = k % 10;
    const ts = u32(k * 1000);
    const f = kind < 6 ? [...u16(1), ...ts, ...u32(k)] : kind < 8 ? [...u16(2), ...ts, k & 7, ...u16(k * 13), ...u32(k * 977)] : kind < 9 ? [...u16(3), ...ts, ...u16(k & 0xfff), ...u16(85)] : [...u16(4), ...ts, ...u32(0x08000000 + k)];
    parts.push(...rzcobsEncode(Uint8Array.from(f)), 0);
  }
  return Uint8Array.from(parts);
}

/** Decode the wire bytes in 1 KiB chunks (as RTT polls deliver them) into terminal text batches. */
export function decodeToText(t: DefmtTable | DefmtStream, wire: Uint8Array): string[] {
  const stream = t instanceof DefmtStream ? t : new DefmtStream(t);
  const out: string[] = [];
  let seq = 0;
  for (let p = 0; p < wire.length; p += 1024) {
    const batch: string[] = [];
    for (const e of stream.push(wire.subarray(p, p + 1024))) {
      if (e.kind !== 'record') continue;
      const r = e.record;
      const line: LogLine = { seq: seq++, channel: 0, level: r.level ?? null, timestamp: r.timestamp ?? null, message: r.message, location: r.location ? `${r.location.file}:${r.location.line}` : null, module: r.location?.module ?? null };
      batch.push(formatLine(line, true));
    }
    if (batch.length) out.push(batch.join('\n') + '\n');
  }
  return out;
}
