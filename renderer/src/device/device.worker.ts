/**
 * The device worker: owns the probe connection, flashing, RTT polling and all decoding, so the UI
 * thread only draws. It runs the same core the CLI runs; only the transport differs (a WebSocket to
 * `dapdeck serve`, or WebUSB).
 */
/// <reference lib="webworker" />
import { DebugSession } from '../../../core/arm/session';
import { CoreReg, SCS } from '../../../core/arm/registers';
import { examineStop, faultHeadline, formatStop, setFaultCatch } from '../../../core/arm/stop';
import { ProgramInfo, formatBacktrace, unwindHaltedCore } from '../../../core/elf/backtrace';
import { needsRecovery } from '../../../core/arm/session';
import type { HaltCause } from '../../../core/arm/cortex-m';
import { ProbeTimeoutError } from '../../../core/dap/errors';
import { readU32le } from '../../../core/dap/protocol';
import type { DapTransport } from '../../../core/dap/transport';
import { ElfFile, loadImage, uf2FamiliesOfChip } from '../../../core/elf';
import { checkChipCore } from '../../../core/flash/chip-check';
import { describeReport, eraseFlash, flashRegions } from '../../../core/flash/flasher';
import { chipFromPortable } from '../../../core/flash/portable-chip';
import { defmtTableFromElf, type DefmtTable } from '../../../core/defmt';
import { RttSession, pollLoop, type RttBatchMemory } from '../../../core/rtt/session';
import { ChannelRouter, type ChannelSinks } from '../../../core/capture/router';
import { SV_COMMAND, findSysViewChannels } from '../../../core/trace/systemview';
import { SystemViewTrace, statsRows, toChromeTrace } from '../../../core/trace/session';
import { PICO_CYCLE_NANOS, PicoEmulator } from '../../../core/sim/pico';
import { picoRomImage } from '../../../core/sim/pico-rom-image';
import { rp2040Probe } from '../../../core/sim/rp2040-bench';
import * as pageEmulator from 'virtual:page-emulator';
import { WebSocketTransport } from './ws-transport';
import { resolveAddress } from './symbols';
import { PortTransport } from './webusb';
import { PAGE_PICO_DESCRIPTION, LOAD_CHART_HEIGHT, TIMELINE_LABEL_WIDTH, TIMELINE_LANE_HEIGHT, timelineCanvasHeight, type FromWorker, type LogLine, type TargetState, type TimelineHover, type TimelineSnapshot, type TimelineView, type ToWorker, ECHO_CHANNEL, EVENT_LIST_LIMIT, STOP_CHANNEL } from './protocol';
import { drawAxis, drawLoadChart, drawTimeline, meanOf } from '../ui/timeline-draw';

declare const self: DedicatedWorkerGlobalScope;

const post = (m: FromWorker) => self.postMessage(m);

let session: DebugSession | null = null;
let transport: WebSocketTransport | null = null;
/** The emulated Pico running in this worker, while it is the connected board. */
let pagePico: PicoEmulator | null = null;
let description = '';
let streamAbort: AbortController | null = null;
let streaming: Promise<unknown> | null = null;
let rtt: RttSession | null = null;
let trace: SystemViewTrace | null = null;
let traceWanted = false;
let seq = 0;

/** One operation on the probe at a time: RTT polls and UI actions interleave safely. */
let lock: Promise<unknown> = Promise.resolve();
function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  const run = lock.then(fn, fn);
  lock = run.catch(() => undefined);
  return run;
}

function lockedMemory(s: DebugSession): RttBatchMemory {
  return {
    readMemory: (a, n) => exclusive(() => s.ap.readMemory(a, n)),
    writeMemory: (a, d) => exclusive(() => s.ap.writeMemory(a, d)),
    transact: (r, w) => exclusive(() => s.ap.transact(r, w)),
  };
}

// ---------------------------------------------------------------- log lines, batched to the UI

let pending: LogLine[] = [];
let flushTimer: ReturnType<typeof setTimeout> | null = null;
function emit(line: Omit<LogLine, 'seq'>): void {
  pending.push({ ...line, seq: seq++ });
  flushTimer ??= setTimeout(() => {
    flushTimer = null;
    post({ type: 'lines', lines: pending });
    pending = [];
  }, 40);
}

function note(message: string): void {
  emit({ channel: -1, level: null, timestamp: null, message, location: null, module: null });
}

// ---------------------------------------------------------------- streaming

async function stopStreaming(): Promise<void> {
  if (streamAbort) post({ type: 'streaming', fileName: null });
  streamAbort?.abort();
  await streaming?.catch(() => undefined);
  streamAbort = null;
  streaming = null;
  rtt = null;
}

function startStreaming(elf: Uint8Array | null, fileName: string): void {
  if (!session) return;
  const s = session;
  let table: DefmtTable | null = null;
  let address: number | undefined;
  if (elf && elf[0] === 0x7f && elf[1] === 0x45) {
    const file = new ElfFile(elf, fileName);
    address = file.symbol('_SEGGER_RTT')?.value;
    try {
      table = defmtTableFromElf(file);
    } catch (err) {
      note(`${(err as Error).message}: showing RTT as text`);
    }
  }
  const abort = new AbortController();
  streamAbort = abort;
  post({ type: 'streaming', fileName });
  const router = new ChannelRouter({ table, defmtChannel: 0 });
  const sinks: ChannelSinks = {
    defmt: (channel, events) => {
      for (const e of events) {
        if (e.kind === 'error') {
          emit({ channel, level: 'warn', timestamp: null, message: `(skipped frame: ${e.reason})`, location: null, module: null });
          continue;
        }
        const r = e.record;
        emit({
          channel,
          level: r.level ?? null,
          timestamp: r.timestamp ?? null,
          message: r.message,
          location: r.location ? `${r.location.file}:${r.location.line}` : null,
          module: r.location?.module ?? null,
        });
      }
    },
    text: (channel, lines) => {
      for (const message of lines) emit({ channel, level: null, timestamp: null, message, location: null, module: null });
    },
    trace: (_channel, data) => {
      if (!trace) return;
      trace.push(data);
      keepRecording(data);
    },
  };
  const memory = lockedMemory(s);
  streaming = pollLoop(
    () => RttSession.attach(memory, { address, scan: [{ start: 0x20000000, size: 0x4000 }], timeoutMs: 8000, signal: abort.signal }),
    {
      onAttach: async (r) => {
        rtt = r;
        // SystemView bytes go to the trace whether or not a recording runs (then they are few).
        router.traceChannel = r.block.up.findIndex((c) => c.name === 'SysView');
        post({ type: 'channels', up: r.block.up.map((c) => ({ index: c.index, name: c.name })), down: r.block.down.map((c) => ({ index: c.index, name: c.name })) });
        if (traceWanted && router.traceChannel >= 0) await startTrace();
      },
      onReset: (reason) => {
        router.restart(sinks);
        note(`${reason}; waiting for RTT`);
      },
      onData: (chunks) => {
        lastRttData = performance.now();
        router.route(chunks, sinks);
      },
    },
    { signal: abort.signal },
  ).catch((err: Error) => {
    if (abort.signal.aborted) return;
    const lost = linkFailure(err);
    if (lost) lose(lost);
    else post({ type: 'error', message: `RTT: ${err.message}`, action: 'attach' });
  });
}

// ---------------------------------------------------------------- trace

async function startTrace(): Promise<void> {
  if (!rtt) return;
  const found = findSysViewChannels(rtt.block);
  if (!found) {
    post({ type: 'error', message: 'this firmware has no SystemView channels (an RTT up channel named "SysView" and a down channel for commands)' });
    return;
  }
  trace = new SystemViewTrace({ maxSegments: 1 << 18 });
  recording = { chunks: [], bytes: 0, dropped: 0 };
  traceSource = 'live';
  // Text the firmware prints through SystemView goes to the console, on the defmt channel's view.
  trace.onMessage = (m) =>
    emit({ channel: 0, level: m.level === 'log' ? 'info' : m.level === 'warning' ? 'warn' : 'error', timestamp: m.seconds.toFixed(6), message: `[SysView] ${m.text}`, location: null, module: 'SysView' });
  await rtt.write(found.down, Uint8Array.of(SV_COMMAND.start));
}

async function stopTrace(): Promise<void> {
  const found = rtt ? findSysViewChannels(rtt.block) : null;
  if (rtt && found) await rtt.write(found.down, Uint8Array.of(SV_COMMAND.stop));
}

/** The SystemView bytes of the current recording, as received (for Save); bounded. */
const MAX_RECORDING_BYTES = 64 << 20;
let recording: { chunks: Uint8Array[]; bytes: number; dropped: number } = { chunks: [], bytes: 0, dropped: 0 };
let traceSource: 'live' | string = 'live';
function keepRecording(data: Uint8Array): void {
  if (recording.bytes + data.length > MAX_RECORDING_BYTES) {
    recording.dropped += data.length;
    return;
  }
  recording.chunks.push(data.slice());
  recording.bytes += data.length;
}

/** The window last drawn, in model ticks and in µs from the start (hover and measure use it). */
let drawn: { t0: number; t1: number; width: number } | null = null;

let canvas: OffscreenCanvas | null = null;
let view: TimelineView = { windowUs: 50_000, backUs: 0, width: 900, height: 200, dpr: 1 };

let lastLoad: TimelineSnapshot['load'] = { fromUs: 0, toUs: 0, values: new Float32Array(0), meanInView: NaN };
const NO_SPANS: TimelineSnapshot['spans'] = { list: [], total: 0, complete: true, fromUs: 0, toUs: 0 };
let lastSpans = NO_SPANS;

/** The task and ISR spans overlapping [t0, t1] (ticks), for the event list under the canvas. */
function spansIn(t0: number, t1: number): TimelineSnapshot['spans'] {
  const t = trace!.timeline;
  const us = (tick: number) => trace!.seconds(tick - t.first) * 1e6;
  const list: TimelineSnapshot['spans']['list'] = [];
  let total = 0;
  // Counted up to SPAN_SCAN_LIMIT (a whole long recording is not walked on every frame), listed up to the limit.
  const segments = t.segments(t0, t1, SPAN_SCAN_LIMIT);
  for (const seg of segments) {
    const lane = t.lanes[seg.lane];
    if (lane.kind !== 'task' && lane.kind !== 'isr') continue;
    if (++total > EVENT_LIST_LIMIT) continue;
    list.push({ lane: lane.name, kind: lane.kind, startUs: us(seg.start), durationUs: us(seg.end) - us(seg.start) });
  }
  return { list, total, complete: segments.length < SPAN_SCAN_LIMIT, fromUs: us(t0), toUs: us(t1) };
}
const SPAN_SCAN_LIMIT = 20_000;

/** Draw the timeline from the model for the current view (the canvas is ours: OffscreenCanvas). */
function drawCanvas(): void {
  if (!canvas || !trace || Number.isNaN(trace.timeline.first)) return;
  const t = trace.timeline;
  const ticksPerUs = (trace.clockHz || 1e6) / 1e6;
  const width = Math.max(200, view.width);
  const lanesHeight = t.lanes.length * TIMELINE_LANE_HEIGHT;
  const height = timelineCanvasHeight(t.lanes.length);
  if (canvas.width !== Math.round(width * view.dpr) || canvas.height !== Math.round(height * view.dpr)) {
    canvas.width = Math.round(width * view.dpr);
    canvas.height = Math.round(height * view.dpr);
  }
  const g = canvas.getContext('2d')!;
  g.setTransform(view.dpr, 0, 0, view.dpr, 0, 0);
  g.fillStyle = '#15191e';
  g.fillRect(0, 0, width, height);
  const t1 = t.last - view.backUs * ticksPerUs;
  const t0 = Math.max(t.first, t1 - view.windowUs * ticksPerUs);
  drawTimeline(g as unknown as CanvasRenderingContext2D, t, { t0, t1 }, { width, laneHeight: TIMELINE_LANE_HEIGHT, labelWidth: TIMELINE_LABEL_WIDTH });
  const load = t.cpuLoad(t0, t1, Math.max(1, Math.round(width - TIMELINE_LABEL_WIDTH)));
  lastLoad = { fromUs: trace.seconds(t0 - t.first) * 1e6, toUs: trace.seconds(t1 - t.first) * 1e6, values: Float32Array.from(load), meanInView: meanOf(load) };
  drawLoadChart(g as unknown as CanvasRenderingContext2D, load, lanesHeight, width, lastLoad.meanInView);
  // Gaps (target-side overflow) in red over every lane and the load chart.
  g.fillStyle = 'rgba(244, 67, 54, 0.35)';
  const x = (tick: number) => TIMELINE_LABEL_WIDTH + ((tick - t0) / Math.max(1, t1 - t0)) * (width - TIMELINE_LABEL_WIDTH);
  for (const gap of t.gaps) {
    if (gap.end < t0 || gap.start > t1) continue;
    g.fillRect(x(Math.max(gap.start, t0)), 0, Math.max(2, x(Math.min(gap.end, t1)) - x(Math.max(gap.start, t0))), lanesHeight + LOAD_CHART_HEIGHT);
  }
  drawn = { t0, t1, width };
  lastSpans = spansIn(t0, t1);
  const usOf = (tick: number) => trace!.seconds(tick - t.first) * 1e6;
  drawAxis(g as unknown as CanvasRenderingContext2D, usOf(t0), usOf(t1), width, lanesHeight + LOAD_CHART_HEIGHT, height);
  // The two measuring points (µs from the start), and what lies between them.
  g.strokeStyle = '#ffd54f';
  g.lineWidth = 1;
  const xUs = (us: number) => TIMELINE_LABEL_WIDTH + ((us - usOf(t0)) / Math.max(1e-9, usOf(t1) - usOf(t0))) * (width - TIMELINE_LABEL_WIDTH);
  for (const m of view.marks ?? []) {
    const px = Math.round(xUs(m)) + 0.5;
    if (px < TIMELINE_LABEL_WIDTH || px > width) continue;
    g.beginPath();
    g.moveTo(px, 0);
    g.lineTo(px, lanesHeight + LOAD_CHART_HEIGHT);
    g.stroke();
  }
}

setInterval(() => {
  if (!trace) return;
  const t = trace.timeline;
  const empty = Number.isNaN(t.first);
  if (!empty) drawCanvas();
  const origin = t.first;
  const us = (ticks: number) => trace!.seconds(ticks - origin) * 1e6;
  post({
    type: 'timeline',
    snapshot: {
      lanes: empty ? [] : statsRows(trace).map((r) => ({ name: r.lane, kind: r.kind, activations: r.activations, load: r.load, meanUs: r.meanSeconds * 1e6, maxUs: r.maxSeconds * 1e6 })),
      spanUs: empty ? 0 : us(t.last),
      gaps: empty ? [] : t.gaps.map((g) => [us(g.start), us(g.end)]),
      load: lastLoad,
      events: t.events,
      bytes: recording.bytes,
      source: traceSource,
      spans: empty ? NO_SPANS : lastSpans,
    },
  });
}, 300);

/** What is under the cursor: the span in that lane (start, length, what cut it short). */
function hoverAt(x: number, y: number): TimelineHover | null {
  if (!trace || !drawn || Number.isNaN(trace.timeline.first)) return null;
  const t = trace.timeline;
  const order = t.displayOrder();
  const row = Math.floor(y / TIMELINE_LANE_HEIGHT);
  if (row < 0 || row >= order.length || x < TIMELINE_LABEL_WIDTH) return null;
  const lane = order[row];
  const perPx = (drawn.t1 - drawn.t0) / Math.max(1, drawn.width - TIMELINE_LABEL_WIDTH);
  const at = drawn.t0 + (x - TIMELINE_LABEL_WIDTH) * perPx;
  const near = t.segments(at - 3 * perPx, at + 3 * perPx, 5000).filter((seg) => seg.lane === lane.index);
  if (!near.length) return null;
  // The span containing the cursor; else the nearest one (a short ISR is thinner than a pixel).
  const distance = (s: { start: number; end: number }) => (at < s.start ? s.start - at : at > s.end ? at - s.end : 0);
  const seg = near.reduce((best, s) => (distance(s) < distance(best) || (distance(s) === distance(best) && s.end - s.start > best.end - best.start) ? s : best));
  const us = (tick: number) => trace!.seconds(tick - t.first) * 1e6;
  // A piece of a task or ISR that ends where another lane's span starts was preempted by it.
  const next = t.segments(seg.end, seg.end, 50).find((o) => o.lane !== seg.lane && o.start === seg.end && t.lanes[o.lane].kind !== 'idle' && t.lanes[o.lane].kind !== 'scheduler');
  return { lane: lane.name, kind: lane.kind, startUs: us(seg.start), durationUs: us(seg.end) - us(seg.start), preemptedBy: next ? t.lanes[next.lane].name : null, truncated: seg.truncated };
}

// ---------------------------------------------------------------- target state

let state: TargetState = { kind: 'disconnected' };
let coreName = '';

function setState(next: TargetState): void {
  state = next;
  post({ type: 'state', state: next });
}

const live = () => state.kind === 'running' || state.kind === 'halted';

/** The session, if requests may go to it: never to a lost transport (they would only wait). */
function requireSession(): DebugSession {
  if (state.kind === 'lost') throw new Error(`the connection was lost (${state.reason}); press Reconnect`);
  if (state.kind === 'flashing') throw new Error('wait for the flash to finish');
  if (!session) throw new Error('connect to a probe first');
  return session;
}

/**
 * The transport died or stopped answering: say so once, stop the stream, and send nothing more
 * until the user reconnects (every request would otherwise wait out its own timeout).
 */
function lose(reason: string): void {
  if (state.kind === 'lost' || state.kind === 'disconnected') return;
  streamAbort?.abort();
  setState({ kind: 'lost', probe: description, reason });
}

/** What the user reads when the link failed; null when the error is about the request itself. */
function linkFailure(err: unknown): string | null {
  if (!needsRecovery(err)) return null;
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof ProbeTimeoutError) return `the probe stopped answering (${e.message})`;
  }
  const message = (err as Error).message.replace(/^probe disconnected: /, '');
  return message;
}

const HALT_REASONS: Record<HaltCause, string> = {
  request: 'by request',
  breakpoint: 'breakpoint',
  step: 'single step',
  'vector-catch': 'reset vector catch',
  watchpoint: 'watchpoint',
  external: 'external debug request',
  unknown: 'reason unknown',
};

const REGISTERS: [string, number][] = [['r0', CoreReg.r0], ['r1', CoreReg.r1], ['r2', CoreReg.r2], ['r3', CoreReg.r3], ['r12', CoreReg.r12], ['sp', CoreReg.sp], ['lr', CoreReg.lr], ['pc', CoreReg.pc], ['xpsr', CoreReg.xpsr]];

/** The last memory view the user asked for: read again whenever the core halts. */
let memoryView: { address: number; label: string; length: number } | null = null;

async function readMemoryView(s: DebugSession, whileRunning: boolean): Promise<void> {
  const v = memoryView;
  if (!v) return;
  const bytes = await exclusive(() => s.ap.readMemory(v.address, v.length));
  post({ type: 'memory', address: v.address, label: v.label, bytes, whileRunning });
}

/** Backtraces come from the chosen ELF (its DWARF is read at the first fault, then kept). */
let program: { file: ElfFile; info: ProgramInfo } | null = null;
function programInfo(): ProgramInfo | null {
  const file = firmware.file;
  if (!file) return null;
  if (program?.file !== file) program = { file, info: new ProgramInfo(file) };
  return program.info;
}

/**
 * A fault caught on entry to its handler (DEMCR vector catch, set on connect as probe-run does):
 * the stop as one console block — reason, fault registers in words, the faulting code, the
 * backtrace with file:line — and a status line naming the fault and the function it hit.
 */
async function describeFault(s: DebugSession): Promise<string | null> {
  const stop = await examineStop(s.core, await s.ap.read32(SCS.DHCSR));
  if (stop.kind !== 'fault') return null;
  const info = programInfo();
  const backtrace = info ? await unwindHaltedCore(info, s.core, { read32: (a) => s.ap.read32(a) }).catch(() => null) : null;
  const block = formatStop(stop, (a) => info?.functionAt(a) ?? null) + (backtrace ? formatBacktrace(backtrace, 50) : '');
  for (const line of block.trimEnd().split('\n')) emit({ channel: STOP_CHANNEL, level: null, timestamp: null, message: line, location: null, module: null });
  const hit = backtrace?.frames.find((f, i) => i > 0 && !f.inlined && backtrace.frames.slice(0, i + 1).some((g) => g.interrupted));
  return `${faultHeadline(stop)}${hit ? ` in ${hit.name}` : ''}`;
}

/** The core is halted: find out why, read its registers and the memory view, then say so. */
async function noteHalted(s: DebugSession, reason?: string): Promise<void> {
  const { cause, values } = await exclusive(async () => {
    let cause = reason;
    if (cause === undefined) {
      const raw = await s.core.haltCause();
      cause = (raw === 'vector-catch' ? await describeFault(s) : null) ?? HALT_REASONS[raw];
    }
    const regs = await s.core.readCoreRegisters(REGISTERS.map(([, r]) => r));
    return { cause, values: REGISTERS.map(([n], i) => [n, regs[i]] as [string, number]) };
  });
  post({ type: 'registers', values });
  const pc = values.find(([n]) => n === 'pc')![1];
  setState({ kind: 'halted', probe: description, core: coreName, reason: cause, pc });
  await readMemoryView(s, false);
}

/**
 * A job that changes flash (flash, erase), shown as `busy`. If it fails, the target is whatever it
 * is now (unless the link went with it): the state is read again.
 */
async function changingFlash<T>(s: DebugSession, busy: TargetState, job: () => Promise<T>): Promise<T> {
  const before = state;
  setState(busy);
  try {
    return await job();
  } catch (err) {
    if (!linkFailure(err)) {
      state = before;
      await refreshState(s).catch(() => undefined);
    }
    throw err;
  }
}

/** New firmware (or none): what was read from the old one (registers, memory, timeline) no longer applies. */
function forgetFirmware(fileName: string): void {
  trace = null;
  traceWanted = false;
  memoryView = null;
  post({ type: 'firmware', fileName });
}

/** Read the core's run state and show it (after connect, flash, reset, or when it may have changed). */
async function refreshState(s: DebugSession, haltReason?: string): Promise<void> {
  const status = await exclusive(() => s.core.status());
  if (s !== session) return;
  if (status.halted) await noteHalted(s, haltReason);
  else setState({ kind: 'running', probe: description, core: coreName, lockup: status.lockup });
}

// The core halts and runs by itself too (a breakpoint, another debugger, a reset button): DHCSR
// is read a few times a second while connected; it shares the probe lock with everything else.
// While RTT data flows the core is plainly running: the probe's time goes to the stream then (a
// busy SystemView channel overflows on the target if polls come late).
let watching = false;
let lastRttData = 0;
setInterval(() => {
  const s = session;
  if (watching || !s || !live()) return;
  if (state.kind === 'running' && !state.lockup && streaming && performance.now() - lastRttData < 500) return;
  watching = true;
  exclusive(() => s.core.status())
    .then(async (status) => {
      if (s !== session || !live()) return;
      if (status.halted && state.kind !== 'halted') await noteHalted(s);
      else if (!status.halted && (state.kind === 'halted' || (state.kind === 'running' && !!state.lockup !== status.lockup))) setState({ kind: 'running', probe: description, core: coreName, lockup: status.lockup });
    })
    .catch((err: unknown) => {
      // A session already replaced (Reconnect) failing on its way out says nothing about the new one.
      const lost = s === session ? linkFailure(err) : null;
      if (lost) lose(lost);
    })
    .finally(() => (watching = false));
}, 250);

// ---------------------------------------------------------------- firmware file and symbols

let firmware: { file: ElfFile | null; name: string } = { file: null, name: '' };

/** Blank flash (erased 0xFF, or QEMU's zeroes): running it only faults the core into lockup. */
async function assertNotBlank(s: DebugSession): Promise<void> {
  const vectors = await exclusive(() => s.ap.readMemory(0, 8));
  const sp = readU32le(vectors, 0);
  const reset = readU32le(vectors, 4);
  if ((sp === 0 && reset === 0) || (sp === 0xffffffff && reset === 0xffffffff)) {
    throw new Error(`the target's flash is blank (reset vector 0x${reset.toString(16).padStart(8, '0')}): flash firmware first; running it would only lock the core up`);
  }
}

/** The core's messages name CLI options where the app has a field or a menu: say those instead. */
function inAppWords(message: string): string {
  return message
    .replace('check --chip and the probe', 'choose the right chip in the Chip menu, or another probe')
    .replace('(--base ADDR)', '(fill in the base address field)')
    .replace(', or --format)', ')');
}

// ---------------------------------------------------------------- commands

/**
 * How long one probe response may take. Over the probe server a slow answer is the server's load
 * (an emulator on a busy machine), not a dead link: a dead server is noticed by the socket and its
 * heartbeat, so the wait for a response can be generous there. USB keeps the probe's own figure.
 */
const SERVER_RESPONSE_TIMEOUT_MS = 8000;
/** Largest read-back to a file (the whole flash of any Cortex-M part here), read in chunks that keep the UI's progress moving. */
const MAX_READ_TO_FILE = 16 << 20;
const READ_CHUNK = 16 * 1024;

/**
 * The page's own Pico: a fresh chip (erased flash, Dapdeck's ROM), the probe model in front of it.
 * Like a board just plugged in, it keeps nothing from an earlier connect.
 */
async function startPagePico(): Promise<{ emulator: PicoEmulator; transport: DapTransport }> {
  const response = await fetch(pageEmulator.bootrom.url);
  if (!response.ok) throw new Error(`the emulated Pico's boot ROM (${pageEmulator.bootrom.name}) did not load from this page's server: HTTP ${response.status}`);
  const emulator = new PicoEmulator({ bootrom: picoRomImage(new Uint8Array(await response.arrayBuffer()), pageEmulator.bootrom.name) });
  return { emulator, transport: rp2040Probe(emulator, { flavour: 'v2-bulk', serial: 'page:pico' }).transport };
}

function stopPagePico(): void {
  pagePico?.close();
  pagePico = null;
}

/**
 * How fast the page's Pico runs, once a second: emulated clock cycles (125 MHz clk_sys) and
 * instructions per second of wall time. The emulator never runs ahead of wall time, so a firmware
 * that sleeps shows its own duty cycle; code that never sleeps (a flash algorithm waiting on the
 * flash) shows the emulator's limit.
 */
let emulatorMark = { wall: 0, nanos: 0, instructions: 0 };
setInterval(() => {
  const pico = pagePico;
  if (!pico) return;
  const now = { wall: performance.now(), nanos: pico.clock.nanos, instructions: pico.core0.instructions };
  const seconds = (now.wall - emulatorMark.wall) / 1000;
  // A chip reset starts a fresh emulator clock: that second is not measured.
  if (now.nanos >= emulatorMark.nanos && seconds > 0) {
    post({ type: 'emulator', emulatedMHz: (now.nanos - emulatorMark.nanos) / PICO_CYCLE_NANOS / 1e6 / seconds, mips: (now.instructions - emulatorMark.instructions) / 1e6 / seconds });
  }
  emulatorMark = now;
}, 1000);

/** `pico`: the board is this worker's emulated Pico (it runs while it is the connected board). */
async function openSession(t: DapTransport, probe: string, options: { responseTimeoutMs?: number; pico?: PicoEmulator } = {}): Promise<void> {
  await stopStreaming();
  const old = session;
  session = null;
  await old?.close().catch(() => undefined);
  stopPagePico();
  if (options.pico) {
    pagePico = options.pico;
    emulatorMark = { wall: performance.now(), nanos: pagePico.clock.nanos, instructions: pagePico.core0.instructions };
  }
  description = probe;
  setState({ kind: 'connecting', probe });
  const s = await DebugSession.open(t, { responseTimeoutMs: options.responseTimeoutMs }).catch((err: unknown) => {
    stopPagePico();
    throw err;
  });
  session = s;
  coreName = s.summary!.core.name;
  await setFaultCatch(s.ap, true);
  await refreshState(s);
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'connect': {
      const t = new WebSocketTransport(m.resume ? `${m.url}&resume=${encodeURIComponent(m.resume.key)}` : m.url);
      t.onFailure = (err) => {
        if (transport === t) lose(err.message);
      };
      transport = t;
      await openSession(t, 'probe server', { responseTimeoutMs: SERVER_RESPONSE_TIMEOUT_MS });
      description = t.info?.description ?? 'probe';
      if (state.kind === 'running' || state.kind === 'halted') setState({ ...state, probe: description });
      post({ type: 'board', reattachKey: t.info?.reattach ?? null });
      if (!m.resume) return;
      if (!t.info?.resumed) {
        note('the board from before is gone (the server holds a board only briefly after its page left): this is a fresh board');
        return;
      }
      // The same board, its firmware still running: nothing was reset or flashed; stream on.
      note(`reattached to ${description}: the firmware kept running`);
      const stream = m.resume.stream;
      if (stream && state.kind === 'running') startStreaming(stream.elf ? new Uint8Array(stream.elf) : null, stream.fileName);
      return;
    }
    case 'connect-page': {
      // No server, no USB: the board is an emulator in this worker.
      transport = null;
      const pico = await startPagePico();
      await openSession(pico.transport, PAGE_PICO_DESCRIPTION, { pico: pico.emulator });
      return;
    }
    case 'connect-port': {
      // A USB probe the page opened (WebUSB): its packets come and go over the port.
      transport = null;
      await openSession(new PortTransport(m.port, m.packetSize), m.description);
      return;
    }
    case 'transport-lost':
      lose(m.reason);
      return;
    case 'disconnect':
      await stopStreaming();
      await session?.close().catch(() => undefined);
      session = null;
      stopPagePico();
      setState({ kind: 'disconnected' });
      return;
    case 'firmware-file':
      firmware = { file: null, name: m.fileName };
      if (m.bytes) {
        const bytes = new Uint8Array(m.bytes);
        if (bytes[0] === 0x7f && bytes[1] === 0x45) {
          try {
            firmware.file = new ElfFile(bytes, m.fileName);
          } catch {
            // Not a usable ELF: flashing says why; the memory view just has no symbols.
          }
        }
      }
      return;
    case 'flash': {
      const s = requireSession();
      const bytes = new Uint8Array(m.image);
      const { chip, regions, ram } = chipFromPortable(m.chip);
      const image = loadImage(bytes, m.fileName, { base: m.base, chip: { name: chip.name, families: uf2FamiliesOfChip(chip.name) } });
      if (s.summary) checkChipCore(chip, s.summary.core);
      await stopStreaming();
      const report = await changingFlash(s, { kind: 'flashing', probe: description, core: coreName, file: m.fileName }, () =>
        exclusive(() => flashRegions(s, regions, image, { ram, onProgress: (p) => post({ type: 'progress', phase: p.phase, done: p.done, total: p.total }) })),
      );
      forgetFirmware(m.fileName);
      post({ type: 'flashed', summary: `${m.fileName}: ${describeReport(report)}`, verified: report.verified, skipped: report.sectorsSkipped, touched: report.sectorsTouched });
      if (m.run && report.verified) {
        await exclusive(() => s.core.reset({ halt: false }));
        setState({ kind: 'running', probe: description, core: coreName });
        startStreaming(bytes, m.fileName);
      } else {
        await refreshState(s, 'after flashing');
      }
      return;
    }
    case 'erase': {
      const s = requireSession();
      const { chip, regions, ram } = chipFromPortable(m.chip);
      if (s.summary) checkChipCore(chip, s.summary.core);
      const range = m.range;
      const touched = regions.filter((r) => !range || (range.start < r.region.start + r.region.size && range.start + range.size > r.region.start));
      if (touched.length === 0) throw new Error(`nothing of ${chip.name}'s flash lies in 0x${range!.start.toString(16)}..0x${(range!.start + range!.size).toString(16)}`);
      await stopStreaming();
      const busy: TargetState = { kind: 'flashing', probe: description, core: coreName, file: range ? `0x${range.start.toString(16)}..0x${(range.start + range.size).toString(16)}` : chip.name, erasing: true };
      const sectors = await changingFlash(s, busy, async () => {
        let n = 0;
        for (const r of touched) n += await exclusive(() => eraseFlash(s, r.algorithm, { ram, range }));
        return n;
      });
      forgetFirmware('');
      const where = range ? ` covering 0x${range.start.toString(16).padStart(8, '0')}..0x${(range.start + range.size).toString(16).padStart(8, '0')}` : '';
      post({ type: 'erased', sectors, summary: `${chip.name}: erased ${sectors} sector${sectors === 1 ? '' : 's'}${where}` });
      await refreshState(s, 'after erasing');
      return;
    }
    case 'read-to-file': {
      const s = requireSession();
      if (!(Number.isInteger(m.length) && m.length > 0 && m.length <= MAX_READ_TO_FILE)) throw new Error(`read 1 byte to ${MAX_READ_TO_FILE / (1 << 20)} MiB into a file`);
      if (!(Number.isInteger(m.address) && m.address >= 0 && m.address + m.length <= 2 ** 32)) throw new Error('the range runs past the end of the 32-bit address space');
      const data = new Uint8Array(m.length);
      for (let done = 0; done < m.length; ) {
        const n = Math.min(READ_CHUNK, m.length - done);
        data.set(await exclusive(() => s.ap.readMemory(m.address + done, n)), done);
        done += n;
        post({ type: 'read-progress', done, total: m.length });
      }
      post({ type: 'download', name: m.name, mime: 'application/octet-stream', data: data.buffer });
      return;
    }
    case 'attach': {
      const s = requireSession();
      await stopStreaming();
      if (await exclusive(() => s.core.isHalted())) {
        await assertNotBlank(s);
        await exclusive(() => s.core.resume());
        setState({ kind: 'running', probe: description, core: coreName });
      }
      trace = null;
      post({ type: 'firmware', fileName: m.fileName });
      startStreaming(m.elf ? new Uint8Array(m.elf) : null, m.fileName);
      return;
    }
    case 'trace':
      requireSession();
      traceWanted = m.on;
      if (m.on) await startTrace();
      else await stopTrace();
      return;
    case 'control': {
      const s = requireSession();
      if (m.action === 'halt') {
        await exclusive(() => s.core.halt());
        await noteHalted(s, HALT_REASONS.request);
      } else if (m.action === 'resume') {
        await exclusive(() => s.core.resume());
        await refreshState(s);
      } else {
        await exclusive(() => s.core.reset({ halt: false }));
        note('target reset');
        setState({ kind: 'running', probe: description, core: coreName });
      }
      return;
    }
    case 'read-memory': {
      const s = requireSession();
      if (!(m.length > 0 && m.length <= 4096)) throw new Error('read 1 to 4096 bytes at a time');
      const { address, label } = resolveAddress(m.address, firmware.file, firmware.name);
      memoryView = { address, label, length: m.length };
      await readMemoryView(s, state.kind === 'running');
      return;
    }
    case 'timeline-canvas':
      canvas = m.canvas;
      drawCanvas();
      return;
    case 'timeline-view':
      view = m.view;
      drawCanvas();
      return;
    case 'timeline-hover':
      post({ type: 'timeline-hover', hover: m.x === null ? null : hoverAt(m.x, m.y) });
      return;
    case 'recording-save': {
      if (!trace) throw new Error('nothing recorded yet');
      if (m.format === 'perfetto') {
        post({ type: 'download', name: 'dapdeck-trace.json', mime: 'application/json', data: new TextEncoder().encode(JSON.stringify(toChromeTrace(trace))).buffer as ArrayBuffer });
      } else {
        const all = new Uint8Array(recording.bytes);
        let at = 0;
        for (const c of recording.chunks) {
          all.set(c, at);
          at += c.length;
        }
        post({ type: 'download', name: 'dapdeck-recording.svdat', mime: 'application/octet-stream', data: all.buffer });
      }
      return;
    }
    case 'recording-load': {
      // A saved recording replaces what is shown (a live recording keeps streaming into its own).
      const loaded = new SystemViewTrace({ maxSegments: 1 << 20 });
      const bytes = new Uint8Array(m.bytes);
      loaded.push(bytes);
      if (Number.isNaN(loaded.timeline.first)) throw new Error(`${m.fileName} holds no SystemView events`);
      traceWanted = false;
      trace = loaded;
      recording = { chunks: [bytes], bytes: bytes.length, dropped: 0 };
      traceSource = m.fileName;
      drawCanvas();
      return;
    }
    case 'rtt-write': {
      requireSession();
      if (!rtt) throw new Error('RTT is not running: attach or flash & run first');
      const data = new TextEncoder().encode(m.text);
      const n = await rtt.write(m.channel, data);
      // Echo what went down, as sent (line ending shown), in every channel's view.
      const shown = new TextDecoder().decode(data.subarray(0, n)).replace(/\r/g, '␍').replace(/\n/g, '␊');
      emit({ channel: ECHO_CHANNEL, level: null, timestamp: null, message: `↓${m.channel} ${shown}`, location: null, module: null });
      if (n < data.length) note(`down channel ${m.channel} took ${n} of ${data.length} bytes (the firmware is not reading fast enough)`);
      return;
    }
  }
}

let queue: Promise<void> = Promise.resolve();
/** Messages that must not wait behind a slow request: they only change what the worker knows. */
const IMMEDIATE = new Set<ToWorker['type']>(['transport-lost', 'timeline-canvas', 'timeline-view', 'timeline-hover', 'firmware-file', 'recording-save', 'recording-load']);

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const m = event.data;
  const run = () =>
    handle(m).catch((err: Error) => {
      const lost = linkFailure(err);
      if (lost) {
        lose(lost);
        if (m.type === 'connect' || m.type === 'connect-port' || m.type === 'connect-page') setState({ kind: 'lost', probe: description, reason: lost });
        return;
      }
      if (m.type === 'connect' || m.type === 'connect-port' || m.type === 'connect-page') {
        session = null;
        setState({ kind: 'disconnected' });
      }
      post({ type: 'error', message: inAppWords(err.message), action: m.type });
    });
  if (IMMEDIATE.has(m.type)) void run();
  else queue = queue.then(run);
};
