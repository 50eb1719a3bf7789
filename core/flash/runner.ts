/**
 * Running flash-algorithm functions on the target, the way debuggers do it: load the code into RAM,
 * set r0–r3, the static base (r9), SP, LR and PC, resume, wait for the core to halt, read r0.
 *
 * Return: as CMSIS hosts (Keil, pyOCD, probe-rs) arrange it, LR points at a BKPT instruction the
 * host puts in RAM right after the algorithm's code. The function's final `bx lr` runs it, and with
 * halting debug enabled (the session enables it) the core halts there (DFSR.BKPT). No FPB
 * comparator is used: that works on every core, also where the FPB cannot match RAM addresses
 * (ARMv6-M/v7-M FPBs match only the code region), and leaves them all to the user's breakpoints.
 * A call that halts anywhere else, in a handler, or not within its timeout is an error saying where.
 */
import { CoreReg } from '../arm/registers';
import type { DebugSession } from '../arm/session';
import { DebugError } from '../dap/errors';
import { hex32 } from '../dap/protocol';
import type { FlashAlgorithm } from './algorithm';
import { crc32TableBytes } from './crc32';

export interface RamRegion {
  start: number;
  size: number;
}

export interface Placement {
  base: number;
  /** The return BKPT (LR of every call), in RAM after the code. */
  trap: number;
  staticBase: number;
  stackTop: number;
  buffers: [number, number];
  /** The CRC-32 table for the algorithm's CRC routines (when it has them). */
  crcTable?: number;
  /** Where the several-sector CRC routine leaves its results: right after the table. */
  crcResults?: number;
}

/** `BKPT #0` then `B .` (Thumb, little-endian): the return trap; the branch keeps a core that ran on from leaving it. */
const TRAP_CODE = Uint8Array.of(0x00, 0xbe, 0xfe, 0xe7);

/** Stack for an algorithm that does not say (what CMSIS hosts such as pyOCD and probe-rs give). */
const DEFAULT_STACK_SIZE = 512;
const CRC_TABLE_SIZE = 1024;
/** Sectors one several-sector CRC call covers (its results take 4 bytes each after the table). */
export const CRC_SECTORS_PER_CALL = 256;

/** ", in HardFault — is the algorithm for this chip?" when the core sits in a handler. */
function suspect(exception: string | null): string {
  return exception ? `, in ${exception} — is the algorithm for this chip?` : '';
}

export class AlgorithmRunner {
  readonly placement: Placement;
  private running: { what: string; timeoutMs: number } | null = null;
  calls = 0;

  constructor(
    readonly session: DebugSession,
    readonly algorithm: FlashAlgorithm,
    ram: RamRegion,
  ) {
    const align = (n: number, a: number) => Math.ceil(n / a) * a;
    // An algorithm that is not position-independent names its load address (it must be in the RAM).
    const base = algorithm.loadAddress ?? align(ram.start, 4);
    const stackSize = algorithm.stackSize ?? DEFAULT_STACK_SIZE;
    if (algorithm.loadAddress !== undefined && (base < ram.start || base + algorithm.blob.length > ram.start + ram.size)) {
      throw new DebugError('target', `flash algorithm ${algorithm.name} must be loaded at ${hex32(base)}, outside RAM ${hex32(ram.start)}..${hex32(ram.start + ram.size)}`);
    }
    const trap = align(base + algorithm.blob.length, 4);
    const code = trap + TRAP_CODE.length - base;
    const stackTop = align(base + code + stackSize, 8); // AAPCS: SP 8-byte aligned at a public call
    const page = align(algorithm.flash.pageSize, 4);
    // Page buffers aligned to the page size (up to 1 KiB) so a page never straddles a TAR
    // auto-increment block: even a host that streams without rewriting TAR writes them correctly.
    const first = algorithm.dataLoadAddress ?? align(stackTop, Math.min(1024, page));
    const buffers: [number, number] = [first, first + page];
    const crcTable = algorithm.pcCrc32 !== undefined || algorithm.pcCrc32Sectors !== undefined ? first + 2 * page : undefined;
    const crcResults = crcTable !== undefined && algorithm.pcCrc32Sectors !== undefined ? crcTable + CRC_TABLE_SIZE : undefined;
    const end = first + 2 * page + (crcTable !== undefined ? CRC_TABLE_SIZE : 0) + (crcResults !== undefined ? CRC_SECTORS_PER_CALL * 4 : 0);
    if (end > ram.start + ram.size || first < stackTop) {
      throw new DebugError(
        'target',
        `flash algorithm ${algorithm.name} does not fit in RAM ${hex32(ram.start)}..${hex32(ram.start + ram.size)}: needs ${end - ram.start} bytes${first < stackTop ? ` (its data_load_address ${hex32(first)} is inside its code or stack)` : ''} (code ${code}, stack ${stackSize}, 2 page buffers of ${page}${crcTable !== undefined ? `, CRC table ${CRC_TABLE_SIZE}` : ''}${crcResults !== undefined ? `, CRC results ${CRC_SECTORS_PER_CALL * 4}` : ''})`,
      );
    }
    this.placement = { base, trap, staticBase: base + algorithm.dataSectionOffset, stackTop, buffers, crcTable, crcResults };
  }

  async load(): Promise<void> {
    const p = this.placement;
    const blob = new Uint8Array(p.trap + TRAP_CODE.length - p.base);
    blob.set(this.algorithm.blob);
    blob.set(TRAP_CODE, p.trap - p.base);
    const parts: [number, Uint8Array][] = [[p.base, blob]];
    if (this.placement.crcTable !== undefined) parts.push([this.placement.crcTable, crc32TableBytes()]);
    for (const [address, bytes] of parts) {
      await this.session.ap.writeMemory(address, bytes);
      const back = await this.session.ap.readMemory(address, bytes.length);
      if (!back.every((b, i) => b === bytes[i])) {
        throw new DebugError('target', `flash algorithm did not load: RAM at ${hex32(address)} does not read back what was written`);
      }
    }
  }

  /** Start `entry` (an offset into the blob) with up to four arguments; the core runs on its own. */
  async start(entry: number, args: number[], what: string, timeoutMs: number): Promise<void> {
    if (this.running) throw new DebugError('target', `internal: ${what} started while ${this.running.what} still runs`);
    const p = this.placement;
    const regs: [number, number][] = args.map((v, i) => [i, v >>> 0]);
    regs.push(
      [9, p.staticBase],
      [CoreReg.sp, p.stackTop],
      [CoreReg.lr, p.trap | 1],
      [CoreReg.pc, (p.base + entry) >>> 0],
      [CoreReg.xpsr, 0x01000000], // Thumb state, no exception active
    );
    await this.session.core.runWith(regs);
    this.running = { what, timeoutMs };
    this.calls++;
  }

  /** Wait for the running function to return; its r0. */
  async wait(): Promise<number> {
    const call = this.running;
    if (!call) throw new DebugError('target', 'internal: no flash algorithm call is running');
    const values = await this.session.core.waitForHaltThenRead([CoreReg.pc, CoreReg.r0, CoreReg.xpsr], call.timeoutMs);
    this.running = null;
    if (!values) {
      await this.session.core.halt().catch(() => undefined);
      const pc = await this.session.core.readCoreRegister(CoreReg.pc).catch(() => NaN);
      throw new DebugError('target', `flash algorithm ${call.what} did not return within ${call.timeoutMs} ms (core halted at pc ${Number.isNaN(pc) ? '?' : hex32(pc)}${suspect(await this.exception())})`);
    }
    const [pc, r0, xpsr] = values;
    const trap = this.placement.trap;
    // At the trap in Thread mode is a return. In a handler it is not (a fault handler that ran
    // into it), and r0 means nothing.
    if ((pc & ~1) === trap && (xpsr & 0x1ff) !== 0) {
      const name = (await this.exception()) ?? `exception ${xpsr & 0x1ff}`;
      throw new DebugError('target', `flash algorithm ${call.what} did not return: the core took ${name}, which led to the return trap — is the algorithm for this chip?`);
    }
    if ((pc & ~1) !== trap) {
      throw new DebugError('target', `flash algorithm ${call.what} stopped at ${hex32(pc)} instead of returning (crashed or faulted${suspect(await this.exception())})`);
    }
    return r0;
  }

  /**
   * If the halted core is inside an exception handler, say which: an algorithm that faults
   * (HardFault in its own code, or a bus fault on a peripheral that is not there) usually means
   * it was written for another chip.
   */
  private async exception(): Promise<string | null> {
    const xpsr = await this.session.core.readCoreRegister(CoreReg.xpsr).catch(() => NaN);
    const exception = Number.isNaN(xpsr) ? 0 : xpsr & 0x1ff;
    if (exception === 0) return null;
    const names: Record<number, string> = { 2: 'NMI', 3: 'HardFault', 4: 'MemManage', 5: 'BusFault', 6: 'UsageFault' };
    return names[exception] ?? `exception ${exception}`;
  }

  async call(entry: number, args: number[], what: string, timeoutMs: number): Promise<number> {
    await this.start(entry, args, what, timeoutMs);
    return this.wait();
  }

  /** CRC-32 of flash [start, start+size) computed on the target by the algorithm's routine. */
  async crc32(start: number, size: number, timeoutMs: number): Promise<number> {
    if (this.algorithm.pcCrc32 === undefined || this.placement.crcTable === undefined) throw new DebugError('target', `internal: flash algorithm ${this.algorithm.name} has no CRC routine`);
    return (await this.call(this.algorithm.pcCrc32, [start, size, this.placement.crcTable], `Crc32(${hex32(start)})`, timeoutMs)) >>> 0;
  }

  /**
   * CRC-32 of each of `count` (≤ CRC_SECTORS_PER_CALL) consecutive sectors of `sectorSize` bytes
   * from `start`: one call and one read, whatever the count.
   */
  async crc32Sectors(start: number, sectorSize: number, count: number, timeoutMs: number): Promise<number[]> {
    const p = this.placement;
    if (this.algorithm.pcCrc32Sectors === undefined || p.crcTable === undefined || p.crcResults === undefined) {
      throw new DebugError('target', `internal: flash algorithm ${this.algorithm.name} has no several-sector CRC routine`);
    }
    if (count < 1 || count > CRC_SECTORS_PER_CALL) throw new DebugError('target', `internal: ${count} sectors in one CRC call`);
    const r = await this.call(this.algorithm.pcCrc32Sectors, [start, sectorSize, count, p.crcTable], `Crc32Sectors(${hex32(start)}, ${count}×${sectorSize})`, timeoutMs);
    if (r !== 0) throw new DebugError('target', `flash algorithm Crc32Sectors(${hex32(start)}) failed (returned ${r})`);
    const bytes = await this.session.ap.readMemory(p.crcResults, count * 4);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return Array.from({ length: count }, (_, i) => view.getUint32(i * 4, true));
  }

  /** Nothing to undo on the target (no breakpoint was set); kept so callers close what they opened. */
  async unload(): Promise<void> {}
}
