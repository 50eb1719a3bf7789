/** Routing an RTT stream by channel: defmt records, text lines, SystemView bytes; resets. */
import { describe, expect, it } from 'vitest';
import { DefmtTable, rzcobsEncode, type StreamEvent } from '../../../core/defmt';
import { ChannelRouter, type ChannelSinks } from '../../../core/capture/router';
import type { UpData } from '../../../core/rtt/session';

const table = DefmtTable.fromSymbols(
  [
    { name: JSON.stringify({ package: 't', tag: 'defmt_info', data: 'value {=u8}', disambiguator: '1', crate_name: 't' }), address: 1, section: '.defmt' },
    { name: '_defmt_version_ = 4', address: 0, section: '' },
    { name: '_defmt_encoding_ = rzcobs', address: 0, section: '' },
  ],
  'test.elf',
);
const frame = (v: number) => Uint8Array.from([...rzcobsEncode(Uint8Array.of(1, 0, v)), 0]);
const text = (s: string) => new TextEncoder().encode(s);
const chunk = (channel: number, data: Uint8Array) => ({ channel, data }) as unknown as UpData;

function recorder() {
  const seen: string[] = [];
  const sinks: ChannelSinks = {
    defmt: (channel, events: StreamEvent[]) => events.forEach((e) => seen.push(`${channel} ${e.kind === 'record' ? e.record.message : `error: ${e.reason}`}`)),
    text: (channel, lines) => lines.forEach((l) => seen.push(`${channel} text ${l}`)),
    trace: (channel, data) => seen.push(`${channel} trace ${data.length} bytes`),
  };
  return { seen, sinks };
}

describe('channel router', () => {
  it('decodes the defmt channel, splits the others into lines and hands SystemView bytes over raw', () => {
    const router = new ChannelRouter({ table, defmtChannel: 0 });
    router.traceChannel = 1;
    const { seen, sinks } = recorder();
    const two = frame(7);
    router.route([chunk(0, two.subarray(0, 2)), chunk(2, text('hel')), chunk(1, Uint8Array.of(4, 5, 6))], sinks);
    router.route([chunk(0, two.subarray(2)), chunk(2, text('lo\nnext'))], sinks);
    expect(seen).toEqual(['1 trace 3 bytes', '0 value 7', '2 text hello']);
    expect(router.defmtStats).toMatchObject({ frames: 1, malformed: 0 });
  });

  it('delivers only the chosen channels, and shows the defmt channel as text without a table', () => {
    const router = new ChannelRouter({ table: null, defmtChannel: 0, channels: [0] });
    const { seen, sinks } = recorder();
    router.route([chunk(0, text('plain\n')), chunk(2, text('hidden\n'))], sinks);
    expect(seen).toEqual(['0 text plain']);
    expect(router.defmtStats).toBeNull();
  });

  it('on a target reset keeps the unfinished text line, drops the cut frame, and keeps counting', () => {
    const router = new ChannelRouter({ table, defmtChannel: 0 });
    const { seen, sinks } = recorder();
    router.route([chunk(0, frame(1)), chunk(0, frame(2).subarray(0, 2)), chunk(1, text('half a li'))], sinks);
    router.restart(sinks);
    // After the reset the firmware starts over; nothing of before is glued to it.
    router.route([chunk(0, frame(3)), chunk(1, text('ne\n'))], sinks);
    expect(seen).toEqual(['0 value 1', '1 text half a li', '0 value 3', '1 text ne']);
    expect(router.defmtStats).toMatchObject({ frames: 2, malformed: 0 });
  });
});
