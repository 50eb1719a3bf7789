/** Presentation: probe-rs-style lines, templates, env_logger filters, JSON. */
import { describe, expect, it } from 'vitest';
import { DefmtTable, FrameDecoder } from '../../../core/defmt';
import { checkTemplate, formatRecord, parseFilter, passes, recordToJson } from '../../../core/defmt/present';
import { symbolsFor } from '../../support/defmt';

const table = DefmtTable.fromSymbols(symbolsFor({ 1: ['defmt_warn', 'x={=u8} big={=u64}'], 2: ['defmt_println', 'plain'] }, { timestamp: '{=u32:ms}' }), 't.elf');
table.locations.set(1, { file: 'src/net/mod.rs', line: 42, module: 'app::net' });
const decoder = new FrameDecoder(table);
// index 1, timestamp 1234 ms, u8 7, u64 2^60
const record = decoder.decode(Uint8Array.from([1, 0, 0xd2, 4, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0x10]));

describe('defmt presentation', () => {
  it('prints probe-rs style lines, with and without location, timestamps and colour', () => {
    expect(formatRecord(record)).toBe('1.234 WARN  x=7 big=1152921504606846976\n└─ app::net @ src/net/mod.rs:42');
    expect(formatRecord(record, { location: false, timestamps: false })).toBe('WARN  x=7 big=1152921504606846976');
    expect(formatRecord(record, { colour: true, location: false })).toBe('1.234 \x1b[33mWARN \x1b[0m x=7 big=1152921504606846976');
  });

  it('fills templates and refuses unknown placeholders', () => {
    expect(formatRecord(record, { format: '[{L}] {f}:{l} {s} ({module})' })).toBe('[WARN ] mod.rs:42 x=7 big=1152921504606846976 (app::net)');
    expect(() => checkTemplate('{t} {nope}')).toThrow(/unknown placeholder \{nope\}/);
  });

  it('filters like env_logger: default level, longest module prefix, off', () => {
    const at = (level: 'trace' | 'info' | 'warn', module: string) => ({ level, location: { module } });
    const f = parseFilter('warn,app::net=trace,app::net::noisy=off');
    expect(passes(f, at('info', 'app'))).toBe(false);
    expect(passes(f, at('warn', 'app'))).toBe(true);
    expect(passes(f, at('trace', 'app::net::tcp'))).toBe(true);
    expect(passes(f, at('warn', 'app::net::noisy'))).toBe(false);
    expect(passes(f, at('trace', 'app::network'))).toBe(false); // a prefix is a whole path segment
    expect(passes(f, { level: undefined })).toBe(true); // println-style records always show
    const only = parseFilter('app::net');
    expect(passes(only, at('trace', 'app::net'))).toBe(true);
    expect(passes(only, at('warn', 'other'))).toBe(false);
    expect(() => parseFilter('app=loud')).toThrow('unknown log level "loud" in filter "app=loud"');
  });

  it("takes env_logger's /REGEX suffix on the message, and refuses a bad one", () => {
    const f = parseFilter('info/^tick [13]$');
    expect(passes(f, { level: 'info', message: 'tick 1' })).toBe(true);
    expect(passes(f, { level: 'info', message: 'tick 2' })).toBe(false);
    expect(passes(f, { level: 'debug', message: 'tick 3' })).toBe(false);
    expect(passes(parseFilter('/boot'), { message: 'println at boot' })).toBe(true);
    expect(passes(parseFilter('/boot'), { message: 'println' })).toBe(false);
    expect(() => parseFilter('info/regex[')).toThrow(/^invalid regular expression "regex\[" in filter "info\/regex\[": /);
  });

  it('writes JSON with typed args (big integers as strings)', () => {
    expect(JSON.parse(recordToJson(record, 0))).toEqual({
      channel: 0,
      level: 'warn',
      timestamp: '1.234',
      message: 'x=7 big=1152921504606846976',
      args: [7, '1152921504606846976'],
      location: { file: 'src/net/mod.rs', line: 42, module: 'app::net' },
      index: 1,
    });
  });
});
