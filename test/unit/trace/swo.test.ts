/**
 * ITM exception trace over SWO on the in-process bench: the probe model captures what a scripted
 * interrupt schedule makes the target's ITM send, once the debugger set trace up properly.
 */
import { describe, expect, it } from 'vitest';
import { DebugSession } from '../../../core/arm/session';
import { enableExceptionTrace } from '../../../core/arm/trace-setup';
import { SwoReader } from '../../../core/dap/swo';
import { SimulatedProbe } from '../../../core/sim/cmsis-dap-probe';
import { MemoryTarget } from '../../../core/sim/memory-target';
import { scriptEvents, type ExceptionSource } from '../../../core/sim/swo';
import { ItmTrace, statsRows } from '../../../core/trace/session';
import { ItmDecoder } from '../../../core/trace/itm';

const CLOCK = 48_000_000;
const SOURCES: ExceptionSource[] = [
  { exception: 15, period: 1e-3, duration: 20e-6 },
  { exception: 19, period: 5e-3, duration: 80e-6, offset: 0.3e-3 },
  { exception: 23, period: 7e-3, duration: 30e-6, offset: 0.33e-3 }, // lands inside IRQ3 at first
];

async function bench(preset: 'cortex-m3' | 'cortex-m0' = 'cortex-m3') {
  const target = new MemoryTarget(preset);
  const probe = new SimulatedProbe({ flavour: 'v2-bulk', target, swo: { traceClockHz: CLOCK, sources: SOURCES } });
  const session = await DebugSession.open(probe.transport);
  return { probe, session };
}

async function capture(session: DebugSession, probe: SimulatedProbe, baud: number, seconds: number, setUp = true) {
  if (setUp) await enableExceptionTrace(session.ap, { traceClockHz: CLOCK, baud }, session.core.identity!.arch);
  const reader = new SwoReader(session.probe);
  await reader.start(baud);
  const trace = new ItmTrace(CLOCK);
  let bytes = 0;
  const start = probe.stats.modeledSeconds;
  while (probe.stats.modeledSeconds - start < seconds) {
    const data = await reader.read();
    bytes += data.length;
    trace.push(data);
  }
  await reader.stop();
  return { trace, bytes, reader };
}

describe('ITM exception trace over SWO', () => {
  it('expands the script with nesting', () => {
    const e = scriptEvents(SOURCES, 0.0005).map((x) => [x.exception, x.fn, +(x.time * 1e6).toFixed(1)]);
    expect(e).toEqual([
      [15, 1, 0], [15, 2, 20], [0, 3, 20],
      [19, 1, 300], [23, 1, 330], [23, 2, 360], [19, 3, 360], [19, 2, 410], [0, 3, 410],
    ]);
  });

  it('gives a timeline with the scripted ISRs, counts and durations, nesting included', async () => {
    const { probe, session } = await bench();
    const { trace, reader } = await capture(session, probe, 2_000_000, 0.1);
    expect(reader.problems).toEqual({ overrun: 0, streamError: 0 });
    expect(trace.decoder.stats.malformed).toBe(0);
    expect(trace.counts.overflow).toBe(0);
    const rows = statsRows(trace);
    const row = (name: string) => rows.find((r) => r.lane === name)!;
    const seconds = trace.seconds(trace.timeline.last - trace.timeline.first);
    expect(seconds).toBeGreaterThan(0.08);
    // Activations match the script over the captured span (±1 at each edge).
    expect(Math.abs(row('SysTick').activations - Math.round(seconds / 1e-3))).toBeLessThanOrEqual(2);
    expect(Math.abs(row('IRQ3').activations - Math.round(seconds / 5e-3))).toBeLessThanOrEqual(2);
    expect(row('SysTick').meanSeconds).toBeCloseTo(20e-6, 6);
    expect(row('IRQ7').meanSeconds).toBeCloseTo(30e-6, 6);
    // IRQ3's 80 µs are its own: time spent in the nested IRQ7 is not counted twice.
    expect(row('IRQ3').maxSeconds).toBeCloseTo(80e-6, 6);
    expect(trace.timeline.segments().some((s) => s.depth === 2)).toBe(true);
    await session.close();
  });

  it('sends nothing until trace is set up on the target (TRCENA, ITM unlock, DWT, TPIU)', async () => {
    const { probe, session } = await bench();
    const { bytes } = await capture(session, probe, 2_000_000, 0.02, false);
    expect(bytes).toBe(0);
    // Writing TCR without the LAR key does not enable the ITM.
    await session.ap.write32(0xe000edfc, 1 << 24);
    await session.ap.write32(0xe0000e80, 0x1000f);
    expect(await session.ap.read32(0xe0000e80)).toBe(0);
    await session.close();
  });

  it('flags a baud mismatch as a stream error and decodes nothing from the garbage', async () => {
    const { probe, session } = await bench();
    await enableExceptionTrace(session.ap, { traceClockHz: CLOCK, baud: 2_000_000 }, 'armv7-m');
    const reader = new SwoReader(session.probe);
    await reader.start(1_000_000);
    const trace = new ItmTrace(CLOCK);
    const start = probe.stats.modeledSeconds;
    while (probe.stats.modeledSeconds - start < 0.02) trace.push(await reader.read());
    expect(reader.problems.streamError).toBeGreaterThan(0);
    expect(trace.counts.enter).toBeLessThan(5);
    await session.close();
  });

  it('shows overflow as gaps when the line is too slow for the interrupt rate', async () => {
    const { probe, session } = await bench();
    const { trace } = await capture(session, probe, 75_000, 0.1);
    expect(trace.counts.overflow).toBeGreaterThan(0);
    expect(trace.timeline.gaps.length).toBe(trace.counts.overflow);
    await session.close();
  });

  it('refuses ARMv6-M, which has no ITM', async () => {
    const { session } = await bench('cortex-m0');
    await expect(enableExceptionTrace(session.ap, { traceClockHz: CLOCK, baud: 2_000_000 }, session.core.identity!.arch)).rejects.toThrow(/armv6-m\) has no ITM\/DWT exception trace/);
    await session.close();
  });
});

describe('ITM decoder (ARMv7-M appendix D4 packet formats)', () => {
  const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
  it('decodes sync, exception trace, timestamps, instrumentation and overflow', () => {
    const d = new ItmDecoder();
    const out = d.push(hex('00 00 00 00 00 80  0e 0f 10  c0 e8 07  0e 0f 20  30  01 41  0b 78 56 34 12  70  0e 13 30  10'));
    expect(out.map((o) => [o.time, o.packet.kind, 'exception' in o.packet ? `${o.packet.exception}/${o.packet.fn}` : 'port' in o.packet ? `${o.packet.port}=${o.packet.value.toString(16)}` : ''])).toEqual([
      [0, 'sync', ''],
      [1000, 'exception', '15/enter'],
      [1000, 'timestamp', ''],
      [1003, 'exception', '15/exit'],
      [1003, 'timestamp', ''],
      [1003, 'instrumentation', '0=41'],
      [1003, 'instrumentation', '1=12345678'],
      [1003, 'overflow', ''],
      [1004, 'exception', '19/return'],
      [1004, 'timestamp', ''],
    ]);
    expect(d.stats.malformed).toBe(0);
  });

  it('ignores bytes before the first sync, and resyncs after a reserved header', () => {
    const d = new ItmDecoder();
    const out = d.push(hex('0e 0f 10 10  00 00 00 00 00 80  04  0e 0f 10 10  00 00 00 00 00 80  0e 0f 10 10'));
    expect(out.filter((o) => o.packet.kind === 'exception')).toHaveLength(1);
    expect(d.stats.malformed).toBe(1);
    expect(d.stats.skippedBytes).toBeGreaterThan(4);
  });

  it('survives random bytes', () => {
    let s = 99;
    const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const d = new ItmDecoder();
    for (let n = 0; n < 20_000; n++) d.push(Uint8Array.from({ length: 16 }, () => (rand() < 0.2 ? 0 : Math.floor(rand() * 256))));
    expect(d.stats.bytes).toBe(320_000);
  });
});
