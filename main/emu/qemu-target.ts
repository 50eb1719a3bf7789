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
import { BusFault, type HaltReason, type MemoryRegion, type SimTarget } from '../../core/sim/target';
import { GdbRemote, bytesToHex, hexToBytes, leHexToU32, u32ToLeHex } from './gdb-remote';
import { Qmp } from './qmp';

export type QemuBoard = 'microbit' | 'lm3s6965evb';

interface BoardSpec {
  machine: string;
  description: string;
  /** SW-DP DPIDR a real part reports (QEMU has no DP): nRF51 0x0BB11477, Cortex-M3 0x1BA01477. */
  dpidr: number;
  memoryMap: MemoryRegion[];
}

export const BOARDS: Record<QemuBoard, BoardSpec> = {
  microbit: {
    machine: 'microbit',
    description: 'QEMU micro:bit (nRF51822, Cortex-M0)',
    dpidr: 0x0bb11477,
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
    memoryMap: [
      { name: 'flash', kind: 'flash', start: 0x00000000, size: 256 * 1024 },
      { name: 'ram', kind: 'ram', start: 0x20000000, size: 64 * 1024 },
      { name: 'peripherals', kind: 'peripheral', start: 0x40000000, size: 0x20000000 },
    ],
  },
};

/** GDB register numbers in QEMU's arm-m-profile.xml: r0–r15 are 0–15, xPSR is 25. */
const GDB_XPSR = 25;

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
}

export class QemuTarget implements SimTarget {
  readonly description: string;
  readonly dpidr: number;
  readonly memoryMap: MemoryRegion[];
  cpuid = 0;
  private running = false;
  private stopRequested = false;
  private reason: HaltReason = 'request';
  private lastStep = false;
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
    gdb.onStop = () => this.onStop();
    this.description = spec.description;
    this.dpidr = spec.dpidr;
    this.memoryMap = spec.memoryMap;
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
      await gdb.handshake();
      // QEMU wants the target description fetched before it serves the register set.
      await gdb.request('qXfer:features:read:target.xml:0,ffb');
      const cpuid = await target.readMemory(0xe000ed00, 4);
      target.cpuid = (cpuid[0] | (cpuid[1] << 8) | (cpuid[2] << 16) | (cpuid[3] << 24)) >>> 0;
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
    if (this.running) return this.readWhileRunning(address, length);
    const out = new Uint8Array(length);
    const chunk = Math.max(16, Math.floor((this.gdb.packetSize - 8) / 2));
    for (let done = 0; done < length; done += chunk) {
      const n = Math.min(chunk, length - done);
      const reply = await this.gdb.request(`m${(address + done).toString(16)},${n.toString(16)}`);
      if (/^E[0-9a-f]{2}$/i.test(reply) || reply.length !== 2 * n) throw new BusFault(address + done, 'read');
      out.set(hexToBytes(reply), done);
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
    const wasRunning = this.running;
    if (wasRunning) await this.stop(false);
    try {
      const chunk = Math.max(16, Math.floor((this.gdb.packetSize - 32) / 2));
      for (let done = 0; done < data.length; done += chunk) {
        const part = data.subarray(done, done + chunk);
        const reply = await this.gdb.request(`M${(address + done).toString(16)},${part.length.toString(16)}:${bytesToHex(part)}`);
        if (reply !== 'OK') throw new BusFault(address + done, 'write');
      }
    } finally {
      if (wasRunning) await this.continue();
    }
  }

  // ---- run control ----

  async halt(): Promise<void> {
    if (!this.running) return;
    await this.stop(true);
  }

  /** Stop the guest; `asRequest` records it as a debugger halt (else it is an internal pause). */
  private async stop(asRequest: boolean): Promise<void> {
    await this.settle();
    if (!this.running) return;
    this.stopRequested = true;
    const stopped = this.gdb.waitForStop(2000);
    this.gdb.interrupt();
    await stopped;
    this.running = false;
    if (asRequest) this.reason = 'request';
  }

  async resume(): Promise<void> {
    await this.settle();
    if (this.running) return;
    this.lastStep = false;
    await this.continue();
  }

  private async continue(): Promise<void> {
    this.stopRequested = false;
    this.running = true;
    await this.gdb.resume('c');
  }

  /** Every stop reply: after our interrupt it is a halt request; otherwise the guest hit a breakpoint. */
  private onStop(): void {
    if (!this.running) return; // the reply to a step
    this.running = false;
    if (!this.stopRequested) this.reason = 'breakpoint';
  }

  /** Let a stop reply that has already arrived update our state. */
  private async settle(): Promise<void> {
    await new Promise((r) => setImmediate(r));
  }

  async step(): Promise<void> {
    if (this.running) throw new Error('cannot step a running core');
    const stop = this.gdb.waitForStop(2000);
    await this.gdb.resume('s');
    await stop;
    this.lastStep = true;
    this.reason = 'step';
  }

  async isHalted(): Promise<boolean> {
    await this.settle();
    return !this.running;
  }

  haltReason(): HaltReason {
    return this.lastStep ? 'step' : this.reason;
  }

  async readRegister(reg: number): Promise<number> {
    if (this.running) throw new Error('registers are only readable while halted');
    if (reg === 17) return this.readRegister(13); // MSP: thread mode on the main stack
    if (reg === 18) return this.psp;
    if (reg === 20) return this.special;
    const gdbReg = reg === 16 ? GDB_XPSR : reg;
    if (gdbReg > 15 && gdbReg !== GDB_XPSR) throw new Error(`core register ${reg} not available`);
    const reply = await this.gdb.request(`p${gdbReg.toString(16)}`);
    if (!/^[0-9a-f]{8}$/i.test(reply)) throw new Error(`GDB stub refused register ${reg}: ${reply}`);
    return leHexToU32(reply);
  }

  async writeRegister(reg: number, value: number): Promise<void> {
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
    const reply = await this.gdb.request(`P${gdbReg.toString(16)}=${u32ToLeHex(value >>> 0)}`);
    if (reply !== 'OK') throw new Error(`GDB stub refused writing register ${reg}: ${reply}`);
  }

  /**
   * System reset through QMP. Reset while stopped keeps QEMU stopped with the core at its reset
   * vector (SP and PC loaded from the vector table, no instruction executed): that is reset-and-halt.
   */
  async reset(options: { halt: boolean }): Promise<void> {
    if (this.running) await this.stop(false);
    await this.qmp.execute('system_reset');
    this.lastStep = false;
    this.reason = options.halt ? 'vector-catch' : 'unknown';
    if (!options.halt) await this.continue();
  }

  /**
   * The board's reset button: a system reset that the debugger did not ask for. A running core
   * keeps running from its reset vector; the debug connection stays up.
   */
  async pressResetButton(): Promise<void> {
    await this.qmp.execute('system_reset');
  }

  async setBreakpoint(address: number): Promise<void> {
    await this.whileStopped(async () => {
      const reply = await this.gdb.request(`Z0,${address.toString(16)},2`);
      if (reply !== 'OK') throw new Error(`GDB stub refused a breakpoint at 0x${address.toString(16)}: ${reply}`);
    });
  }

  async clearBreakpoint(address: number): Promise<void> {
    await this.whileStopped(async () => {
      await this.gdb.request(`z0,${address.toString(16)},2`);
    });
  }

  private async whileStopped(body: () => Promise<void>): Promise<void> {
    const wasRunning = this.running;
    if (wasRunning) await this.stop(false);
    try {
      await body();
    } finally {
      if (wasRunning) await this.continue();
    }
  }

  async close(): Promise<void> {
    this.gdb.close();
    this.qmp.close();
    if (this.child.exitCode === null) {
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
