/**
 * Semihosting served by the debugger (ARM "Semihosting for AArch32 and AArch64", IHI 0053; the
 * call is BKPT 0xAB on M-profile, operation in r0, parameter in r1, result back in r0). The host
 * side's effects (output, time, the command line) come through `SemihostingHost`, so the same code
 * serves the CLI and a GDB server. Unsupported operations answer -1 and are reported once each.
 */
import type { CortexM } from './cortex-m';
import { CoreReg } from './registers';

export const SYS = {
  OPEN: 0x01,
  CLOSE: 0x02,
  WRITEC: 0x03,
  WRITE0: 0x04,
  WRITE: 0x05,
  READ: 0x06,
  ISTTY: 0x09,
  FLEN: 0x0c,
  CLOCK: 0x10,
  TIME: 0x11,
  ERRNO: 0x13,
  GET_CMDLINE: 0x15,
  HEAPINFO: 0x16,
  EXIT: 0x18,
  EXIT_EXTENDED: 0x20,
} as const;

/** ADP_Stopped_ApplicationExit: the reason code a successful exit gives (IHI 0053, SYS_EXIT). */
export const ADP_STOPPED_APPLICATION_EXIT = 0x20026;

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(SYS).map(([k, v]) => [v, `SYS_${k}`]));

export function semihostingCallName(op: number): string {
  return NAMES[op] ?? `semihosting operation 0x${op.toString(16)}`;
}

export interface SemihostingHost {
  /** Bytes the target wrote to its stdout (fd 1) or stderr (fd 2). */
  output(stream: 'stdout' | 'stderr', bytes: Uint8Array): void;
  /** The command line SYS_GET_CMDLINE hands the target. */
  commandLine?: string;
  /** Wall-clock seconds since the epoch, and a monotonic seconds clock (both overridable for tests). */
  now?(): number;
  monotonic?(): number;
  /** An operation this server does not implement, once per operation. */
  unsupported?(name: string): void;
}

export type SemihostingOutcome = { exit: { code: number; reason: string } } | { resume: true };

/** Handles as SYS_OPEN hands them out for ":tt": stdin, stdout, stderr. */
const TT_HANDLE = { stdin: 1, stdout: 2, stderr: 3 } as const;

export class SemihostingServer {
  private readonly started: number;
  private readonly reported = new Set<number>();
  private errno = 0;

  constructor(
    private readonly core: CortexM,
    private readonly host: SemihostingHost,
  ) {
    this.started = this.monotonic();
  }

  private monotonic(): number {
    return this.host.monotonic ? this.host.monotonic() : performance.now() / 1000;
  }

  /**
   * Carry out the call the core is halted on (at its BKPT 0xAB): write the result to r0 and move
   * the PC past the BKPT, so the caller can resume — or report that the program exited.
   */
  async serve(op: number, arg: number, pc: number): Promise<SemihostingOutcome> {
    const ap = this.core.ap;
    const word = async (address: number, count: number) => {
      const bytes = await ap.readMemory(address, 4 * count);
      const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      return Array.from({ length: count }, (_, i) => v.getUint32(4 * i, true));
    };
    let result: number;
    switch (op) {
      case SYS.WRITEC:
        this.host.output('stdout', await ap.readMemory(arg, 1));
        result = arg; // r0 is corrupted by this call (IHI 0053): keep what the target had
        break;
      case SYS.WRITE0:
        this.host.output('stdout', await readCString(this.core, arg));
        result = arg;
        break;
      case SYS.WRITE: {
        const [handle, address, length] = await word(arg, 3);
        const stream = handle === TT_HANDLE.stdout ? 'stdout' : handle === TT_HANDLE.stderr ? 'stderr' : null;
        if (!stream) {
          this.errno = 9; // EBADF
          result = length; // nothing written
          break;
        }
        if (length) this.host.output(stream, await ap.readMemory(address, length));
        result = 0; // bytes not written
        break;
      }
      case SYS.OPEN: {
        const [nameAddress, mode, length] = await word(arg, 3);
        const name = new TextDecoder().decode(await ap.readMemory(nameAddress, length));
        if (name !== ':tt') {
          this.errno = 2; // ENOENT: only the console exists here
          result = -1;
          break;
        }
        // Modes 0–3 read, 4–7 write, 8–11 append (fopen "r", "w", "a" families): ":tt" in write mode
        // is stdout, in append mode stderr (the convention newlib and cortex-m-semihosting use).
        result = mode < 4 ? TT_HANDLE.stdin : mode < 8 ? TT_HANDLE.stdout : TT_HANDLE.stderr;
        break;
      }
      case SYS.CLOSE:
        result = 0;
        break;
      case SYS.ISTTY: {
        const [handle] = await word(arg, 1);
        result = handle >= 1 && handle <= 3 ? 1 : 0;
        break;
      }
      case SYS.CLOCK:
        result = Math.floor((this.monotonic() - this.started) * 100);
        break;
      case SYS.TIME:
        result = Math.floor(this.host.now ? this.host.now() : Date.now() / 1000);
        break;
      case SYS.ERRNO:
        result = this.errno;
        break;
      case SYS.GET_CMDLINE: {
        const [buffer, size] = await word(arg, 2);
        const text = new TextEncoder().encode(this.host.commandLine ?? '');
        if (text.length + 1 > size) {
          result = -1;
          break;
        }
        await ap.writeMemory(buffer, Uint8Array.from([...text, 0]));
        await ap.write32(arg + 4, text.length);
        result = 0;
        break;
      }
      case SYS.HEAPINFO: {
        // The parameter points at the address of a four-word block. Zero in a field means "not
        // known here": the C library then uses its own linker symbols.
        const [block] = await word(arg, 1);
        await ap.writeMemory(block, new Uint8Array(16));
        result = 0;
        break;
      }
      case SYS.EXIT: {
        // AArch32: r1 is the reason code itself. ApplicationExit is success; anything else failure.
        return { exit: arg === ADP_STOPPED_APPLICATION_EXIT ? { code: 0, reason: 'SYS_EXIT (ApplicationExit)' } : { code: 1, reason: `SYS_EXIT (reason 0x${arg.toString(16)})` } };
      }
      case SYS.EXIT_EXTENDED: {
        const [reason, subcode] = await word(arg, 2);
        if (reason === ADP_STOPPED_APPLICATION_EXIT) return { exit: { code: subcode | 0, reason: `SYS_EXIT_EXTENDED status ${subcode | 0}` } };
        return { exit: { code: 1, reason: `SYS_EXIT_EXTENDED (reason 0x${reason.toString(16)}, ${subcode})` } };
      }
      default:
        if (!this.reported.has(op)) {
          this.reported.add(op);
          this.host.unsupported?.(semihostingCallName(op));
        }
        result = -1;
    }
    await this.core.writeCoreRegisters([
      [CoreReg.r0, result >>> 0],
      [CoreReg.pc, (pc + 2) >>> 0],
    ]);
    return { resume: true };
  }
}

async function readCString(core: CortexM, address: number): Promise<Uint8Array> {
  const out: number[] = [];
  for (let at = address; out.length < 65536; at += 64) {
    const chunk = await core.ap.readMemory(at, 64);
    const end = chunk.indexOf(0);
    out.push(...(end < 0 ? chunk : chunk.subarray(0, end)));
    if (end >= 0) break;
  }
  return Uint8Array.from(out);
}
