/**
 * What `run` and `attach` do when the core stops while they stream: name the reason (core/arm/stop),
 * serve semihosting calls and resume, notice a reset loop, print the stop as one block, and turn
 * it into the exit code (README "Exit codes").
 */
import type { DebugSession } from '../../core/arm/session';
import { DHCSR, SCS } from '../../core/arm/registers';
import { examineStop, formatStop, setFaultCatch as catchFaultVectors, type StopReport } from '../../core/arm/stop';
import { SemihostingServer } from '../../core/arm/semihosting';
import { ProgramInfo, formatBacktrace, unwindHaltedCore, type Backtrace } from '../../core/elf/backtrace';
import type { Printer } from './stream';

export const EXIT_OK = 0;
/** The firmware stopped abnormally: a fault (panic-probe's `udf` included), lockup, a reset loop. */
export const EXIT_FIRMWARE = 5;

export type BacktraceMode = 'auto' | 'always' | 'never';

export interface StopWatchOptions {
  /** For function names and backtraces in the stop report. */
  program?: ProgramInfo;
  /** auto: on a fault, lockup or failing exit; always: on every stop; never. */
  backtrace?: BacktraceMode;
  /** Frames shown at most (inlined ones count). */
  backtraceLimit?: number;
  /** Passed to the firmware by SYS_GET_CMDLINE. */
  commandLine?: string;
  /** This many resets within `seconds` make a reset loop (default 3 in 5 s). */
  resetLoop?: { count: number; seconds: number };
  /** Where the stop block and notes go (stderr). */
  info: (text: string) => void;
  /** Called with the report (and its backtrace, when one was taken) before it is printed (`dapdeck test`). */
  onReport?: (report: StopReport, details: StopDetails) => void;
}

/** What the stop block adds to the report: the backtrace and the panic message the firmware printed. */
export interface StopDetails {
  backtrace?: Backtrace;
  panic?: PanicMessage;
  /** The exit status when the firmware exited through semihosting. */
  exitStatus?: number;
}

export interface PanicMessage {
  message: string;
  /** "file:line:column" as the panic handler printed it. */
  location?: string;
}

/** A stream's `core` watcher for one debug session. */
export function watchCore(session: DebugSession, options: StopWatchOptions): { address: number; onStatus(dhcsr: number, printer: Printer): Promise<number | null> } {
  const resets: number[] = [];
  const loop = options.resetLoop ?? { count: 3, seconds: 5 };
  let semihosting: SemihostingServer | null = null;
  const partial = { stdout: '', stderr: '' };
  return {
    address: SCS.DHCSR,
    async onStatus(dhcsr, printer) {
      if (dhcsr & DHCSR.S_RESET_ST) {
        const now = Date.now() / 1000;
        resets.push(now);
        while (resets.length && resets[0] < now - loop.seconds) resets.shift();
        if (resets.length >= loop.count) {
          const span = Math.max(now - resets[0], 0.001);
          options.info(`dapdeck: stopped: reset loop: ${resets.length} resets in ${span < 0.1 ? `${Math.round(span * 1000)} ms` : `${span.toFixed(1)} s`} (DHCSR.S_RESET_ST; the limit is ${loop.count} in ${loop.seconds} s): a watchdog, or a fault handler that resets?\n`);
          return EXIT_FIRMWARE;
        }
      }
      if (!(dhcsr & (DHCSR.S_HALT | DHCSR.S_LOCKUP))) return null;
      const report = await examineStop(session.core, dhcsr);
      if (report.kind === 'semihosting' && report.semihosting) {
        semihosting ??= new SemihostingServer(session.core, {
          commandLine: options.commandLine,
          output: (stream, bytes) => {
            // Whole lines go through the printer (screen, log file, --until); the rest waits.
            const text = partial[stream] + new TextDecoder().decode(bytes);
            const lines = text.split('\n');
            partial[stream] = lines.pop()!;
            if (lines.length) printer.lines(-1, lines, '');
          },
          unsupported: (name) => options.info(`dapdeck: warning: semihosting ${name} is not supported: answered -1 (reported once)\n`),
        });
        const outcome = await semihosting.serve(report.semihosting.op, report.semihosting.arg, report.pc);
        if ('resume' in outcome) {
          await session.core.resume();
          return null;
        }
        for (const stream of ['stdout', 'stderr'] as const) if (partial[stream]) printer.lines(-1, [partial[stream]], '');
        const code = outcome.exit.code & 0xff;
        const details: StopDetails = { exitStatus: code, panic: findPanicMessage(printer.recent) };
        if (wantBacktrace(options.backtrace, code !== 0)) details.backtrace = await takeBacktrace(session, options);
        options.onReport?.(report, details);
        options.info(`dapdeck: firmware exited: ${outcome.exit.reason}\n${formatDetails(details, options)}`);
        return code;
      }
      const failed = !(report.kind === 'bkpt' || report.kind === 'breakpoint');
      const details: StopDetails = { panic: findPanicMessage(printer.recent) };
      if (report.kind !== 'lockup' && wantBacktrace(options.backtrace, failed)) details.backtrace = await takeBacktrace(session, options);
      options.onReport?.(report, details);
      options.info(formatStop(report, (a) => options.program?.functionAt(a) ?? null) + formatDetails(details, options));
      return failed ? EXIT_FIRMWARE : EXIT_OK;
    },
  };
}

function wantBacktrace(mode: BacktraceMode | undefined, failed: boolean): boolean {
  return mode === 'always' || ((mode ?? 'auto') === 'auto' && failed);
}

/** Unwinds the halted core (all of r0–r15 and PSP, in one register batch). */
async function takeBacktrace(session: DebugSession, options: StopWatchOptions): Promise<Backtrace | undefined> {
  if (!options.program) return undefined;
  return unwindHaltedCore(options.program, session.core, { read32: (address: number) => session.ap.read32(address) }, options.backtraceLimit ?? 50);
}

/**
 * The panic message among the last lines the firmware printed: panic-probe's (and core's Display
 * of PanicInfo) "panicked at 'MESSAGE', FILE:LINE:COL" (Rust before 1.73) or "panicked at
 * FILE:LINE:COL:" followed by the message (1.73 on).
 */
export function findPanicMessage(recent: readonly string[]): PanicMessage | undefined {
  const text = recent.join('\n');
  const at = text.lastIndexOf('panicked at ');
  if (at < 0) return undefined;
  const tail = text.slice(at);
  // The message may span lines (assert_eq!'s left/right): up to the "', FILE:LINE:COL" that ends a line.
  const old = /^panicked at '([\s\S]*)', (\S+:\d+:\d+)[ \t]*(?:\n|$)/.exec(tail);
  if (old) return { message: old[1], location: old[2] };
  const now = /^panicked at (\S+:\d+:\d+):[ \t]*\n([\s\S]*)$/.exec(tail);
  if (now) return { message: now[2], location: now[1] };
  return undefined;
}

function formatDetails(details: StopDetails, options: StopWatchOptions): string {
  let text = '';
  if (details.panic) text += `  panic: ${details.panic.message.replace(/\n/g, '\n    ')}${details.panic.location ? `\n    at ${details.panic.location}` : ''}\n`;
  if (details.backtrace) text += formatBacktrace(details.backtrace, options.backtraceLimit ?? 50);
  return text;
}

/** Vector catch on every fault vector (probe-run's default), or off (`--no-catch-hardfault`). */
export async function setFaultCatch(session: DebugSession, catchFaults: boolean): Promise<void> {
  await catchFaultVectors(session.ap, catchFaults);
}
