/**
 * `dapdeck test` on the emulated micro:bit with the selftest sample (defmt-test conventions over
 * semihosting): each test's verdict, the failure with its location (the line of the failing
 * assert_eq! in the sample's source, found here by reading that source) and backtrace, the exit
 * code; the JUnit file validated by xmllint (libxml2) against a JUnit XSD (test/schemas/junit.xsd)
 * and read back with XPath; the run record's ELF hash equal to sha256sum's (coreutils). The
 * passing build ends with a BKPT after "all tests passed!" (exit 0); two probes give one record
 * each and one JUnit file with a testsuite per probe.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { firmwarePath } from '../support/firmware';

const ROOT = resolve(__dirname, '../..');
const BIN = join(ROOT, 'bin/dapdeck.cjs');
const XSD = join(ROOT, 'test/schemas/junit.xsd');

function dapdeck(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 120000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as NodeJS.ErrnoException & { code?: number }).code as unknown as number) ?? 1 : 0, stdout, stderr });
    });
  });
}

/** xmllint's verdict on a file against the JUnit XSD ("validates" or the errors). */
function validate(file: string): { ok: boolean; output: string } {
  try {
    return { ok: true, output: execFileSync('xmllint', ['--noout', '--schema', XSD, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (err) {
    return { ok: false, output: String((err as { stderr?: string }).stderr ?? err) };
  }
}

const xpath = (file: string, expr: string) => execFileSync('xmllint', ['--xpath', expr, file], { encoding: 'utf8' }).trim();
const sha256sum = (file: string) => execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0];

/** Where the sample's failing assertion is: its line in the source, found by text. */
function failingAssertLocation(): string {
  const source = readFileSync(join(ROOT, 'firmware-samples/selftest/src/main.rs'), 'utf8').split('\n');
  const line = source.findIndex((l) => l.includes('assert_eq!(checksum(b"dapdeck")'));
  return `firmware-samples/selftest/src/main.rs:${line + 1}:${source[line].indexOf('assert_eq!') + 1}`;
}

describe('dapdeck test on the emulated micro:bit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dapdeck-test-cli-'));

  it('selftest: two tests pass, checksums fails with its location and backtrace, sorts does not run; JUnit valid; exit 1 (the firmware\'s status)', async () => {
    const elf = firmwarePath('selftest', 'microbit');
    const junit = join(dir, 'fail.xml');
    const record = join(dir, 'fail.json');
    const r = await dapdeck(['test', elf, '--probe', 'emu:microbit', '--timeout', '60', '--junit', junit, '--record', record]);
    expect(r.code, r.stderr).toBe(1);
    const where = failingAssertLocation();
    expect(r.stderr).toMatch(/ {2}ok {6}adds\s+\(\d+\.\d{3} s\)\n/);
    expect(r.stderr).toMatch(/ {2}ok {6}parses\s+\(\d+\.\d{3} s\)\n/);
    expect(r.stderr).toMatch(/ {2}FAILED {2}checksums\s+\(\d+\.\d{3} s\)\n\s+assertion failed: `\(left == right\)`/);
    expect(r.stderr).toContain(`at ${where}\n`);
    expect(r.stderr).toContain('test result: FAILED. 2 passed; 1 failed; 1 not run; 4 tests in');

    const rec = JSON.parse(readFileSync(record, 'utf8'));
    expect(rec.elf).toEqual({ path: elf, sha256: sha256sum(elf) });
    expect(rec.chip).toBe('nRF51822_xxAA');
    expect(rec.probe.selector).toBe('emu:microbit');
    expect(rec.probe.serial).toBeTruthy();
    expect(Date.parse(rec.end)).toBeGreaterThanOrEqual(Date.parse(rec.start));
    expect(rec.tests.map((t: { name: string; status: string }) => [t.name, t.status])).toEqual([
      ['adds', 'passed'],
      ['parses', 'passed'],
      ['checksums', 'failed'],
      ['test 4', 'not run'],
    ]);
    const failure = rec.tests[2].failure;
    expect(failure.location).toBe(where);
    expect(failure.message).toContain('checksum of "dapdeck"');
    expect(failure.stop).toBe('semihosting exit with status 1');
    const functions = failure.backtrace.map((f: { function: string }) => f.function);
    expect(functions.slice(0, 3)).toEqual(['selftest::semihost', 'selftest::exit', 'selftest::panic']);
    const test = failure.backtrace.find((f: { function: string }) => f.function === 'selftest::checksums');
    expect(`${test.file}:${test.line}:${test.column}`).toBe(where);
    expect(rec.stop).toMatchObject({ kind: 'semihosting', exitStatus: 1 });
    expect(rec.exitCode).toBe(1);

    expect(validate(junit)).toMatchObject({ ok: true });
    expect(xpath(junit, 'count(//testsuite)')).toBe('1');
    expect(xpath(junit, 'string(//testsuite/@tests)')).toBe('4');
    expect(xpath(junit, 'string(//testsuite/@failures)')).toBe('1');
    expect(xpath(junit, 'string(//testsuite/@skipped)')).toBe('1');
    expect(xpath(junit, 'string(//testcase[failure]/@name)')).toBe('checksums');
    expect(xpath(junit, 'string(//testcase/failure)')).toContain(`at ${where}`);
    expect(xpath(junit, 'string(//testcase/failure)')).toContain('selftest::checksums at firmware-samples/selftest/src/main.rs:');
    expect(xpath(junit, 'count(//testcase[skipped])')).toBe('1');
    expect(xpath(junit, 'string(//property[@name="elf.sha256"]/@value)')).toBe(sha256sum(elf));
    // The schema is not vacuous: a testcase without its name is refused.
    const broken = join(dir, 'broken.xml');
    execFileSync('sh', ['-c', `sed 's/testcase name=/testcase title=/' '${junit}' > '${broken}'`]);
    expect(validate(broken)).toMatchObject({ ok: false });
  }, 120000);

  it('the passing build: all four pass, "all tests passed!" then BKPT; exit 0', async () => {
    const elf = firmwarePath('selftest', 'microbit', 'passing');
    const junit = join(dir, 'pass.xml');
    const r = await dapdeck(['test', elf, '--probe', 'emu:microbit', '--timeout', '60', '--junit', junit]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('all tests passed!');
    expect(r.stderr).toContain('dapdeck: stopped: BKPT #0x0');
    expect(r.stderr).not.toContain('stack backtrace:'); // --backtrace=auto: a clean end has none
    expect(r.stderr).toContain('test result: ok. 4 passed; 0 failed; 0 not run; 4 tests in');
    expect(validate(junit)).toMatchObject({ ok: true });
    expect(xpath(junit, 'count(//testcase)')).toBe('4');
    expect(xpath(junit, 'count(//testcase[failure or skipped or error])')).toBe('0');
  }, 120000);

  it('two probes: one record each ({n} in --record), one JUnit file with a testsuite per probe', async () => {
    const elf = firmwarePath('selftest', 'microbit');
    const junit = join(dir, 'both.xml');
    const r = await dapdeck(['test', elf, '--probe', 'emu:microbit', '--probe', 'emu:microbit', '--timeout', '90', '--junit', junit, '--record', join(dir, 'run-{n}.json')]);
    expect(r.code, r.stderr).toBe(1);
    for (const n of [1, 2]) {
      const rec = JSON.parse(readFileSync(join(dir, `run-${n}.json`), 'utf8'));
      expect(rec.counts).toEqual({ total: 4, passed: 2, failed: 1, notRun: 1 });
    }
    expect(validate(junit)).toMatchObject({ ok: true });
    expect(xpath(junit, 'count(//testsuite)')).toBe('2');
    expect(xpath(junit, 'string(/testsuites/@failures)')).toBe('2');
    const bad = await dapdeck(['test', elf, '--probe', 'emu:microbit', '--probe', 'emu:microbit', '--record', join(dir, 'one.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--record needs {n} or {probe}');
  }, 180000); // two QEMUs flashing and running side by side on a loaded 2-core machine
});
