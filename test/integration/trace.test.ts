/**
 * Task/ISR timelines end to end on QEMU: the tasks sample records SystemView events while the host
 * streams them; on stop the firmware logs its own counts, which the host's timeline must equal.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';
import { firmwarePath } from '../support/firmware';
import { expectStatsMatchBooks, firmwareBooks } from '../support/trace';

const BIN = resolve(__dirname, '../../bin/dapdeck.cjs');
const tmp = mkdtempSync(join(tmpdir(), 'dapdeck-trace-'));

function dapdeck(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('SystemView timelines from the tasks sample', () => {
  const file = join(tmp, 'tasks.sv');
  let firmware: Record<string, number>;

  it('records a trace whose tasks, ISRs and counts match what the firmware says it did', async () => {
    const r = await dapdeck('trace', 'record', '--probe', 'emu:microbit', '--elf', firmwarePath('tasks', 'microbit'), '--duration', '1', '--out', file, '--json');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    firmware = firmwareBooks(lines);
    expect(firmware.systick).toBeGreaterThan(100);
    // Text the firmware printed through SystemView (PRINT_FORMATTED) comes out with the log.
    expect(lines.some((l) => l.channel === -1 && /^[\d.]+ LOG recording started$/.test(l.text))).toBe(true);

    const s = await dapdeck('trace', 'stats', file, '--json');
    expect(s.code).toBe(0);
    const stats = JSON.parse(s.stdout);
    const lane = expectStatsMatchBooks(stats, firmware, 'TIMER0');
    expect(stats.sysFreq).toBe(16_000_000);
    // The firmware posts blink every 2nd SysTick: the trace shows the same ratio.
    if (firmware.dropped === 0) expect(Math.abs(lane('blink').activations * 2 - lane('SysTick').activations)).toBeLessThanOrEqual(2);
    expect(lane('blink').meanLatencySeconds).toBeGreaterThanOrEqual(0);
  });

  it('exports Chrome Trace Event JSON that passes the schema', async () => {
    const out = join(tmp, 'tasks.json');
    const r = await dapdeck('trace', 'export', file, '--format', 'perfetto', '--out', out);
    expect(r.code).toBe(0);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    const schema = JSON.parse(readFileSync(resolve(__dirname, '../schemas/chrome-trace.schema.json'), 'utf8'));
    const validate = new Ajv({ allErrors: true }).compile(schema);
    expect(validate(json), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    const threads = json.traceEvents.filter((e: { name: string }) => e.name === 'thread_name').map((e: { args: { name: string } }) => e.args.name);
    expect(threads).toEqual(expect.arrayContaining(['SysTick', 'TIMER0', 'blink', 'sensor', 'report']));
    const blinkTid = json.traceEvents.find((e: { name: string; args?: { name: string } }) => e.name === 'thread_name' && e.args?.name === 'blink').tid;
    // Exclusive segments: a preempted task run shows as several pieces, never fewer than its runs.
    if (firmware.dropped === 0) expect(json.traceEvents.filter((e: { ph: string; tid: number }) => e.ph === 'X' && e.tid === blinkTid).length).toBeGreaterThanOrEqual(firmware.blink);
  });

  it('shows a live load table and final statistics with run --trace', async () => {
    const r = await dapdeck('attach', '--probe', 'emu:microbit', '--elf', firmwarePath('tasks', 'microbit'), '--trace', '--duration', '1.5', '--filter', 'warn');
    expect(r.code).toBe(0);
    // Lanes in a fixed order (ISRs by exception number, tasks by id), not in the order the
    // recording happened to meet them: the live line and the table read the same every run.
    expect(r.stderr).toMatch(/^trace \d+\.\d s: SysTick [\d.]+%, TIMER0 [\d.]+%, blink [\d.]+%, sensor [\d.]+%, report [\d.]+%, Scheduler [\d.]+%, Idle [\d.]+%/m);
    expect(r.stderr.split('\n').filter((l) => /^\w+\s+(isr|task|scheduler|idle)\s+\d+ /.test(l)).map((l) => l.split(/\s+/)[0])).toEqual(['SysTick', 'TIMER0', 'blink', 'sensor', 'report', 'Scheduler', 'Idle']);
  });

  it('refuses a trace file with no SystemView packets, and firmware without a SysView channel', async () => {
    const r = await dapdeck('trace', 'stats', '/dev/null');
    expect(r.stderr).toBe('dapdeck: error: /dev/null: no SystemView packets in 0 bytes\n');
    const noTrace = await dapdeck('attach', '--probe', 'sim:cortex-m3', '--trace', '--timeout', '0.3');
    expect(noTrace.code).toBe(1);
  });

  it('draws an interrupt timeline from ITM exception trace over SWO (sim:cortex-m3 demo schedule)', async () => {
    const out = join(tmp, 'swo.json');
    const r = await dapdeck('trace', 'swo', '--probe', 'sim:cortex-m3', '--duration', '0.2', '--json', '--out', out);
    expect(r.code).toBe(0);
    const stats = JSON.parse(r.stdout);
    const lane = (name: string) => stats.lanes.find((l: { lane: string }) => l.lane === name);
    // The schedule: SysTick every 1 ms for 12 µs, IRQ5 every 4 ms for 90 µs, IRQ11 every 10 ms for 35 µs.
    expect(Math.abs(lane('SysTick').activations - stats.seconds / 1e-3)).toBeLessThanOrEqual(2);
    expect(Math.abs(lane('IRQ5').activations - stats.seconds / 4e-3)).toBeLessThanOrEqual(2);
    expect(lane('SysTick').meanSeconds).toBeCloseTo(12e-6, 7);
    expect(lane('IRQ5').maxSeconds).toBeCloseTo(90e-6, 7);
    expect(stats.probe).toEqual({ overrun: 0, streamError: 0 });
    const schema = JSON.parse(readFileSync(resolve(__dirname, '../schemas/chrome-trace.schema.json'), 'utf8'));
    expect(new Ajv().compile(schema)(JSON.parse(readFileSync(out, 'utf8')))).toBe(true);
    const m0 = await dapdeck('trace', 'swo', '--probe', 'sim:cortex-m0', '--duration', '0.1');
    expect(m0.stderr).toMatch(/armv6-m\) has no ITM\/DWT exception trace/);
  });
});
