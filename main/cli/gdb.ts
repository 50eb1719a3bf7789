/**
 * `dapdeck gdb`: a GDB server on the probe (protocol in core/gdb, TCP in main/gdb), with the
 * firmware's RTT output (defmt decoded) streaming on this terminal while the core runs.
 */
import type { DebugSession } from '../../core/arm/session';
import type { DefmtTable } from '../../core/defmt';
import { SessionTarget, type SessionTargetOptions } from '../../core/gdb/session-target';
import type { GdbServerHooks, StopReason } from '../../core/gdb/server';
import { hex32 } from '../../core/dap/protocol';
import { CoreReg } from '../../core/arm/registers';
import type { SemihostingHost } from '../../core/arm/semihosting';
import type { OpenedProbe } from '../probe/registry';
import type { ResolvedChip } from '../targets';
import { chooseChip } from './chip-choice';
import { isLoopback, listenGdb } from '../gdb/listener';
import { RttPump } from '../gdb/rtt-pump';
import type { OutputOptions } from './stream';
import { parseNumber, UsageError } from './parse';

export interface GdbCliOptions {
  host: string;
  port: string;
  chip?: string;
  targetFile?: string[];
  algo?: string;
  rtt: boolean;
  /** Serve the firmware's semihosting calls (output on this terminal); false leaves them to GDB as stops. */
  semihosting?: boolean;
  rttPort?: string;
  rttChannel?: string;
  once?: boolean;
}

export interface GdbRunContext {
  /** The firmware's defmt table and RTT block address (from --elf or the emulated board's ELF). */
  facts: { table?: DefmtTable; address?: number };
  scan: { start: number; size: number }[];
  channels: number[];
  defmtChannel: number;
  output: OutputOptions;
  /** Tests: where log lines and diagnostics go, and a way to stop. */
  out?: (text: string) => void;
  warn?: (text: string) => void;
  signal?: AbortSignal;
  onListening?: (port: number) => void;
}

/** How a stop reads on this terminal. */
function describeStop(reason: StopReason): string {
  switch (reason.kind) {
    case 'breakpoint':
      return `${reason.software ? 'software' : 'hardware'} breakpoint`;
    case 'watchpoint':
      return `${reason.type === 'watch' ? 'write' : reason.type === 'rwatch' ? 'read' : 'access'} watchpoint on ${hex32(reason.address)}`;
    case 'request':
      return 'halt request';
    case 'fault':
      return `${reason.exception}${reason.details.length ? `: ${reason.details.join(', ')}` : ''}`;
    case 'other':
      return reason.description;
    case 'exit':
      return `the firmware exited through semihosting: ${reason.reason}`;
    case 'semihosting':
      return `semihosting call 0x${reason.op.toString(16)}`;
    default:
      return reason.kind;
  }
}

/**
 * The firmware's semihosting output on this terminal (stdout), a line at a time as `run` prints it;
 * what is left of a line when the firmware exits is printed then.
 */
function semihostingHost(out: ((text: string) => void) | undefined, log: (line: string) => void): SemihostingHost & { flush(): void } {
  const write = out ?? ((text: string) => void process.stdout.write(text));
  const partial = { stdout: '', stderr: '' };
  const decoder = new TextDecoder();
  return {
    output(stream, bytes) {
      const lines = (partial[stream] + decoder.decode(bytes)).split('\n');
      partial[stream] = lines.pop()!;
      if (lines.length) write(lines.map((l) => `${l}\n`).join(''));
    },
    unsupported: (name) => log(`dapdeck gdb: warning: semihosting ${name} is not supported: answered -1 (reported once)`),
    flush() {
      for (const stream of ['stdout', 'stderr'] as const) {
        if (partial[stream]) write(`${partial[stream]}\n`);
        partial[stream] = '';
      }
    },
  };
}

export async function runGdbServer(session: DebugSession, probe: OpenedProbe, opts: GdbCliOptions, ctx: GdbRunContext): Promise<void> {
  const warn = ctx.warn ?? ((t: string) => process.stderr.write(t));
  const log = (line: string) => warn(`${line}\n`);
  const port = parseNumber(opts.port, '--port');
  let flash: SessionTargetOptions['flash'] = probe.target?.memoryMap.filter((r) => r.kind === 'flash') ?? [];
  let algorithm: SessionTargetOptions['algorithm'];
  let resolved: ResolvedChip | null = null;
  try {
    resolved = await chooseChip(opts, session, probe, log);
  } catch (err) {
    // Without --chip, a chip that cannot be told still debugs: only GDB's load into flash needs it.
    if (opts.chip || !(err instanceof UsageError)) throw err;
    log(`dapdeck gdb: ${err.message.replace(/; pass --chip NAME.*$/, '')}: GDB's load cannot program flash without the chip's flash algorithm (give --chip NAME); everything else works`);
  }
  if (resolved) {
    flash = resolved.chip.flash;
    algorithm = { regions: resolved.regions, ram: resolved.ram };
  }
  const semihosting = opts.semihosting === false ? undefined : semihostingHost(ctx.out, log);
  const target = await SessionTarget.create(session, { flash, algorithm, semihosting });
  const pump = opts.rtt
    ? new RttPump({ ...ctx.output, memory: session.ap, address: ctx.facts.address, scan: ctx.scan, table: ctx.facts.table, defmtChannel: ctx.defmtChannel, channels: ctx.channels, out: ctx.out, warn: ctx.warn })
    : null;
  if (pump && opts.rttPort !== undefined) {
    const channel = opts.rttChannel !== undefined ? parseNumber(opts.rttChannel, '--rtt-channel') : ctx.defmtChannel;
    const rawPort = await pump.serveChannel(channel, opts.host, parseNumber(opts.rttPort, '--rtt-port'));
    log(`dapdeck gdb: RTT up channel ${channel} served raw on ${opts.host}:${rawPort}`);
  }
  const hooks: GdbServerHooks = {
    whileRunning: async () => (pump ? pump.poll() : false),
    onHalted: async (reason) => {
      await pump?.drain();
      if (reason.kind === 'exit') semihosting?.flush();
      const pc = await session.core.readCoreRegister(CoreReg.pc).catch(() => null);
      log(`dapdeck gdb: core halted (${describeStop(reason)})${pc === null ? '' : ` at ${hex32(pc)}`}`);
    },
    onResumed: () => log('dapdeck gdb: core running'),
    monitor: async (command) => (command === 'rtt' ? (pump ? pump.status() : 'RTT streaming is off (--no-rtt)') : null),
    log,
  };
  if (!isLoopback(opts.host)) {
    log(`dapdeck gdb: warning: listening on ${opts.host}: the GDB protocol has no authentication, anyone who can reach this port controls the target`);
  }
  let clientGone: () => void = () => undefined;
  const listener = await listenGdb({ target, host: opts.host, port, hooks, log, onLostClient: () => target.detach(), onClientEnd: () => clientGone() });
  log(`dapdeck gdb: listening on ${opts.host}:${listener.port} (in GDB: target extended-remote ${opts.host}:${listener.port})`);
  ctx.onListening?.(listener.port);
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((done) => (stop = done));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  ctx.signal?.addEventListener('abort', stop);
  if (opts.once) clientGone = stop; // scripts: serve one client, then exit
  try {
    await stopped;
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    await listener.close();
    await pump?.close();
  }
}
