/**
 * SWO on the virtual bench: the target side (ITM/DWT exception trace through the TPIU's UART/NRZ
 * output) and the probe side (the CMSIS-DAP SWO capture buffer).
 *
 * Target side, as strict as silicon: trace comes out only when the debugger has set it up fully —
 * DEMCR.TRCENA, the ITM enabled with DWT forwarding and local timestamps (TCR.ITMENA|TSENA|DWTENA,
 * which the debug model accepts only after LAR was unlocked with 0xC5ACCE55), DWT_CTRL.EXCTRCENA,
 * TPIU_SPPR = 2 (NRZ). The line runs at
 * traceclk / (ACPR + 1) baud, 10 bits per byte; the ITM's small FIFO overflows when exceptions come
 * faster than the line drains, and the ITM then sends an Overflow packet.
 *
 * Exceptions come from a script: periodic sources with a duration; one that becomes due while
 * another runs preempts it (nests), as a higher-priority interrupt would.
 */

export interface ExceptionSource {
  exception: number;
  /** Seconds between activations. */
  period: number;
  /** Seconds of handler run time. */
  duration: number;
  /** Seconds until the first activation. */
  offset?: number;
}

export interface SwoTargetOptions {
  /** TRACECLKIN (the core clock on Cortex-M3/M4 parts), Hz. */
  traceClockHz: number;
  sources: ExceptionSource[];
  /** ITM output FIFO in bytes (small on silicon). */
  fifoBytes?: number;
}

/** Reads 32-bit words from the target's debug view (ITM/DWT/TPIU registers). */
export type RegisterReader = (address: number) => Promise<number>;

const DEMCR = 0xe000edfc;
const ITM_TCR = 0xe0000e80;
const DWT_CTRL = 0xe0001000;
const TPIU_ACPR = 0xe0040010;
const TPIU_SPPR = 0xe00400f0;

export const ITM_UNLOCK = 0xc5acce55;

interface TraceEvent {
  time: number;
  exception: number;
  fn: 1 | 2 | 3; // enter, exit, return
}

/**
 * The script run forward in time: `advance(until)` returns the exception trace events up to `until`
 * seconds and keeps its state (next activation per source, the preemption stack), so a long capture
 * costs time proportional to its events. Activations due at the same time start in source order.
 */
export class ExceptionScript {
  private readonly next: number[];
  private readonly stack: { exception: number; remaining: number }[] = [];
  private now = 0;

  constructor(private readonly sources: readonly ExceptionSource[]) {
    this.next = sources.map((s) => s.offset ?? 0);
  }

  advance(until: number): TraceEvent[] {
    const events: TraceEvent[] = [];
    for (;;) {
      let k = -1;
      for (let i = 0; i < this.sources.length; i++) if (this.next[i] < until && (k < 0 || this.next[i] < this.next[k])) k = i;
      if (k < 0) break;
      const start = this.next[k];
      this.next[k] += this.sources[k].period;
      this.runUntil(Math.max(this.now, start), events);
      this.stack.push({ exception: this.sources[k].exception, remaining: this.sources[k].duration });
      events.push({ time: this.now, exception: this.sources[k].exception, fn: 1 });
    }
    this.runUntil(until, events);
    return events;
  }

  /** Run the innermost handler(s) up to `limit`: each that finishes exits and returns to the one below. */
  private runUntil(limit: number, events: TraceEvent[]): void {
    const stack = this.stack;
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (this.now + top.remaining > limit) {
        top.remaining -= limit - this.now;
        this.now = limit;
        return;
      }
      this.now += top.remaining;
      stack.pop();
      events.push({ time: this.now, exception: top.exception, fn: 2 });
      events.push({ time: this.now, exception: stack.length ? stack[stack.length - 1].exception : 0, fn: 3 });
    }
    this.now = limit;
  }
}

/** Expand the script into exception trace events up to `until` seconds, nesting overlaps. */
export function scriptEvents(sources: readonly ExceptionSource[], until: number): TraceEvent[] {
  return new ExceptionScript(sources).advance(until);
}

/** ITM packet bytes for one exception trace event. */
function exceptionPacket(e: TraceEvent): number[] {
  return [0x0e, e.exception & 0xff, ((e.exception >> 8) & 1) | (e.fn << 4)];
}

/**
 * Local timestamp packet: LTS2 (one byte, value in the header) for 1–6, else LTS1 ("synchronous",
 * header 0xC0) with the delta in 7-bit groups, least significant first, continuation in bit 7.
 */
function localTimestamp(delta: number): number[] {
  if (delta > 0 && delta < 7) return [delta << 4];
  const bytes: number[] = [];
  let v = Math.min(delta, 2 ** 28 - 1);
  do {
    bytes.push(v & 0x7f);
    v = Math.floor(v / 128);
  } while (v > 0);
  for (let k = 0; k < bytes.length - 1; k++) bytes[k] |= 0x80;
  return [0xc0, ...bytes];
}

export class SwoTarget {
  readonly stats = { events: 0, bytes: 0, overflows: 0, droppedEvents: 0 };
  private events: TraceEvent[] = [];
  private next = 0;
  private horizon = 0;
  private readonly script: ExceptionScript;
  private lastStamp = 0;
  /** Bytes queued in the ITM FIFO, and when the line finishes sending the queue. */
  private fifo: number[] = [];
  private lineFree = 0;
  private pendingOverflow = false;
  private synced = false;

  constructor(readonly options: SwoTargetOptions) {
    this.script = new ExceptionScript(options.sources);
  }

  /** The SWO baud the target is set up for, or null when trace is not fully enabled. */
  async configuration(read: RegisterReader): Promise<{ baud: number } | null> {
    const demcr = await read(DEMCR);
    if (!(demcr & (1 << 24))) return null; // TRCENA
    const tcr = await read(ITM_TCR);
    if ((tcr & 0b1011) !== 0b1011) return null; // ITMENA, TSENA, DWTENA
    if (!((await read(DWT_CTRL)) & (1 << 16))) return null; // EXCTRCENA
    if ((await read(TPIU_SPPR)) !== 2) return null; // NRZ (UART)
    const acpr = (await read(TPIU_ACPR)) & 0x1fff;
    return { baud: this.options.traceClockHz / (acpr + 1) };
  }

  /**
   * The bytes that left the SWO pin during (from, to] seconds at `baud`, if trace is set up
   * (`enabledSince` = when it became so: nothing before counts).
   */
  emit(from: number, to: number, baud: number, enabledSince: number): Uint8Array {
    const byteTime = 10 / baud;
    const fifoBytes = this.options.fifoBytes ?? 32;
    if (to > this.horizon) {
      this.events = this.events.slice(this.next).concat(this.script.advance(to + 0.05));
      this.next = 0;
      this.horizon = to + 0.05;
    }
    const out: number[] = [];
    const drainTo = (t: number) => {
      while (this.fifo.length && this.lineFree <= t) {
        out.push(this.fifo.shift()!);
        this.lineFree += byteTime;
      }
      if (!this.fifo.length && this.lineFree < t) this.lineFree = t;
    };
    if (!this.synced) {
      this.fifo.push(0, 0, 0, 0, 0, 0x80); // synchronisation packet
      this.lineFree = Math.max(this.lineFree, enabledSince);
      this.synced = true;
    }
    while (this.next < this.events.length && this.events[this.next].time <= to) {
      const e = this.events[this.next++];
      if (e.time < enabledSince) continue;
      drainTo(e.time);
      const stampTicks = Math.round(e.time * this.options.traceClockHz);
      const bytes = [...exceptionPacket(e), ...localTimestamp(stampTicks - this.lastStamp)];
      if (this.pendingOverflow) bytes.unshift(0x70);
      if (this.fifo.length + bytes.length > fifoBytes) {
        this.pendingOverflow = true;
        this.stats.droppedEvents++;
        continue;
      }
      if (this.pendingOverflow) this.stats.overflows++;
      this.pendingOverflow = false;
      this.lastStamp = stampTicks;
      this.fifo.push(...bytes);
      this.stats.events++;
    }
    drainTo(to);
    this.stats.bytes += out.length;
    return Uint8Array.from(out);
  }
}

/** CMSIS-DAP trace status bits (DAP_SWO_Status). */
export const SWO_STATUS = { active: 1 << 0, streamError: 1 << 6, overrun: 1 << 7 } as const;

/**
 * The probe's SWO capture: a UART receiver at the configured baud and a buffer the host drains
 * with DAP_SWO_Data. A baud that does not match the target's (beyond UART tolerance) receives
 * garbage and flags a stream error; a full buffer drops bytes and flags an overrun.
 */
export class SwoCapture {
  transport = 0;
  mode = 0;
  baud = 0;
  active = false;
  status = 0;
  readonly buffer: number[] = [];
  private lastTime = 0;
  private enabledSince: number | null = null;

  constructor(
    readonly bufferSize: number,
    readonly maxBaud: number,
    private readonly target: SwoTarget | null,
  ) {}

  /** The rate this probe can actually run for a requested baud (its 48 MHz clock divided), or 0. */
  actualBaud(requested: number): number {
    if (requested <= 0) return 0;
    const divisor = Math.max(1, Math.ceil(48_000_000 / Math.min(requested, this.maxBaud)));
    return Math.floor(48_000_000 / divisor);
  }

  start(now: number): void {
    this.active = true;
    this.lastTime = now;
    this.status &= ~(SWO_STATUS.streamError | SWO_STATUS.overrun);
  }

  stop(): void {
    this.active = false;
  }

  /** Move what the line carried since the last call into the buffer. */
  async pump(now: number, read: RegisterReader): Promise<void> {
    if (!this.active || !this.target || now <= this.lastTime) {
      this.lastTime = Math.max(this.lastTime, now);
      return;
    }
    const config = await this.target.configuration(read);
    if (!config) {
      this.enabledSince = null;
      this.lastTime = now;
      return;
    }
    if (this.enabledSince === null) this.enabledSince = this.lastTime;
    let bytes = this.target.emit(this.lastTime, now, config.baud, this.enabledSince);
    this.lastTime = now;
    if (this.mode !== 1 || Math.abs(this.baud - config.baud) / config.baud > 0.03) {
      // Wrong mode or baud: the UART samples the wrong bits.
      if (bytes.length) this.status |= SWO_STATUS.streamError;
      bytes = bytes.map((b, i) => ((b * 37 + i * 11) ^ 0xa5) & 0xff);
    }
    for (const b of bytes) {
      if (this.buffer.length >= this.bufferSize) {
        this.status |= SWO_STATUS.overrun;
        break;
      }
      this.buffer.push(b);
    }
  }

  traceStatus(): number {
    return (this.active ? SWO_STATUS.active : 0) | (this.status & (SWO_STATUS.streamError | SWO_STATUS.overrun));
  }
}
