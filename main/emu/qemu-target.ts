/**
 * QEMU running real firmware as a SimTarget: the strict probe model sits in front of it, so the
 * debug layer talks CMSIS-DAP to what behaves like a board.
 *
 * QEMU quirks this hides or documents (measured on QEMU 7.2, see shared bench notes):
 * - the GDB stub only serves memory while the guest is stopped; any packet sent while it runs stops
 *   it. Reads while running go through QMP `xp` instead; writes halt, write, resume.
 * - host writes through the stub bypass the nRF51 NVMC (flash always "writes"). Real flash does not
 *   work that way, so nothing in Dapdeck may rely on it: flash is only ever programmed by an
 *   algorithm running on the CPU.
 * - MSP, PSP and CONTROL/PRIMASK are not exposed by the stub: MSP mirrors SP (thread mode on the
 *   main stack, as the samples run) and the others keep what the debugger last wrote.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { BusFault, type DebugControl, type HaltReason, type MemoryRegion, type SimTarget, type WatchAccess } from '../../core/sim/target';
import { DEMCR, SCB } from '../../core/arm/registers';
import { EXCEPTION, bkptImmediate, vectorCatchBit } from '../../core/arm/faults';
import { GdbRemote } from './gdb-remote';
import { fromHex, leWord, parseLeWord, toHex } from '../../core/gdb/packets';
import { Qmp } from './qmp';

export type QemuBoard = 'microbit' | 'lm3s6965evb';

interface BoardSpec {
  machine: string;
  description: string;
  /** SW-DP DPIDR a real part reports (QEMU has no DP): nRF51 0x0BB11477, Cortex-M3 0x1BA01477. */
  dpidr: number;
  memoryMap: MemoryRegion[];
  /** What the board's on-board probe reports as its target device (CMSIS-Pack device naming). */
  targetDevice: { vendor: string; name: string };
}

export const BOARDS: Record<QemuBoard, BoardSpec> = {
  microbit: {
    machine: 'microbit',
    description: 'QEMU micro:bit (nRF51822, Cortex-M0)',
    dpidr: 0x0bb11477,
    targetDevice: { vendor: 'Nordic Semiconductor', name: 'nRF51822_xxAA' },
    memoryMap: [
      { name: 'flash', kind: 'flash', start: 0x00000000, size: 256 * 1024 },
      { name: 'ram', kind: 'ram', start: 0x20000000, size: 16 * 1024 },
      { name: 'peripherals', kind: 'peripheral', start: 0x40000000, size: 0x20000000 },
    ],
  },
  lm3s6965evb: {
    machine: 'lm3s6965evb',
    description: 'QEMU LM3S6965EVB (Cortex-M3)',
    dpidr: 0x1ba01477,
    targetDevice: { vendor: 'Texas Instruments', name: 'LM3S6965' },
    memoryMap: [
      { name: 'flash', kind: 'flash', start: 0x00000000, size: 256 * 1024 },
      { name: 'ram', kind: 'ram', start: 0x20000000, size: 64 * 1024 },
      { name: 'peripherals', kind: 'peripheral', start: 0x40000000, size: 0x20000000 },
    ],
  },
};

const WATCH_TYPE: Record<WatchAccess, number> = { write: 2, read: 3, access: 4 };

/** GDB register numbers in QEMU's arm-m-profile.xml: r0–r15 are 0–15, xPSR is 25. */
const GDB_XPSR = 25;
/** `bx lr` (Thumb T1 0x4770), little-endian. */
const BX_LR = Uint8Array.of(0x70, 0x47);

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // No orphan QEMUs: whatever happens to this process, its emulators go with it (they are in
    // their own process group, so a signal to ours does not reach them by itself).
    const killAll = () => {
      for (const c of live) c.kill('SIGKILL');
    };
    process.once('exit', killAll);
    for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
      const onSignal = () => {
        killAll();
        // Nobody else handles it: do what the signal would have done.
        if (process.listenerCount(signal) === 1) {
          process.removeListener(signal, onSignal);
          process.kill(process.pid, signal);
        }
      };
      process.on(signal, onSignal);
    }
  }
}

/** How many QEMU processes this Node process has running (tests check nothing leaks). */
export function runningQemuCount(): number {
  return live.size;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export interface QemuTargetOptions {
  board: QemuBoard;
  /** Firmware to boot; without it the board starts with blank flash (for flashing). */
  elf?: string;
  qemuBinary?: string;
  /** Abandons the start (its requester left): QEMU is killed at once and start() rejects. */
  signal?: AbortSignal;
}

export class QemuTarget implements SimTarget {
  readonly description: string;
  readonly dpidr: number;
  readonly memoryMap: MemoryRegion[];
  readonly targetDevice: { vendor: string; name: string };
  cpuid = 0;
  private running = false;
  private stopRequested = false;
  private reason: HaltReason = 'request';
  private lastStep = false;
  /** Halting debug state the debug model passes down (DHCSR.C_DEBUGEN, DEMCR). */
  private debug: DebugControl = { debugEnabled: false, demcr: 0 };
  private readonly userBreakpoints = new Set<number>();
  /** Breakpoints QEMU holds now (the debugger's and our catch points). */
  private readonly installed = new Set<number>();
  /** Handler address → the exceptions whose entry there this backend watches for. */
  private readonly catchPoints = new Map<number, number[]>();
  /** Catch points left off until the next resume (a handler that runs with no stop). */
  private readonly disarmed = new Set<number>();
  /** The verdict on a stop the guest made by itself, while it is being worked out. */
  private judging: Promise<void> | null = null;
  private judgeError: Error | null = null;
  /** Lockup predicted at HardFault entry; QEMU is kept stopped (it would abort otherwise). */
  private lockup = false;
  /** QEMU ended at a lockup after all: what it printed. */
  private dead: { message: string; registers: Map<number, number>; halted: boolean } | null = null;
  private psp = 0;
  private special = 0;
  private stderr = '';

  private constructor(
    readonly board: QemuBoard,
    private readonly child: ChildProcess,
    private readonly gdb: GdbRemote,
    private readonly qmp: Qmp,
  ) {
    const spec = BOARDS[board];
    gdb.onStop = (reply) => this.onStop(reply.raw);
    // 'close' comes after stderr has been read to its end (QEMU's last words name a lockup).
    child.once('close', () => this.onExit());
    this.description = spec.description;
    this.dpidr = spec.dpidr;
    this.memoryMap = spec.memoryMap;
    this.targetDevice = spec.targetDevice;
  }

  static async start(options: QemuTargetOptions): Promise<QemuTarget> {
    const spec = BOARDS[options.board];
    if (!spec) throw new Error(`unknown QEMU board "${options.board}"`);
    const gdbPort = await freePort();
    const qmpPort = await freePort();
    const binary = options.qemuBinary ?? 'qemu-system-arm';
    const args = ['-M', spec.machine, '-nographic', '-monitor', 'none', '-serial', 'null', ...(options.elf ? ['-kernel', options.elf] : []), '-S',
      '-gdb', `tcp:127.0.0.1:${gdbPort}`, '-qmp', `tcp:127.0.0.1:${qmpPort},server,wait=off`];
    // Its own process group: Ctrl-C in a terminal goes to the whole foreground group, and QEMU
    // would die at once under a dapdeck that is still stopping cleanly. dapdeck ends it itself.
    const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    track(child);
    const abandon = () => child.kill('SIGKILL');
    if (options.signal?.aborted) abandon();
    options.signal?.addEventListener('abort', abandon, { once: true });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => (stderr += d));
    const spawnError = new Promise<never>((_, reject) => {
      child.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' ? new Error(`${binary} not found: run scripts/install-system-deps.sh (Debian package qemu-system-arm)`) : err),
      );
      child.once('exit', (code) => reject(new Error(`QEMU exited (code ${code}) before its GDB stub answered: ${stderr.trim() || 'no message'}`)));
    });
    try {
      const gdb = await Promise.race([retryConnect(() => GdbRemote.connect(gdbPort), 5000), spawnError]);
      const qmp = await Promise.race([retryConnect(() => Qmp.connect(qmpPort), 5000), spawnError]);
      spawnError.catch(() => undefined);
      const target = new QemuTarget(options.board, child, gdb, qmp);
      target.stderr = stderr;
      child.stderr!.on('data', (d: string) => (target.stderr += d));
      await gdb.handshake();
      // QEMU wants the target description fetched before it serves the register set.
      await gdb.request('qXfer:features:read:target.xml:0,ffb');
      const cpuid = await target.readMemory(0xe000ed00, 4);
      target.cpuid = (cpuid[0] | (cpuid[1] << 8) | (cpuid[2] << 16) | (cpuid[3] << 24)) >>> 0;
      options.signal?.removeEventListener('abort', abandon); // started: closing it is now its owner's job
      return target;
    } catch (err) {
      spawnError.catch(() => undefined);
      child.kill('SIGKILL');
      throw err;
    }
  }

  // ---- memory ----

  async readMemory(address: number, length: number): Promise<Uint8Array> {
    if (length === 0) return new Uint8Array(0);
    if (this.dead) throw this.deadError();
    if (this.running) return this.readWhileRunning(address, length);
    const out = new Uint8Array(length);
    const chunk = Math.max(16, Math.floor((this.gdb.packetSize - 8) / 2));
    for (let done = 0; done < length; done += chunk) {
      const n = Math.min(chunk, length - done);
      const reply = await this.gdb.request(`m${(address + done).toString(16)},${n.toString(16)}`);
      if (/^E[0-9a-f]{2}$/i.test(reply) || reply.length !== 2 * n) throw new BusFault(address + done, 'read');
      out.set(fromHex(reply), done);
    }
    return out;
  }

  private async readWhileRunning(address: number, length: number): Promise<Uint8Array> {
    try {
      return await this.qmp.readPhysical(address, length);
    } catch {
      // `xp` of unmapped memory prints an error instead of bytes.
      throw new BusFault(address, 'read');
    }
  }

  /**
   * Bus writes. Flash is not writable over the bus on real parts (it needs the flash controller);
   * QEMU's stub would write it anyway, so flash bytes are dropped here to stay as strict as silicon.
   */
  async writeMemory(address: number, data: Uint8Array): Promise<void> {
    const flash = this.memoryMap.find((r) => r.kind === 'flash')!;
    const flashEnd = flash.start + flash.size;
    if (address < flashEnd && address + data.length > flash.start) {
      const before = Math.max(0, flash.start - address);
      const after = Math.max(0, address + data.length - flashEnd);
      if (before > 0) await this.backdoorWrite(address, data.subarray(0, before));
      if (after > 0) await this.backdoorWrite(flashEnd, data.subarray(data.length - after));
      return;
    }
    await this.backdoorWrite(address, data);
  }

  /** Write through QEMU's stub with no bus rules (flash included): for tests that corrupt flash on purpose. */
  async backdoorWrite(address: number, data: Uint8Array): Promise<void> {
    if (data.length === 0) return;
    if (this.dead) throw this.deadError();
    const wasRunning = this.running;
    if (wasRunning) await this.stop(false);
    try {
      const chunk = Math.max(16, Math.floor((this.gdb.packetSize - 32) / 2));
      for (let done = 0; done < data.length; done += chunk) {
        const part = data.subarray(done, done + chunk);
        const reply = await this.gdb.request(`M${(address + done).toString(16)},${part.length.toString(16)}:${toHex(part)}`);
        if (reply !== 'OK') throw new BusFault(address + done, 'write');
      }
    } finally {
      if (wasRunning) await this.continue();
    }
  }

  // ---- run control ----
  //
  // QEMU's M-profile model has no halting debug: a BKPT is a DebugMonitor exception that escalates
  // to HardFault (HFSR.FORCED on the M3; the stacked PC is the BKPT), the DEMCR vector catches do
  // nothing, and a fault in HardFault aborts the whole QEMU process ("Lockup: can't escalate 3 to
  // HardFault", QEMU 7.2 cpu_abort). Measured with gdb-multiarch on QEMU's own stub. So this backend
  // watches exception entry itself: a breakpoint of its own ("catch point") on the handler of
  // HardFault, and with halting debug on, of each fault DEMCR catches. When one is met it decides
  // what silicon would have done:
  // - a BKPT with C_DEBUGEN set: undo the exception entry (exception return through a `bx lr` run
  //   from free stack below the frame) and halt at the BKPT (DFSR.BKPT), registers as before;
  // - a vector catch: halt on the handler's first instruction (DFSR.VCATCH), as silicon does;
  // - a HardFault handler that cannot execute (Thumb bit clear, or outside memory): that is lockup
  //   on silicon; QEMU stays stopped and the core reads as locked up (DHCSR.S_LOCKUP, not halted);
  // - anything else: carry on, invisibly (the catch point stays off for that handler until the
  //   debugger next resumes the core, so a handler spinning on its first instruction runs freely).
  // One thing cannot be undone from outside: the stub ignores writes to the SCB, so after a BKPT
  // the M3's HFSR keeps the FORCED bit QEMU's escalation set.

  async halt(): Promise<void> {
    await this.idle();
    if (this.dead) {
      this.dead.halted = true;
      this.reason = 'request';
      return;
    }
    this.lockup = false; // a debugger halt ends lockup
    if (!this.running) return;
    await this.stop(true);
  }

  /** Stop the guest; `asRequest` records it as a debugger halt (else it is an internal pause). */
  private async stop(asRequest: boolean): Promise<void> {
    await this.idle();
    if (!this.running) return;
    this.stopRequested = true;
    const stopped = this.gdb.waitForStop(2000);
    try {
      this.gdb.interrupt();
    } catch (err) {
      stopped.catch(() => undefined);
      throw err;
    }
    await stopped;
    this.running = false;
    if (asRequest) this.reason = 'request';
  }

  async resume(): Promise<void> {
    await this.idle();
    if (this.running || this.dead || this.lockup) return;
    this.lastStep = false;
    this.disarmed.clear();
    await this.runFromHere();
  }

  /** Resume after an internal pause (a write while running): no re-arming, the core just goes on. */
  private async continue(): Promise<void> {
    await this.runFromHere();
  }

  /**
   * Let the guest run from where it stands. A catch point under the PC is stepped over first (QEMU
   * would stop on it again at once), and that step may itself enter an exception worth a stop.
   */
  private async runFromHere(): Promise<void> {
    await this.armCatchPoints();
    const [pc, xpsr] = await this.readGdbRegisters([15, GDB_XPSR]);
    if ((xpsr & 0x1ff) === EXCEPTION.HardFault && !this.executable(pc, xpsr)) {
      this.lockup = true;
      return;
    }
    if (this.installed.has(pc) && !this.userBreakpoints.has(pc)) {
      await this.gdb.request(`z0,${pc.toString(16)},2`);
      try {
        await this.rawStep();
      } finally {
        await this.gdb.request(`Z0,${pc.toString(16)},2`);
      }
      if (await this.judgeStop(xpsr & 0x1ff, 'step')) return;
    }
    this.stopRequested = false;
    this.running = true;
    await this.gdb.resume('c');
  }

  /** One instruction, QEMU stopping after it (interrupts held off, as the stub steps). */
  private async rawStep(): Promise<void> {
    const stop = this.gdb.waitForStop(2000);
    try {
      await this.gdb.resume('s');
    } catch (err) {
      stop.catch(() => undefined);
      throw err;
    }
    await stop;
  }

  /**
   * Every stop reply: after our interrupt it is a halt request; a `watch`/`rwatch`/`awatch` stop
   * is a DWT comparator firing; otherwise the guest met a breakpoint.
   */
  private onStop(raw: string): void {
    if (!this.running) return; // the reply to a step
    this.running = false;
    const watch = /(?:^|;)(?:r|a)?watch:([0-9a-f]+);/i.exec(raw.slice(3));
    this.watchHit = watch ? parseInt(watch[1], 16) >>> 0 : null;
    if (this.stopRequested) return;
    if (watch) {
      this.reason = 'watchpoint';
      return;
    }
    // The guest stopped by itself: at a debugger breakpoint or at one of our catch points.
    this.reason = 'breakpoint';
    const judged = this.judgeStop(-1, 'run').then(async (stopped) => {
      if (!stopped) await this.runFromHere();
    });
    this.judging = judged.catch((err: Error) => {
      this.judgeError = err;
    });
  }

  /**
   * Decide what a stop at `pc` is (see the section comment). True when the core should stay
   * stopped (halted, or locked up) for a reason of its own; false otherwise (after running: run on;
   * after a step: an ordinary step). `previousException` is the IPSR before a step (-1 after
   * running): a catch point counts as an exception entry only if the IPSR changed to it.
   */
  private async judgeStop(previousException: number, after: 'run' | 'step'): Promise<boolean> {
    const [pc, xpsr, sp] = await this.readGdbRegisters([15, GDB_XPSR, 13]);
    const exception = xpsr & 0x1ff;
    // The debugger's breakpoint matches before the instruction there executes (or faults).
    if (after === 'run' && this.userBreakpoints.has(pc)) {
      this.reason = 'breakpoint';
      return true;
    }
    const entered = this.catchPoints.get(pc)?.includes(exception) && exception !== previousException;
    // Our catch point met on another path (a handler shared with other exceptions): run on.
    if (!entered) return after === 'run' && !this.installed.has(pc);
    if (exception === EXCEPTION.HardFault && !this.executable(pc, xpsr)) {
      this.lockup = true;
      return true;
    }
    if (exception === EXCEPTION.HardFault && this.debug.debugEnabled && (await this.undoBkptEscalation(sp))) {
      this.reason = 'bkpt';
      return true;
    }
    if (this.debug.debugEnabled && this.debug.demcr & vectorCatchBit(exception, await this.readCfsr())) {
      this.reason = 'vector-catch';
      return true;
    }
    // Not a stop on silicon: the firmware's handler runs. Leave it alone until the next resume.
    this.disarmed.add(pc);
    await this.syncBreakpoints();
    return false;
  }

  /**
   * If the HardFault just entered came from a BKPT (the stacked return address holds one), return
   * from the exception and stop at the BKPT, as if it had never been taken. The return is the
   * architectural one: `bx lr` with LR = EXC_RETURN, executed from two bytes of free stack just
   * below the frame (saved and put back), so QEMU unstacks and deactivates HardFault itself.
   */
  private async undoBkptEscalation(sp: number): Promise<boolean> {
    let frame: Uint8Array;
    try {
      frame = await this.readMemory(sp, 32);
    } catch {
      return false;
    }
    const stackedPc = (frame[24] | (frame[25] << 8) | (frame[26] << 16) | (frame[27] << 24)) >>> 0;
    let insn: Uint8Array;
    try {
      insn = await this.readMemory(stackedPc & ~1, 2);
    } catch {
      return false;
    }
    if (bkptImmediate(insn[0] | (insn[1] << 8)) === null) return false;
    const scratch = (sp - 8) >>> 0;
    if (!this.memoryMap.some((r) => r.kind === 'ram' && scratch >= r.start && scratch + 2 <= r.start + r.size)) return false;
    const saved = await this.readMemory(scratch, 2);
    await this.backdoorWrite(scratch, BX_LR);
    await this.writeRegister(15, scratch);
    try {
      await this.rawStep();
    } finally {
      await this.backdoorWrite(scratch, saved);
    }
    const [pc] = await this.readGdbRegisters([15]);
    if (pc !== (stackedPc & ~1)) throw new Error(`QEMU did not return from the BKPT's HardFault to 0x${stackedPc.toString(16)} (pc 0x${pc.toString(16)})`);
    return true;
  }

  private async readCfsr(): Promise<number> {
    try {
      const b = await this.readMemory(SCB.CFSR, 4);
      return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
    } catch {
      return 0; // ARMv6-M has no CFSR
    }
  }

  /** Whether the core can execute at pc: Thumb state and inside flash or RAM. */
  private executable(pc: number, xpsr: number): boolean {
    return (xpsr & (1 << 24)) !== 0 && this.memoryMap.some((r) => r.kind !== 'peripheral' && pc >= r.start && pc < r.start + r.size);
  }

  /**
   * Catch points from the vector table as it is now: HardFault's handler always (for BKPT and for
   * lockup), and with halting debug on, the handler of each fault a DEMCR VC_* bit names.
   */
  private async armCatchPoints(): Promise<void> {
    const v7m = ((this.cpuid >>> 4) & 0xfff) !== 0xc20;
    let vtor = 0;
    if (v7m) {
      const b = await this.readMemory(SCB.VTOR, 4).catch(() => new Uint8Array(4));
      vtor = (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
    }
    const exceptions: number[] = [EXCEPTION.HardFault];
    if (this.debug.debugEnabled && v7m) {
      if (this.debug.demcr & DEMCR.VC_MMERR) exceptions.push(EXCEPTION.MemManage);
      if (this.debug.demcr & DEMCR.VC_BUSERR) exceptions.push(EXCEPTION.BusFault);
      if (this.debug.demcr & (DEMCR.VC_STATERR | DEMCR.VC_CHKERR | DEMCR.VC_NOCPERR)) exceptions.push(EXCEPTION.UsageFault);
    }
    this.catchPoints.clear();
    for (const exception of exceptions) {
      let handler: number;
      try {
        const b = await this.readMemory(vtor + 4 * exception, 4);
        handler = ((b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) & ~1) >>> 0;
      } catch {
        continue; // an unreadable vector table: the fault would lock up before any handler runs
      }
      this.catchPoints.set(handler, [...(this.catchPoints.get(handler) ?? []), exception]);
    }
    await this.syncBreakpoints();
  }

  /** QEMU's breakpoints = the debugger's plus the armed catch points. */
  private async syncBreakpoints(): Promise<void> {
    const wanted = new Set(this.userBreakpoints);
    for (const a of this.catchPoints.keys()) if (!this.disarmed.has(a)) wanted.add(a);
    for (const a of [...this.installed]) {
      if (wanted.has(a)) continue;
      await this.gdb.request(`z0,${a.toString(16)},2`);
      this.installed.delete(a);
    }
    for (const a of wanted) {
      if (this.installed.has(a)) continue;
      const reply = await this.gdb.request(`Z0,${a.toString(16)},2`);
      if (reply !== 'OK') throw new Error(`GDB stub refused a breakpoint at 0x${a.toString(16)}: ${reply}`);
      this.installed.add(a);
    }
  }

  private async readGdbRegisters(regs: number[]): Promise<number[]> {
    const out: number[] = [];
    for (const r of regs) {
      const reply = await this.gdb.request(`p${r.toString(16)}`);
      if (!/^[0-9a-f]{8}$/i.test(reply)) throw new Error(`GDB stub refused register ${r}: ${reply}`);
      out.push(parseLeWord(reply));
    }
    return out;
  }

  private watchHit: number | null = null;

  watchpointHit(): number | null {
    return this.reason === 'watchpoint' && !this.lastStep ? this.watchHit : null;
  }

  /**
   * QEMU's M-profile model has no DWT: the probe model's comparators become watchpoints in
   * QEMU's stub (Z2 write, Z3 read, Z4 access), which stop the guest after the access as the DWT
   * does on silicon.
   */
  async setWatchpoint(address: number, length: number, access: WatchAccess): Promise<void> {
    await this.whileStopped(async () => {
      const reply = await this.gdb.request(`Z${WATCH_TYPE[access]},${address.toString(16)},${length.toString(16)}`);
      if (reply !== 'OK') throw new Error(`GDB stub refused a ${access} watchpoint at 0x${address.toString(16)}: ${reply || 'not supported'}`);
    });
  }

  async clearWatchpoint(address: number, length: number, access: WatchAccess): Promise<void> {
    await this.whileStopped(async () => {
      await this.gdb.request(`z${WATCH_TYPE[access]},${address.toString(16)},${length.toString(16)}`);
    });
  }

  /** Let a stop reply that has already arrived update our state. */
  private async settle(): Promise<void> {
    await new Promise((r) => setImmediate(r));
  }

  /** Settle, and wait for the verdict on a stop the guest made by itself. */
  private async idle(): Promise<void> {
    await this.settle();
    while (this.judging) {
      const j = this.judging;
      await j;
      if (this.judging === j) this.judging = null;
    }
    if (this.judgeError) {
      const err = this.judgeError;
      this.judgeError = null;
      if (!this.dead) throw err;
    }
  }

  async step(): Promise<void> {
    await this.idle();
    if (this.running) throw new Error('cannot step a running core');
    if (this.dead) throw this.deadError();
    const [xpsr] = await this.readGdbRegisters([GDB_XPSR]);
    this.lastStep = true;
    this.reason = 'step';
    await this.armCatchPoints();
    await this.rawStep();
    // A step that entered HardFault through a BKPT is a BKPT halt; one into a caught fault a catch.
    if (await this.judgeStop(xpsr & 0x1ff, 'step')) {
      if (this.reason !== 'step') this.lastStep = false;
    }
  }

  async isHalted(): Promise<boolean> {
    await this.idle();
    if (this.dead) return this.dead.halted;
    return !this.running && !this.lockup;
  }

  async isLockedUp(): Promise<boolean> {
    await this.idle();
    return this.dead ? !this.dead.halted : this.lockup;
  }

  async setDebugControl(control: DebugControl): Promise<void> {
    this.debug = { ...control };
  }

  haltReason(): HaltReason {
    return this.lastStep ? 'step' : this.reason;
  }

  async readRegister(reg: number): Promise<number> {
    if (this.dead?.halted) {
      const v = this.dead.registers.get(reg === 17 ? 13 : reg);
      if (v === undefined) throw this.deadError();
      return v;
    }
    if (this.running || this.lockup) throw new Error('registers are only readable while halted');
    if (reg === 17) return this.readRegister(13); // MSP: thread mode on the main stack
    if (reg === 18) return this.psp;
    if (reg === 20) return this.special;
    const gdbReg = reg === 16 ? GDB_XPSR : reg;
    if (gdbReg > 15 && gdbReg !== GDB_XPSR) throw new Error(`core register ${reg} not available`);
    const reply = await this.gdb.request(`p${gdbReg.toString(16)}`);
    if (!/^[0-9a-f]{8}$/i.test(reply)) throw new Error(`GDB stub refused register ${reg}: ${reply}`);
    return parseLeWord(reply);
  }

  async writeRegister(reg: number, value: number): Promise<void> {
    if (this.dead) throw this.deadError();
    if (this.running) throw new Error('registers are only writable while halted');
    if (reg === 18) {
      this.psp = value >>> 0;
      return;
    }
    if (reg === 20) {
      this.special = value >>> 0;
      return;
    }
    const gdbReg = reg === 16 ? GDB_XPSR : reg === 17 ? 13 : reg;
    const reply = await this.gdb.request(`P${gdbReg.toString(16)}=${leWord(value >>> 0)}`);
    if (reply !== 'OK') throw new Error(`GDB stub refused writing register ${reg}: ${reply}`);
  }

  /**
   * System reset through QMP. Reset while stopped keeps QEMU stopped with the core at its reset
   * vector (SP and PC loaded from the vector table, no instruction executed): that is reset-and-halt.
   */
  async reset(options: { halt: boolean }): Promise<void> {
    await this.idle();
    if (this.dead) throw this.deadError();
    if (this.running) await this.stop(false);
    await this.qmp.execute('system_reset');
    this.lockup = false;
    this.lastStep = false;
    this.disarmed.clear();
    this.reason = options.halt ? 'vector-catch' : 'unknown';
    if (!options.halt) await this.runFromHere();
  }

  /**
   * The board's reset button: a system reset that the debugger did not ask for. A running core
   * keeps running from its reset vector; the debug connection stays up.
   */
  async pressResetButton(): Promise<void> {
    await this.qmp.execute('system_reset');
  }

  async setBreakpoint(address: number): Promise<void> {
    this.userBreakpoints.add(address >>> 0);
    await this.whileStopped(() => this.syncBreakpoints());
  }

  async clearBreakpoint(address: number): Promise<void> {
    this.userBreakpoints.delete(address >>> 0);
    await this.whileStopped(() => this.syncBreakpoints());
  }

  private async whileStopped(body: () => Promise<void>): Promise<void> {
    await this.idle();
    const wasRunning = this.running;
    if (wasRunning) await this.stop(false);
    try {
      await body();
    } finally {
      if (wasRunning) await this.continue();
    }
  }

  /**
   * QEMU ended itself at a lockup it cannot model (a fault inside HardFault that this backend did
   * not see coming). Silicon would sit locked up with the debug port alive; here the core reads as
   * locked up, a halt shows the registers QEMU printed as it ended, and anything else says why it
   * cannot go on.
   */
  private onExit(): void {
    const match = /Lockup: (.*)/.exec(this.stderr);
    if (!match) return;
    const registers = new Map<number, number>();
    for (const m of this.stderr.matchAll(/R(\d\d)=([0-9a-f]{8})/gi)) registers.set(Number(m[1]), parseInt(m[2], 16) >>> 0);
    const xpsr = /XPSR=([0-9a-f]{8})/i.exec(this.stderr);
    if (xpsr) registers.set(16, parseInt(xpsr[1], 16) >>> 0);
    this.dead = { message: match[1].trim(), registers, halted: false };
    this.running = false;
  }

  private deadError(): Error {
    return new Error(`the emulated core locked up and QEMU ended with it (QEMU 7.2 cannot keep a locked-up core: "${this.dead?.message}"); start the board again`);
  }

  async close(): Promise<void> {
    this.gdb.close();
    this.qmp.close();
    // A QEMU that aborted (lockup) has a signalCode and no exitCode: it is gone already.
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGKILL');
      await exited;
    }
  }

  /** What QEMU printed on stderr (for error messages). */
  get log(): string {
    return this.stderr;
  }
}

async function retryConnect<T>(attempt: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`QEMU did not open its port within ${timeoutMs} ms (${(err as Error).message})`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
