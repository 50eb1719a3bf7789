/** SystemView decoding against the documented packet format (test/vectors/systemview). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SV, SystemViewDecoder, encodeVarint } from '../../../core/trace/systemview';

const vectors = JSON.parse(readFileSync(resolve(__dirname, '../../vectors/systemview/packets.json'), 'utf8'));
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

describe('SystemView decoder', () => {
  it('encodes varints as documented', () => {
    for (const v of vectors.varints) expect(Buffer.from(encodeVarint(v.value)).toString('hex')).toBe(v.hex.replace(/ /g, ''));
  });

  for (const p of vectors.packets) {
    it(p.why, () => {
      const d = new SystemViewDecoder();
      const [packet, ...rest] = d.push(hex(p.hex));
      expect(rest).toEqual([]);
      expect(packet.id).toBe(p.id);
      expect(packet.params).toEqual(p.params);
      expect(packet.time).toBe(p.delta);
      if (p.text !== undefined) expect(packet.text).toBe(p.text);
      expect(d.stats.malformed).toBe(0);
    });
  }

  it('accumulates timestamps, reads INIT, and splits packets across chunks at every byte', () => {
    const all = vectors.packets.map((p: { hex: string }) => hex(p.hex));
    const stream = Uint8Array.from(all.flatMap((b: Uint8Array) => Array.from(b)));
    const total = vectors.packets.reduce((n: number, p: { delta: number }) => n + p.delta, 0);
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new SystemViewDecoder();
      const packets = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(packets.map((p) => p.id)).toEqual(vectors.packets.map((p: { id: number }) => p.id));
      expect(packets[packets.length - 1].time).toBe(total);
      expect([d.sysFreq, d.cpuFreq, d.ramBase, d.idShift]).toEqual([16000000, 16000000, 0x20000000, 2]);
      expect(d.stats.dropped).toBe(500);
    }
  });

  it('treats NOPs (the sync mark) as single bytes without timestamps', () => {
    const d = new SystemViewDecoder();
    const packets = d.push(Uint8Array.from([...hex(vectors.sync), ...hex('02 0f 50')]));
    expect(packets).toEqual([{ id: SV.ISR_ENTER, time: 80, params: [15] }]);
  });

  it('skips a malformed packet to the next sync mark and counts what it skipped', () => {
    const d = new SystemViewDecoder();
    // 23 (DATA_SAMPLE) has no fixed layout and no length: the stream cannot be followed past it.
    const bad = hex('17 05 06 07 03 20');
    const packets = d.push(Uint8Array.from([...hex('02 0f 50'), ...bad, ...hex(vectors.sync), ...hex('03 20')]));
    expect(packets.map((p) => p.id)).toEqual([SV.ISR_ENTER, SV.ISR_EXIT]);
    expect(d.stats.malformed).toBe(1);
    expect(d.stats.skippedBytes).toBe(bad.length - 1);
  });

  it('refuses varints longer than 32 bits and absurd lengths, without throwing', () => {
    const d = new SystemViewDecoder();
    expect(d.push(hex('02 ff ff ff ff ff 01'))).toEqual([]);
    expect(d.stats.malformed).toBe(1);
    const e = new SystemViewDecoder(64);
    expect(e.push(hex('80 08 ff 7f 00'))).toEqual([]);
    expect(e.stats.malformed).toBe(1);
  });

  it('survives 200 000 random and mutated packets', () => {
    let s = 12345;
    const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const d = new SystemViewDecoder();
    const valid = vectors.packets.map((p: { hex: string }) => hex(p.hex));
    for (let n = 0; n < 200_000; n++) {
      const base = valid[Math.floor(rand() * valid.length)];
      const bytes = Uint8Array.from(base);
      if (rand() < 0.3) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      d.push(rand() < 0.05 ? hex(vectors.sync) : bytes);
    }
    expect(d.stats.packets).toBeGreaterThan(20_000); // it resynchronises again and again
    expect(d.stats.malformed).toBeGreaterThan(0);
  });
});

describe('SystemView channels', () => {
  it('pairs the SysView up channel with the down channel of the same index, else one named SysView', async () => {
    const { findSysViewChannels } = await import('../../../core/trace/systemview');
    const ch = (names: string[]) => names.map((name, index) => ({ index, name }));
    expect(findSysViewChannels({ up: ch(['Terminal', 'SysView']), down: ch(['Terminal', 'SysView']) })).toEqual({ up: 1, down: 1 });
    expect(findSysViewChannels({ up: ch(['Terminal', 'Text', 'SysView']), down: ch(['Terminal', 'SysView']) })).toEqual({ up: 2, down: 1 });
    expect(findSysViewChannels({ up: ch(['Terminal']), down: ch(['Terminal']) })).toBeNull();
    expect(findSysViewChannels({ up: ch(['Terminal', 'SysView']), down: ch(['Terminal']) })).toBeNull();
  });
});

describe('SystemView printed messages', () => {
  it('decodes PRINT_FORMATTED as the host formats it (string, options, argument count, varint args)', async () => {
    const { decodePrintFormatted, SV, encodeVarint } = await import('../../../core/trace/systemview');
    const { SystemViewTrace } = await import('../../../core/trace/session');
    const text = 'adc %u: %04x (%d%%)';
    const payload = [text.length, ...Array.from(text, (c) => c.charCodeAt(0)), ...encodeVarint(1), ...encodeVarint(3), ...encodeVarint(2), ...encodeVarint(0xbeef), ...encodeVarint(-5 >>> 0)];
    expect(decodePrintFormatted(Uint8Array.from(payload))).toEqual({ level: 'warning', text: 'adc 2: beef (-5%)' });
    // As a packet: ID 26 carries a length (IDs ≥ 24).
    const packet = [SV.PRINT_FORMATTED, ...encodeVarint(payload.length), ...payload, 0x05];
    const trace = new SystemViewTrace();
    const seen: string[] = [];
    trace.onMessage = (m) => seen.push(`${m.level}: ${m.text}`);
    trace.push(Uint8Array.from(packet));
    expect(seen).toEqual(['warning: adc 2: beef (-5%)']);
  });

  it('holds a print field width to SEGGER_SYSVIEW_MAX_STRING_LEN (128) instead of failing the trace', async () => {
    const { decodePrintFormatted, SV, encodeVarint, SV_MAX_STRING_LEN } = await import('../../../core/trace/systemview');
    const { SystemViewTrace, statsRows } = await import('../../../core/trace/session');
    const text = 'n=%0999999999d';
    const payload = [text.length, ...Array.from(text, (c) => c.charCodeAt(0)), ...encodeVarint(0), ...encodeVarint(1), ...encodeVarint(42)];
    expect(decodePrintFormatted(Uint8Array.from(payload))).toEqual({ level: 'log', text: `n=${'42'.padStart(SV_MAX_STRING_LEN, '0')}` });
    // In a stream: the message, then an ISR run; the statistics still come out.
    const trace = new SystemViewTrace();
    trace.push(Uint8Array.from([SV.PRINT_FORMATTED, ...encodeVarint(payload.length), ...payload, 0x05, SV.ISR_ENTER, ...encodeVarint(15), 0x10, SV.ISR_EXIT, 0x20]));
    expect(statsRows(trace).find((r) => r.lane === 'SysTick')).toMatchObject({ activations: 1 });
  });
});
