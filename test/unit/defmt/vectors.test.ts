/** The defmt decoder against hand-derived wire-format vectors (test/vectors/defmt). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DefmtStream, DefmtTable, FrameDecoder, rzcobsDecode, rzcobsEncode } from '../../../core/defmt';
import { symbolsFor } from '../../support/defmt';

const VECTORS = resolve(__dirname, '../../vectors/defmt');
const frames = JSON.parse(readFileSync(resolve(VECTORS, 'frames.json'), 'utf8'));
const rzcobs = JSON.parse(readFileSync(resolve(VECTORS, 'rzcobs.json'), 'utf8'));

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

describe('defmt frames', () => {
  const table = DefmtTable.fromSymbols(symbolsFor(frames.table), 'vectors.elf');
  const decoder = new FrameDecoder(table);

  for (const c of frames.cases) {
    it(`${c.message} — ${c.why}`, () => {
      const record = decoder.decode(hex(c.frame));
      expect(record.message).toBe(c.message);
      expect(record.level).toBe(c.level);
    });
  }

  for (const c of frames.malformed) {
    it(`refuses: ${c.why}`, () => {
      expect(() => decoder.decode(hex(c.frame))).toThrow(/./);
    });
  }

  it('reports an unknown index as such', () => {
    expect(() => decoder.decode(hex(frames.unknown[0].frame))).toThrow(/unknown defmt string index 99/);
  });

  it('decodes the timestamp before the message', () => {
    const ts = frames.timestamp;
    const t = DefmtTable.fromSymbols(symbolsFor(ts.table, { timestamp: ts.format }), 'ts.elf');
    const record = new FrameDecoder(t).decode(hex(ts.frame));
    expect(record.timestamp).toBe(ts.timestamp);
    expect(record.message).toBe(ts.message);
  });
});

describe('defmt table', () => {
  it('refuses an ELF without a defmt table, and unsupported versions', () => {
    expect(() => DefmtTable.fromSymbols([{ name: 'main', address: 0x100, section: '.text' }], 'plain.elf')).toThrow(
      'plain.elf: the ELF has no defmt table (no .defmt symbols) — was it built with defmt?',
    );
    expect(() => DefmtTable.fromSymbols(symbolsFor({ '1': ['defmt_info', 'x'] }, { version: '2' }), 'old.elf')).toThrow(
      'old.elf: defmt wire format version 2 is not supported (this decoder supports versions 3 and 4)',
    );
    const noVersion = symbolsFor({ '1': ['defmt_info', 'x'] }).filter((s) => !s.name.startsWith('_defmt_version_'));
    expect(() => DefmtTable.fromSymbols(noVersion, 'nover.elf')).toThrow(/no defmt version symbol/);
  });
});

describe('rzCOBS', () => {
  for (const c of rzcobs.cases) {
    it(`${c.decoded || '(empty)'} ⇄ ${c.encoded} — ${c.why}`, () => {
      expect(Buffer.from(rzcobsEncode(hex(c.decoded))).toString('hex')).toBe(c.encoded);
      const back = rzcobsDecode(hex(c.encoded));
      expect(Buffer.from(back.subarray(0, hex(c.decoded).length)).toString('hex')).toBe(c.decoded);
      expect(back.subarray(hex(c.decoded).length).every((b) => b === 0)).toBe(true);
    });
  }

  it('streams frames split at every possible chunk boundary', () => {
    const table = DefmtTable.fromSymbols(symbolsFor(frames.table), 'vectors.elf');
    const wire: number[] = [];
    for (const c of frames.cases) wire.push(...rzcobsEncode(hex(c.frame)), 0);
    const expected = frames.cases.map((c: { message: string }) => c.message);
    for (let split = 1; split < wire.length; split += 7) {
      const stream = new DefmtStream(table);
      const messages: string[] = [];
      for (let i = 0; i < wire.length; i += split) {
        for (const e of stream.push(Uint8Array.from(wire.slice(i, i + split)))) if (e.kind === 'record') messages.push(e.record.message);
      }
      expect(messages).toEqual(expected);
      expect(stream.stats).toMatchObject({ frames: expected.length, malformed: 0 });
    }
  });

  it('skips and counts a corrupt frame, then resyncs at the next delimiter', () => {
    const table = DefmtTable.fromSymbols(symbolsFor(frames.table), 'vectors.elf');
    const stream = new DefmtStream(table);
    const good = rzcobsEncode(hex('0200 2c01'));
    const events = stream.push(Uint8Array.from([...good, 0, 0x05, 0x63, 0x00, 0x00, ...good, 0]));
    expect(events.map((e) => e.kind)).toEqual(['record', 'error', 'record']);
    expect(stream.stats).toMatchObject({ frames: 2, malformed: 1 });
  });

  it('decodes a raw (unframed) stream, resyncing byte by byte after garbage', () => {
    const table = DefmtTable.fromSymbols(symbolsFor(frames.table, { encoding: 'raw' }), 'raw.elf');
    const stream = new DefmtStream(table);
    const messages: string[] = [];
    for (const chunk of [hex('0200 2c'), hex('01 0100 0300 efbeadde 05')]) {
      for (const e of stream.push(chunk)) if (e.kind === 'record') messages.push(e.record.message);
    }
    expect(messages).toEqual(['The answer is 300!', 'Hello, world!', '0xdeadbeef 00000101']);
  });
});
