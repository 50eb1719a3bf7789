/**
 * What `run` and `attach` do when the core stops while they stream: name the reason (core/arm/stop),
 * serve semihosting calls and resume, notice a reset loop, print the stop as one block, and turn
 * it into the exit code (README "Exit codes").
 */
import type { DebugSession } from '../../core/arm/session';
import { DHCSR, SCS } from '../../core/arm/registers';
import { examineStop, type StopReport } from '../../core/arm/stop';
import { VC_ALL_FAULTS } from '../../core/arm/faults';
import { SemihostingServer } from '../../core/arm/semihosting';
import { hex32 } from '../../core/dap/protocol';
import type { ElfFile } from '../../core/elf/elf';
import { demangle } from '../../core/elf/demangle';
import type { Printer } from './stream';

export const EXIT_OK = 0;
/** The firmware stopped abnormally: a fault (panic-probe's `udf` included), lockup, a reset loop. */
export const EXIT_FIRMWARE = 5;

export interface StopWatchOptions {
  /** For function names in the stop report. */
  elf?: ElfFile;
  /** Passed to the firmware by SYS_GET_CMDLINE. */
  commandLine?: string;
  /** This many resets within `seconds` make a reset loop (default 3 in 5 s). */
  resetLoop?: { count: number; seconds: number };
  /** Where the stop block and notes go (stderr). */
  info: (text: string) => void;
  /** Called with the report before it is printed (tests, `dapdeck test`). */
  onReport?: (report: StopReport) => void;
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
          options.info(`dapdeck: stopped: reset loop: ${resets.length} resets in ${loop.seconds} s (DHCSR.S_RESET_ST); a watchdog or a fault handler that resets?\n`);
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
        options.onReport?.(report);
        options.info(`dapdeck: firmware exited: ${outcome.exit.reason}\n`);
        return outcome.exit.code & 0xff;
      }
      options.onReport?.(report);
      options.info(formatStop(report, options.elf));
      return report.kind === 'bkpt' || report.kind === 'breakpoint' ? EXIT_OK : EXIT_FIRMWARE;
    },
  };
}

/** The function an address falls in, from the ELF's symbol table: "name+0x12". */
export function functionAt(elf: ElfFile | undefined, address: number): string | null {
  if (!elf) return null;
  const a = address & ~1;
  let best: { name: string; start: number } | null = null;
  for (const s of elf.symbols) {
    if (s.type !== 2 || !s.name) continue; // STT_FUNC
    const start = s.value & ~1;
    if (a >= start && a < start + Math.max(s.size, 2) && (!best || start > best.start)) best = { name: demangle(s.name), start };
  }
  return best ? `${best.name}${a > best.start ? `+0x${(a - best.start).toString(16)}` : ''}` : null;
}

/** The stop as one block: reason, fault registers in words, where the code was. */
export function formatStop(report: StopReport, elf?: ElfFile): string {
  const where = (address: number) => {
    const name = functionAt(elf, address);
    return `${hex32(address)}${name ? ` (${name})` : ''}`;
  };
  const lines = [`dapdeck: stopped: ${report.summary}`];
  if (report.kind !== 'lockup') lines.push(`  pc ${where(report.pc)}  lr ${hex32(report.lr)}  sp ${hex32(report.sp)}  xpsr ${hex32(report.xpsr)}`);
  const f = report.fault;
  if (f) {
    if (f.cfsr || f.hfsr) lines.push(`  CFSR ${hex32(f.cfsr)}  HFSR ${hex32(f.hfsr)}`);
    if (f.frame) {
      lines.push(`  faulting code: pc ${where(f.frame.pc)}, called from ${where(f.frame.lr)}, sp ${hex32(f.frame.sp)}`);
      lines.push(`  registers: r0 ${hex32(f.frame.r0)} r1 ${hex32(f.frame.r1)} r2 ${hex32(f.frame.r2)} r3 ${hex32(f.frame.r3)} r12 ${hex32(f.frame.r12)}`);
    }
  }
  return lines.join('\n') + '\n';
}

/**
 * Vector catch as probe-run and probe-rs set it: every fault vector halts the core on entry, so the
 * fault is seen before its handler changes anything. `catchFaults` false leaves the handlers to run.
 */
export async function setFaultCatch(session: DebugSession, catchFaults: boolean): Promise<void> {
  const demcr = await session.ap.read32(SCS.DEMCR);
  await session.ap.write32(SCS.DEMCR, catchFaults ? demcr | VC_ALL_FAULTS : demcr & ~VC_ALL_FAULTS);
}
