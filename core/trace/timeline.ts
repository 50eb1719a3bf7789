/**
 * The timeline model: what ran on the CPU, when. Events (from SystemView, or ITM exception trace)
 * become *exclusive execution segments* — at any instant exactly one context owns the CPU: an ISR
 * (nested ISRs stack), else the thread-mode context (a task, idle, or the scheduler between
 * tasks). Segments therefore never overlap and arrive in time order, which keeps storage and
 * queries simple:
 *
 * - a ring of the most recent segments in typed arrays (bounded memory);
 * - per-lane busy time in fixed-width buckets whose width doubles whenever the count would pass
 *   a bound (bounded memory for any trace length), from which any zoom level is drawn;
 * - per-lane statistics: activations, exclusive time (min/mean/max per activation), ready→running
 *   latency for tasks.
 *
 * An overflow (the target dropped packets) closes every open segment where the last known event
 * was, marks them truncated, records a gap, and forgets the execution state: after a gap nothing is
 * drawn until an event says what runs. Nothing is invented to fill it.
 */

export type LaneKind = 'task' | 'isr' | 'idle' | 'scheduler';

/**
 * A run cut short by a gap (a trace stop or an overflow), or still running when the trace ends
 * (openRuns), has an unknown length: it ran at least as long as was seen. Its seen time counts as busy (load is CPU time observed), but it is not a run:
 * it is counted in `cut`, and min/mean/max are over complete runs only (mean = runTime /
 * activations), so min ≤ mean ≤ max and runTime ≤ busy always hold.
 */
export interface LaneStats {
  /** Complete runs (activations that ended with an exit/stop event). */
  activations: number;
  /** Exclusive CPU ticks seen, complete and cut runs alike (load). */
  busy: number;
  /** Exclusive ticks of the complete runs (for the mean). */
  runTime: number;
  /** Runs cut short by a gap: in busy, not in activations or min/mean/max. */
  cut: number;
  min: number;
  max: number;
  /** Ready → running latency (tasks). */
  latencyCount: number;
  latencyTotal: number;
  latencyMax: number;
}

export interface Lane {
  index: number;
  kind: LaneKind;
  /** Task id, exception number, or -1. */
  id: number;
  name: string;
  stats: LaneStats;
}

export interface Gap {
  start: number;
  end: number;
  droppedPackets: number;
  reason: 'overflow' | 'stopped';
}

export interface Segment {
  lane: number;
  start: number;
  end: number;
  /** ISR nesting depth (0 = thread mode). */
  depth: number;
  truncated: boolean;
}

export type TraceEvent =
  | { kind: 'isr-enter'; time: number; id: number }
  | { kind: 'isr-exit'; time: number }
  | { kind: 'task-start-exec'; time: number; id: number }
  | { kind: 'task-stop-exec'; time: number }
  | { kind: 'task-ready'; time: number; id: number }
  | { kind: 'task-not-ready'; time: number; id: number }
  | { kind: 'idle'; time: number }
  | { kind: 'overflow'; time: number; dropped: number }
  | { kind: 'start'; time: number }
  | { kind: 'stop'; time: number };

interface Frame {
  lane: number;
  segStart: number;
  /** Exclusive ticks of this activation so far (ISRs). */
  acc: number;
}

export interface TimelineOptions {
  /** Segments kept for drawing at full detail (older ones survive only in the buckets). */
  maxSegments?: number;
  /** Initial bucket width in ticks. */
  bucketTicks?: number;
  /** Bucket count bound; widths double beyond it. */
  maxBuckets?: number;
}


export class Timeline {
  readonly lanes: Lane[] = [];
  readonly gaps: Gap[] = [];
  /** Events that made no sense in the current state (an exit with nothing entered…), ignored. */
  inconsistent = 0;
  events = 0;
  first = NaN;
  last = NaN;
  private readonly laneByKey = new Map<string, number>();
  private stack: Frame[] = [];
  private thread: Frame | null = null;
  private readonly readyAt = new Map<number, number>();
  private stopped = false;
  // segment ring
  private readonly cap: number;
  private readonly segStart: Float64Array;
  private readonly segEnd: Float64Array;
  private readonly segLane: Int32Array;
  private readonly segFlags: Uint8Array;
  private head = 0;
  private count = 0;
  // buckets
  bucketTicks: number;
  private readonly maxBuckets: number;
  private bucketOrigin = NaN;
  private buckets: Float64Array[] = [];
  private bucketCount = 0;

  constructor(options: TimelineOptions = {}) {
    this.cap = options.maxSegments ?? 1 << 20;
    this.segStart = new Float64Array(this.cap);
    this.segEnd = new Float64Array(this.cap);
    this.segLane = new Int32Array(this.cap);
    this.segFlags = new Uint8Array(this.cap);
    this.bucketTicks = options.bucketTicks ?? 1000;
    this.maxBuckets = options.maxBuckets ?? 4096;
  }

  lane(kind: LaneKind, id: number, name?: string): number {
    const key = `${kind}:${id}`;
    let index = this.laneByKey.get(key);
    if (index === undefined) {
      index = this.lanes.length;
      const fallback = kind === 'task' ? `task 0x${id.toString(16)}` : kind === 'isr' ? isrName(id) : kind === 'idle' ? 'Idle' : 'Scheduler';
      this.lanes.push({ index, kind, id, name: name ?? fallback, stats: { activations: 0, busy: 0, runTime: 0, cut: 0, min: Infinity, max: 0, latencyCount: 0, latencyTotal: 0, latencyMax: 0 } });
      this.laneByKey.set(key, index);
      this.buckets.push(new Float64Array(Math.max(16, this.bucketCount)));
    } else if (name) this.lanes[index].name = name;
    return index;
  }

  nameTask(id: number, name: string): void {
    this.lane('task', id, name);
  }

  nameIsr(id: number, name: string): void {
    this.lane('isr', id, name);
  }

  ingest(e: TraceEvent): void {
    this.events++;
    const t = e.time;
    if (Number.isNaN(this.first)) this.first = t;
    if (t < this.last) {
      this.inconsistent++;
      return;
    }
    if (this.stopped && e.kind !== 'start') return;
    switch (e.kind) {
      case 'isr-enter': {
        this.closeTop(t);
        this.stack.push({ lane: this.lane('isr', e.id), segStart: t, acc: 0 });
        break;
      }
      case 'isr-exit': {
        const frame = this.stack.pop();
        if (!frame) {
          this.inconsistent++;
          break;
        }
        frame.acc += this.emit(frame.lane, frame.segStart, t, this.stack.length + 1, false);
        this.finishActivation(frame);
        this.resumeTop(t);
        break;
      }
      case 'task-start-exec': {
        if (this.stack.length) {
          this.inconsistent++; // tasks start in thread mode
          break;
        }
        this.endThread(t);
        const lane = this.lane('task', e.id);
        this.thread = { lane, segStart: t, acc: 0 };
        const ready = this.readyAt.get(e.id);
        if (ready !== undefined) {
          const s = this.lanes[lane].stats;
          const latency = t - ready;
          s.latencyCount++;
          s.latencyTotal += latency;
          if (latency > s.latencyMax) s.latencyMax = latency;
          this.readyAt.delete(e.id);
        }
        break;
      }
      case 'task-stop-exec': {
        if (this.stack.length || !this.thread || this.lanes[this.thread.lane].kind !== 'task') {
          this.inconsistent++;
          break;
        }
        this.endThread(t);
        this.thread = { lane: this.lane('scheduler', -1), segStart: t, acc: 0 };
        break;
      }
      case 'idle': {
        if (this.stack.length) {
          this.inconsistent++;
          break;
        }
        this.endThread(t);
        this.thread = { lane: this.lane('idle', -1), segStart: t, acc: 0 };
        break;
      }
      case 'task-ready':
        if (!this.readyAt.has(e.id)) this.readyAt.set(e.id, t);
        this.lane('task', e.id);
        break;
      case 'task-not-ready':
        this.readyAt.delete(e.id);
        break;
      case 'overflow':
        this.cut(Number.isNaN(this.last) ? t : this.last, t, e.dropped, 'overflow');
        break;
      case 'stop':
        this.cut(t, t, 0, 'stopped');
        this.stopped = true;
        break;
      case 'start':
        if (this.stopped && this.gaps.length) this.gaps[this.gaps.length - 1].end = t;
        this.stopped = false;
        break;
    }
    this.last = t;
  }

  /** Close everything at `at` (truncated), record the gap, forget the state. */
  private cut(at: number, until: number, dropped: number, reason: Gap['reason']): void {
    // Only the innermost context was running; the ones it preempted have their segments closed already.
    const top = this.stack.length ? this.stack[this.stack.length - 1] : this.thread;
    if (top) top.acc += this.emit(top.lane, top.segStart, Math.max(at, top.segStart), this.stack.length, true);
    // Every activation still open — the innermost and those it preempted — is cut short.
    for (const frame of this.thread ? [this.thread, ...this.stack] : this.stack) {
      if (frame.acc > 0) this.lanes[frame.lane].stats.cut++;
    }
    this.stack = [];
    this.thread = null;
    this.readyAt.clear();
    this.gaps.push({ start: at, end: until, droppedPackets: dropped, reason });
  }

  private closeTop(t: number): void {
    const top = this.stack.length ? this.stack[this.stack.length - 1] : this.thread;
    if (!top) return;
    top.acc += this.emit(top.lane, top.segStart, t, this.stack.length, false);
    top.segStart = t;
  }

  private resumeTop(t: number): void {
    const top = this.stack.length ? this.stack[this.stack.length - 1] : this.thread;
    if (top) top.segStart = t;
  }

  private endThread(t: number): void {
    if (!this.thread) return;
    this.thread.acc += this.emit(this.thread.lane, this.thread.segStart, t, 0, false);
    this.finishActivation(this.thread);
    this.thread = null;
  }

  private finishActivation(frame: Frame): void {
    const s = this.lanes[frame.lane].stats;
    s.activations++;
    s.runTime += frame.acc;
    if (frame.acc < s.min) s.min = frame.acc;
    if (frame.acc > s.max) s.max = frame.acc;
  }

  /** Store a segment and account its time; returns its length. */
  private emit(lane: number, start: number, end: number, depth: number, truncated: boolean): number {
    const length = end - start;
    // A zero-length activation still happened (a fast ISR at coarse timestamps); a zero-length
    // remainder cut off by a gap is nothing.
    if (length < 0 || (length === 0 && truncated)) return 0;
    this.lanes[lane].stats.busy += length;
    const i = this.head;
    this.segStart[i] = start;
    this.segEnd[i] = end;
    this.segLane[i] = lane;
    this.segFlags[i] = (depth & 0x7f) | (truncated ? 0x80 : 0);
    this.head = (i + 1) % this.cap;
    if (this.count < this.cap) this.count++;
    this.addBusy(lane, start, end);
    return length;
  }

  private addBusy(lane: number, start: number, end: number): void {
    if (Number.isNaN(this.bucketOrigin)) this.bucketOrigin = start;
    const w = this.bucketTicks;
    let b = Math.floor((start - this.bucketOrigin) / w);
    const last = Math.floor((end - this.bucketOrigin) / w);
    if (last >= this.maxBuckets) {
      this.coarsen(last);
      this.addBusy(lane, start, end);
      return;
    }
    if (last >= this.bucketCount) this.bucketCount = last + 1;
    let arr = this.buckets[lane];
    if (arr.length <= last) {
      const bigger = new Float64Array(Math.min(this.maxBuckets, Math.max(arr.length * 2, last + 1)));
      bigger.set(arr);
      arr = this.buckets[lane] = bigger;
    }
    let t = start;
    while (b <= last) {
      const bucketEnd = this.bucketOrigin + (b + 1) * w;
      const until = Math.min(end, bucketEnd);
      arr[b] += until - t;
      t = until;
      b++;
    }
  }

  /** Double the bucket width until bucket `needed` fits. */
  private coarsen(needed: number): void {
    while (needed >= this.maxBuckets) {
      for (let l = 0; l < this.buckets.length; l++) {
        const a = this.buckets[l];
        const merged = new Float64Array(a.length);
        for (let i = 0; i < a.length; i++) merged[i >> 1] += a[i];
        this.buckets[l] = merged;
      }
      this.bucketTicks *= 2;
      this.bucketCount = Math.ceil(this.bucketCount / 2);
      needed = Math.floor(needed / 2);
    }
  }

  /** Stored segments (the most recent `maxSegments`) overlapping [t0, t1], oldest first. */
  segments(t0 = -Infinity, t1 = Infinity, limit = Infinity): Segment[] {
    const out: Segment[] = [];
    const oldest = this.oldest;
    for (let k = this.firstEndingFrom(t0); k < this.count && out.length < limit; k++) {
      const i = (oldest + k) % this.cap;
      if (this.segStart[i] > t1) break;
      out.push({ lane: this.segLane[i], start: this.segStart[i], end: this.segEnd[i], depth: this.segFlags[i] & 0x7f, truncated: (this.segFlags[i] & 0x80) !== 0 });
    }
    return out;
  }

  /** Ring index of the oldest stored segment. */
  private get oldest(): number {
    return (this.head - this.count + this.cap) % this.cap;
  }

  /** Whether the stored segments (a bounded ring: the oldest are dropped) still reach back to `t`. */
  private storedFrom(t: number): boolean {
    return this.count > 0 && this.segStart[this.oldest] <= t;
  }

  /** Position (from the oldest) of the first stored segment ending at or after t0: segments are time-ordered. */
  private firstEndingFrom(t0: number): number {
    const oldest = this.oldest;
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.segEnd[(oldest + mid) % this.cap] < t0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  get storedSegments(): number {
    return this.count;
  }

  /**
   * What to draw for [t0, t1] with at most `maxItems` items: the segments themselves when they fit,
   * else per-lane busy fractions over buckets (merged from the stored buckets).
   */
  view(t0: number, t1: number, maxItems: number): { kind: 'segments'; segments: Segment[] } | { kind: 'load'; bucketTicks: number; origin: number; lanes: Float64Array[] } {
    const segs = this.segments(t0, t1, maxItems + 1);
    if (segs.length <= maxItems && this.storedFrom(t0)) return { kind: 'segments', segments: segs };
    const lanes = Math.max(1, this.lanes.length);
    const perLane = Math.max(1, Math.floor(maxItems / lanes));
    const origin = Number.isNaN(this.bucketOrigin) ? t0 : this.bucketOrigin;
    const firstBucket = Math.max(0, Math.floor((t0 - origin) / this.bucketTicks));
    const lastBucket = Math.min(this.bucketCount - 1, Math.floor((t1 - origin) / this.bucketTicks));
    const span = Math.max(1, lastBucket - firstBucket + 1);
    const factor = Math.max(1, Math.ceil(span / perLane));
    const out = this.buckets.map((a) => {
      const r = new Float64Array(Math.ceil(span / factor));
      for (let b = firstBucket; b <= lastBucket; b++) r[Math.floor((b - firstBucket) / factor)] += a[b] ?? 0;
      for (let i = 0; i < r.length; i++) r[i] /= this.bucketTicks * factor;
      return r;
    });
    return { kind: 'load', bucketTicks: this.bucketTicks * factor, origin: origin + firstBucket * this.bucketTicks, lanes: out };
  }

  /**
   * CPU load over [t0, t1] in `columns` equal slices: the share of each slice spent outside the
   * Idle lane (tasks, ISRs, the scheduler). Exact from the stored segments when they cover the
   * range and are not too many to walk; else from the pre-aggregated buckets. NaN for slices with
   * no recording (before the first event, after the last).
   */
  cpuLoad(t0: number, t1: number, columns: number, maxSegments = 10_000): Float64Array {
    const out = new Float64Array(Math.max(1, columns));
    const width = (t1 - t0) / out.length;
    if (!(width > 0) || Number.isNaN(this.first)) return out.fill(NaN);
    const idle = new Uint8Array(Math.max(1, this.lanes.length));
    for (const l of this.lanes) idle[l.index] = l.kind === 'idle' ? 1 : 0;
    const add = (start: number, end: number, weight: number) => {
      const a = Math.max(start, t0);
      const b = Math.min(end, t1);
      if (b <= a) return;
      const c0 = Math.min(out.length - 1, Math.floor((a - t0) / width));
      const c1 = Math.min(out.length - 1, Math.floor((b - t0) / width));
      for (let c = c0; c <= c1; c++) {
        const lo = Math.max(a, t0 + c * width);
        const hi = Math.min(b, t0 + (c + 1) * width);
        if (hi > lo) out[c] += (hi - lo) * weight;
      }
    };
    // Straight from the ring (no Segment objects): how many segments the window holds decides.
    const oldest = this.oldest;
    const from = this.firstEndingFrom(t0);
    let to = from;
    while (to < this.count && to - from <= maxSegments && this.segStart[(oldest + to) % this.cap] <= t1) to++;
    if (to - from <= maxSegments && this.storedFrom(Math.max(t0, this.first))) {
      for (let k = from; k < to; k++) {
        const i = (oldest + k) % this.cap;
        if (!idle[this.segLane[i]]) add(this.segStart[i], this.segEnd[i], 1);
      }
    } else {
      const origin = Number.isNaN(this.bucketOrigin) ? this.first : this.bucketOrigin;
      const b0 = Math.max(0, Math.floor((t0 - origin) / this.bucketTicks));
      const b1 = Math.min(this.bucketCount - 1, Math.floor((t1 - origin) / this.bucketTicks));
      for (let b = b0; b <= b1; b++) {
        let busy = 0;
        for (let l = 0; l < this.buckets.length; l++) if (!idle[l]) busy += this.buckets[l][b] ?? 0;
        // Spread the bucket's busy time evenly over it: the buckets are all that is known here.
        if (busy > 0) add(origin + b * this.bucketTicks, origin + (b + 1) * this.bucketTicks, busy / this.bucketTicks);
      }
    }
    for (let c = 0; c < out.length; c++) {
      const lo = Math.max(t0 + c * width, this.first);
      const hi = Math.min(t0 + (c + 1) * width, this.last);
      out[c] = hi > lo ? Math.min(1, out[c] / (hi - lo)) : NaN;
    }
    return out;
  }

  /**
   * Lanes in the order people read them (as SystemView lists them): interrupts by exception
   * number, then tasks by id, then the scheduler and idle. Lane indices follow first appearance,
   * which depends on which event the recording happened to start with.
   */
  displayOrder(): Lane[] {
    const rank: Record<LaneKind, number> = { isr: 0, task: 1, scheduler: 2, idle: 3 };
    return [...this.lanes].sort((a, b) => rank[a.kind] - rank[b.kind] || a.id - b.id || a.index - b.index);
  }

  /** Busy ticks per lane since the start (for live load tables: diff two snapshots). */
  /**
   * Activations still open at the last event, per lane (those with time seen): when the trace
   * ends here they are cut short by its end, like the ones a gap cut (LaneStats.cut).
   */
  openRuns(): number[] {
    const open = new Array<number>(this.lanes.length).fill(0);
    const frames = this.thread ? [this.thread, ...this.stack] : this.stack;
    frames.forEach((frame, i) => {
      const top = i === frames.length - 1;
      if (frame.acc > 0 || (top && this.last > frame.segStart)) open[frame.lane]++;
    });
    return open;
  }

  busySnapshot(): number[] {
    return this.lanes.map((l) => l.stats.busy);
  }
}

/** Cortex-M exception names by number (16 + n is IRQ n). */
export function isrName(exception: number): string {
  const names: Record<number, string> = { 2: 'NMI', 3: 'HardFault', 4: 'MemManage', 5: 'BusFault', 6: 'UsageFault', 11: 'SVCall', 12: 'DebugMonitor', 14: 'PendSV', 15: 'SysTick' };
  return names[exception] ?? (exception >= 16 ? `IRQ${exception - 16}` : `exception ${exception}`);
}
