/**
 * `dapdeck test`: run on-target test firmware (flashed and started as `run` does) and report each
 * test. The firmware follows defmt-test's conventions: before each test it prints
 * "(i/n) running `name`...", after the last "all tests passed!", and it ends by a semihosting exit
 * or a BKPT; a failing test panics (panic-probe prints the message, then `udf` faults, or the
 * harness exits with a failure status). A test passed when the next one starts (or all passed);
 * the test that was running when the firmware stopped otherwise failed, with the panic message,
 * its location and the backtrace; the tests after it did not run.
 *
 * --junit FILE writes JUnit XML (the shape Jenkins, GitLab and GitHub reporters read), --record FILE
 * a JSON run record. With several --probe each probe runs in its own dapdeck (as `run` does), each
 * writes its record, and the JUnit file combines them: one <testsuite> per probe.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import type { Backtrace } from '../../core/elf/backtrace';
import type { StopReport } from '../../core/arm/stop';
import { probeLabel, runOnProbes } from './fanout';
import { UsageError } from './parse';
import type { StopDetails } from './stops';
import type { FlashCliOptions, RunOutcome, StreamCliOptions, StreamHooks } from './index';

export type TestStatus = 'passed' | 'failed' | 'not run';

export interface TestFailure {
  message: string;
  /** "file:line:column" where the test panicked, when the firmware said. */
  location?: string;
  /** The stop as one line ("HardFault: …", "SYS_EXIT_EXTENDED status 1"). */
  stop: string;
  backtrace?: { pc: number; function: string; file?: string; line?: number; column?: number; inlined: boolean }[];
}

export interface TestResult {
  index: number;
  name: string;
  status: TestStatus;
  /** Host time from this test's "running" line to the next one (or the stop). */
  seconds?: number;
  failure?: TestFailure;
}

/** The JSON run record (--record): one run of test firmware on one probe. */
export interface RunRecord {
  elf: { path: string; sha256: string };
  chip?: string;
  probe: { selector: string; serial?: string; product?: string };
  start: string;
  end: string;
  seconds: number;
  tests: TestResult[];
  counts: { total: number; passed: number; failed: number; notRun: number };
  allPassed: boolean;
  stop?: { kind: string; summary: string; exitStatus?: number };
  exitCode: number;
  logFile: string | null;
  /** Set when the run failed before any test could run (no record came from that probe). */
  error?: string;
}

const RUNNING = /\((\d+)\/(\d+)\) running `(.+)`\.\.\.\s*$/;
const ALL_PASSED = /all tests passed!/;

/** Follows a defmt-test style run from the lines the firmware prints and the way it stopped. */
export class TestRunTracker {
  readonly tests: TestResult[] = [];
  total = 0;
  allPassed = false;
  stop?: { report: StopReport; details: StopDetails };
  private current?: { result: TestResult; started: number };

  constructor(private readonly now: () => number = () => performance.now() / 1000) {}

  line(text: string): void {
    const m = RUNNING.exec(text);
    if (m) {
      this.finish('passed');
      this.total = Number(m[2]);
      const result: TestResult = { index: Number(m[1]), name: m[3], status: 'passed' };
      this.tests.push(result);
      this.current = { result, started: this.now() };
    } else if (ALL_PASSED.test(text)) {
      this.finish('passed');
      this.allPassed = true;
    }
  }

  stopped(report: StopReport, details: StopDetails): void {
    this.stop = { report, details };
  }

  /** After the stream ended with `code`: the running test's fate, and the tests that never ran. */
  end(code: number, exitReason?: string): void {
    if (this.current) {
      const stop = this.stop;
      const clean = code === 0 && (!stop || stop.details.exitStatus === 0 || stop.report.kind === 'bkpt');
      if (clean && !stop) this.finish('failed', { message: 'the run ended while this test was running', stop: exitReason ?? 'the stream ended' });
      else if (clean) this.finish('failed', { message: 'the firmware exited while this test was running, without a failure', stop: stopLine(stop!) });
      else this.finish('failed', failureOf(stop, code, exitReason));
    }
    for (let i = (this.tests.at(-1)?.index ?? 0) + 1; i <= this.total; i++) this.tests.push({ index: i, name: `test ${i}`, status: 'not run' });
  }

  private finish(status: TestStatus, failure?: TestFailure): void {
    if (!this.current) return;
    this.current.result.status = status;
    this.current.result.seconds = Math.round(Math.max(0, this.now() - this.current.started) * 1e6) / 1e6;
    if (failure) this.current.result.failure = failure;
    this.current = undefined;
  }
}

function stopLine(stop: { report: StopReport; details: StopDetails }): string {
  return stop.details.exitStatus !== undefined ? `semihosting exit with status ${stop.details.exitStatus}` : stop.report.summary;
}

function failureOf(stop: { report: StopReport; details: StopDetails } | undefined, code: number, exitReason?: string): TestFailure {
  if (!stop) return { message: exitReason ?? `the run ended with exit code ${code}`, stop: exitReason ?? `exit ${code}` };
  const panic = stop.details.panic;
  return {
    message: panic?.message ?? stopLine(stop),
    location: panic?.location,
    stop: stopLine(stop),
    backtrace: stop.details.backtrace ? backtraceRecord(stop.details.backtrace) : undefined,
  };
}

function backtraceRecord(bt: Backtrace): TestFailure['backtrace'] {
  return bt.frames.map((f) => ({ pc: f.pc, function: f.name, file: f.location?.file, line: f.location?.line, column: f.location?.column, inlined: f.inlined }));
}

/** The summary block printed after the run. */
export function formatSummary(record: RunRecord): string {
  const lines: string[] = [];
  const width = Math.max(...record.tests.map((t) => t.name.length), 4);
  for (const t of record.tests) {
    const time = t.seconds !== undefined ? ` (${t.seconds.toFixed(3)} s)` : '';
    const mark = t.status === 'passed' ? 'ok     ' : t.status === 'failed' ? 'FAILED ' : 'not run';
    lines.push(`  ${mark} ${t.name.padEnd(width)}${time}`);
    if (t.failure) lines.push(`          ${t.failure.message.replace(/\n/g, '\n          ')}${t.failure.location ? `\n          at ${t.failure.location}` : ''}`);
  }
  const c = record.counts;
  const verdict = record.allPassed && c.failed === 0 && c.notRun === 0 ? 'ok' : 'FAILED';
  lines.push(`test result: ${verdict}. ${c.passed} passed; ${c.failed} failed; ${c.notRun} not run; ${c.total} tests in ${record.seconds.toFixed(2)} s (${record.probe.selector})`);
  return lines.join('\n') + '\n';
}

/** Text for XML 1.0, which has no way to carry most control characters: those are written as \u{..}. */
const xmlEscape = (s: string) =>
  s
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);

/** JUnit XML for one or more runs: one <testsuite> per probe. */
export function junitXml(records: RunRecord[]): string {
  const total = (k: keyof RunRecord['counts']) => records.reduce((n, r) => n + r.counts[k], 0);
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const time = (s: number) => s.toFixed(3);
  const errors = records.filter((r) => r.error).length;
  out.push(`<testsuites name="dapdeck test" tests="${total('total') + errors}" failures="${total('failed')}" errors="${errors}" time="${time(records.reduce((n, r) => n + r.seconds, 0))}">`);
  for (const r of records) {
    const elfName = basename(r.elf.path).replace(/\.elf$/, '');
    out.push(
      `  <testsuite name="${xmlEscape(`${elfName} on ${r.probe.selector}`)}" tests="${r.counts.total + (r.error ? 1 : 0)}" failures="${r.counts.failed}" errors="${r.error ? 1 : 0}" skipped="${r.counts.notRun}" time="${time(r.seconds)}" timestamp="${r.start.replace(/\.\d+Z$/, '')}" hostname="${xmlEscape(hostname())}">`,
    );
    out.push('    <properties>');
    const props: [string, string | undefined][] = [['elf', r.elf.path], ['elf.sha256', r.elf.sha256], ['chip', r.chip], ['probe', r.probe.selector], ['probe.serial', r.probe.serial], ['stop', r.stop?.summary], ['log', r.logFile ?? undefined]];
    for (const [name, value] of props) if (value !== undefined) out.push(`      <property name="${name}" value="${xmlEscape(value)}"/>`);
    out.push('    </properties>');
    if (r.error) out.push(`    <testcase name="(run)" classname="${xmlEscape(elfName)}">\n      <error type="run" message="${xmlEscape(r.error)}"/>\n    </testcase>`);
    for (const t of r.tests) {
      const open = `    <testcase name="${xmlEscape(t.name)}" classname="${xmlEscape(elfName)}"${t.seconds !== undefined ? ` time="${time(t.seconds)}"` : ''}`;
      if (t.status === 'passed') out.push(`${open}/>`);
      else if (t.status === 'not run') out.push(`${open}>\n      <skipped message="not run: the firmware stopped in an earlier test"/>\n    </testcase>`);
      else {
        const f = t.failure!;
        const body = [f.message, f.location ? `at ${f.location}` : '', `stopped: ${f.stop}`, ...(f.backtrace ?? []).map((b, i) => `${String(i).padStart(4)}: ${b.function}${b.inlined ? ' (inlined)' : ''}${b.file ? ` at ${b.file}:${b.line}${b.column ? `:${b.column}` : ''}` : ''}`)]
          .filter(Boolean)
          .join('\n');
        out.push(`${open}>\n      <failure type="${xmlEscape(f.stop.split(':')[0])}" message="${xmlEscape(f.message.split('\n')[0])}">${xmlEscape(body)}</failure>\n    </testcase>`);
      }
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}

interface TestCliOptions extends FlashCliOptions, StreamCliOptions {
  junit?: string;
  record?: string;
}

export interface TestCommandDeps {
  /** `run`'s options (probe, chip, streaming, backtrace). */
  options: (cmd: Command) => Command;
  /** `run` on one probe. */
  run: (file: string, opts: TestCliOptions, hooks: StreamHooks) => Promise<RunOutcome>;
  /** The arguments as given (for one dapdeck per probe). */
  args: () => string[];
}

function writeOut(path: string, text: string, what: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    throw new UsageError(`cannot write ${what} ${path}: ${(err as Error).message.replace(/, open .*$/, '')}`);
  }
}

export function registerTest(program: Command, deps: TestCommandDeps): void {
  deps
    .options(program.command('test').description('run on-target tests (defmt-test conventions) and report each: pass/fail/time, failures with location and backtrace').argument('<file>'))
    .option('--junit <file>', 'write JUnit XML (with several --probe: one file, a <testsuite> per probe)')
    .option('--record <file>', 'write a JSON run record (ELF hash, chip, probe, start/end, each test, stop reason, log file); with several --probe its path needs {n} or {probe}')
    .action(async (file: string, opts: TestCliOptions) => {
      if (opts.probe && opts.probe.length > 1) {
        process.exitCode = await testOnProbes(file, opts, deps);
        return;
      }
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(file);
      } catch {
        throw new UsageError(`cannot read ${file}: no such file`);
      }
      const tracker = new TestRunTracker();
      const start = new Date();
      let exitReason: string | undefined;
      const outcome = await deps.run(file, opts, {
        onMessage: (text) => tracker.line(text),
        onReport: (report, details) => tracker.stopped(report, details),
      });
      if (outcome.code === 4) exitReason = 'timed out (--timeout)';
      if (outcome.code === 3) exitReason = 'flashed but not verified';
      tracker.end(outcome.code, exitReason);
      const end = new Date();
      const tests = tracker.tests;
      const counts = { total: tests.length, passed: tests.filter((t) => t.status === 'passed').length, failed: tests.filter((t) => t.status === 'failed').length, notRun: tests.filter((t) => t.status === 'not run').length };
      const allPassed = tracker.allPassed && counts.failed === 0 && counts.total > 0;
      const stop = tracker.stop;
      const record: RunRecord = {
        elf: { path: file, sha256: createHash('sha256').update(bytes).digest('hex') },
        chip: outcome.chip,
        probe: outcome.probe,
        start: start.toISOString(),
        end: end.toISOString(),
        seconds: (end.getTime() - start.getTime()) / 1000,
        tests,
        counts,
        allPassed,
        stop: stop ? { kind: stop.report.kind, summary: stop.details.exitStatus !== undefined ? `semihosting exit, status ${stop.details.exitStatus}` : stop.report.summary, exitStatus: stop.details.exitStatus } : undefined,
        exitCode: 0,
        logFile: opts.logFile ?? null,
      };
      // All tests passed: 0. Otherwise the run's own code (the firmware's status, 5 for a fault, 4
      // for a timeout), and 1 where the run itself ended cleanly but the tests did not all pass.
      record.exitCode = allPassed ? 0 : outcome.code !== 0 ? outcome.code : 1;
      if (!tracker.tests.length) process.stderr.write('dapdeck test: the firmware announced no tests (no "(1/N) running `name`..." line)\n');
      process.stderr.write(formatSummary(record));
      if (opts.record) writeOut(opts.record, JSON.stringify(record, null, 2) + '\n', 'the run record');
      if (opts.junit) writeOut(opts.junit, junitXml([record]), 'the JUnit file');
      process.exitCode = record.exitCode;
    });
}

/** One dapdeck per probe, each writing its record; the JUnit file combines them. */
async function testOnProbes(file: string, opts: TestCliOptions, deps: TestCommandDeps): Promise<number> {
  let sha256 = '';
  try {
    sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    throw new UsageError(`cannot read ${file}: no such file`);
  }
  const probes = opts.probe!;
  if (opts.record && !/\{(n|probe)\}/.test(opts.record)) throw new UsageError(`with several probes, --record needs {n} or {probe} in its path (one record per probe), got "${opts.record}"`);
  const scratch = mkdtempSync(join(tmpdir(), 'dapdeck-test-'));
  const recordPath = (n: number, probe: string) => (opts.record ? opts.record.replace(/\{n\}/g, String(n)).replace(/\{probe\}/g, probeLabel(probe)) : join(scratch, `${n}.json`));
  try {
    const code = await runOnProbes(probes, deps.args(), {
      logFile: opts.logFile,
      stdin: opts.stdin,
      perProbeOptions: ['--junit', '--record'],
      perProbeArgs: (n, probe) => ['--record', recordPath(n, probe)],
    });
    const records: RunRecord[] = [];
    probes.forEach((probe, i) => {
      try {
        records.push(JSON.parse(readFileSync(recordPath(i + 1, probe), 'utf8')) as RunRecord);
      } catch {
        const error = `no run record from ${probe}: the run failed before the tests ran (see its lines above)`;
        process.stderr.write(`dapdeck test: ${error}\n`);
        const now = new Date().toISOString();
        records.push({ elf: { path: file, sha256 }, probe: { selector: probe }, start: now, end: now, seconds: 0, tests: [], counts: { total: 0, passed: 0, failed: 0, notRun: 0 }, allPassed: false, exitCode: code || 1, logFile: null, error });
      }
    });
    if (opts.junit) writeOut(opts.junit, junitXml(records), 'the JUnit file');
    return code;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
