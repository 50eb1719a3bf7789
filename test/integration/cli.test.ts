/** The `dapdeck` command as users and scripts run it: output, one-line errors, exit codes. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { firmwarePath } from '../support/firmware';
import { dapdeck, dapdeckEnv } from '../support/cli';


/**
 * hello on a blank nRF51: every sector of the image already blank, none erased, the 1 KiB sectors
 * programmed four to a ProgramPage call (the algorithm's 4 KiB page; hello's sectors are contiguous
 * from 0), verified by CRC.
 */
function expectBlankChipReport(stderr: string): void {
  const m = /nRF51822_xxAA: (\d+) sectors in the image, 0 erased \((\d+) already blank\), (\d+) pages programmed \(\d+ bytes\), verified \(crc\)/.exec(stderr);
  expect(m, stderr).not.toBeNull();
  const [sectors, blank, pages] = m!.slice(1).map(Number);
  expect(blank).toBe(sectors);
  expect(pages).toBe(Math.ceil(sectors / 4));
}

describe('dapdeck CLI', () => {
  it('lists the emulated and simulated probes', async () => {
    const r = await dapdeck('list', '--json');
    expect(r.code).toBe(0);
    const selectors = (JSON.parse(r.stdout) as { selector: string }[]).map((p) => p.selector);
    expect(selectors).toEqual(expect.arrayContaining(['emu:microbit', 'emu:lm3s6965evb', 'sim:cortex-m0', 'sim:cortex-m3']));
  });

  it('identifies an emulated board', async () => {
    const r = await dapdeck('info', '--probe', 'emu:lm3s6965evb', '--elf', firmwarePath('hello', 'lm3s6965evb'), '--json');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.core.name).toBe('Cortex-M3');
    expect(info.dp.dpidr).toBe(0x1ba01477);
  });

  it('lists both cores of a multi-drop RP2040, each behind its own DP', async () => {
    const r = await dapdeck('info', '--probe', 'sim:rp2040', '--json');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.part).toBe('RP2040');
    expect(info.cores.map((c: { name: string; dp: { targetSel: number; dpidr: number }; core: { name: string } }) => [c.name, c.dp.targetSel, c.dp.dpidr, c.core.name])).toEqual([
      ['core 0', 0x01002927, 0x0bc12477, 'Cortex-M0+'],
      ['core 1', 0x11002927, 0x0bc12477, 'Cortex-M0+'],
    ]);
    const text = await dapdeck('info', '--probe', 'sim:rp2040');
    expect(text.stdout).toMatch(/^core 1:\n  SW-DP: +IDCODE 0x0bc12477 \(DPv2.*TARGETSEL 0x11002927$/m);
  });

  it('works on the core --core picks, each through its own DP', async () => {
    const one = await dapdeck('read', '--probe', 'sim:rp2040', '--core', '1', '0xd0000000', '4');
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^d0000000  01 00 00 00/); // SIO CPUID: core 1
    const single = await dapdeck('read', '--probe', 'sim:cortex-m0', '--core', '1', '0x20000000', '4');
    expect(single.code).toBe(1);
    expect(single.stderr).toMatch(/one debug port: there is no other core to select/);
  });

  it('identifies the emulated Pico: both cores, core 0 asleep in the ROM without firmware', async () => {
    const r = await dapdeck('info', '--probe', 'emu:pico', '--json');
    expect(r.code).toBe(0);
    const pico = JSON.parse(r.stdout);
    expect(pico.cores.map((c: { dp: { targetSel: number }; core: { name: string } }) => [c.dp.targetSel, c.core.name])).toEqual([
      [0x01002927, 'Cortex-M0+'],
      [0x11002927, 'Cortex-M0+'],
    ]);
  });

  it('writes and reads memory on the in-process model, printing probe statistics', async () => {
    const w = await dapdeck('write', '--probe', 'sim:cortex-m0', '0x20000010', 'deadbeef', '--stats');
    expect(w.code).toBe(0);
    expect(w.stdout).toMatch(/wrote 4 bytes at 0x20000010/);
    expect(w.stderr).toMatch(/probe stats: \d+ packets out, \d+ in, \d+ bytes, \d+ round trips, [\d.]+ ms modeled wire time/);
    const r = await dapdeck('read', '--probe', 'sim:cortex-m0', '0x20000000', '16');
    expect(r.stdout).toMatch(/^20000000  00 00 00 00/);
  });

  it('streams RTT from the emulated micro:bit', async () => {
    const r = await dapdeck('rtt', 'read', '--probe', 'emu:microbit', '--elf', firmwarePath('hello', 'microbit'), '--channels', '1', '--duration', '0.5');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^hello from dapdeck #1\nhello from dapdeck #2\n/);
  });

  it('works as a cargo runner: flash, verify, reset and stream, with the ELF path last', async () => {
    const elf = firmwarePath('hello', 'microbit');
    firmwarePath('flash-nrf51', 'microbit');
    // A factory-fresh board (--fresh: whatever earlier tests left on it is forgotten) is blank: nothing to erase.
    const r = await dapdeckEnv({ DAPDECK_PROBE: 'emu:microbit' }, 'run', '--fresh', '--chip', 'nRF51822_xxAA', '--until', 'tick 1', '--timeout', '20', elf);
    expect(r.code).toBe(0);
    expectBlankChipReport(r.stderr);
    expect(r.stdout).toMatch(/^0\.000000 INFO  hello from dapdeck on microbit\n└─ hello::log_showcase @ firmware-samples\/hello\/src\/main\.rs:\d+\n/);
  });

  it('runs on several probes at once: a process each, prefixed output, a log file each, the worst exit code', async () => {
    const elf = firmwarePath('hello', 'microbit');
    firmwarePath('flash-nrf51', 'microbit');
    const dir = mkdtempSync(resolve(tmpdir(), 'dapdeck-lab-'));
    const both = await dapdeck('run', '--probe', 'emu:microbit', '-p', 'emu:microbit', '--chip', 'nRF51822_xxAA', '--log-file', `${dir}/{n}-{probe}.log`, '--until', '^tick 2$', '--timeout', '20', '--no-location', elf);
    expect(both.code).toBe(0);
    for (const n of [1, 2]) {
      expect(both.stdout).toContain(`[${n} emu:microbit] 0.200000 INFO  tick 2\n`);
      expect(both.stderr).toMatch(new RegExp(`^\\[${n} emu:microbit\\] nRF51822_xxAA: \\d+ sectors in the image, .* verified \\(crc\\)`, 'm'));
      expect(readFileSync(`${dir}/${n}-emu-microbit.log`, 'utf8')).toMatch(/tick 2\n$/);
    }
    expect(both.stderr).toMatch(/^dapdeck: 2 of 2 probes ok$/m);
    // One bench position broken: the other still runs to the end and keeps its log; exit 1 says so.
    const oneBad = await dapdeck('run', '--probe', 'emu:microbit', '--probe', 'emu:nosuch', '--chip', 'nRF51822_xxAA', '--log-file', `${dir}/bad-{n}.log`, '--until', '^tick 2$', '--timeout', '20', elf);
    expect(oneBad.code).toBe(1);
    expect(oneBad.stderr).toContain('[2 emu:nosuch  ] dapdeck: error: unknown emulated board "nosuch"');
    expect(oneBad.stderr).toMatch(/^dapdeck: 1 of 2 probes ok; 2 emu:nosuch: error$/m);
    expect(readFileSync(`${dir}/bad-1.log`, 'utf8')).toMatch(/tick 2\n/);
    // Only run fans out, and one log file cannot take two probes.
    const shared = await dapdeck('run', '--probe', 'emu:microbit', '--probe', 'emu:microbit', '--chip', 'nRF51822_xxAA', '--log-file', `${dir}/one.log`, elf);
    expect(shared).toMatchObject({ code: 2, stderr: `dapdeck: error: with several probes, --log-file needs {n} or {probe} in its path (one file per probe), got "${dir}/one.log"\n` });
    const flash = await dapdeck('flash', '--probe', 'emu:microbit', '--probe', 'emu:microbit', '--chip', 'nRF51822_xxAA', elf);
    expect(flash).toMatchObject({ code: 2, stderr: 'dapdeck: error: this command works on one probe (2 given); only run and attach take several --probe\n' });
    // attach fans out the same way (boards already running: here the emulator boots hello).
    const watch = await dapdeck('attach', '-p', 'emu:microbit', '-p', 'emu:microbit', '--until', '^tick 1$', '--timeout', '20', '--no-location');
    expect(watch.code).toBe(0);
    expect(watch.stdout).toContain('[1 emu:microbit] 0.100000 INFO  tick 1\n');
    expect(watch.stdout).toContain('[2 emu:microbit] 0.100000 INFO  tick 1\n');
  }, 60_000);

  it('flashes the in-process model too (it carries out the algorithm calls), with chip erase forced or refused', async () => {
    const elf = firmwarePath('hello', 'microbit');
    firmwarePath('flash-nrf51', 'microbit');
    const fresh = await dapdeck('flash', '--probe', 'sim:cortex-m0', '--chip', 'nRF51822_xxAA', elf);
    expect(fresh.code).toBe(0);
    expectBlankChipReport(fresh.stderr);
    const forced = await dapdeck('flash', '--probe', 'sim:cortex-m0', '--chip', 'nRF51822_xxAA', '--chip-erase', elf);
    expect(forced.stderr).toMatch(/sectors in the image, chip erased, \d+ pages programmed/);
    const never = await dapdeck('flash', '--probe', 'sim:cortex-m0', '--chip', 'nRF51822_xxAA', '--no-chip-erase', elf);
    expect(never.stderr).not.toMatch(/chip erased/);
    expect(never.code).toBe(0);
  });

  it('refuses bad images and chips with their own messages', async () => {
    const truncated = await dapdeck('flash', '--probe', 'sim:cortex-m0', '--chip', 'nRF51822_xxAA', resolve(__dirname, '../../package.json'));
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toMatch(/package\.json: cannot tell the image format/);
    const missing = await dapdeck('flash', '--probe', 'sim:cortex-m0', '--chip', 'nRF51822_xxAA', '/nonexistent/app.elf');
    expect(missing.stderr).toBe('dapdeck: error: cannot read /nonexistent/app.elf: no such file\n');
    const chip = await dapdeck('flash', '--probe', 'sim:cortex-m0', '--chip', 'nRF99', firmwarePath('hello', 'microbit'));
    expect(chip.stderr).toMatch(/^dapdeck: error: unknown chip "nRF99" \(known: nRF51822_xxAA/);
    // The nRF51 algorithm on a Cortex-M3 would fault or time out saying nothing useful: refused first.
    const wrongChip = await dapdeck('flash', '--probe', 'sim:cortex-m3', '--chip', 'nRF51822_xxAA', firmwarePath('hello', 'microbit'));
    expect(wrongChip).toMatchObject({ code: 1, stderr: 'dapdeck: error: wrong chip? nRF51822_xxAA has an armv6m core, but the target is a Cortex-M3 (armv7m); check --chip and the probe\n' });
    const noProbe = await dapdeckEnv({ DAPDECK_PROBE: '' }, 'flash', '--chip', 'nRF51822_xxAA', firmwarePath('hello', 'microbit'));
    expect(noProbe.code).toBe(2);
    expect(noProbe.stderr).toMatch(/no CMSIS-DAP probe found on USB: pass --probe/);
  });

  it('refuses out-of-range numbers as usage errors before opening the probe', async () => {
    for (const count of ['0', '256']) {
      const r = await dapdeck('info', '--probe', 'sim:cortex-m3', '--packet-count', count);
      expect(r).toMatchObject({ code: 2, stdout: '', stderr: `dapdeck: error: --packet-count out of range: "${count}" (allowed: 1..255)\n` });
    }
    const clock = await dapdeck('info', '--probe', 'sim:cortex-m3', '--clock', '0');
    expect(clock).toMatchObject({ code: 2, stderr: 'dapdeck: error: --clock out of range: "0" (allowed: 1..4294967295)\n' });
    const port = await dapdeck('serve', '--port', '70000');
    expect(port).toMatchObject({ code: 2, stderr: 'dapdeck: error: --port must be 0..65535, got "70000"\n' });
    const duration = await dapdeck('rtt', 'read', '--probe', 'sim:cortex-m3', '--duration', 'Infinity');
    expect(duration).toMatchObject({ code: 2, stderr: 'dapdeck: error: --duration must be a positive number of seconds, got "Infinity"\n' });
    const ok = await dapdeck('info', '--probe', 'sim:cortex-m3', '--packet-count', '1', '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).probe.packetCount).toBe(1);
  }, 120_000);

  it('keeps addresses and lengths inside the 32-bit address space', async () => {
    const write = await dapdeck('write', '--probe', 'sim:cortex-m3', '0xfffffffe', 'deadbeef');
    expect(write).toMatchObject({ code: 2, stderr: 'dapdeck: error: data: 4 bytes at 0xfffffffe run past 0xffffffff, the end of the 32-bit address space\n' });
    const read = await dapdeck('read', '--probe', 'sim:cortex-m3', '0x20000000', '0x100000000');
    expect(read).toMatchObject({ code: 2, stderr: 'dapdeck: error: length: 4294967296 bytes at 0x20000000 run past 0xffffffff, the end of the 32-bit address space\n' });
    // A write that ends exactly at the top is inside: the model answers (no memory there: FAULT).
    const top = await dapdeck('write', '--probe', 'sim:cortex-m3', '0xfffffffe', 'beef');
    expect(top.code).toBe(1);
    expect(top.stderr).toMatch(/^dapdeck: error: SWD FAULT ack writing AP DRW.* while writing 2 bytes at 0xfffffffe/);
    const range = await dapdeck('erase', '--probe', 'sim:cortex-m0', '--chip', 'nRF51822_xxAA', '--range', '0..0x100000001');
    expect(range).toMatchObject({ code: 2, stderr: 'dapdeck: error: --range end 0x100000001 is past the end of the 32-bit address space (0x100000000)\n' });
    const bin = resolve(mkdtempSync(resolve(tmpdir(), 'dapdeck-bin-')), 'app.bin');
    writeFileSync(bin, Buffer.alloc(16, 0xaa));
    const base = await dapdeck('flash', '--probe', 'sim:cortex-m0', '--chip', 'nRF51822_xxAA', '--base', '0xfffffff8', bin);
    expect(base).toMatchObject({ code: 1, stderr: `dapdeck: error: ${bin}: 16 bytes at base 0xfffffff8 run past the end of the 32-bit address space\n` });
  }, 120_000);

  it('refuses --base for an ELF, whose addresses come from the file', async () => {
    const r = await dapdeck('flash', '--probe', 'sim:cortex-m0', '--chip', 'nRF51822_xxAA', '--base', '0x1000', firmwarePath('hello', 'microbit'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^dapdeck: error: --base applies only to raw \.bin images; .*hello-microbit\.elf is an ELF file, which carries its own load addresses\n$/);
  }, 120_000);

  it('erases on the in-process model (it carries out the algorithm calls)', async () => {
    const all = await dapdeck('erase', '--probe', 'sim:cortex-m0', '--chip', 'nRF51822_xxAA');
    // nRF51822_xxAA: 256 KiB of flash in 1 KiB pages (nRF51 reference manual, NVMC).
    expect(all).toMatchObject({ code: 0, stdout: 'nRF51822_xxAA: erased 256 sectors\n' });
    const some = await dapdeck('erase', '--probe', 'sim:cortex-m0', '--chip', 'nRF51822_xxAA', '--range', '0x400..0x1001');
    expect(some).toMatchObject({ code: 0, stdout: 'nRF51822_xxAA: erased 4 sectors\n' });
  }, 120_000);

  it('holds a --duration past 2^31 ms (Node timers overflow there) instead of stopping at once', async () => {
    // 2 200 000 s > 2^31 ms: before, it fired after 1 ms and stopped the 1 s --timeout attach early.
    const r = await dapdeck('rtt', 'read', '--probe', 'sim:cortex-m3', '--duration', '2200000', '--timeout', '1');
    expect(r.stderr).not.toMatch(/TimeoutOverflowWarning/);
    expect(r.stderr).toMatch(/^dapdeck: error: no RTT control block found in .* after 1\.\d s/);
  }, 120_000);

  it('fails with one line naming the problem and a non-zero exit code', async () => {
    const fault = await dapdeck('read', '--probe', 'sim:cortex-m3', '0x30000000', '4');
    expect(fault.code).toBe(1);
    expect(fault.stderr).toBe('dapdeck: error: SWD FAULT ack reading AP DRW (word 0 of the block) while reading 4 bytes at 0x30000000; CTRL/STAT had STICKYERR, cleared\n');
    const selector = await dapdeck('info', '--probe', 'nonsense');
    expect(selector.code).toBe(1);
    expect(selector.stderr).toMatch(/^dapdeck: error: unknown probe selector "nonsense"/);
    const usb = await dapdeck('info', '--probe', '0d28:0204');
    expect(usb.code).toBe(1);
    expect(usb.stderr).toMatch(/^dapdeck: error: no CMSIS-DAP probe 0d28:0204 is connected/);
    const usage = await dapdeck('read', '--probe', 'sim:cortex-m3', 'zzz', '4');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/address must be a number/);
  });
});
