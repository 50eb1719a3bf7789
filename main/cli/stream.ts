/**
 * Streaming RTT to the terminal and log files: defmt channels decoded, text channels as lines,
 * filters, --until/--timeout for scripts, reattach after a target reset, stdin to a down channel.
 * Every record goes to the log file as it arrives (one synchronous append per record), so Ctrl-C,
 * an unplugged probe or a crash never loses what was received.
 */
import { appendFileSync, closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DefmtTable, StreamEvent } from '../../core/defmt';
import { FilterError, checkTemplate, formatRecord, parseFilter, passes, recordToJson, type LogFilter } from '../../core/defmt/present';
import { ChannelRouter, type ChannelSinks } from '../../core/capture/router';
import { RttAttachStopped, RttNotFoundError, RttSession, pollLoop, type MemoryRange, type RttBatchMemory, type RttMode } from '../../core/rtt/session';
import { DHCSR } from '../../core/arm/registers';
import { hex32 } from '../../core/dap/protocol';
import { UsageError } from './parse';
import { SV_COMMAND, SV, findSysViewChannels } from '../../core/trace/systemview';
import { formatStatsTable, type SystemViewTrace } from '../../core/trace/session';
import { writeFileSync } from 'node:fs';

export interface OutputOptions {
  json?: boolean;
  logFormat?: string;
  location?: boolean;
  timestamps?: boolean;
  filter?: string;
  grep?: string;
  logFile?: string;
  until?: string;
  colour?: boolean;
}

/**
 * The output options checked as a whole, before anything streams: the filter (env_logger syntax),
 * the --log-format template and the --until regex. Each mistake is a usage error (exit 2).
 */
export function checkOutputOptions(options: OutputOptions): { filter: LogFilter | null; until: RegExp | null } {
  try {
    if (options.logFormat) checkTemplate(options.logFormat);
    const filter = options.filter ? parseFilter(options.filter) : null;
    let until: RegExp | null = null;
    try {
      until = options.until ? new RegExp(options.until) : null;
    } catch (err) {
      throw new UsageError(`--until is not a valid regular expression: ${(err as Error).message}`);
    }
    return { filter, until };
  } catch (err) {
    throw err instanceof FilterError ? new UsageError(err.message) : err;
  }
}

/**
 * Where decoded records and text lines go: stdout, the log file, the --until matcher.
 * --until sees every record and line as it arrives, before --filter and --grep decide what is
 * shown: a script waits for an event whether or not it is displayed. The match is the last thing
 * handled: what arrived after it in the same poll is not shown, so where output ends does not
 * depend on how many records one poll happened to fetch.
 */
export class Printer {
  readonly counts = { records: 0, shown: 0, malformed: 0, unknown: 0, lines: 0 };
  /** The last lines the firmware sent (text lines and defmt messages, shown or not): a stop report looks for a panic message here. */
  readonly recent: string[] = [];
  /** Sees every line the firmware sends, shown or not (`dapdeck test` follows the tests here). */
  onMessage?: (text: string) => void;
  matched = false;
  private readonly filter: LogFilter | null;
  private readonly until: RegExp | null;
  private readonly logJson: boolean;
  private readonly textOptions: { format?: string; location?: boolean; timestamps?: boolean };
  /** The log file, opened (append) up front so a bad path fails before anything streams. */
  private logFd: number | null = null;

  constructor(
    private readonly options: OutputOptions,
    private readonly out: (text: string) => void = (t) => process.stdout.write(t),
    private readonly warn: (text: string) => void = (t) => process.stderr.write(t),
  ) {
    ({ filter: this.filter, until: this.until } = checkOutputOptions(options));
    this.textOptions = { format: options.logFormat, location: options.location, timestamps: options.timestamps };
    this.logJson = !!options.json || /\.jsonl?$/i.test(options.logFile ?? '');
    if (options.logFile) {
      try {
        mkdirSync(dirname(options.logFile), { recursive: true });
        this.logFd = openSync(options.logFile, 'a');
      } catch (err) {
        throw new UsageError(`cannot open log file ${options.logFile}: ${describeFsError(err)}`);
      }
    }
  }

  defmt(channel: number, events: StreamEvent[]): void {
    for (const e of events) {
      // The run ends at the line --until matched: what the same RTT read carried after it is past
      // the end (a slow poll brings many lines at once, and the output must not depend on that).
      if (this.matched) return;
      if (e.kind === 'error') {
        if (e.unknownIndex) this.counts.unknown++;
        else this.counts.malformed++;
        const hex = Array.from(e.bytes.subarray(0, 32), (b) => b.toString(16).padStart(2, '0')).join(' ');
        this.warn(`dapdeck: warning: channel ${channel}: ${e.reason}; skipped frame [${hex}${e.bytes.length > 32 ? ' …' : ''}]\n`);
        this.log(this.logJson ? JSON.stringify({ channel, error: e.reason, bytes: hex }) : `(skipped frame: ${e.reason})`);
        continue;
      }
      const r = e.record;
      this.counts.records++;
      this.remember(r.message);
      // Each form is made once, and only if something needs it (screen, log file, --until).
      let plain: string | undefined;
      let json: string | undefined;
      const plainText = () => (plain ??= formatRecord(r, this.textOptions));
      const jsonText = () => (json ??= recordToJson(r, channel));
      if (this.until && (this.until.test(r.message) || this.until.test(plainText()))) this.matched = true;
      if (this.filter && !passes(this.filter, r)) continue;
      if (this.options.grep && !r.message.includes(this.options.grep)) continue;
      this.counts.shown++;
      this.out((this.options.json ? jsonText() : this.options.colour ? formatRecord(r, { ...this.textOptions, colour: true }) : plainText()) + '\n');
      if (this.options.logFile) this.log(this.logJson ? jsonText() : plainText());
    }
  }

  /** Text channel lines (prefixed with the channel when several are shown). */
  lines(channel: number, lines: string[], prefix: string): void {
    for (const line of lines) {
      if (this.matched) return; // past the --until line, as for defmt records
      this.remember(line);
      if (this.until?.test(line)) this.matched = true;
      if (this.options.grep && !line.includes(this.options.grep)) continue;
      this.counts.lines++;
      const shown = this.options.json ? JSON.stringify({ channel, text: line }) : `${prefix}${line}`;
      this.out(shown + '\n');
      this.log(this.logJson ? JSON.stringify({ channel, text: line }) : `${prefix}${line}`);
    }
  }

  private remember(line: string): void {
    this.onMessage?.(line);
    this.recent.push(line);
    if (this.recent.length > 16) this.recent.shift();
  }

  note(text: string): void {
    this.warn(`dapdeck: ${text}\n`);
    this.log(this.logJson ? JSON.stringify({ note: text }) : `(${text})`);
  }

  /** One synchronous append per record; a failing write (disk full) ends the stream with one line. */
  private log(line: string): void {
    if (this.logFd === null) return;
    try {
      writeSync(this.logFd, line + '\n');
    } catch (err) {
      throw new Error(`cannot write log file ${this.options.logFile}: ${describeFsError(err)}`);
    }
  }

  close(): void {
    if (this.logFd !== null) closeSync(this.logFd);
    this.logFd = null;
  }

  summary(): string {
    const c = this.counts;
    return `${c.records} defmt records (${c.shown} shown), ${c.lines} text lines, ${c.malformed} malformed frames, ${c.unknown} unknown indices`;
  }
}

/** "EISDIR: illegal operation on a directory", without Node's ", open '/path'" tail (the caller names the path). */
export function describeFsError(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/, \w+( '.*')?$/, '');
}

export interface RttStreamOptions extends OutputOptions {
  /** Up channels to show. */
  channels: number[];
  /** The channel carrying defmt frames (decoded with `table`). */
  defmtChannel?: number;
  table?: DefmtTable;
  address?: number;
  scan: MemoryRange[];
  mode?: RttMode;
  /** Stop after this many seconds (exit 0). */
  duration?: number;
  /** Give up after this many seconds (exit 4) unless --until matched. */
  timeout?: number;
  /** Lines typed on stdin go to this down channel. */
  stdinChannel?: number;
  attachTimeoutMs?: number;
  /** Stops the stream from outside (tests, the app). */
  signal?: AbortSignal;
  /** Output sinks (default: stdout/stderr). */
  out?: (text: string) => void;
  warn?: (text: string) => void;
  trace?: TraceStreamOptions;
  /**
   * Watch the core while streaming: `address` (DHCSR) is read in the first batch of every poll,
   * and `onStatus` sees each value after that poll's data has been shown. It returns an exit code
   * to end the stream (the core stopped for good) or null to carry on (e.g. a semihosting call
   * was served and the core resumed).
   */
  core?: { address: number; onStatus(dhcsr: number, printer: Printer): Promise<number | null> };
  /** Every line the firmware sends (text lines and defmt messages), shown or not. */
  onMessage?: (text: string) => void;
}

export interface TraceStreamOptions {
  /** Where decoded events go (the caller reads the timeline afterwards). */
  sink: SystemViewTrace;
  /** Up channel with SystemView packets (default: the one named "SysView"). */
  channel?: number;
  /** Append the raw SystemView bytes here as they arrive. */
  record?: string;
  /** Print a per-task/ISR load table every second (to the warning sink). */
  live?: boolean;
}

export const EXIT_TIMEOUT = 4;

/** Node's timers hold at most 2^31 - 1 ms (~24.8 days); a longer delay would fire after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimeout {
  clear(): void;
}

/** setTimeout for any finite delay: longer ones are re-armed in steps Node's timers can hold. */
export function setLongTimeout(callback: () => void, ms: number): LongTimeout {
  const due = Date.now() + ms;
  let timer: NodeJS.Timeout;
  const arm = (left: number) => {
    timer = setTimeout(() => {
      const remaining = due - Date.now();
      if (remaining > 0) arm(remaining);
      else callback();
    }, Math.min(Math.max(left, 0), MAX_TIMER_MS));
  };
  arm(ms);
  return { clear: () => clearTimeout(timer) };
}

/** Load per lane since the previous table (busy ticks / elapsed ticks). */
function liveTable(trace: SystemViewTrace, lastBusy: number[], lastTime: number): string {
  const t = trace.timeline;
  const elapsed = t.last - (lastTime || t.first);
  const busy = t.busySnapshot();
  const parts = t.displayOrder().map((l) => `${l.name} ${elapsed > 0 ? (((busy[l.index] - (lastBusy[l.index] ?? 0)) / elapsed) * 100).toFixed(1) : '0.0'}%`);
  return `trace ${trace.seconds(t.last - t.first).toFixed(1)} s: ${parts.join(', ')}${t.gaps.length ? ` (${t.gaps.filter((g) => g.reason === 'overflow').length} overflow gaps)` : ''}`;
}

export { formatStatsTable };

/** Streams until Ctrl-C, --duration, --timeout or an --until match. Returns the exit code. */
export async function streamRtt(memory: RttBatchMemory, options: RttStreamOptions): Promise<number> {
  // DAPDECK_COLOR=1: colour though stdout is a pipe (run on several probes sets it for its children
  // when it writes to a terminal itself).
  const terminal = process.stdout.isTTY || process.env.DAPDECK_COLOR === '1';
  const printer = new Printer({ ...options, colour: options.colour ?? (!options.out && terminal && !options.json) }, options.out, options.warn);
  printer.onMessage = options.onMessage;
  const info = options.warn ?? ((t: string) => process.stderr.write(t));
  const abort = new AbortController();
  // With a trace running, stopping first tells the target to stop recording and waits (briefly)
  // for its TRACE_STOP, so the recording ends cleanly instead of mid-packet.
  const trace = options.trace;
  let traceDown = -1;
  let traceActive = false;
  let stopping = false;
  let stopSentAt = 0;
  let traceStoppedAt = 0;
  const requestStop = () => {
    if (traceActive) stopping = true;
    else abort.abort();
  };
  options.signal?.addEventListener('abort', requestStop);
  const onSigint = () => requestStop();
  process.once('SIGINT', onSigint);
  let timedOut = false;
  const timers: LongTimeout[] = [];
  if (options.duration !== undefined) timers.push(setLongTimeout(requestStop, options.duration * 1000));
  if (options.timeout !== undefined) {
    timers.push(
      setLongTimeout(() => {
        timedOut = true;
        requestStop();
      }, options.timeout * 1000),
    );
  }
  if (trace?.record) writeFileSync(trace.record, new Uint8Array(0));
  if (trace) trace.sink.onMessage = (m) => printer.lines(-1, [`${m.seconds.toFixed(6)} ${m.level.toUpperCase()} ${m.text}`], '[SysView] ');
  let lastTable = Date.now();
  let lastBusy: number[] = [];
  let lastTime = 0;
  const traceStep = async () => {
    if (!trace || !session) return;
    if (stopping && traceActive && stopSentAt === 0) {
      await session.write(traceDown, Uint8Array.of(SV_COMMAND.stop));
      stopSentAt = Date.now();
    }
    if (stopping && (traceStoppedAt ? Date.now() - traceStoppedAt > 150 : stopSentAt && Date.now() - stopSentAt > 1500)) {
      traceActive = false;
      abort.abort();
    }
    if (trace.live && Date.now() - lastTable >= 1000 && !Number.isNaN(trace.sink.timeline.first)) {
      lastTable = Date.now();
      info(liveTable(trace.sink, lastBusy, lastTime) + '\n');
      lastBusy = trace.sink.timeline.busySnapshot();
      lastTime = trace.sink.timeline.last;
    }
  };
  const router = new ChannelRouter({ table: options.defmtChannel === undefined ? null : (options.table ?? null), defmtChannel: options.defmtChannel, channels: options.channels });
  const sinks: ChannelSinks = {
    defmt: (channel, events) => printer.defmt(channel, events),
    text: (channel, lines) => printer.lines(channel, lines, options.channels.length > 1 ? `[${channel}] ` : ''),
    trace: (_channel, data) => {
      if (!trace) return;
      if (trace.record) appendFileSync(trace.record, data);
      const before = trace.sink.counts.get(SV.TRACE_STOP) ?? 0;
      trace.sink.push(data);
      if ((trace.sink.counts.get(SV.TRACE_STOP) ?? 0) > before && stopSentAt) traceStoppedAt = Date.now();
    },
  };
  let session: RttSession | null = null;
  let stopCode: number | null = null;
  /** The core stopped for semihosting before any RTT block appeared: firmware that talks that way. */
  let servedWithoutRtt = false;
  const core = options.core;
  // Until a control block appears the core is still watched (its semihosting calls served), so
  // firmware with no RTT at all streams its semihosting output and ends by its exit or a fault.
  const whileWaiting = core
    ? async (dhcsr: number): Promise<'stop' | 'active' | 'idle'> => {
        stopCode = await core.onStatus(dhcsr, printer);
        if (stopCode !== null) return 'stop';
        if (dhcsr & DHCSR.S_HALT) servedWithoutRtt = true;
        return servedWithoutRtt ? 'active' : 'idle';
      }
    : undefined;
  const pending: Buffer[] = [];
  const onStdin = (chunk: Buffer) => pending.push(chunk);
  if (options.stdinChannel !== undefined) process.stdin.on('data', onStdin);
  const forwardStdin = async () => {
    if (!pending.length || !session || options.stdinChannel === undefined) return;
    const data = Buffer.concat(pending.splice(0));
    const accepted = await (session as RttSession).write(options.stdinChannel, data);
    if (accepted < data.length) pending.unshift(data.subarray(accepted));
  };
  try {
    await pollLoop(
      () =>
        RttSession.attach(memory, {
          address: options.address,
          scan: options.scan,
          mode: options.mode,
          signal: abort.signal,
          timeoutMs: options.attachTimeoutMs ?? (options.timeout ? options.timeout * 1000 : 5000),
          watch: options.core?.address,
          whileWaiting,
        }),
      {
        onAttach: async (s) => {
          session = s;
          if (trace) {
            const found = trace.channel !== undefined ? { up: trace.channel, down: trace.channel } : findSysViewChannels(s.block);
            if (!found || !s.block.up[found.up] || !s.block.down[found.down]) {
              throw new UsageError(`no SystemView channels: the firmware needs an RTT up channel named "SysView" and a down channel for its commands (up: ${s.block.up.map((c) => `"${c.name}"`).join(', ')}; down: ${s.block.down.map((c) => `"${c.name}"`).join(', ')})`);
            }
            router.traceChannel = found.up;
            traceDown = found.down;
            await s.write(traceDown, Uint8Array.of(SV_COMMAND.start));
            traceActive = true;
            info(`SystemView: recording on RTT channel ${router.traceChannel}\n`);
          }
          const names = s.block.up.filter((c) => options.channels.includes(c.index)).map((c) => `${c.index} "${c.name}"`);
          info(`RTT control block at ${hex32(s.address)}: streaming up channel${names.length === 1 ? '' : 's'} ${names.join(', ')}\n`);
          for (const ch of options.channels) {
            if (!s.block.up[ch]) throw new UsageError(`RTT up channel ${ch} does not exist (the block at ${hex32(s.address)} has ${s.block.maxUp})`);
          }
        },
        onReset: (reason) => {
          if (trace) trace.sink.timeline.ingest({ kind: 'stop', time: trace.sink.timeline.last || 0 });
          router.restart(sinks);
          printer.note(`${reason}; waiting for the firmware to set RTT up again`);
        },
        onData: async (chunks) => {
          router.route(chunks, sinks);
          if (printer.matched) requestStop();
          await forwardStdin();
          await traceStep();
        },
        onIdle: async () => {
          await forwardStdin();
          await traceStep();
        },
        onWatched: async (dhcsr) => {
          if (!options.core || printer.matched) return false;
          stopCode = await options.core.onStatus(dhcsr, printer);
          return stopCode !== null;
        },
      },
      { signal: abort.signal },
    );
  } catch (err) {
    // The core stopped (or the run timed out) while the stream waited for RTT: that is the end of
    // the run, not an error, when the firmware was talking through semihosting meanwhile.
    if (!(err instanceof RttAttachStopped) && !(err instanceof RttNotFoundError && servedWithoutRtt && abort.signal.aborted)) throw err;
  } finally {
    printer.close();
    for (const t of timers) t.clear();
    process.removeListener('SIGINT', onSigint);
    if (options.stdinChannel !== undefined) {
      process.stdin.removeListener('data', onStdin);
      process.stdin.pause();
    }
    const decoded = router.defmtStats;
    if (decoded && (decoded.malformed || decoded.unknownIndex)) info(`dapdeck: ${printer.summary()}\n`);
  }
  if (options.until) {
    if (printer.matched) return 0;
    if (stopCode !== null && stopCode !== 0) return stopCode;
    info(`dapdeck: --until /${options.until}/ did not match${stopCode !== null ? ' before the firmware stopped' : timedOut ? ` within ${options.timeout} s` : ''}\n`);
    return EXIT_TIMEOUT;
  }
  if (stopCode !== null) return stopCode;
  if (timedOut) {
    info(`dapdeck: timed out after ${options.timeout} s\n`);
    return EXIT_TIMEOUT;
  }
  return 0;
}
