/**
 * Trace decoding and the timeline model, wall clock on one core (this machine's CPU):
 * - SystemView decode rate on a realistic packet mix (ISR enter/exit, task ready/start/stop, idle),
 *   pushed in 4 KiB chunks as RTT polls deliver them;
 * - timeline ingest of 10 000 000 events (decode + timeline, memory bounded by the segment ring
 *   and the bucket bound), with peak memory sampled during the run.
 */
import { SV, SystemViewDecoder, encodeVarint, type SvPacket } from '../core/trace/systemview';
import { SystemViewTrace } from '../core/trace/session';

function packet(out: number[], id: number, params: number[], delta: number): void {
  out.push(id);
  for (const p of params) encodeVarint(p, out);
  encodeVarint(delta, out);
}

/** One cycle of a small RTOS: tick ISR, a task made ready and run, an IRQ, idle. 10 events. */
function cycle(out: number[], k: number): void {
  packet(out, SV.ISR_ENTER, [15], 900 + (k % 50));
  packet(out, SV.TASK_START_READY, [1 + (k % 3)], 20);
  packet(out, SV.ISR_EXIT, [], 35);
  packet(out, SV.TASK_START_EXEC, [1 + (k % 3)], 40);
  packet(out, SV.ISR_ENTER, [24], 300);
  packet(out, SV.ISR_EXIT, [], 60);
  packet(out, SV.TASK_STOP_EXEC, [], 500 + (k % 200));
  packet(out, SV.TASK_START_READY, [4], 10);
  packet(out, SV.TASK_START_EXEC, [4], 15);
  packet(out, SV.TASK_STOP_EXEC, [], 80);
}

function stream(cycles: number): Uint8Array {
  const bytes: number[] = [];
  for (let k = 0; k < cycles; k++) {
    cycle(bytes, k);
    if (k % 1000 === 999) bytes.push(SV.IDLE, 5);
  }
  return Uint8Array.from(bytes);
}

export async function benchTrace(): Promise<object[]> {
  const rows: object[] = [];
  const data = stream(100_000); // ~1M events
  const chunk = 4096;

  const decodeOnce = () => {
    const d = new SystemViewDecoder();
    const out: SvPacket[] = [];
    let n = 0;
    for (let p = 0; p < data.length; p += chunk) {
      out.length = 0;
      n += d.push(data.subarray(p, p + chunk), out).length;
    }
    if (d.stats.malformed) throw new Error(`bench: ${d.stats.lastError}`);
    return n;
  };
  decodeOnce();
  let events = 0;
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < 10; r++) events += decodeOnce();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  rows.push({
    bench: 'systemview-decode',
    note: 'wall clock, one core, this machine',
    events,
    bytes: data.length * 10,
    seconds: +seconds.toFixed(3),
    eventsPerSecond: Math.round(events / seconds),
    megabytesPerSecond: +((data.length * 10) / 1e6 / seconds).toFixed(1),
    goalEventsPerSecond: 5_000_000,
  });

  // Timeline ingest: 10 M events through decoder + timeline.
  global.gc?.();
  const base = process.memoryUsage();
  let peak = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peak = Math.max(peak, m.heapUsed + m.arrayBuffers - base.heapUsed - base.arrayBuffers);
  };
  const trace = new SystemViewTrace();
  const t1 = process.hrtime.bigint();
  let total = 0;
  let rounds = 0;
  while (total < 10_000_000) {
    for (let p = 0; p < data.length; p += chunk) trace.push(data.subarray(p, p + chunk));
    total = trace.decoder.stats.packets;
    if (++rounds % 2 === 0) sample();
  }
  const ingestSeconds = Number(process.hrtime.bigint() - t1) / 1e9;
  sample();
  rows.push({
    bench: 'timeline-ingest',
    note: 'wall clock, one core, this machine; SystemView decode + timeline model',
    events: total,
    seconds: +ingestSeconds.toFixed(3),
    eventsPerSecond: Math.round(total / ingestSeconds),
    lanes: trace.timeline.lanes.length,
    storedSegments: trace.timeline.storedSegments,
    bucketTicks: trace.timeline.bucketTicks,
    peakMemoryMiB: +(peak / 1024 / 1024).toFixed(1),
    inconsistentEvents: trace.timeline.inconsistent,
  });
  return rows;
}
