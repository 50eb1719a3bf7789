/** Invariants shared by targets: trace statistics that must always agree with each other. */
import type { StatsRow } from '../../../core/trace/session';
import type { Timeline } from '../../../core/trace/timeline';

function fail(message: string): never {
  throw new Error(message);
}

/** min ≤ mean ≤ max over complete runs, run time within busy time, busy time only with a run or a cut run. */
export function checkTraceStats(timeline: Timeline, rows: StatsRow[]): void {
  const eps = 1e-9;
  const open = timeline.openRuns();
  for (const lane of timeline.lanes) {
    const s = lane.stats;
    if (s.busy < -eps || s.runTime < -eps) fail(`${lane.name}: negative busy ${s.busy} or run time ${s.runTime}`);
    if (s.runTime > s.busy + eps * Math.max(1, s.busy)) fail(`${lane.name}: run time ${s.runTime} exceeds busy time ${s.busy}`);
    if (s.activations === 0 && s.busy > 0 && s.cut + open[lane.index] === 0) fail(`${lane.name}: busy ${s.busy} ticks with no run, no cut run and none still open`);
    if (s.activations > 0) {
      const mean = s.runTime / s.activations;
      if (s.min > mean + eps * Math.max(1, mean) || mean > s.max + eps * Math.max(1, s.max)) fail(`${lane.name}: min ${s.min} / mean ${mean} / max ${s.max} out of order`);
    }
  }
  for (const r of rows) {
    for (const [k, v] of Object.entries(r)) if (typeof v === 'number' && !Number.isFinite(v)) fail(`${r.lane}: ${k} is ${v}`);
    if (r.activations && (r.minSeconds > r.meanSeconds * (1 + 1e-9) + 1e-15 || r.meanSeconds > r.maxSeconds * (1 + 1e-9) + 1e-15)) fail(`${r.lane}: row min/mean/max out of order`);
  }
  for (let i = 1; i < timeline.gaps.length; i++) if (timeline.gaps[i].start < timeline.gaps[i - 1].start) fail('gaps out of order');
  for (const seg of timeline.segments()) if (seg.end < seg.start) fail(`segment ${seg.start}..${seg.end} ends before it starts`);
}

/** Splits an input into chunks at points derived from its own bytes (deterministic), as RTT reads would. */
export function chunksOf(input: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  let k = 0;
  while (at < input.length) {
    const size = 1 + ((input[k++ % input.length] * 7 + k) % 97);
    out.push(input.subarray(at, at + size));
    at += size;
  }
  return out;
}
