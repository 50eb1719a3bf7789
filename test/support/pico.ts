/** The emulated Pico in tests: sessions over the probe model that close after each test, its boot check, gdb-multiarch on it. */
import { execFile } from 'node:child_process';
import { afterEach, expect } from 'vitest';
import { DebugSession } from '../../core/arm/session';
import type { PicoEmulator } from '../../core/sim/pico';
import { rp2040Probe } from '../../core/sim/rp2040-bench';
import { runGdbServer } from '../../main/cli/gdb';
import { openProbe } from '../../main/probe/registry';
import { defmtLinesUntil } from './rtt';

/** Call at a test file's top level: `open` gives a session to a Pico (v2 model), closed with the Pico after each test. */
export function picoSessions(): { open(pico: PicoEmulator, responseTimeoutMs?: number): Promise<DebugSession> } {
  let opened: { session: DebugSession; pico: PicoEmulator }[] = [];
  afterEach(async () => {
    for (const o of opened) {
      await o.session.close();
      o.pico.close();
    }
    opened = [];
  });
  return {
    async open(pico, responseTimeoutMs = 3000) {
      const session = await DebugSession.open(rp2040Probe(pico, { flavour: 'v2-bulk' }).transport, { responseTimeoutMs });
      opened.push({ session, pico });
      return session;
    },
  };
}

/**
 * The hello sample in the Pico's flash boots: after a reset the ROM checks and enters boot2, boot2
 * the firmware, whose decoded log starts with its greeting and reaches tick 1.
 */
export async function expectHelloBootsOnPico(session: DebugSession, elf: string): Promise<void> {
  await session.core.reset({ halt: false });
  const { code, lines } = await defmtLinesUntil(session.ap, elf, { start: 0x20000000, size: 0x42000 }, /tick 1$/);
  expect(code).toBe(0);
  expect(lines[0]).toMatch(/INFO +hello from dapdeck on rp2040/);
  expect(lines.some((l) => /INFO +tick 1$/.test(l))).toBe(true);
}

/**
 * `dapdeck gdb` (RTT off) serving emu:pico started with `elf` in its flash, on a free loopback
 * port; what the server prints goes to `lines`. `stop` ends the server and closes the board.
 */
export async function servePicoToGdb(elf: string, lines: string[] = []): Promise<{ port: number; stop: () => Promise<void> }> {
  const probe = await openProbe('emu:pico', { elf });
  const session = await DebugSession.open(probe.transport, { responseTimeoutMs: 3000, haltTimeoutMs: 1000 });
  const abort = new AbortController();
  let listening!: (port: number) => void;
  const port = new Promise<number>((r) => (listening = r));
  const running = runGdbServer(session, probe, { host: '127.0.0.1', port: '0', rtt: false }, {
    facts: {},
    scan: [],
    channels: [],
    defmtChannel: 0,
    output: { colour: false },
    out: (t) => lines.push(t),
    warn: (t) => lines.push(t),
    signal: abort.signal,
    onListening: listening,
  });
  const stop = async () => {
    abort.abort();
    await running;
    await session.close();
    await probe.close();
  };
  return { port: await port, stop };
}

/** gdb-multiarch in batch mode against `target extended-remote` on `port`; `before` go ahead of the target command, `file` last. */
export function gdbBatch(port: number, commands: string[], options: { before?: string[]; file?: string } = {}): Promise<string> {
  const ex = (c: string) => ['-ex', c];
  const args = ['-nx', '-batch', ...ex('set pagination off'), ...ex('set confirm off'), ...(options.before ?? []).flatMap(ex), ...ex(`target extended-remote 127.0.0.1:${port}`), ...commands.flatMap(ex), ...(options.file ? [options.file] : [])];
  return new Promise((done) => execFile('gdb-multiarch', args, { timeout: 60_000 }, (_err, stdout, stderr) => done(stdout + stderr)));
}
