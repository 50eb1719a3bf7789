/**
 * The device worker: owns the probe connection, flashing, RTT polling and all decoding, so the UI
 * thread only draws. It runs the same core the CLI runs; only the transport differs (a WebSocket to
 * `dapdeck serve`, or WebUSB).
 */
/// <reference lib="webworker" />
import { DebugSession } from '../../../core/arm/session';
import { CoreReg } from '../../../core/arm/registers';
import { ElfFile, loadImage } from '../../../core/elf';
import { parseTargetYaml } from '../../../core/flash/algorithm';
import { checkChipCore } from '../../../core/flash/chip-check';
import { describeReport, flashImage } from '../../../core/flash/flasher';
import { defmtTableFromElf, type DefmtTable } from '../../../core/defmt';
import { RttSession, pollLoop, type RttBatchMemory } from '../../../core/rtt/session';
import { ChannelRouter, type ChannelSinks } from '../../../core/capture/router';
import { SV_COMMAND, findSysViewChannels } from '../../../core/trace/systemview';
import { SystemViewTrace, statsRows } from '../../../core/trace/session';
import { WebSocketTransport } from './ws-transport';
import { PortTransport } from './webusb';
import { LOAD_CHART_HEIGHT, TIMELINE_LABEL_WIDTH, TIMELINE_LANE_HEIGHT, timelineCanvasHeight, type FromWorker, type LogLine, type TimelineSnapshot, type TimelineView, type ToWorker } from './protocol';
import { drawLoadChart, drawTimeline, meanOf } from '../ui/timeline-draw';

declare const self: DedicatedWorkerGlobalScope;

const post = (m: FromWorker) => self.postMessage(m);

let session: DebugSession | null = null;
let transport: WebSocketTransport | null = null;
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
    trace: (_channel, data) => trace?.push(data),
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
      onData: (chunks) => router.route(chunks, sinks),
    },
    { signal: abort.signal },
  ).catch((err: Error) => {
    if (!abort.signal.aborted) post({ type: 'error', message: err.message });
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
  // Text the firmware prints through SystemView goes to the console, on the defmt channel's view.
  trace.onMessage = (m) =>
    emit({ channel: 0, level: m.level === 'log' ? 'info' : m.level === 'warning' ? 'warn' : 'error', timestamp: m.seconds.toFixed(6), message: `[SysView] ${m.text}`, location: null, module: 'SysView' });
  await rtt.write(found.down, Uint8Array.of(SV_COMMAND.start));
}

async function stopTrace(): Promise<void> {
  const found = rtt ? findSysViewChannels(rtt.block) : null;
  if (rtt && found) await rtt.write(found.down, Uint8Array.of(SV_COMMAND.stop));
}

let canvas: OffscreenCanvas | null = null;
let view: TimelineView = { windowUs: 50_000, backUs: 0, width: 900, height: 200, dpr: 1 };

let lastLoad: TimelineSnapshot['load'] = { fromUs: 0, toUs: 0, values: new Float32Array(0), meanInView: NaN };

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
  g.fillStyle = '#90a4ae';
  g.font = '11px system-ui, sans-serif';
  g.fillText(`${(trace.seconds(t0 - t.first) * 1000).toFixed(2)} ms`, TIMELINE_LABEL_WIDTH + 2, height - 6);
  g.fillText(`${(trace.seconds(t1 - t.first) * 1000).toFixed(2)} ms`, width - 80, height - 6);
}

setInterval(() => {
  if (!trace || Number.isNaN(trace.timeline.first)) return;
  drawCanvas();
  const t = trace.timeline;
  const origin = t.first;
  const us = (ticks: number) => trace!.seconds(ticks - origin) * 1e6;
  post({
    type: 'timeline',
    snapshot: {
      lanes: statsRows(trace).map((r) => ({ name: r.lane, kind: r.kind, activations: r.activations, load: r.load, meanUs: r.meanSeconds * 1e6, maxUs: r.maxSeconds * 1e6 })),
      spanUs: us(t.last),
      gaps: t.gaps.map((g) => [us(g.start), us(g.end)]),
      load: lastLoad,
    },
  });
}, 300);

// ---------------------------------------------------------------- commands

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'connect': {
      await stopStreaming();
      await session?.close().catch(() => undefined);
      post({ type: 'status', state: 'connecting', detail: 'connecting…' });
      transport = new WebSocketTransport(m.url);
      session = await DebugSession.open(transport);
      description = transport.info?.description ?? 'probe';
      const s = session.summary!;
      post({ type: 'status', state: 'connected', detail: `${description} — ${s.core.name}` });
      return;
    }
    case 'connect-port': {
      // A USB probe the page opened (WebUSB): its packets come and go over the port.
      await stopStreaming();
      await session?.close().catch(() => undefined);
      post({ type: 'status', state: 'connecting', detail: 'connecting…' });
      transport = null;
      session = await DebugSession.open(new PortTransport(m.port, m.packetSize));
      description = m.description;
      post({ type: 'status', state: 'connected', detail: `${description} — ${session.summary!.core.name}` });
      return;
    }
    case 'disconnect':
      await stopStreaming();
      await session?.close().catch(() => undefined);
      session = null;
      post({ type: 'status', state: 'disconnected', detail: 'not connected' });
      return;
    case 'flash': {
      if (!session) throw new Error('connect a probe first');
      await stopStreaming();
      const bytes = new Uint8Array(m.image);
      const image = loadImage(bytes, m.fileName);
      const target = parseTargetYaml(m.targetYaml, m.targetFile);
      const chip = target.chips.find((c) => c.name === m.chip);
      if (!chip) throw new Error(`chip ${m.chip} is not in ${m.targetFile}`);
      const algorithm = target.algorithms.find((a) => chip.algorithms.includes(a.name));
      if (!algorithm) throw new Error(`no flash algorithm for ${chip.name}`);
      if (session.summary) checkChipCore(chip, session.summary.core);
      post({ type: 'status', state: 'busy', detail: `flashing ${m.fileName}…` });
      const s = session;
      const report = await exclusive(() =>
        flashImage(s, algorithm, image, { ram: chip.ram[0], onProgress: (p) => post({ type: 'progress', phase: p.phase, done: p.done, total: p.total }) }),
      );
      post({ type: 'flashed', summary: `${m.fileName}: ${describeReport(report)}`, verified: report.verified, skipped: report.sectorsSkipped, touched: report.sectorsTouched });
      post({ type: 'status', state: 'connected', detail: `${description} — flashed ${m.fileName}` });
      if (m.run && report.verified) {
        await exclusive(() => s.core.reset({ halt: false }));
        startStreaming(bytes, m.fileName);
      }
      return;
    }
    case 'attach': {
      if (!session) throw new Error('connect a probe first');
      await stopStreaming();
      const s = session;
      await exclusive(async () => {
        if (await s.core.isHalted()) await s.core.resume();
      });
      startStreaming(m.elf ? new Uint8Array(m.elf) : null, m.fileName);
      return;
    }
    case 'trace':
      traceWanted = m.on;
      if (m.on) await startTrace();
      else await stopTrace();
      return;
    case 'control': {
      if (!session) throw new Error('connect a probe first');
      const s = session;
      await exclusive(async () => {
        if (m.action === 'halt') await s.core.halt();
        else if (m.action === 'resume') await s.core.resume();
        else await s.core.reset({ halt: false });
        if (m.action === 'halt') {
          const names: [string, number][] = [['r0', CoreReg.r0], ['r1', CoreReg.r1], ['r2', CoreReg.r2], ['r3', CoreReg.r3], ['sp', CoreReg.sp], ['lr', CoreReg.lr], ['pc', CoreReg.pc], ['xpsr', CoreReg.xpsr]];
          const values: [string, number][] = [];
          for (const [n, r] of names) values.push([n, await s.core.readCoreRegister(r)]);
          post({ type: 'registers', values });
        }
      });
      return;
    }
    case 'read-memory': {
      if (!session) throw new Error('connect a probe first');
      const s = session;
      if (!(m.length > 0 && m.length <= 4096)) throw new Error('read 1 to 4096 bytes at a time');
      const bytes = await exclusive(() => s.ap.readMemory(m.address >>> 0, m.length));
      post({ type: 'memory', address: m.address >>> 0, bytes });
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
    case 'rtt-write': {
      if (!rtt) throw new Error('RTT is not running');
      const data = new TextEncoder().encode(m.text);
      const n = await rtt.write(m.channel, data);
      if (n < data.length) note(`down channel ${m.channel} took ${n} of ${data.length} bytes (the firmware is not reading fast enough)`);
      return;
    }
  }
}

let queue: Promise<void> = Promise.resolve();
self.onmessage = (event: MessageEvent<ToWorker>) => {
  queue = queue.then(() =>
    handle(event.data).catch((err: Error) => {
      post({ type: 'error', message: err.message });
      if (event.data.type === 'flash' || event.data.type === 'connect') post({ type: 'status', state: session ? 'connected' : 'disconnected', detail: err.message });
    }),
  );
};
