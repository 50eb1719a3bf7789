/**
 * `dapdeck gdb` driven by Debian's gdb-multiarch 13.1 (a client nobody here wrote) in batch mode,
 * on both emulated boards, through the strict probe model: load, break, continue, bt, registers,
 * print, watch (old and new value), stepi, next, monitor reset halt, detach; Dapdeck's own read of
 * flash afterwards; the firmware's defmt log printed between stops.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DebugSession } from '../../core/arm/session';
import { DefmtStream, defmtTableFromElf } from '../../core/defmt';
import { ElfFile } from '../../core/elf/elf';
import { loadImage } from '../../core/elf';
import { openProbe, type OpenedProbe } from '../../main/probe/registry';
import { runGdbServer, type GdbCliOptions } from '../../main/cli/gdb';
import { runningQemuCount } from '../../main/emu/qemu-target';
import { firmwarePath, type Board } from '../support/firmware';

const BIN = resolve(__dirname, '../../bin/dapdeck.cjs');

interface Served {
  port: number;
  session: DebugSession;
  probe: OpenedProbe;
  /** Everything the server printed (log lines and RTT output), in order. */
  lines: string[];
  stop(): Promise<void>;
}

async function serve(board: Board, opts: Partial<GdbCliOptions> & { blank?: boolean } = {}, sample = 'hello'): Promise<Served> {
  const elf = firmwarePath(sample, board);
  const probe = await openProbe(`emu:${board}`, { elf, blank: opts.blank });
  const session = await DebugSession.open(probe.transport, { responseTimeoutMs: 3000, haltTimeoutMs: 1000 });
  const file = new ElfFile(readFileSync(elf), elf);
  const lines: string[] = [];
  const push = (text: string) => lines.push(...text.split('\n').filter(Boolean));
  const abort = new AbortController();
  let listening!: (port: number) => void;
  const port = new Promise<number>((r) => (listening = r));
  const running = runGdbServer(session, probe, { host: '127.0.0.1', port: '0', rtt: true, ...opts }, {
    facts: { table: sample === 'hello' ? defmtTableFromElf(file) : undefined, address: file.symbol('_SEGGER_RTT')?.value },
    scan: [{ start: 0x20000000, size: 0x4000 }],
    channels: [0],
    defmtChannel: 0,
    output: { colour: false },
    out: push,
    warn: push,
    signal: abort.signal,
    onListening: listening,
  });
  const served: Served = {
    port: await Promise.race([port, running.then(() => -1)]),
    session,
    probe,
    lines,
    stop: async () => {
      abort.abort();
      await running;
      await session.close();
      await probe.close();
    },
  };
  return served;
}

function gdb(port: number, elf: string, commands: string[], timeoutMs = 60_000): Promise<{ code: number; out: string }> {
  const args = ['-nx', '-batch', '-ex', 'set pagination off', '-ex', 'set confirm off', '-ex', `target extended-remote 127.0.0.1:${port}`, ...commands.flatMap((c) => ['-ex', c]), elf];
  return new Promise((done) => {
    execFile('gdb-multiarch', args, { timeout: timeoutMs }, (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }));
  });
}

/** gdb-multiarch in MI mode (GDB/MI, asynchronous), driven one command at a time. */
class MiGdb {
  private out = '';
  private readonly child;
  constructor(elf: string) {
    this.child = spawn('gdb-multiarch', ['-nx', '-q', '-i=mi', elf], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (d: string) => (this.out += d));
  }
  /** Send a command and wait until the output (after it) matches `until`; returns that output. */
  async run(command: string, until: RegExp, timeoutMs = 30_000): Promise<string> {
    const from = this.out.length;
    this.child.stdin!.write(`${command}\n`);
    const deadline = Date.now() + timeoutMs;
    while (!until.test(this.out.slice(from))) {
      if (Date.now() > deadline) throw new Error(`gdb-multiarch: no ${until} after "${command}":\n${this.out.slice(from)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.out.slice(from);
  }
  close(): void {
    this.child.kill();
  }
}

/** Index of the first line matching `re` at or after `from`. */
function lineIndex(lines: string[], re: RegExp, from = 0): number {
  for (let i = from; i < lines.length; i++) if (re.test(lines[i])) return i;
  return -1;
}

let current: Served | null = null;
afterEach(async () => {
  await current?.stop();
  current = null;
  expect(runningQemuCount()).toBe(0);
});

const SESSION = [
  'load',
  'break hello::log_showcase',
  'continue',
  'bt',
  'info registers',
  'print hello::TICKS.v.value',
  'stepi',
  'next',
  'watch hello::TICKS.v.value',
  'continue',
  'continue',
  'print hello::TICKS.v.value',
  'delete',
  'monitor rtt',
  'monitor reset halt',
  'maintenance flush register-cache',
  'print/x $pc',
  'info symbol $pc',
  'detach',
];

async function debugSession(board: Board, served: Served): Promise<void> {
  const elf = firmwarePath('hello', board);
  const r = await gdb(served.port, elf, SESSION);
  const out = r.out;
  if (process.env.GDB_TEST_DEBUG) console.log(out, served.lines.join('\n'));
  expect(out).toMatch(/Loading section \.text, size 0x[0-9a-f]+ lma 0x[0-9a-f]+/);
  expect(out).toMatch(/Transfer rate:/);
  expect(out).toMatch(/Breakpoint 1, hello::log_showcase \(\) at firmware-samples\/hello\/src\/main\.rs:94/);
  // bt: file:line frames down to the reset handler.
  expect(out).toMatch(/#0 {2}hello::log_showcase \(\) at firmware-samples\/hello\/src\/main\.rs:94/);
  expect(out).toMatch(/#1 {2}hello::main \(\) at firmware-samples\/hello\/src\/main\.rs:\d+/);
  expect(out).toMatch(/#2 {2}0x[0-9a-f]+ in hello::rt::Reset \(\) at .*rt\.rs:\d+/);
  // info registers: the whole M-profile set, pc on the breakpoint.
  for (const reg of ['r0', 'r12', 'sp', 'lr', 'xpsr', 'msp', 'psp', 'primask', 'control']) expect(out).toMatch(new RegExp(`^${reg} +0x[0-9a-f]+`, 'm'));
  expect(out).toMatch(/^pc +0x[0-9a-f]+ +0x[0-9a-f]+ <hello::(?:log_showcase|main)\+?\d*>/m);
  if (board === 'lm3s6965evb') expect(out).toMatch(/^basepri +0x[0-9a-f]+/m);
  else expect(out).not.toMatch(/^basepri /m); // ARMv6-M has no BASEPRI
  expect(out).toMatch(/\$1 = 0\n/);
  // watch: the bss clear writes 0 over 0 (no change, GDB goes on); SysTick's first store stops it.
  expect(out).toMatch(/Hardware watchpoint 2: hello::TICKS\.v\.value/);
  expect(out).toMatch(/Old value = 0\s+New value = 1\n/);
  expect(out).toMatch(/Old value = 1\s+New value = 2\n/);
  expect(out).toMatch(/\$2 = 2\n/);
  // stepi moves one instruction (still line 94), next to the following line.
  expect(out).toMatch(/\n0x[0-9a-f]+\t94\t {4}info!\("hello from dapdeck on \{=str\}", BOARD\);\n95\t {4}trace!\("trace level \{=u8\}", 1u8\);\n/);
  expect(out).toMatch(/RTT control block at 0x2000[0-9a-f]{4}: up 0 "Terminal" \d+ bytes, up 1 "Text" \d+ bytes/);
  expect(out).toMatch(/target reset, halted at the reset vector/);
  expect(out).toMatch(/Reset(?: \+ \d+)? in section \.text/);
  expect(out).toMatch(/\[Inferior 1 \(Remote target\) detached\]/);
  expect(r.code).toBe(0);

  // The server saw each kind of stop, and the defmt log streamed between them: the showcase
  // records arrive while the core runs from the log_showcase breakpoint to the watchpoint.
  const lines = served.lines;
  const atBreak = lineIndex(lines, /core halted \(hardware breakpoint\)/);
  const atWatch = lineIndex(lines, /core halted \(write watchpoint on 0x2000[0-9a-f]{4}\)/, atBreak);
  const hello = lineIndex(lines, new RegExp(`^0\\.000000 INFO  hello from dapdeck on ${board}$`));
  expect(atBreak).toBeGreaterThan(-1);
  expect(hello).toBeGreaterThan(atBreak);
  expect(atWatch).toBeGreaterThan(hello);
  expect(lineIndex(lines, /ERROR error level: code -1/)).toBeLessThan(atWatch);
  expect(lineIndex(lines, /client .* detached/)).toBeGreaterThan(atWatch);

  // Dapdeck's own read: flash holds exactly the image GDB loaded.
  const image = loadImage(readFileSync(elf), elf);
  for (const chunk of image.chunks) {
    const back = await served.session.ap.readMemory(chunk.address, chunk.data.length);
    expect(Buffer.from(back).equals(Buffer.from(chunk.data)), `flash at 0x${chunk.address.toString(16)}`).toBe(true);
  }
}

describe('dapdeck gdb with gdb-multiarch', () => {
  it('debugs the micro:bit: the chip is detected without --chip, load programs blank flash through the nRF51 algorithm (verified)', async () => {
    current = await serve('microbit', { blank: true });
    // As `dapdeck flash` does: the factory-fresh nRF51's FICR CONFIGID.HWID names the chip.
    expect(current.lines.join('\n')).toMatch(/dapdeck: chip nRF51822_xxAA, detected from .*HWID 0x[0-9a-f]+/);
    await debugSession('microbit', current);
    expect(current.lines.join('\n')).toMatch(/gdb: load: \d+ sectors in the image, \d+ erased( \(\d+ already blank\))?, \d+ pages programmed \(\d+ bytes\), verified \(crc\)/);
  }, 120_000); // a whole debugging session; minutes only on a machine shared by many jobs

  it('debugs the LM3S6965EVB: load into flash that already holds the image is confirmed by reading it back; --rtt-port serves the defmt bytes', async () => {
    current = await serve('lm3s6965evb', { rttPort: '0' });
    // No chip description knows the LM3S6965: said once, and debugging goes on (load writes RAM-like
    // flash of the emulator directly and is confirmed by reading it back).
    expect(current.lines.join('\n')).toMatch(/dapdeck gdb: cannot tell which chip this is .*: GDB's load cannot program flash without the chip's flash algorithm \(give --chip NAME\); everything else works/);
    const served = /RTT up channel 0 served raw on 127\.0\.0\.1:(\d+)/.exec(current.lines.join('\n'));
    expect(served).not.toBeNull();
    const raw: Buffer[] = [];
    const client = connect(Number(served![1]), '127.0.0.1');
    client.on('data', (d) => raw.push(d));
    await new Promise((r) => client.once('connect', r));
    await debugSession('lm3s6965evb', current);
    client.destroy();
    // The raw stream decodes (with the ELF's table) to the same records the terminal showed.
    const elf = firmwarePath('hello', 'lm3s6965evb');
    const events = new DefmtStream(defmtTableFromElf(new ElfFile(readFileSync(elf), elf))).push(Buffer.concat(raw));
    const messages = events.flatMap((e) => (e.kind === 'record' ? [e.record.message] : []));
    expect(messages).toContain('hello from dapdeck on lm3s6965evb');
    expect(messages).toContain('error level: code -1');
    expect(events.filter((e) => e.kind === 'error')).toEqual([]);
  }, 120_000);

  it('Ctrl-C from GDB/MI stops the running core (SIGINT); a breakpoint on code in RAM is a BKPT instruction', async () => {
    current = await serve('lm3s6965evb');
    const gdbMi = new MiGdb(firmwarePath('hello', 'lm3s6965evb'));
    try {
      await gdbMi.run('-gdb-set mi-async on', /\^done/);
      await gdbMi.run(`-target-select extended-remote 127.0.0.1:${current.port}`, /\^connected/);
      await gdbMi.run('-exec-continue', /\*running/);
      await new Promise((r) => setTimeout(r, 300));
      expect(await gdbMi.run('-exec-interrupt', /\*stopped/)).toMatch(/\*stopped,reason="signal-received",signal-name="SIGINT"/);
      // movs r0,#1; adds r0,#1; adds r0,#1; b 0x20008002 — a loop in RAM, with a breakpoint on its second add.
      await gdbMi.run('-data-write-memory-bytes 0x20008000 "012001300130fce7"', /\^done/);
      await gdbMi.run('-interpreter-exec console "set $pc = 0x20008000"', /\^done/);
      expect(await gdbMi.run('-break-insert *0x20008004', /\^(done|error)/)).toMatch(/\^done,bkpt=\{number="1",type="breakpoint"/);
      expect(await gdbMi.run('-exec-continue', /\*stopped/)).toMatch(/\*stopped,reason="breakpoint-hit",disp="keep",bkptno="1",frame=\{addr="0x20008004"/);
      expect(await gdbMi.run('-data-evaluate-expression $r0', /\^(done|error)/)).toMatch(/\^done,value="2"/);
      expect(await gdbMi.run('-exec-continue', /\*stopped/)).toMatch(/reason="breakpoint-hit".*addr="0x20008004"/);
      // One more lap: the add under the breakpoint (GDB steps over it) and the one before it.
      expect(await gdbMi.run('-data-evaluate-expression $r0', /\^(done|error)/)).toMatch(/\^done,value="4"/);
      await gdbMi.run('-target-detach', /\^done/);
    } finally {
      gdbMi.close();
    }
    const log = current.lines.join('\n');
    expect(log).toMatch(/core halted \(halt request\)[^\n]*\n(?:.*\n)*.*core halted \(software breakpoint\) at 0x20008004/);
    expect([...(await current.session.ap.readMemory(0x20008004, 2))]).toEqual([0x01, 0x30]); // the BKPT is gone again
  }, 120_000);

  it('serves the firmware\'s semihosting itself: output on Dapdeck\'s terminal, the core resumed unseen by GDB; the exit is a stop GDB sees', async () => {
    current = await serve('lm3s6965evb', {}, 'selftest');
    const elf = firmwarePath('selftest', 'lm3s6965evb');
    // The selftest sample: four tests over semihosting (SYS_OPEN, WRITE0, GET_CMDLINE, CLOCK, WRITE),
    // the third panics, the panic handler prints and exits through SYS_EXIT_EXTENDED with status 1.
    const r = await gdb(current.port, elf, ['break selftest::checksums', 'continue', 'continue', 'bt', 'print/x $r0', 'detach']);
    const out = r.out;
    if (process.env.GDB_TEST_DEBUG) console.log(out, current.lines.join('\n'));
    // GDB stops only where it asked (the breakpoint) and where the program ended: every call before
    // was served and resumed without a stop reply.
    expect(out).toMatch(/Breakpoint 1, selftest::checksums \(\) at firmware-samples\/selftest\/src\/main\.rs:\d+/);
    expect(out.match(/Program received signal/g)).toHaveLength(1);
    expect(out).toMatch(/Program received signal SIGTRAP, Trace\/breakpoint trap\.\n(?:0x[0-9a-f]+ in )?selftest::semihost/);
    // Halted on the exit call itself: the frames from gdb-multiarch's own unwinder, r0 the operation.
    expect(out).toMatch(/#0 {2}0x[0-9a-f]+ in selftest::semihost \(op=32, .*\n#1 {2}(?:0x[0-9a-f]+ in )?selftest::exit \(status=1\) .*\n#2 {2}(?:0x[0-9a-f]+ in )?selftest::panic .*\n(?:#\d.*\n)*#\d {2}0x[0-9a-f]+ in selftest::checksums \(\)/);
    expect(out).toMatch(/\$1 = 0x20\n/); // SYS_EXIT_EXTENDED
    expect(out).toMatch(/\[Inferior 1 \(Remote target\) detached\]/);
    expect(r.code).toBe(0);
    // Dapdeck's terminal: the firmware's output in order, between the stops it belongs between.
    const lines = current.lines;
    const banner = lineIndex(lines, /^selftest: on-target tests$/);
    const third = lineIndex(lines, /^\(3\/4\) running `checksums`\.\.\.$/);
    const atBreak = lineIndex(lines, /core halted \(hardware breakpoint\)/);
    const panicked = lineIndex(lines, /^panicked at 'assertion failed/, atBreak);
    expect(lineIndex(lines, /checksum of "dapdeck"', firmware-samples\/selftest\/src\/main\.rs:\d+:5$/, panicked)).toBeGreaterThan(panicked);
    const exited = lineIndex(lines, /core halted \(the firmware exited through semihosting: SYS_EXIT_EXTENDED status 1\)/);
    expect(banner).toBeGreaterThan(-1);
    expect(lineIndex(lines, /^command line: $/)).toBeGreaterThan(banner);
    expect(third).toBeGreaterThan(banner);
    expect(atBreak).toBeGreaterThan(third);
    expect(panicked).toBeGreaterThan(atBreak);
    expect(exited).toBeGreaterThan(panicked);
    expect(lineIndex(lines, /running `sorts`/)).toBe(-1);
    // Three stops in all besides GDB's step over its breakpoint: its attach, the breakpoint, the exit.
    expect(lines.filter((l) => /core halted \((?!step\))/.test(l))).toHaveLength(3);
  }, 120_000);

  it('takes Cortex-Debug\'s external-server launch as the README configures it (GDB/MI): reset halt, download, reset halt, run to the entry point', async () => {
    // Cortex-Debug (src/external.ts, common.ts genDownloadCommands) sends, for servertype "external":
    // target-select extended-remote gdbTarget; monitor reset halt; target-download; monitor reset
    // halt; then the README's postLaunchCommands, and for runToEntryPoint a temporary breakpoint and
    // a continue. Here on a blank micro:bit with the chip detected: the download must program flash.
    current = await serve('microbit', { blank: true });
    const gdbMi = new MiGdb(firmwarePath('hello', 'microbit'));
    try {
      await gdbMi.run('-gdb-set mi-async on', /\^done/);
      await gdbMi.run(`-target-select extended-remote 127.0.0.1:${current.port}`, /\^connected/);
      await gdbMi.run('-interpreter-exec console "monitor reset halt"', /\^done/);
      expect(await gdbMi.run('-target-download', /\^(done|error)[^\n]*\n/, 60_000)).toMatch(/\^done,address="0x[0-9a-f]+",load-size="\d+"/);
      await gdbMi.run('-interpreter-exec console "monitor reset halt"', /\^done/);
      await gdbMi.run('-interpreter-exec console "maintenance flush register-cache"', /\^done/);
      // A Rust cortex-m-rt app's entry is `main`; this sample's is hello::main.
      expect(await gdbMi.run('-break-insert -t --function hello::main', /\^(done|error)[^\n]*\n/)).toMatch(/\^done,bkpt=\{number="1",type="breakpoint",disp="del"/);
      expect(await gdbMi.run('-exec-continue', /\*stopped[^\n]*\n/)).toMatch(/\*stopped,reason="breakpoint-hit",disp="del",bkptno="1",frame=\{addr="0x[0-9a-f]+",func="hello::main"/);
      await gdbMi.run('-target-detach', /\^done/);
    } finally {
      gdbMi.close();
    }
    expect(current.lines.join('\n')).toMatch(/gdb: load: \d+ sectors in the image, .*verified \(crc\)/);
  }, 120_000);

  it('refuses a second client with the reason', async () => {
    current = await serve('microbit');
    const first = connect(current.port, '127.0.0.1');
    await new Promise((r) => first.once('connect', r));
    first.write('$qSupported#37');
    await new Promise((r) => setTimeout(r, 300));
    const r = await gdb(current.port, firmwarePath('hello', 'microbit'), [], 20_000);
    expect(r.out).toMatch(/another GDB \(127\.0\.0\.1:\d+\) is debugging this target; detach it first/);
    first.destroy();
    expect(current.lines.join('\n')).toMatch(/refused 127\.0\.0\.1:\d+: another GDB/);
  });

  it('the CLI warns when listening beyond loopback', async () => {
    const r = await new Promise<{ stderr: string }>((done) => {
      const child = execFile(process.execPath, [BIN, 'gdb', '--probe', 'sim:cortex-m0', '--host', '0.0.0.0', '--port', '0', '--no-rtt'], { timeout: 30_000 }, (_e, _o, stderr) => done({ stderr }));
      child.stderr!.on('data', (d: Buffer) => {
        if (/listening on/.test(d.toString())) child.kill('SIGINT');
      });
    });
    expect(r.stderr).toMatch(/warning: listening on 0\.0\.0\.0: the GDB protocol has no authentication/);
  });
});
