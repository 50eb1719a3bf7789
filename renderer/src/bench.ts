/**
 * Browser benchmarks (bench/browser.ts opens this page in Chromium and calls runBench):
 * 1. console throughput: decoding defmt frames and writing the coloured lines into xterm.js, versus
 *    writing the identical text with xterm.write alone — the cost of the decode path on top of the
 *    terminal's own;
 * 2. timeline frame time: pan and zoom over a 1 000 000-event trace drawn from the Timeline model;
 * 3. the app's console (LogConsole, with the renderer the app chooses for this browser's GL)
 *    streaming 1000 lines/s: frames per second, long tasks, and how fast a click gets a frame
 *    (bench/browser.ts clicks while it streams);
 * 4. the emulated Pico in a worker, as the serverless demo runs it: emulated clock per wall second.
 */
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { Timeline } from '../../core/trace/timeline';
import { drawLoadChart, drawTimeline, meanOf } from './ui/timeline-draw';
import { decodeToText, frames, table } from './bench-shared';
import { formatLine } from './ui/format';
import { createElement, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { LogConsole } from './ui/LogConsole';
import { judgeWebgl, type RendererState } from './ui/renderer-choice';
import type { LogLine } from './device/protocol';
import './styles.css';

function writeAll(term: Terminal, chunks: string[]): Promise<void> {
  return new Promise((resolve) => {
    for (let i = 0; i < chunks.length; i++) term.write(chunks[i], i === chunks.length - 1 ? resolve : undefined);
  });
}

async function consoleBench(records: number) {
  const term = new Terminal({ cols: 160, rows: 40, scrollback: 10_000 });
  term.open(document.getElementById('term')!);
  const wire = frames(records);
  const t = table();
  // Reference text: exactly what the decode path will write.
  const reference = decodeToText(t, wire);
  const measure = async (fn: () => Promise<void>) => {
    term.reset();
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  // The app's pipeline: the device worker decodes and formats, the page only writes.
  // The worker exists before the measurement, as the app's device worker does.
  const worker = new Worker(new URL('./bench.worker.ts', import.meta.url), { type: 'module' });
  await new Promise<void>((resolve) => {
    worker.onmessage = (e) => e.data === null && resolve();
    worker.postMessage(frames(100).buffer);
  });
  const viaWorker = () =>
    new Promise<void>((resolve) => {
      let pending = 0;
      let done = false;
      worker.onmessage = (e: MessageEvent<string | null>) => {
        if (e.data === null) {
          done = true;
          if (pending === 0) resolve();
          return;
        }
        pending++;
        term.write(e.data, () => {
          pending--;
          if (done && pending === 0) resolve();
        });
      };
      worker.postMessage(wire.slice().buffer);
    });
  const runs = { raw: [] as number[], decoded: [] as number[], worker: [] as number[] };
  // Five rounds, the order rotating each round so warm-up and GC do not favour one path.
  const paths: [keyof typeof runs, () => Promise<void>][] = [
    ['raw', () => writeAll(term, reference)],
    ['decoded', () => writeAll(term, decodeToText(t, wire))],
    ['worker', viaWorker],
  ];
  for (let i = 0; i < 5; i++) {
    for (let k = 0; k < paths.length; k++) {
      const [name, fn] = paths[(i + k) % paths.length];
      runs[name].push(await measure(fn));
    }
  }
  term.dispose();
  worker.terminate();
  const best = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]; // median
  return {
    bench: 'browser-console',
    note: 'Chromium headless, wall clock, median of 5 (rotating order). raw = xterm.write of the final text; app pipeline = decode + format in a worker (as the device worker does), page writes batches into xterm as they arrive; same thread = decode + format + write on the page thread',
    records,
    rawMs: +best(runs.raw).toFixed(1),
    appPipelineMs: +best(runs.worker).toFixed(1),
    appPipelineRatio: +(best(runs.worker) / best(runs.raw)).toFixed(3),
    sameThreadMs: +best(runs.decoded).toFixed(1),
    sameThreadRatio: +(best(runs.decoded) / best(runs.raw)).toFixed(3),
    goalRatio: 1.3,
    recordsPerSecond: Math.round(records / (best(runs.worker) / 1000)),
  };
}

function timelineBench(events: number) {
  const model = new Timeline({ maxSegments: 1 << 20, bucketTicks: 1000, maxBuckets: 8192 });
  // 1 kHz tick ISR, three tasks, an IRQ: 10 events per 1 ms cycle at 16 MHz ticks.
  let t = 0;
  let n = 0;
  for (let k = 0; n < events; k++) {
    model.ingest({ kind: 'isr-enter', time: (t += 16000 - 700), id: 15 });
    model.ingest({ kind: 'task-ready', time: (t += 30), id: 1 + (k % 3) });
    model.ingest({ kind: 'isr-exit', time: (t += 40) });
    model.ingest({ kind: 'task-start-exec', time: (t += 50), id: 1 + (k % 3) });
    model.ingest({ kind: 'isr-enter', time: (t += 200), id: 24 });
    model.ingest({ kind: 'isr-exit', time: (t += 60) });
    model.ingest({ kind: 'task-stop-exec', time: (t += 250) });
    model.ingest({ kind: 'idle', time: (t += 20) });
    model.ingest({ kind: 'task-ready', time: (t += 10), id: 4 });
    model.ingest({ kind: 'isr-exit', time: (t += 1) }); // inconsistent on purpose: ignored
    n += 10;
  }
  const canvas = document.getElementById('timeline') as HTMLCanvasElement;
  const g = canvas.getContext('2d')!;
  const total = model.last - model.first;
  const times: number[] = [];
  let items = 0;
  // Zoom from the whole trace down to ~1 ms and back, panning as we go: 240 frames.
  for (let f = 0; f < 240; f++) {
    const zoom = Math.pow(2, 12 * (f < 120 ? f / 120 : (240 - f) / 120));
    const span = total / zoom;
    const center = model.first + total * (0.1 + 0.8 * ((f * 37) % 240) / 240);
    const t0 = Math.max(model.first, center - span / 2);
    const start = performance.now();
    items = drawTimeline(g, model, { t0, t1: t0 + span }, { width: 1200, laneHeight: 28, labelWidth: 100 });
    const load = model.cpuLoad(t0, t0 + span, 1100);
    drawLoadChart(g, load, model.lanes.length * 28, 1200, meanOf(load), 100);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return {
    bench: 'browser-timeline',
    note: 'Chromium headless, canvas 2D, frame = model view query + lanes + CPU-load strip; 240 frames zooming 1× → 4096× → 1× while panning',
    events: model.events,
    storedSegments: model.storedSegments,
    frames: times.length,
    p50Ms: +times[Math.floor(times.length * 0.5)].toFixed(2),
    p95Ms: +times[Math.floor(times.length * 0.95)].toFixed(2),
    maxMs: +times[times.length - 1].toFixed(2),
    lastFrameItems: items,
    goalP95Ms: 16,
  };
}

/** A line as the device worker posts them: defmt-decoded, levelled, located. */
/** The time between animation frames over `seconds` (the frame rate the page really had), and the seconds measured. */
async function frameIntervals(seconds: number): Promise<{ intervals: number[]; elapsed: number }> {
  const intervals: number[] = [];
  let last = 0;
  let measuring = true;
  const frame = (now: number) => {
    if (!measuring) return;
    if (last) intervals.push(now - last);
    last = now;
    requestAnimationFrame(frame);
  };
  const t0 = performance.now();
  requestAnimationFrame(frame);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  return { intervals, elapsed: (performance.now() - t0) / 1000 };
}

function streamedLine(seq: number): LogLine {
  const level = seq % 10 === 9 ? 'warn' : seq % 10 === 8 ? 'debug' : 'info';
  return { seq, channel: 0, level, timestamp: (seq / 1000).toFixed(6), message: `adc ch${seq & 7} raw=${(seq * 13) & 0xfff} mv=${(seq * 977) % 3300} sample ${seq}`, location: 'firmware-samples/hello/src/main.rs:49', module: 'hello::sensors' };
}

const bench = window as unknown as { benchPhase?: 'warm-up' | 'measuring' | 'done'; dapdeckRenderer?: RendererState };

/**
 * The app's console as App.tsx drives it (lines appended to the shared array, a version bump per
 * batch), fed `linesPerSecond` in the device worker's 40 ms batches. After a second of warm-up,
 * `seconds` are measured: animation frames, long tasks, and for every click (bench/browser.ts clicks
 * the console's "follow" box) the time from the input event to the first frame after its handler.
 */
async function streamingBench(linesPerSecond: number, seconds: number) {
  const gl = judgeWebgl();
  const lines = { current: [] as LogLine[] };
  let bump: () => void = () => undefined;
  function Harness() {
    const [version, setVersion] = useState(0);
    bump = () => setVersion((v) => v + 1);
    return createElement(LogConsole, { lines, version, upChannels: [{ index: 0, name: 'Terminal' }], downChannels: [], onSend: () => undefined });
  }
  const root = createRoot(document.getElementById('app-console')!);
  root.render(createElement(Harness));
  while (!bench.dapdeckRenderer) await new Promise((r) => setTimeout(r, 20));

  let seq = 0;
  let due = 0;
  const started = performance.now();
  const feed = setInterval(() => {
    // Catch up to the rate (timers run late under load: the stream does not slow down with them).
    due = Math.floor(((performance.now() - started) / 1000) * linesPerSecond);
    for (; seq < due; seq++) lines.current.push(streamedLine(seq));
    bump();
  }, 40);

  bench.benchPhase = 'warm-up';
  await new Promise((r) => setTimeout(r, 1000));
  const longTasks: number[] = [];
  const observer = new PerformanceObserver((list) => list.getEntries().forEach((e) => longTasks.push(e.duration)));
  observer.observe({ type: 'longtask' });
  const clicks: number[] = [];
  const onClick = (e: MouseEvent) => {
    const t0 = e.timeStamp;
    // The frame after the handler (and React's commit) ran, then the task after that frame.
    requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => clicks.push(performance.now() - t0);
      channel.port2.postMessage(null);
    });
  };
  document.addEventListener('click', onClick, true);
  const linesBefore = seq;
  bench.benchPhase = 'measuring';
  const { intervals, elapsed } = await frameIntervals(seconds);
  const streamed = seq - linesBefore;
  bench.benchPhase = 'done';
  clearInterval(feed);
  observer.disconnect();
  document.removeEventListener('click', onClick, true);
  root.unmount();
  const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
  const pct = (a: number[], p: number) => (a.length ? +sorted(a)[Math.min(a.length - 1, Math.floor(a.length * p))].toFixed(1) : null);
  return {
    bench: 'browser-console-streaming',
    note: `Chromium headless, ${gl.gl}; the app's LogConsole with the renderer it chose; ${linesPerSecond} lines/s in 40 ms batches; ${seconds} s measured after 1 s warm-up; click = input event to the first frame after its handler`,
    gl: gl.gl,
    renderer: bench.dapdeckRenderer.kind,
    rendererReason: bench.dapdeckRenderer.reason,
    linesPerSecond: Math.round(streamed / elapsed),
    fps: +(intervals.length / elapsed).toFixed(1),
    frameP95Ms: pct(intervals, 0.95),
    frameMaxMs: pct(intervals, 1),
    longTasks: longTasks.length,
    longTaskMaxMs: longTasks.length ? +Math.max(...longTasks).toFixed(1) : 0,
    clicks: clicks.length,
    clickMedianMs: pct(clicks, 0.5),
    clickMaxMs: pct(clicks, 1),
    goalFps: 50,
    goalClickMs: 100,
  };
}

/**
 * Why the app does not take WebGL on a software GL: the bare terminal (no React, no filters) fed
 * the same 1000 lines/s with each renderer forced, frames and long tasks measured alike.
 */
async function rendererContrast(linesPerSecond: number, seconds: number) {
  const rows: Record<string, { fps: number; frameP95Ms: number; longTasks: number; longTaskMaxMs: number }> = {};
  for (const kind of ['webgl', 'dom'] as const) {
    const box = document.createElement('div');
    box.style.cssText = 'width: 1200px; height: 700px';
    document.body.append(box);
    const term = new Terminal({ cols: 150, rows: 40, scrollback: 100_000, convertEol: true });
    term.open(box);
    if (kind === 'webgl') {
      const { WebglAddon } = await import('@xterm/addon-webgl');
      term.loadAddon(new WebglAddon());
    }
    let seq = 0;
    const started = performance.now();
    const feed = setInterval(() => {
      const due = Math.floor(((performance.now() - started) / 1000) * linesPerSecond);
      const out: string[] = [];
      for (; seq < due; seq++) out.push(formatLine(streamedLine(seq), true, term.cols));
      if (out.length) term.write(out.join('\n') + '\n');
    }, 40);
    await new Promise((r) => setTimeout(r, 1000));
    const longTasks: number[] = [];
    const observer = new PerformanceObserver((list) => list.getEntries().forEach((e) => longTasks.push(e.duration)));
    observer.observe({ type: 'longtask' });
    const { intervals, elapsed } = await frameIntervals(seconds);
    clearInterval(feed);
    observer.disconnect();
    term.dispose();
    box.remove();
    intervals.sort((a, b) => a - b);
    rows[kind] = { fps: +(intervals.length / elapsed).toFixed(1), frameP95Ms: +(intervals[Math.floor(intervals.length * 0.95)] ?? 0).toFixed(1), longTasks: longTasks.length, longTaskMaxMs: longTasks.length ? +Math.max(...longTasks).toFixed(1) : 0 };
  }
  return { bench: 'browser-console-renderers', note: `Chromium headless, ${judgeWebgl().gl}; a bare xterm.js terminal, each renderer forced, ${linesPerSecond} lines/s, ${seconds} s after 1 s warm-up`, linesPerSecond, ...rows };
}

/** The emulated Pico in a worker (as the device worker runs it for the serverless demo), on code that never sleeps. */
async function picoWorkerBench(seconds: number) {
  const worker = new Worker(new URL('./bench-pico.worker.ts', import.meta.url), { type: 'module' });
  const result = await new Promise<{ wallSeconds: number; emulatedMHz: number; mips: number; loops: number }>((resolve) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.postMessage({ seconds });
  });
  worker.terminate();
  return {
    bench: 'browser-pico-emulator',
    note: `Chromium headless, rp2040js behind core/sim/pico.ts's wall-clock scheduler in a module worker, a 3-instruction loop in flash that never sleeps, ${seconds} s; the RP2040 runs 125 MHz, the emulator never runs ahead of wall time (125 = keeps up)`,
    emulatedMHz: +result.emulatedMHz.toFixed(1),
    realTimeShare: +(result.emulatedMHz / 125).toFixed(3),
    mips: +result.mips.toFixed(1),
    loops: result.loops,
  };
}

(window as unknown as { runBench(): Promise<object[]> }).runBench = async () => [await consoleBench(100_000), timelineBench(1_000_000), await rendererContrast(1000, 4), await picoWorkerBench(3)];
(window as unknown as { runPicoWorkerBench(seconds: number): Promise<object> }).runPicoWorkerBench = picoWorkerBench;
(window as unknown as { runStreamingBench(linesPerSecond: number, seconds: number): Promise<object> }).runStreamingBench = streamingBench;
