/** Streams: defmt (rzCOBS and raw framing), SystemView, ITM/SWO — pushed in chunks as RTT/SWO reads deliver them. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DefmtStream, DefmtTable, rzcobsEncode, type StreamEvent } from '../../../core/defmt';
import { SystemViewTrace, ItmTrace, formatStatsTable, statsRows, toChromeTrace } from '../../../core/trace/session';
import { SV, encodeVarint } from '../../../core/trace/systemview';
import { symbolsFor } from '../../support/defmt';
import { concat, type FuzzTarget } from '../harness';
import { checkTraceStats, chunksOf } from './invariants';

const vectors = JSON.parse(readFileSync(resolve(__dirname, '../../vectors/defmt/frames.json'), 'utf8')) as { table: Record<string, [string, string]>; cases: { frame: string }[] };
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

interface DefmtRun {
  stream: DefmtStream;
  events: number;
  records: number;
  errors: number;
}

function defmtTarget(encoding: 'rzcobs' | 'raw'): FuzzTarget<DefmtRun> {
  const table = DefmtTable.fromSymbols(symbolsFor(vectors.table, { encoding }), `fuzz-${encoding}.elf`);
  const frames = vectors.cases.map((c) => hex(c.frame));
  const wire = (f: Uint8Array) => (encoding === 'rzcobs' ? concat(rzcobsEncode(f), Uint8Array.of(0)) : f);
  return {
    name: `defmt-${encoding}`,
    description: `defmt stream decoder, ${encoding} framing, every record rendered`,
    shortIterations: 3000,
    seeds: () => [concat(...frames.map(wire)), concat(...frames.slice(0, 5).map(wire)), ...frames.slice(0, 8).map(wire)],
    run(input) {
      const stream = new DefmtStream(table);
      const run: DefmtRun = { stream, events: 0, records: 0, errors: 0 };
      const count = (events: StreamEvent[]) => {
        for (const e of events) {
          run.events++;
          if (e.kind === 'record') {
            run.records++;
            void e.record.message; // rendering is lazy: make it happen
            void e.record.timestamp;
          } else run.errors++;
        }
      };
      for (const chunk of chunksOf(input)) count(stream.push(chunk));
      return run;
    },
    // The stream decoder never throws: bad frames are error events.
    expectedErrors: [],
    check(run, input) {
      const s = run.stream.stats;
      if (s.frames !== run.records) throw new Error(`stats.frames ${s.frames} != records ${run.records}`);
      if (s.malformed + s.unknownIndex !== run.errors) throw new Error(`malformed ${s.malformed} + unknown ${s.unknownIndex} != error events ${run.errors}`);
      if (s.bytes !== input.length) throw new Error(`stats.bytes ${s.bytes} != ${input.length}`);
      if (run.stream.pendingBytes > run.stream.maxFrame + 128) throw new Error(`${run.stream.pendingBytes} bytes pending (bound ${run.stream.maxFrame})`);
    },
  };
}

export const defmtRzcobsTarget = defmtTarget('rzcobs');
export const defmtRawTarget = defmtTarget('raw');

function svPacket(id: number, params: number[], delta: number, payload?: number[]): number[] {
  const out: number[] = [id];
  if (payload) {
    encodeVarint(payload.length, out);
    out.push(...payload);
  } else for (const p of params) encodeVarint(p, out);
  encodeVarint(delta, out);
  return out;
}

function svSeed(): Uint8Array {
  const text = 'adc %u: %04x (%d%%)';
  const print = [text.length, ...Array.from(text, (c) => c.charCodeAt(0)), ...encodeVarint(1), ...encodeVarint(3), ...encodeVarint(2), ...encodeVarint(0xbeef), ...encodeVarint(-5 >>> 0)];
  const name = 'worker';
  const p: number[] = [];
  p.push(...new Array(10).fill(0)); // sync
  // TASK_INFO (id < 24): task id, priority, then the name as a count byte and its bytes, then the delta.
  p.push(SV.TASK_INFO, ...encodeVarint(0x2000), ...encodeVarint(2), name.length, ...Array.from(name, (c) => c.charCodeAt(0)), ...encodeVarint(10));
  for (let i = 0; i < 20; i++) {
    p.push(...svPacket(SV.TASK_START_READY, [0x2000], 100));
    p.push(...svPacket(SV.TASK_START_EXEC, [0x2000], 20));
    p.push(...svPacket(SV.ISR_ENTER, [15], 30));
    p.push(...svPacket(SV.ISR_EXIT, [], 5));
    p.push(...svPacket(SV.TASK_STOP_EXEC, [], 40));
    p.push(...svPacket(SV.IDLE, [], 2));
    if (i === 7) p.push(...svPacket(SV.OVERFLOW, [3], 50));
    if (i === 9) p.push(...svPacket(SV.PRINT_FORMATTED, [], 1, print));
  }
  return Uint8Array.from(p);
}

export const systemViewTarget: FuzzTarget<SystemViewTrace> = {
  name: 'systemview',
  description: 'SystemView stream decoder and timeline: statistics, table, Chrome trace export',
  shortIterations: 2000,
  seeds: () => {
    const packets = JSON.parse(readFileSync(resolve(__dirname, '../../vectors/systemview/packets.json'), 'utf8')) as { packets: { hex: string }[]; sync: string };
    return [svSeed(), concat(hex(packets.sync), ...packets.packets.map((x) => hex(x.hex)))];
  },
  run(input) {
    const trace = new SystemViewTrace({ maxSegments: 4096, maxBuckets: 256 });
    for (const chunk of chunksOf(input)) trace.push(chunk);
    formatStatsTable(trace);
    toChromeTrace(trace);
    return trace;
  },
  expectedErrors: [],
  check: (trace) => checkTraceStats(trace.timeline, statsRows(trace)),
};

/** ITM exception-trace packets (ARMv7-M ARM D4): header 0x0E + 2 bytes; local timestamps 0xC0 + bytes. */
function itmSeed(): Uint8Array {
  const p: number[] = [0, 0, 0, 0, 0, 0x80];
  const exc = (n: number, fn: 1 | 2 | 3) => [0x0e, n & 0xff, ((n >> 8) & 1) | (fn << 4)];
  const ts = (delta: number) => {
    const out = [0xc0];
    do {
      out.push((delta & 0x7f) | (delta > 0x7f ? 0x80 : 0));
      delta >>>= 7;
    } while (delta);
    return out;
  };
  for (let i = 0; i < 30; i++) {
    p.push(...exc(15, 1), ...ts(480));
    if (i % 5 === 0) p.push(...exc(27, 1), ...ts(100), ...exc(27, 2), ...ts(40), ...exc(15, 3));
    p.push(...exc(15, 2), ...ts(50), ...exc(0, 3), ...ts(2000));
    if (i === 13) p.push(0x70);
  }
  return Uint8Array.from(p);
}

export const itmTarget: FuzzTarget<ItmTrace> = {
  name: 'itm',
  description: 'ITM/DWT packet decoder over SWO and the exception timeline',
  shortIterations: 2000,
  seeds: () => [itmSeed()],
  run(input) {
    const trace = new ItmTrace(48_000_000, { maxSegments: 4096, maxBuckets: 256 });
    for (const chunk of chunksOf(input)) trace.push(chunk);
    formatStatsTable(trace);
    return trace;
  },
  expectedErrors: [],
  check(trace, input) {
    const s = trace.decoder.stats;
    if (s.bytes !== input.length) throw new Error(`decoder counted ${s.bytes} of ${input.length} bytes`);
    checkTraceStats(trace.timeline, statsRows(trace));
  },
};
