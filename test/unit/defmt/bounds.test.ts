/**
 * Decoder bounds: a raw (non-rzCOBS) stream whose frame never completes is bounded like an rzCOBS
 * frame without its delimiter (counted as malformed, then resynchronised), and a display hint's
 * zero-pad width is refused past what any value can need instead of building a gigabyte string.
 */
import { describe, expect, it } from 'vitest';
import { DefmtStream, DefmtTable, FrameDecoder } from '../../../core/defmt';
import { FormatStringError, MAX_ZERO_PAD, parseFormat } from '../../../core/defmt/parser';
import { symbolsFor } from '../../support/defmt';

// Raw encoding, version 4: a frame is a u16 index then the arguments (no timestamp in this table).
const raw = DefmtTable.fromSymbols(symbolsFor({ 1: ['defmt_info', 'tick {=u32}'], 2: ['defmt_info', 'text {=__internal_Display}'] }, { encoding: 'raw' }), 'raw.elf');
const tick = (n: number) => Uint8Array.from([1, 0, n & 0xff, (n >> 8) & 0xff, 0, 0]);

describe('raw defmt stream bounds', () => {
  it('loses one unterminated string frame, not the rest of the stream', () => {
    const stream = new DefmtStream(raw);
    // Index 2 (preformatted text) whose 0xFF terminator never comes; then 20 000 good frames,
    // none holding a 0xFF byte (counters below 0xfe).
    const bad = Uint8Array.from([2, 0, 0x41, 0x42, 0x43]);
    const good: Uint8Array[] = [];
    for (let n = 0; n < 20_000; n++) good.push(tick(n % 0xfe));
    const records: string[] = [];
    let errors = 0;
    for (const e of stream.push(bad)) if (e.kind === 'error') errors++;
    for (let i = 0; i < good.length; i += 500) {
      for (const e of stream.push(Buffer.concat(good.slice(i, i + 500)))) {
        if (e.kind === 'record') records.push(e.record.message);
        else errors++;
      }
    }
    // Without a bound, every frame after the bad one is held back waiting for its 0xFF.
    expect(stream.pendingBytes).toBeLessThanOrEqual(stream.maxFrame);
    expect(errors).toBeGreaterThan(0);
    expect(stream.stats.malformed + stream.stats.unknownIndex).toBe(errors);
    expect(stream.stats.frames).toBe(records.length);
    // Everything past the first maxFrame bytes (and the resynchronisation) comes through, in order.
    const lost = Math.ceil((stream.maxFrame + 64) / 6);
    expect(records.length).toBeGreaterThan(20_000 - lost);
    expect(records.at(-1)).toBe(`tick ${(20_000 - 1) % 0xfe}`);
  });
});

describe('display hint widths', () => {
  it('refuses a zero-pad width larger than any value needs, with the format string named', () => {
    expect(() => parseFormat('{=u8:0999999999}')).toThrow(FormatStringError);
    expect(() => parseFormat('{=u8:0999999999}')).toThrow('malformed defmt format string "{=u8:0999999999}": zero-pad width 999999999 in display hint ":0999999999" is larger than 255');
    expect(() => parseFormat(`{=u8:0${MAX_ZERO_PAD}x}`)).not.toThrow();
  });

  it('turns a frame using such a format string into one malformed-frame event', () => {
    const table = DefmtTable.fromSymbols(symbolsFor({ 1: ['defmt_info', 'v={=u8:0999999999}'], 2: ['defmt_info', 'ok {=u8:04}'] }, { encoding: 'raw' }), 'pad.elf');
    const stream = new DefmtStream(table);
    const events = stream.push(Uint8Array.from([1, 0, 7, 2, 0, 9]));
    expect(events[0]).toMatchObject({ kind: 'error', reason: expect.stringMatching(/zero-pad width 999999999/) });
    expect(events.filter((e) => e.kind === 'record').map((e) => (e.kind === 'record' ? e.record.message : ''))).toContain('ok 0009');
    expect(new FrameDecoder(table).decode(Uint8Array.from([2, 0, 9])).message).toBe('ok 0009');
  });
});
