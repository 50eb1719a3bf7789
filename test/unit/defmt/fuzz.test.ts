/** Random and mutated input never throws or hangs the stream decoder; counters stay consistent. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DefmtStream, DefmtTable, rzcobsEncode } from '../../../core/defmt';
import { symbolsFor } from '../../support/defmt';

const frames = JSON.parse(readFileSync(resolve(__dirname, '../../vectors/defmt/frames.json'), 'utf8'));
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

/** xorshift32: deterministic, seeded. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

describe('defmt fuzz', () => {
  for (const encoding of ['rzcobs', 'raw'] as const) {
    it(`survives 100 000 random and mutated frames (${encoding})`, () => {
      const table = DefmtTable.fromSymbols(symbolsFor(frames.table, { encoding }), 'fuzz.elf');
      const stream = new DefmtStream(table);
      const rand = rng(encoding === 'raw' ? 7 : 42);
      const valid = frames.cases.map((c: { frame: string }) => hex(c.frame));
      let records = 0;
      let errors = 0;
      const count = 100_000;
      for (let n = 0; n < count; n++) {
        let frame: Uint8Array;
        const pick = rand();
        if (pick < 0.4) {
          frame = Uint8Array.from(valid[Math.floor(rand() * valid.length)]);
          const flips = 1 + Math.floor(rand() * 3);
          for (let f = 0; f < flips; f++) frame[Math.floor(rand() * frame.length)] = Math.floor(rand() * 256);
        } else if (pick < 0.7) {
          frame = Uint8Array.from({ length: Math.floor(rand() * 24) }, () => Math.floor(rand() * 256));
        } else {
          const base = valid[Math.floor(rand() * valid.length)];
          frame = base.subarray(0, Math.floor(rand() * (base.length + 1)));
        }
        const bytes = encoding === 'rzcobs' ? Uint8Array.from([...rzcobsEncode(frame), 0]) : frame;
        // Occasionally raw garbage straight onto the wire, delimiters included.
        const wire = rand() < 0.1 ? Uint8Array.from({ length: 8 }, () => Math.floor(rand() * 256)) : bytes;
        for (const e of stream.push(wire)) {
          if (e.kind === 'record') records++;
          else errors++;
        }
      }
      expect(records).toBeGreaterThan(0);
      expect(errors).toBeGreaterThan(0);
      expect(stream.stats.frames).toBe(records);
      expect(stream.stats.malformed + stream.stats.unknownIndex).toBe(errors);
    });
  }
});
