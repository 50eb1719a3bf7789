/**
 * `dapdeck gdb`: a GDB server on the probe (protocol in core/gdb, TCP in main/gdb), with the
 * firmware's RTT output (defmt decoded) streaming on this terminal while the core runs.
 */
import type { DebugSession } from '../../core/arm/session';
import type { DefmtTable } from '../../core/defmt';
import { SessionTarget, type SessionTargetOptions } from '../../core/gdb/session-target';
import type { GdbServerHooks, StopReason } from '../../core/gdb/server';
import { checkChipCore } from '../../core/flash/chip-check';
import { MemoryTarget } from '../../core/sim/memory-target';
import { emulateFlashAlgorithm } from '../../core/sim/flash-emulator';
import { hex32 } from '../../core/dap/protocol';
import { CoreReg } from '../../core/arm/registers';
import type { OpenedProbe } from '../probe/registry';
import { resolveChip } from '../targets';
import { isLoopback, listenGdb } from '../gdb/listener';
import { RttPump } from '../gdb/rtt-pump';
import type { OutputOptions } from './stream';
import { parseNumber } from './parse';

export interface GdbCliOptions {
  host: string;
  port: string;
  chip?: string;
  targetFile?: string[];
  algo?: string;
  rtt: boolean;
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
    default:
      return reason.kind;
  }
}

export async function runGdbServer(session: DebugSession, probe: OpenedProbe, opts: GdbCliOptions, ctx: GdbRunContext): Promise<void> {
  const warn = ctx.warn ?? ((t: string) => process.stderr.write(t));
  const log = (line: string) => warn(`${line}\n`);
  const port = parseNumber(opts.port, '--port');
  let flash: SessionTargetOptions['flash'] = probe.target?.memoryMap.filter((r) => r.kind === 'flash') ?? [];
  let algorithm: SessionTargetOptions['algorithm'];
  if (opts.chip) {
    const resolved = resolveChip(opts.chip, { targetFiles: opts.targetFile, algo: opts.algo });
    if (resolved.notice) log(`dapdeck: ${resolved.notice}`);
    if (session.summary) checkChipCore(resolved.chip, session.summary.core);
    // The in-process model has no CPU: it carries out the algorithms' calls itself.
    if (probe.target instanceof MemoryTarget) for (const r of resolved.regions) emulateFlashAlgorithm(probe.target, r.algorithm);
    flash = resolved.chip.flash;
    algorithm = { regions: resolved.regions, ram: resolved.ram };
  }
  const target = await SessionTarget.create(session, { flash, algorithm });
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
