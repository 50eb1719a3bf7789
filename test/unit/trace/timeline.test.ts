/** The timeline model: nesting, statistics, latency, overflow gaps, bounded memory, views. */
import { describe, expect, it } from 'vitest';
import { Timeline } from '../../../core/trace/timeline';
import { SystemViewTrace, formatStatsTable, statsRows, toChromeTrace } from '../../../core/trace/session';
import { SV, encodeVarint } from '../../../core/trace/systemview';

/** A SystemView packet as the target library builds it. */
function packet(id: number, params: number[], delta: number, text?: string): number[] {
  const out: number[] = [id];
  for (const p of params) encodeVarint(p, out);
  if (text !== undefined) out.push(text.length, ...Array.from(text, (c) => c.charCodeAt(0)));
  encodeVarint(delta, out);
  return out;
}

describe('timeline', () => {
  it('splits a task around a preempting ISR and keeps exclusive times', () => {
    const t = new Timeline();
    t.ingest({ kind: 'task-ready', time: 0, id: 1 });
    t.ingest({ kind: 'task-start-exec', time: 10, id: 1 });
    t.ingest({ kind: 'isr-enter', time: 20, id: 15 });
    t.ingest({ kind: 'isr-enter', time: 25, id: 24 }); // nested
    t.ingest({ kind: 'isr-exit', time: 27 });
    t.ingest({ kind: 'isr-exit', time: 30 });
    t.ingest({ kind: 'task-stop-exec', time: 50 });
    t.ingest({ kind: 'idle', time: 52 });
    t.ingest({ kind: 'isr-enter', time: 60, id: 15 });
    t.ingest({ kind: 'isr-exit', time: 61 });
    t.ingest({ kind: 'task-start-exec', time: 70, id: 1 });
    const name = (i: number) => t.lanes[i].name;
    expect(t.segments().map((s) => [name(s.lane), s.start, s.end, s.depth])).toEqual([
      ['task 0x1', 10, 20, 0],
      ['SysTick', 20, 25, 1],
      ['IRQ8', 25, 27, 2],
      ['SysTick', 27, 30, 1],
      ['task 0x1', 30, 50, 0],
      ['Scheduler', 50, 52, 0],
      ['Idle', 52, 60, 0],
      ['SysTick', 60, 61, 1],
      ['Idle', 61, 70, 0],
    ]);
    const byName = Object.fromEntries(t.lanes.map((l) => [l.name, l.stats]));
    expect(byName['task 0x1']).toMatchObject({ activations: 1, busy: 30, min: 30, max: 30, latencyCount: 1, latencyTotal: 10 });
    expect(byName.SysTick).toMatchObject({ activations: 2, busy: 9, min: 1, max: 8 });
    expect(byName.IRQ8).toMatchObject({ activations: 1, busy: 2 });
    expect(t.inconsistent).toBe(0);
  });

  it('lists lanes ISRs first by exception number, then tasks by id, whatever the recording began with', () => {
    const t = new Timeline();
    t.ingest({ kind: 'task-start-exec', time: 0, id: 7 });
    t.ingest({ kind: 'isr-enter', time: 5, id: 24 });
    t.ingest({ kind: 'isr-exit', time: 6 });
    t.ingest({ kind: 'task-stop-exec', time: 8 });
    t.ingest({ kind: 'idle', time: 9 });
    t.ingest({ kind: 'task-start-exec', time: 10, id: 3 });
    t.ingest({ kind: 'isr-enter', time: 11, id: 15 });
    t.ingest({ kind: 'isr-exit', time: 12 });
    expect(t.lanes.map((l) => l.name)).toEqual(['task 0x7', 'IRQ8', 'Scheduler', 'Idle', 'task 0x3', 'SysTick']);
    expect(t.displayOrder().map((l) => l.name)).toEqual(['SysTick', 'IRQ8', 'task 0x3', 'task 0x7', 'Scheduler', 'Idle']);
    // Lane indices (what segments refer to) do not move.
    expect(t.displayOrder().map((l) => t.lanes[l.index].name)).toEqual(['SysTick', 'IRQ8', 'task 0x3', 'task 0x7', 'Scheduler', 'Idle']);
  });

  it('gives the CPU load over a window, from segments or from the buckets alike', () => {
    const t = new Timeline({ bucketTicks: 10 });
    t.ingest({ kind: 'task-start-exec', time: 0, id: 1 });
    t.ingest({ kind: 'task-stop-exec', time: 50 });
    t.ingest({ kind: 'idle', time: 50 });
    t.ingest({ kind: 'isr-enter', time: 100, id: 15 });
    t.ingest({ kind: 'isr-exit', time: 110 });
    t.ingest({ kind: 'task-start-exec', time: 200, id: 1 });
    const exact = Array.from(t.cpuLoad(0, 200, 4));
    expect(exact).toEqual([1, 0, 0.2, 0]);
    const fromBuckets = Array.from(t.cpuLoad(0, 200, 4, 0));
    expect(fromBuckets.map((v) => +v.toFixed(6))).toEqual([1, 0, 0.2, 0]);
    // Nothing recorded past the last event: unknown, not idle.
    const beyond = t.cpuLoad(150, 250, 2);
    expect(beyond[0]).toBe(0);
    expect(beyond[1]).toBeNaN();
  });

  it('turns an overflow into a gap and invents nothing across it', () => {
    const t = new Timeline();
    t.ingest({ kind: 'task-start-exec', time: 0, id: 1 });
    t.ingest({ kind: 'isr-enter', time: 10, id: 15 });
    t.ingest({ kind: 'isr-enter', time: 14, id: 16 });
    t.ingest({ kind: 'overflow', time: 100, dropped: 7 });
    t.ingest({ kind: 'isr-exit', time: 105 }); // its enter was lost: ignored
    t.ingest({ kind: 'task-start-exec', time: 110, id: 2 });
    t.ingest({ kind: 'task-stop-exec', time: 120 });
    expect(t.gaps).toEqual([{ start: 14, end: 100, droppedPackets: 7, reason: 'overflow' }]);
    const segs = t.segments();
    // The SysTick that was running when the last known event happened ends there, marked truncated.
    expect(segs.map((s) => [t.lanes[s.lane].name, s.start, s.end, s.truncated])).toEqual([
      ['task 0x1', 0, 10, false],
      ['SysTick', 10, 14, false],
      ['task 0x2', 110, 120, false],
    ]);
    // Nothing covers the gap.
    expect(segs.some((s) => s.start < 100 && s.end > 14)).toBe(false);
    expect(t.inconsistent).toBe(1);
  });

  it('counts a run cut by an overflow or a stop in the load but not as a run: stats stay self-consistent', () => {
    const t = new Timeline();
    // Two complete SysTick runs of 2 ticks, then one cut after 50 seen ticks by an overflow.
    for (const at of [0, 10]) {
      t.ingest({ kind: 'isr-enter', time: at, id: 15 });
      t.ingest({ kind: 'isr-exit', time: at + 2 });
    }
    t.ingest({ kind: 'task-start-exec', time: 20, id: 1 });
    t.ingest({ kind: 'isr-enter', time: 30, id: 15 });
    t.ingest({ kind: 'isr-enter', time: 80, id: 15 }); // the last event before the gap
    t.ingest({ kind: 'overflow', time: 100, dropped: 3 });
    // A task cut by a trace stop (its only run): busy time, no complete run.
    t.ingest({ kind: 'task-start-exec', time: 200, id: 2 });
    t.ingest({ kind: 'stop', time: 230 });
    const byName = Object.fromEntries(t.lanes.map((l) => [l.name, l.stats]));
    expect(byName['SysTick']).toMatchObject({ activations: 2, runTime: 4, busy: 54, cut: 1, min: 2, max: 2 });
    expect(byName['task 0x1']).toMatchObject({ activations: 0, runTime: 0, busy: 10, cut: 1 });
    expect(byName['task 0x2']).toMatchObject({ activations: 0, runTime: 0, busy: 30, cut: 1 });
    const trace = new SystemViewTrace();
    Object.assign(trace, { timeline: t });
    for (const row of statsRows(trace)) {
      if (row.activations) {
        expect(row.minSeconds).toBeLessThanOrEqual(row.meanSeconds);
        expect(row.meanSeconds).toBeLessThanOrEqual(row.maxSeconds);
        expect(row.meanSeconds * row.activations).toBeLessThanOrEqual(row.busySeconds);
      } else expect(row.busySeconds === 0 || row.cutRuns > 0).toBe(true);
    }
    expect(statsRows(trace).find((r) => r.lane === 'SysTick')).toMatchObject({ activations: 2, cutRuns: 1, minSeconds: 2, meanSeconds: 2, maxSeconds: 2, busySeconds: 54 });
    expect(formatStatsTable(trace)).toMatch(/\n3 run\(s\) cut short by a trace stop, an overflow or the end of the trace: counted in load, not in count or min\/mean\/max\n/);
  });

  it('counts a run still open when the trace ends as cut, not as a run', () => {
    const t = new Timeline();
    t.ingest({ kind: 'idle', time: 0 });
    t.ingest({ kind: 'isr-enter', time: 100, id: 15 });
    t.ingest({ kind: 'isr-exit', time: 110 });
    t.ingest({ kind: 'isr-enter', time: 200, id: 15 });
    const trace = new SystemViewTrace();
    Object.assign(trace, { timeline: t });
    // Idle ran 100 ticks and is still open (preempted); the second SysTick has no time seen yet.
    expect(statsRows(trace).map((r) => [r.lane, r.activations, r.cutRuns])).toEqual(expect.arrayContaining([['Idle', 0, 1], ['SysTick', 1, 0]]));
  });

  it('keeps memory bounded: a segment ring and buckets that coarsen', () => {
    const t = new Timeline({ maxSegments: 1000, bucketTicks: 10, maxBuckets: 64 });
    for (let i = 0; i < 100_000; i++) {
      t.ingest({ kind: 'isr-enter', time: i * 10, id: 15 });
      t.ingest({ kind: 'isr-exit', time: i * 10 + 3 });
    }
    expect(t.storedSegments).toBe(1000);
    expect(t.bucketTicks).toBeGreaterThanOrEqual(1_000_000 / 64);
    const v = t.view(0, 1_000_000, 200);
    expect(v.kind).toBe('load');
    if (v.kind === 'load') {
      const sys = t.lanes.findIndex((l) => l.name === 'SysTick');
      for (const f of v.lanes[sys].slice(0, -1)) expect(f).toBeCloseTo(0.3, 2);
    }
    const near = t.view(999_000, 999_500, 500);
    expect(near.kind).toBe('segments');
  });
});

describe('SystemView trace', () => {
  function scenario(): Uint8Array {
    const bytes: number[] = [
      ...packet(SV.TRACE_START, [], 0),
      ...[0x18, 0x0e, 0x80, 0xc8, 0xd0, 0x07, 0x80, 0xc8, 0xd0, 0x07, 0x80, 0x80, 0x80, 0x80, 0x02, 0x02, 0x00], // INIT 16 MHz
      ...packet(SV.SYSDESC, [], 0, 'N=demo,D=nRF51,I#15=SysTick,I#24=TIMER0'),
      ...packet(SV.TASK_INFO, [1, 1], 0, 'blink'),
      ...packet(SV.TASK_INFO, [2, 2], 0, 'sensor'),
    ];
    for (let k = 0; k < 10; k++) {
      bytes.push(...packet(SV.ISR_ENTER, [15], 1000), ...packet(SV.TASK_START_READY, [1], 16), ...packet(SV.ISR_EXIT, [], 16));
      bytes.push(...packet(SV.TASK_START_EXEC, [1], 32), ...packet(SV.TASK_STOP_EXEC, [], 160), ...packet(SV.IDLE, [], 8));
      if (k % 5 === 4) bytes.push(...packet(SV.ISR_ENTER, [24], 100), ...packet(SV.ISR_EXIT, [], 48));
    }
    bytes.push(...packet(SV.TRACE_STOP, [], 10));
    return Uint8Array.from(bytes);
  }

  it('names lanes from TASK_INFO and SYSDESC and counts activations', () => {
    const trace = new SystemViewTrace();
    trace.push(scenario());
    const rows = statsRows(trace);
    const row = (name: string) => rows.find((r) => r.lane === name)!;
    expect(row('SysTick').activations).toBe(10);
    expect(row('TIMER0').activations).toBe(2);
    expect(row('blink').activations).toBe(10);
    expect(row('blink').meanSeconds).toBeCloseTo(160 / 16e6, 12);
    expect(row('blink').meanLatencySeconds).toBeCloseTo((16 + 32) / 16e6, 12);
    expect(row('TIMER0').meanSeconds).toBeCloseTo(48 / 16e6, 12);
    expect(formatStatsTable(trace)).toMatch(/^blink\s+task\s+10 /m);
    expect(trace.description.items.get('D')).toBe('nRF51');
  });

  it('exports Chrome Trace Event JSON', () => {
    const trace = new SystemViewTrace();
    trace.push(scenario());
    const json = toChromeTrace(trace);
    const x = json.traceEvents.filter((e) => (e as { ph: string }).ph === 'X') as { name: string; ts: number; dur: number; tid: number }[];
    expect(x.filter((e) => e.name === 'blink')).toHaveLength(10);
    expect(x[0].ts).toBeGreaterThanOrEqual(0);
    const names = json.traceEvents.filter((e) => (e as { name: string }).name === 'thread_name').map((e) => (e as { args: { name: string } }).args.name);
    expect(names).toEqual(expect.arrayContaining(['SysTick', 'TIMER0', 'blink', 'Idle']));
  });
});
