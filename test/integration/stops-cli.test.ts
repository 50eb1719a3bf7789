/**
 * `dapdeck run`/`attach` notice the core stopping while they stream, name the reason, keep the last
 * log lines, and exit with the documented code; semihosting output and exit status arrive. The
 * samples (firmware-samples/panic, fault, selftest) run on both emulated boards. Where the fault
 * report names code, gdb-multiarch stopped at the same HardFault entry on a second QEMU (its own
 * stub, its own unwinder through the exception frame, its own Rust demangler) must agree.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { firmwarePath } from '../support/firmware';
import { runGdb } from '../support/gdb-observer';

const BIN = resolve(__dirname, '../../bin/dapdeck.cjs');

function dapdeck(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as NodeJS.ErrnoException & { code?: number }).code as unknown as number) ?? 1 : 0, stdout, stderr });
    });
  });
}

/** GDB's frames after "<signal handler called>" (the interrupted code), innermost first, by function name. */
function gdbFramesBelowHandler(bt: string): string[] {
  const lines = bt.split('\n').filter((l) => /^#\d+/.test(l));
  const at = lines.findIndex((l) => l.includes('<signal handler called>'));
  return lines.slice(at + 1).map((l) => /^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+?)(?: \(|$)/.exec(l)![1]);
}

describe.each(['microbit', 'lm3s6965evb'] as const)('stops while streaming on %s', (board) => {
  it('panic: the panic message arrives, then the HardFault stop; exit 5', async () => {
    const r = await dapdeck(['attach', '--probe', `emu:${board}`, '--elf', firmwarePath('panic', board), '--timeout', '20']);
    expect(r.stdout).toContain('panic sample: averaging three readings\n');
    // The last line before the stop (drained from RTT before the report).
    expect(r.stdout).toContain("panicked at 'sensor reading 250 out of range (limit 100)', firmware-samples/panic/src/main.rs:");
    expect(r.stderr).toMatch(/dapdeck: stopped: HardFault/);
    if (board === 'lm3s6965evb') expect(r.stderr).toContain('undefined instruction (UNDEFINSTR)');
    // The panic handler, by its debug-info name (GDB's too); its symbol is rust_begin_unwind.
    expect(r.stderr).toMatch(/faulting code: pc 0x[0-9a-f]{8} \(panic::panic\+0x[0-9a-f]+\)/);
    expect(r.code).toBe(5);
  });

  it('fault: the stop names the fault, the faulting function and its caller, as GDB unwinds them; exit 5', async () => {
    const elf = firmwarePath('fault', board);
    const r = await dapdeck(['attach', '--probe', `emu:${board}`, '--elf', elf, '--timeout', '20']);
    expect(r.code).toBe(5);
    expect(r.stdout).toContain('fault sample: reading a sensor at 0x30000004\n');
    expect(r.stderr).toMatch(/dapdeck: stopped: HardFault/);
    if (board === 'lm3s6965evb') expect(r.stderr).toContain('escalated to HardFault (HFSR.FORCED), instruction access violation (IACCVIOL) in code at 0xe0100000');
    const m = /faulting code: pc (0x[0-9a-f]+)(?: \(([^)]+)\))?, called from (0x[0-9a-f]+) \(([^)+]+)/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const bt = await runGdb(board, elf, ['break DefaultHandler', 'continue', 'bt'], elf);
    const frames = gdbFramesBelowHandler(bt);
    if (board === 'microbit') {
      // Faulted in read_register (GDB also shows the read_volatile inlined there), called from read_sensor.
      expect(m![2]).toBe('fault::read_register');
      expect(m![4]).toBe('fault::read_sensor');
      const i = frames.indexOf('fault::read_register');
      expect(i, bt).toBeGreaterThanOrEqual(0);
      expect(frames[i + 1]).toBe('fault::read_sensor');
    } else {
      // Jumped to 0xe0100000, where no function is (read_register tail-calls the bad handler, so
      // the return address is in read_sensor): GDB says the same.
      expect(m![1]).toBe('0xe0100000');
      expect(m![2]).toBeUndefined();
      expect(m![4]).toBe('fault::read_sensor');
      expect(frames.slice(0, 2), bt).toEqual(['??', 'fault::read_sensor']);
    }
  });

  it('selftest: semihosting output (SYS_WRITE0, SYS_WRITE on ":tt", SYS_GET_CMDLINE) arrives and its exit status 1 passes through', async () => {
    const elf = firmwarePath('selftest', board);
    const r = await dapdeck(['attach', '--probe', `emu:${board}`, '--elf', elf, '--timeout', '20']);
    expect(r.stdout).toContain('selftest: on-target tests\n');
    expect(r.stdout).toContain(`command line: ${elf}\n`);
    expect(r.stdout).toContain('(3/4) running `checksums`...\n');
    expect(r.stdout).toContain('checksum of "dapdeck"\', firmware-samples/selftest/src/main.rs:');
    expect(r.stdout).not.toContain('(4/4)');
    expect(r.stderr).toContain('dapdeck: firmware exited: SYS_EXIT_EXTENDED status 1');
    expect(r.code).toBe(1);
  });
});

describe.each(['microbit', 'lm3s6965evb'] as const)('firmware without RTT on %s', (board) => {
  it('semihosting output arrives while no RTT block exists, and the exit status passes through', async () => {
    const elf = firmwarePath('selftest', board, 'semihosting-only');
    const r = await dapdeck(['attach', '--probe', `emu:${board}`, '--elf', elf, '--timeout', '20']);
    expect(r.stderr).not.toContain('RTT control block at');
    expect(r.stdout).toContain('selftest: on-target tests\n');
    expect(r.stdout).toContain('(3/4) running `checksums`...\n');
    expect(r.stdout).toContain('checksum of "dapdeck"\', firmware-samples/selftest/src/main.rs:');
    expect(r.stderr).toContain('dapdeck: firmware exited: SYS_EXIT_EXTENDED status 1');
    expect(r.code).toBe(1);
  });
});

describe.each(['microbit', 'lm3s6965evb'] as const)('a firmware that keeps resetting itself on %s', (board) => {
  it('is a reset loop (QEMU reports each guest reset; DHCSR.S_RESET_ST): N resets in M s, exit 5', async () => {
    const r = await dapdeck(['attach', '--probe', `emu:${board}`, '--elf', firmwarePath('resetloop', board), '--timeout', '20']);
    expect(r.stdout).toContain('resetloop: booted; resetting\n');
    expect(r.stderr).toMatch(/dapdeck: stopped: reset loop: 3 resets in (\d+ ms|\d+\.\d s) \(DHCSR\.S_RESET_ST; the limit is 3 in 5 s\)/);
    expect(r.code).toBe(5);
  });
});

describe('fault catching can be turned off', () => {
  it('with --no-catch-hardfault the firmware\'s handler runs: no stop, the stream times out (exit 4)', async () => {
    const elf = firmwarePath('panic', 'microbit');
    const free = await dapdeck(['attach', '--probe', 'emu:microbit', '--elf', elf, '--timeout', '3', '--no-catch-hardfault']);
    expect(free.stdout).toContain("panicked at 'sensor reading 250");
    expect(free.stderr).not.toMatch(/stopped:/);
    expect(free.code).toBe(4);
  });
});
