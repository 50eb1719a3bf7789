/**
 * A SystemView trace: decoder + timeline + what the target described about itself (system
 * description, task names, interrupt names), plus the reports made from them (statistics table,
 * Chrome Trace Event JSON for Perfetto / chrome://tracing).
 */
import { SV, SystemViewDecoder, decodePrintFormatted, parseSysDesc, type SvMessage, type SvPacket } from './systemview';
import { Timeline, type TimelineOptions } from './timeline';
import { ItmDecoder, type ItmPacket } from './itm';

/** What the reports need from a trace, whatever it was decoded from. */
export interface TraceModel {
  readonly timeline: Timeline;
  readonly decoder: { stats: { malformed: number; skippedBytes: number } };
  readonly description?: { items: Map<string, string> };
  /** Timestamp clock, Hz (0 when unknown). */
  readonly clockHz: number;
  seconds(ticks: number): number;
}

export class SystemViewTrace implements TraceModel {
  readonly decoder = new SystemViewDecoder();
  readonly timeline: Timeline;
  readonly description = { items: new Map<string, string>(), isrNames: new Map<number, string>() };
  readonly tasks = new Map<number, { name: string; priority: number }>();
  /** Packet counts by event id. */
  readonly counts = new Map<number, number>();
  /** Text the target printed through SystemView (SEGGER_SYSVIEW_Print…, systemview-target's log). */
  onMessage?: (m: SvMessage & { seconds: number }) => void;
  private readonly scratch: SvPacket[] = [];

  constructor(options: TimelineOptions = {}) {
    this.timeline = new Timeline(options);
  }

  /** SystemView's timestamp clock, from the INIT packet (0 until it arrives). */
  get clockHz(): number {
    return this.decoder.sysFreq;
  }

  push(bytes: Uint8Array): void {
    this.scratch.length = 0;
    for (const p of this.decoder.push(bytes, this.scratch)) this.apply(p);
  }

  apply(p: SvPacket): void {
    this.counts.set(p.id, (this.counts.get(p.id) ?? 0) + 1);
    const t = this.timeline;
    const time = p.time;
    switch (p.id) {
      case SV.ISR_ENTER:
        t.ingest({ kind: 'isr-enter', time, id: p.params[0] });
        break;
      case SV.ISR_EXIT:
      case SV.ISR_TO_SCHEDULER:
        t.ingest({ kind: 'isr-exit', time });
        break;
      case SV.TASK_START_EXEC:
        t.ingest({ kind: 'task-start-exec', time, id: p.params[0] });
        break;
      case SV.TASK_STOP_EXEC:
        t.ingest({ kind: 'task-stop-exec', time });
        break;
      case SV.TASK_START_READY:
        t.ingest({ kind: 'task-ready', time, id: p.params[0] });
        break;
      case SV.TASK_STOP_READY:
        t.ingest({ kind: 'task-not-ready', time, id: p.params[0] });
        break;
      case SV.IDLE:
        t.ingest({ kind: 'idle', time });
        break;
      case SV.OVERFLOW:
        t.ingest({ kind: 'overflow', time, dropped: p.params[0] });
        break;
      case SV.TRACE_START:
        t.ingest({ kind: 'start', time });
        break;
      case SV.TRACE_STOP:
        t.ingest({ kind: 'stop', time });
        break;
      case SV.TASK_INFO:
        this.tasks.set(p.params[0], { name: p.text ?? '', priority: p.params[1] });
        t.nameTask(p.params[0], p.text || `task 0x${p.params[0].toString(16)}`);
        break;
      case SV.SYSDESC:
        parseSysDesc(p.text ?? '', this.description);
        for (const [id, name] of this.description.isrNames) t.nameIsr(id, name);
        break;
      case SV.PRINT_FORMATTED: {
        const message = p.payload ? decodePrintFormatted(p.payload) : null;
        if (message) this.onMessage?.({ ...message, seconds: this.seconds(time - (Number.isNaN(t.first) ? time : t.first)) });
        break;
      }
    }
  }

  /** Ticks → seconds (ticks themselves until INIT announced the frequency). */
  seconds(ticks: number): number {
    return this.clockHz > 0 ? ticks / this.clockHz : ticks;
  }
}

/**
 * An ITM exception trace (over SWO): exception entry/exit become ISR spans on the timeline, stamped
 * with the ITM's local timestamps (counted in `clockHz` ticks: the timestamp clock after its
 * prescaler). Overflows become gaps.
 */
export class ItmTrace implements TraceModel {
  readonly decoder = new ItmDecoder();
  readonly timeline: Timeline;
  readonly counts = { enter: 0, exit: 0, return: 0, overflow: 0 };
  private readonly scratch: { time: number; packet: ItmPacket }[] = [];

  constructor(
    readonly clockHz: number,
    options: TimelineOptions = {},
  ) {
    this.timeline = new Timeline(options);
  }

  push(bytes: Uint8Array): void {
    this.scratch.length = 0;
    for (const { time, packet } of this.decoder.push(bytes, this.scratch)) {
      if (packet.kind === 'exception') {
        this.counts[packet.fn]++;
        if (packet.fn === 'enter') this.timeline.ingest({ kind: 'isr-enter', time, id: packet.exception });
        else if (packet.fn === 'exit') this.timeline.ingest({ kind: 'isr-exit', time });
      } else if (packet.kind === 'overflow') {
        this.counts.overflow++;
        this.timeline.ingest({ kind: 'overflow', time, dropped: 0 });
      }
    }
  }

  seconds(ticks: number): number {
    return this.clockHz > 0 ? ticks / this.clockHz : ticks;
  }
}

export interface StatsRow {
  lane: string;
  kind: string;
  activations: number;
  /** Runs cut short by a trace stop, an overflow or the end of the trace: in busySeconds and load, not in min/mean/max. */
  cutRuns: number;
  busySeconds: number;
  load: number;
  minSeconds: number;
  meanSeconds: number;
  maxSeconds: number;
  meanLatencySeconds?: number;
  maxLatencySeconds?: number;
}

/** Per-task/ISR statistics over the whole trace. */
export function statsRows(trace: TraceModel): StatsRow[] {
  const t = trace.timeline;
  const total = Number.isNaN(t.first) ? 0 : t.last - t.first;
  const open = t.openRuns();
  return t.displayOrder().map((l) => {
    const s = l.stats;
    const row: StatsRow = {
      lane: l.name,
      kind: l.kind,
      activations: s.activations,
      cutRuns: s.cut + open[l.index],
      busySeconds: trace.seconds(s.busy),
      load: total > 0 ? s.busy / total : 0,
      minSeconds: s.activations ? trace.seconds(s.min) : 0,
      meanSeconds: s.activations ? trace.seconds(s.runTime / s.activations) : 0,
      maxSeconds: trace.seconds(s.max),
    };
    if (s.latencyCount) {
      row.meanLatencySeconds = trace.seconds(s.latencyTotal / s.latencyCount);
      row.maxLatencySeconds = trace.seconds(s.latencyMax);
    }
    return row;
  });
}

export function formatStatsTable(trace: TraceModel): string {
  const us = (s: number) => (s * 1e6).toFixed(1);
  const rows = statsRows(trace);
  const lines = [`${'lane'.padEnd(14)} ${'kind'.padEnd(9)} ${'count'.padStart(8)} ${'load'.padStart(7)} ${'min µs'.padStart(9)} ${'mean µs'.padStart(9)} ${'max µs'.padStart(9)} ${'ready→run µs'.padStart(13)}`];
  for (const r of rows) {
    lines.push(
      `${r.lane.slice(0, 14).padEnd(14)} ${r.kind.padEnd(9)} ${String(r.activations).padStart(8)} ${(r.load * 100).toFixed(1).padStart(6)}% ${us(r.minSeconds).padStart(9)} ${us(r.meanSeconds).padStart(9)} ${us(r.maxSeconds).padStart(9)} ${(r.meanLatencySeconds !== undefined ? us(r.meanLatencySeconds) : '-').padStart(13)}`,
    );
  }
  const cut = rows.reduce((n, r) => n + r.cutRuns, 0);
  if (cut) lines.push(`${cut} run(s) cut short by a trace stop, an overflow or the end of the trace: counted in load, not in count or min/mean/max`);
  const gaps = trace.timeline.gaps.filter((g) => g.reason === 'overflow');
  if (gaps.length) {
    const lost = gaps.reduce((n, g) => n + g.droppedPackets, 0);
    lines.push(`${gaps.length} overflow gap(s)${lost ? `: ${lost} packets lost on the target` : ' (the target does not say how many packets it lost)'}`);
  }
  const d = trace.decoder.stats;
  if (d.malformed) lines.push(`${d.malformed} malformed packet(s), ${d.skippedBytes} bytes skipped`);
  return lines.join('\n');
}

/**
 * Chrome Trace Event Format (JSON object form), which Perfetto UI and chrome://tracing open:
 * one thread per lane, complete ("X") events for execution segments, instant ("i") events marking
 * overflow gaps. Times in microseconds.
 */
export function toChromeTrace(trace: TraceModel): { traceEvents: object[]; displayTimeUnit: string; otherData: object } {
  const t = trace.timeline;
  const us = (ticks: number) => +(trace.seconds(ticks - (Number.isNaN(t.first) ? 0 : t.first)) * 1e6).toFixed(3);
  const events: object[] = [{ ph: 'M', name: 'process_name', pid: 1, tid: 0, args: { name: trace.description?.items.get('N') ?? 'target' } }];
  for (const l of t.lanes) {
    events.push({ ph: 'M', name: 'thread_name', pid: 1, tid: l.index + 1, args: { name: l.name } });
    events.push({ ph: 'M', name: 'thread_sort_index', pid: 1, tid: l.index + 1, args: { sort_index: l.kind === 'isr' ? l.index : 1000 + l.index } });
  }
  for (const s of t.segments()) {
    const lane = t.lanes[s.lane];
    const event: Record<string, unknown> = { ph: 'X', name: lane.name, cat: lane.kind, pid: 1, tid: s.lane + 1, ts: us(s.start), dur: +(us(s.end) - us(s.start)).toFixed(3) };
    if (s.truncated) event.args = { truncated: true };
    events.push(event);
  }
  for (const g of t.gaps) {
    events.push({ ph: 'i', s: 'g', name: g.reason === 'overflow' ? `overflow: ${g.droppedPackets} packets lost` : 'trace stopped', cat: 'gap', pid: 1, tid: 0, ts: us(g.start), args: { endUs: us(g.end) } });
  }
  return { traceEvents: events, displayTimeUnit: 'ns', otherData: { source: 'dapdeck', clockHz: trace.clockHz, description: Object.fromEntries(trace.description?.items ?? []) } };
}
