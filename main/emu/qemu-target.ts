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
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { BusFault, type DebugControl, type HaltReason, type MemoryRegion, type SimTarget, type WatchAccess } from '../../core/sim/target';
import { DEMCR, SCB } from '../../core/arm/registers';
import { EXCEPTION, bkptImmediate, vectorCatchBit } from '../../core/arm/faults';
import { GdbRemote } from './gdb-remote';
import { fromHex, leWord, parseLeWord, toHex } from '../../core/gdb/packets';
import { Qmp } from './qmp';
import { Qtest } from './qtest';
import { loadImage } from '../../core/elf';
import { NRF51_TIMING } from '../../core/sim/flash-emulator';
import { boardsDir } from '../paths';

export type QemuBoard = 'microbit' | 'lm3s6965evb';

interface BoardSpec {
  machine: string;
  description: string;
  /** SW-DP DPIDR a real part reports (QEMU has no DP): nRF51 0x0BB11477, Cortex-M3 0x1BA01477. */
  dpidr: number;
  memoryMap: MemoryRegion[];
  /** What the board's on-board probe reports as its target device (CMSIS-Pack device naming). */
  targetDevice: { vendor: string; name: string };
  /** The nRF51's non-volatile memory: what a factory-fresh chip holds, and where its NVMC is. */
  nrf51?: Nrf51Nvm;
}

interface Nrf51Nvm {
  nvmc: number;
  ficr: { start: number; size: number; words: ReadonlyMap<number, number> };
  uicr: { start: number; size: number };
}

/**
 * A factory-fresh nRF51822-QFAA (nRF51 Reference Manual v3.0, FICR chapter; nRF51822 Product
 * Specification v3.3): 1 KiB pages, 256 of them, no pre-programmed region 0 (CLENR0 and PPFC
 * 0xFFFFFFFF), 2 RAM blocks of 8 KiB, CONFIGID.HWID 0x0072 (QFAA H0, IC rev 3). Every other FICR word,
 * up to the end of its 4 KiB block, reads 0xFFFFFFFF; QEMU's own FICR has CLENR0 = 0x2000 (which
 * tools read as a protected region 0) and ends at 0x100 (so 0x10000100, nRF52's INFO.PART that tools
 * probe first, would fault).
 */
const NRF51822_QFAA: Nrf51Nvm = {
  nvmc: 0x4001e000,
  ficr: {
    start: 0x10000000,
    size: 0x1000,
    words: new Map([
      [0x010, 0x400], // CODEPAGESIZE
      [0x014, 0x100], // CODESIZE (pages)
      [0x028, 0xffffffff], // CLENR0
      [0x02c, 0xffffffff], // PPFC
      [0x034, 2], // NUMRAMBLOCK
      [0x038, 0x2000], // SIZERAMBLOCKS / SIZERAMBLOCK[0]
      [0x03c, 0x2000], // SIZERAMBLOCK[1]
      [0x05c, 0xffff0072], // CONFIGID: FWID unset, HWID 0x0072
      [0x060, 0x5a17e3c1], // DEVICEID[0]
      [0x064, 0x0d3c2b96], // DEVICEID[1]
      [0x0a0, 0xffffffff], // DEVICEADDRTYPE: random
      [0x0a4, 0x9b4e21d7], // DEVICEADDR[0]
      [0x0a8, 0xffffc3a5], // DEVICEADDR[1]
    ]),
  },
  uicr: { start: 0x10001000, size: 0x100 },
};

const NVMC_CONFIG = 0x504;
const NVMC_ERASEALL = 0x50c;
const NVMC_CONFIG_WEN = 1;
const NVMC_CONFIG_EEN = 2;

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
    nrf51: NRF51822_QFAA,
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
  /** Firmware to boot; without it the board starts from `state` or factory-fresh (for flashing). */
  elf?: string;
  /**
   * The board's non-volatile memory between runs: restored from this file at start (unless `fresh`
   * or `elf` is given) and saved back at close, so what was flashed stays flashed.
   */
  stateFile?: string;
  /** Start from a factory-fresh chip even if `stateFile` exists. */
  fresh?: boolean;
  qemuBinary?: string;
  /** Abandons the start (its requester left): QEMU is killed at once and start() rejects. */
  signal?: AbortSignal;
}

/**
 * Where each emulated board keeps its flash (and UICR) between commands, as a real board keeps
 * them: in Dapdeck's data directory (main/paths.ts). Beside it, `.json`, which firmware Dapdeck
 * last put there, so later commands can decode what the board runs.
 */
export function boardStateFile(board: QemuBoard): string {
  return join(boardsDir(), `emu-${board}.nvm`);
}

/** A QEMU address range as `info mtree -f` lists it for the CPU's address space. */
interface MappedRange {
  start: number;
  end: number;
  name: string;
  /** QEMU's unimplemented-device placeholders (priority -1000, nvic-default) log and drop writes. */
  implemented: boolean;
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
  /** Addresses in RAM that held a BKPT when the core was last let run from RAM (see armBkptTraps). */
  private readonly bkptTraps = new Set<number>();
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
  private mapped: MappedRange[] = [];
  /** The probe model's clock (modeled seconds). */
  private clock: () => number = () => 0;
  /** Chip time owed to the probe's clock: flash erase/program work QEMU does instantly. */
  private chipSeconds = 0;
  /** Flash as it was when last accounted for (nRF51 only: the board whose NVMC QEMU emulates). */
  private flashShadow: Uint8Array | null = null;
  /** Modeled time at which the debugger last let the core run. */
  private runStartedAt: number | null = null;
  private stateFile: string | undefined;
  /** The ELF (or HEX/BIN) whose image Dapdeck last booted or flashed into this board. */
  private firmwareFile: string | undefined;
  private socketDir = '';
  private selfReset = false;

  takeSelfReset(): boolean {
    const seen = this.selfReset;
    this.selfReset = false;
    return seen;
  }

  private constructor(
    readonly board: QemuBoard,
    private readonly child: ChildProcess,
    private readonly gdb: GdbRemote,
    private readonly qmp: Qmp,
    private readonly qtest: Qtest,
  ) {
    const spec = BOARDS[board];
    gdb.onStop = (reply) => this.onStop(reply.raw);
    // A reset the guest asked for (SYSRESETREQ; QMP RESET with guest: true): DHCSR.S_RESET_ST.
    qmp.onEvent = (event, data) => {
      if (event === 'RESET' && (data as { guest?: boolean } | undefined)?.guest) this.selfReset = true;
    };
    // 'close' comes after stderr has been read to its end (QEMU's last words name a lockup).
    child.once('close', () => this.onExit());
    this.description = spec.description;
    this.dpidr = spec.dpidr;
    this.memoryMap = spec.memoryMap;
    this.targetDevice = spec.targetDevice;
  }

  static async start(options: QemuTargetOptions): Promise<QemuTarget> {
    // A free port is found by binding and letting go: another process can take it before QEMU binds
    // it ("Failed to find an available port: Address already in use"). Then new ports are tried.
    for (let attempt = 1; ; attempt++) {
      try {
        return await QemuTarget.startOnce(options);
      } catch (err) {
        if (attempt >= 3 || options.signal?.aborted || !/Address already in use/.test((err as Error).message)) throw err;
      }
    }
  }

  private static async startOnce(options: QemuTargetOptions): Promise<QemuTarget> {
    const spec = BOARDS[options.board];
    if (!spec) throw new Error(`unknown QEMU board "${options.board}"`);
    const gdbPort = await freePort();
    const qmpPort = await freePort();
    const socketDir = mkdtempSync(join(tmpdir(), 'dapdeck-qemu-'));
    const qtestPath = join(socketDir, 'qtest.sock');
    const binary = options.qemuBinary ?? 'qemu-system-arm';
    // qtest beside TCG: the second bus master (the debugger's AHB-AP) next to the CPU.
    const args = ['-M', spec.machine, '-accel', 'tcg', '-nographic', '-monitor', 'none', '-serial', 'null', '-S',
      '-gdb', `tcp:127.0.0.1:${gdbPort}`, '-qmp', `tcp:127.0.0.1:${qmpPort},server,wait=off`, '-qtest', `unix:${qtestPath},server=on,wait=off`, '-qtest-log', '/dev/null'];
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
      const qtest = await Promise.race([retryConnect(() => Qtest.connect(qtestPath), 5000), spawnError]);
      spawnError.catch(() => undefined);
      const target = new QemuTarget(options.board, child, gdb, qmp, qtest);
      target.stderr = stderr;
      child.stderr!.on('data', (d: string) => (target.stderr += d));
      target.socketDir = socketDir;
      target.stateFile = options.stateFile;
      await gdb.handshake();
      // QEMU wants the target description fetched before it serves the register set.
      await gdb.request('qXfer:features:read:target.xml:0,ffb');
      target.mapped = parseFlatView(await qmp.hmp('info mtree -f'));
      const state = options.stateFile && !options.fresh && !options.elf && existsSync(options.stateFile) ? options.stateFile : null;
      await target.loadNonVolatile(state, options.elf);
      target.firmwareFile = options.elf ? resolve(options.elf) : state ? readFirmwareRecord(state) : undefined;
      const cpuid = await target.readMemory(0xe000ed00, 4);
      target.cpuid = (cpuid[0] | (cpuid[1] << 8) | (cpuid[2] << 16) | (cpuid[3] << 24)) >>> 0;
      options.signal?.removeEventListener('abort', abandon); // started: closing it is now its owner's job
      return target;
    } catch (err) {
      spawnError.catch(() => undefined);
      child.kill('SIGKILL');
      rmSync(socketDir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * The chip as it left the factory (flash and UICR erased to 0xFF, through the NVMC's ERASEALL as a
   * programmer would do it), or as the last session left it (`state`); then a reset, so the core
   * starts from whatever vector table flash now holds. With `elf`, a fresh chip programmed with it
   * (as a factory programmer would: the image's bytes, every other byte erased).
   */
  private async loadNonVolatile(state: string | null, elf?: string): Promise<void> {
    const spec = BOARDS[this.board];
    const flash = spec.memoryMap.find((r) => r.kind === 'flash')!;
    const nvm = spec.nrf51;
    const saved = state ? readFileSync(state) : null;
    const uicrSize = nvm?.uicr.size ?? 0;
    if (saved && saved.length !== flash.size + uicrSize) throw new Error(`${state}: not a saved ${this.board} (${saved.length} bytes, expected ${flash.size + uicrSize}); remove it or pass --fresh`);
    if (nvm) {
      await this.qtest.writeWord(nvm.nvmc + NVMC_CONFIG, NVMC_CONFIG_EEN);
      await this.qtest.writeWord(nvm.nvmc + NVMC_ERASEALL, 1);
      await this.qtest.writeWord(nvm.nvmc + NVMC_CONFIG, 0);
    } else if (!saved) {
      await this.backdoorWrite(flash.start, new Uint8Array(flash.size).fill(0xff));
    }
    if (saved) {
      // Programmed bytes only: the rest is already erased.
      const image = saved.subarray(0, flash.size);
      for (let at = 0; at < image.length; at += 1024) {
        const page = image.subarray(at, at + 1024);
        if (page.some((b) => b !== 0xff)) await this.backdoorWrite(flash.start + at, page);
      }
    }
    if (elf) {
      const image = loadImage(readFileSync(elf), elf);
      for (const chunk of image.chunks) await this.backdoorWrite(chunk.address, chunk.data);
    }
    await this.systemReset(saved && nvm ? saved.subarray(flash.size) : undefined);
    if (nvm) this.flashShadow = await this.snapshot(flash.start, flash.size);
  }

  /** Memory as the CPU sees it, in bulk (QMP memsave to a file: ~1 ms per 256 KiB, where qtest's hex takes 10x that). */
  private async snapshot(address: number, length: number): Promise<Uint8Array> {
    const file = join(this.socketDir, 'snapshot.bin');
    await this.qmp.execute('memsave', { val: address, size: length, filename: file });
    return readFileSync(file);
  }

  attachClock(now: () => number): void {
    this.clock = now;
  }

  takeElapsedSeconds(): number {
    const s = this.chipSeconds;
    this.chipSeconds = 0;
    return s;
  }

  /**
   * Charge the flash work done since the last look, with the nRF51822's datasheet times (page erase
   * 22.3 ms, word write 46.3 µs: NRF51_TIMING, as the in-process model charges them): QEMU's NVMC
   * erases and programs instantly. Work is read off the flash itself: a page with any bit gone
   * 0 → 1 was erased; a word that changed (or, on an erased page, any word not 0xFFFFFFFF) was
   * programmed. An erase or write that changed nothing is not seen, so this never overcharges.
   * The work began at `startedAt` (modeled); whatever of it the probe's clock has not yet covered
   * is owed to it.
   */
  private async accountFlashWork(startedAt: number, from = 0, to = this.flashShadow?.length ?? 0): Promise<void> {
    const shadow = this.flashShadow;
    if (!shadow || to <= from) return;
    const page = BOARDS[this.board].nrf51 ? 1024 : 0;
    const start = Math.floor(from / page) * page;
    const end = Math.min(shadow.length, Math.ceil(to / page) * page);
    const now = await this.snapshot(start, end - start);
    let erased = 0;
    let words = 0;
    for (let p = 0; p < now.length; p += page) {
      let wasErased = false;
      let changed = 0;
      let notBlank = 0;
      for (let i = p; i < p + page; i += 4) {
        const before = (shadow[start + i] | (shadow[start + i + 1] << 8) | (shadow[start + i + 2] << 16) | (shadow[start + i + 3] << 24)) >>> 0;
        const after = (now[i] | (now[i + 1] << 8) | (now[i + 2] << 16) | (now[i + 3] << 24)) >>> 0;
        if ((after & ~before) !== 0) wasErased = true;
        if (after !== before) changed++;
        if (after !== 0xffffffff) notBlank++;
      }
      if (wasErased) erased++;
      words += wasErased ? notBlank : changed;
    }
    shadow.set(now, start);
    const busy = erased * NRF51_TIMING.eraseSectorSeconds + words * NRF51_TIMING.programWordSeconds;
    this.chipSeconds += Math.max(0, startedAt + busy - this.clock());
  }

  /** The core stopped after the debugger let it run: charge what flash work it did meanwhile. */
  private async noteRunEnded(): Promise<void> {
    const startedAt = this.runStartedAt;
    if (startedAt === null) return;
    this.runStartedAt = null;
    await this.accountFlashWork(startedAt);
  }

  /**
   * QEMU's system_reset, keeping what a reset keeps on silicon: QEMU's nRF51 model refills UICR
   * with 0xFF on every reset, though UICR is flash. `uicr` is what it must hold afterwards
   * (default: what it holds now); it is programmed back through the NVMC.
   */
  private async systemReset(uicr?: Uint8Array): Promise<void> {
    const nvm = BOARDS[this.board].nrf51;
    const keep = nvm ? (uicr ?? (await this.qtest.read(nvm.uicr.start, nvm.uicr.size))) : undefined;
    await this.qmp.execute('system_reset');
    if (!nvm || !keep || keep.every((b) => b === 0xff)) return;
    const words = new DataView(keep.buffer, keep.byteOffset, keep.byteLength);
    await this.qtest.writeWord(nvm.nvmc + NVMC_CONFIG, NVMC_CONFIG_WEN);
    for (let o = 0; o < keep.length; o += 4) {
      const v = words.getUint32(o, true);
      if (v !== 0xffffffff) await this.qtest.writeWord(nvm.uicr.start + o, v);
    }
    await this.qtest.writeWord(nvm.nvmc + NVMC_CONFIG, 0);
  }

  /** Save flash (and UICR) for the next session on this board. */
  private async saveNonVolatile(): Promise<void> {
    if (!this.stateFile) return;
    const spec = BOARDS[this.board];
    const flash = spec.memoryMap.find((r) => r.kind === 'flash')!;
    if (this.running) await this.stop(false);
    const parts = [await this.snapshot(flash.start, flash.size)]; // QMP memsave: ~1 ms for 256 KiB
    if (spec.nrf51) parts.push(await this.qtest.read(spec.nrf51.uicr.start, spec.nrf51.uicr.size));
    mkdirSync(dirname(this.stateFile), { recursive: true });
    const temp = `${this.stateFile}.${process.pid}.tmp`;
    writeFileSync(temp, Buffer.concat(parts));
    renameSync(temp, this.stateFile);
    writeFileSync(`${this.stateFile}.json`, `${JSON.stringify({ firmware: this.firmwareFile ?? null })}\n`);
  }

  /** Dapdeck put this ELF into flash (a verified flash; undefined: an image with no ELF): later commands decode with it. */
  recordFirmware(file: string | undefined): void {
    this.firmwareFile = file === undefined ? undefined : resolve(file);
  }

  /**
   * The firmware file Dapdeck last put into this board, if flash still holds its image (a peer tool
   * or a debugger may have written something else since): what decodes the board's output.
   */
  async firmware(): Promise<string | undefined> {
    const file = this.firmwareFile;
    if (!file || !existsSync(file)) return undefined;
    try {
      for (const chunk of loadImage(readFileSync(file), file).chunks) {
        if (Buffer.compare(Buffer.from(await this.readMemory(chunk.address, chunk.data.length)), Buffer.from(chunk.data)) !== 0) return undefined;
      }
      return file;
    } catch {
      return undefined; // unreadable now, or an image outside what the board can read back
    }
  }

  // ---- memory ----

  /** Waits for a verdict in progress first: its own stub traffic (a step) must not be cut into. */
  async readMemory(address: number, length: number): Promise<Uint8Array> {
    await this.idle();
    return this.readMemoryNow(address, length);
  }

  private async readMemoryNow(address: number, length: number): Promise<Uint8Array> {
    if (length === 0) return new Uint8Array(0);
    if (this.dead) throw this.deadError();
    const ficr = BOARDS[this.board].nrf51?.ficr;
    if (ficr && address < ficr.start + ficr.size && address + length > ficr.start) return this.readAroundFicr(address, length, ficr);
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

  /** The FICR as a real nRF51822 has it (see NRF51822_QFAA), everything around it from QEMU. */
  private async readAroundFicr(address: number, length: number, ficr: Nrf51Nvm['ficr']): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    const from = Math.max(address, ficr.start);
    const to = Math.min(address + length, ficr.start + ficr.size);
    if (from > address) out.set(await this.readMemory(address, from - address), 0);
    for (let a = from; a < to; a++) {
      const word = ficr.words.get((a - ficr.start) & ~3) ?? 0xffffffff;
      out[a - address] = (word >>> ((a & 3) * 8)) & 0xff;
    }
    if (to < address + length) out.set(await this.readMemory(to, address + length - to), to - address);
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
   * Bus writes, as the debugger's AHB-AP makes them. RAM goes through the GDB stub (fast, and the
   * same memory). Everything else goes through qtest into the board's device models, so a
   * peripheral register really changes and flash follows the NVMC (written only with CONFIG.WEN,
   * bits only cleared) as on the chip. A write to an address no device of this board implements
   * faults, as the bus would answer it: it never looks done.
   */
  async writeMemory(address: number, data: Uint8Array): Promise<void> {
    await this.idle(); // a verdict in progress has stub traffic of its own (a step)
    const ram = this.memoryMap.find((r) => r.kind === 'ram')!;
    for (let i = 0; i < data.length; ) {
      const a = address + i;
      if (a >= ram.start && a < ram.start + ram.size) {
        const n = Math.min(data.length - i, ram.start + ram.size - a);
        // While the core runs, write beside it as the AHB-AP does (stopping QEMU for every write
        // would cost a stop/continue per word); while halted, the stub is as good.
        if (this.running) await this.qtest.writeBulk(a, data.subarray(i, i + n));
        else await this.backdoorWrite(a, data.subarray(i, i + n));
        i += n;
        continue;
      }
      const range = this.mapped.find((r) => a >= r.start && a <= r.end);
      if (!range || !range.implemented || this.isReadOnlyInfo(a)) throw new BusFault(a, 'write');
      const n = Math.min(data.length - i, range.end + 1 - a);
      const nvm = BOARDS[this.board].nrf51;
      if (nvm && a >= nvm.uicr.start && a < nvm.uicr.start + nvm.uicr.size) {
        i += await this.writeUicr(nvm, a, data.subarray(i, i + n));
        continue;
      }
      const startedAt = this.clock();
      await this.qtest.write(a, data.subarray(i, i + n));
      // A debugger's write into flash (with CONFIG.WEN) or to the NVMC's erase registers makes the
      // chip busy just as the CPU's would.
      const flashSize = this.flashShadow?.length ?? 0;
      if (nvm && a < flashSize) await this.accountFlashWork(startedAt, a, Math.min(a + n, flashSize));
      else if (nvm && a >= nvm.nvmc && a < nvm.nvmc + 0x1000) await this.accountFlashWork(startedAt);
      i += n;
    }
  }

  /**
   * UICR is flash: a write programs it only with NVMC CONFIG.WEN set and only clears bits, charged a
   * word-write time (QEMU's UICR takes any write as a plain register). Returns the bytes consumed.
   */
  private async writeUicr(nvm: Nrf51Nvm, address: number, data: Uint8Array): Promise<number> {
    if (address % 4 !== 0 || data.length < 4) throw new BusFault(address, 'write'); // the NVM takes whole words
    const enabled = ((await this.qtest.readWord(nvm.nvmc + NVMC_CONFIG)) & NVMC_CONFIG_WEN) !== 0;
    const words = Math.floor(data.length / 4);
    for (let k = 0; k < words && enabled; k++) {
      const value = (data[4 * k] | (data[4 * k + 1] << 8) | (data[4 * k + 2] << 16) | (data[4 * k + 3] << 24)) >>> 0;
      const old = await this.qtest.readWord(address + 4 * k);
      await this.qtest.writeWord(address + 4 * k, (old & value) >>> 0);
      this.chipSeconds += NRF51_TIMING.programWordSeconds;
    }
    return words * 4;
  }

  /** The FICR is factory-programmed: read-only to everything. */
  private isReadOnlyInfo(address: number): boolean {
    const ficr = BOARDS[this.board].nrf51?.ficr;
    return !!ficr && address >= ficr.start && address < ficr.start + ficr.size;
  }

  /** Write through QEMU's stub with no bus rules (flash included): for tests that corrupt flash on purpose. */
  async backdoorWrite(address: number, data: Uint8Array): Promise<void> {
    await this.idle();
    await this.writeNow(address, data);
  }

  private async writeNow(address: number, data: Uint8Array): Promise<void> {
    if (data.length === 0) return;
    if (this.dead) throw this.deadError();
    const shadow = this.flashShadow;
    if (shadow && address < shadow.length) shadow.set(data.subarray(0, shadow.length - address), address);
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
    if (this.running) await this.stop(true);
    await this.noteRunEnded();
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
    this.runStartedAt ??= this.clock();
    await this.runFromHere();
  }

  /**
   * Resume after an internal pause (a write while running, on the flash algorithm's hot path): the
   * catch points stay as they are and the guest just goes on. A pause that landed on a catch point
   * had not been reported yet, so QEMU reporting it now is right.
   */
  private async continue(): Promise<void> {
    this.stopRequested = false;
    this.running = true;
    await this.gdb.resume('c');
  }

  /**
   * Let the guest run from where it stands. A catch point under the PC is stepped over first (QEMU
   * would stop on it again at once), and that step may itself enter an exception worth a stop.
   */
  private async runFromHere(): Promise<void> {
    const [pc, xpsr] = await this.readGdbRegisters([15, GDB_XPSR]);
    // A BKPT under the PC halts again at once, as on silicon: the core does not move.
    if (this.debug.debugEnabled && (await this.holdsBkpt(pc))) {
      this.reason = 'bkpt';
      return;
    }
    await this.armBkptTraps(pc);
    await this.armCatchPoints();
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
    if (after === 'run' && this.bkptTraps.has(pc)) {
      if (await this.holdsBkpt(pc)) {
        this.reason = 'bkpt';
        return true;
      }
      // The code there changed since the core was let run: not a BKPT any more.
      this.bkptTraps.delete(pc);
      await this.syncBreakpoints();
      return false;
    }
    const entered = this.catchPoints.get(pc)?.includes(exception) && exception !== previousException;
    // Our catch point met on another path (a handler shared with other exceptions): run on.
    if (!entered) return after === 'run' && !this.installed.has(pc);
    // On silicon a BKPT with C_DEBUGEN set halts before any exception is taken, so the vector
    // table plays no part: a BKPT on a chip whose vectors are erased (a flash loader's return on a
    // blank nRF51) halts too. Only then is an unusable HardFault handler a lockup.
    if (exception === EXCEPTION.HardFault && this.debug.debugEnabled && (await this.undoBkptEscalation(sp))) {
      this.reason = 'bkpt';
      return true;
    }
    if (exception === EXCEPTION.HardFault && !this.executable(pc, xpsr)) {
      this.lockup = true;
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
      frame = await this.readMemoryNow(sp, 32);
    } catch {
      return false;
    }
    const stackedPc = (frame[24] | (frame[25] << 8) | (frame[26] << 16) | (frame[27] << 24)) >>> 0;
    let insn: Uint8Array;
    try {
      insn = await this.readMemoryNow(stackedPc & ~1, 2);
    } catch {
      return false;
    }
    if (bkptImmediate(insn[0] | (insn[1] << 8)) === null) return false;
    const scratch = (sp - 8) >>> 0;
    if (!this.memoryMap.some((r) => r.kind === 'ram' && scratch >= r.start && scratch + 2 <= r.start + r.size)) return false;
    const saved = await this.readMemoryNow(scratch, 2);
    await this.writeNow(scratch, BX_LR);
    await this.writeRegisterNow(15, scratch);
    try {
      await this.rawStep();
    } finally {
      await this.writeNow(scratch, saved);
    }
    const [pc] = await this.readGdbRegisters([15]);
    if (pc !== (stackedPc & ~1)) throw new Error(`QEMU did not return from the BKPT's HardFault to 0x${stackedPc.toString(16)} (pc 0x${pc.toString(16)})`);
    return true;
  }

  /**
   * Code run from RAM (flash loaders: OpenOCD's, pyOCD's, vendors') returns through a BKPT, often on
   * a chip whose vector table was just erased, and OpenOCD's nRF51 loader even runs on the blank
   * chip's stack pointer (0xfffffffc). On silicon the BKPT halts before any exception, so neither
   * matters; in QEMU it escalates to HardFault, whose frame cannot be pushed to such a stack and
   * whose handler may be whatever the loader just programmed. So when the core is let run from
   * RAM, every halfword of that RAM region that holds a BKPT gets a breakpoint of ours: the core
   * stops there before the BKPT executes, which is when silicon halts. A breakpoint on a BKPT-like
   * halfword in data never fires (the PC never gets there). Code the host writes into RAM while the
   * core runs is only looked at on the next resume (loaders are written while halted).
   */
  private async armBkptTraps(pc: number): Promise<void> {
    this.bkptTraps.clear();
    const region = this.memoryMap.find((r) => r.kind === 'ram' && pc >= r.start && pc < r.start + r.size);
    if (!this.debug.debugEnabled || !region) return;
    const bytes = await this.readMemoryNow(region.start, region.size);
    for (let i = 0; i + 1 < bytes.length; i += 2) {
      if (bkptImmediate(bytes[i] | (bytes[i + 1] << 8)) !== null) this.bkptTraps.add(region.start + i);
    }
  }

  private async holdsBkpt(pc: number): Promise<boolean> {
    try {
      const insn = await this.readMemoryNow(pc & ~1, 2);
      return bkptImmediate(insn[0] | (insn[1] << 8)) !== null;
    } catch {
      return false;
    }
  }

  private async readCfsr(): Promise<number> {
    try {
      const b = await this.readMemoryNow(SCB.CFSR, 4);
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
      const b = await this.readMemoryNow(SCB.VTOR, 4).catch(() => new Uint8Array(4));
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
        const b = await this.readMemoryNow(vtor + 4 * exception, 4);
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
    const wanted = new Set([...this.userBreakpoints, ...this.bkptTraps]);
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
    if (!this.running) await this.noteRunEnded();
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
    await this.idle();
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
    await this.idle();
    return this.writeRegisterNow(reg, value);
  }

  private async writeRegisterNow(reg: number, value: number): Promise<void> {
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
    await this.systemReset();
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
    await this.systemReset();
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
    // A QEMU that ended (lockup) took its flash with it: the state file keeps the last one saved.
    if (!this.dead && this.child.exitCode === null && this.child.signalCode === null) {
      await this.saveNonVolatile().catch((err: Error) => process.stderr.write(`dapdeck: warning: could not save ${this.board}'s flash to ${this.stateFile}: ${err.message}\n`));
    }
    this.gdb.close();
    this.qmp.close();
    this.qtest.close();
    rmSync(this.socketDir, { recursive: true, force: true });
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

/** The CPU's address space from `info mtree -f`: one line per range, "START-END (prio P, kind): NAME". */
function parseFlatView(text: string): MappedRange[] {
  const view = text.split(/FlatView #\d+/).find((v) => v.includes('AS "cpu-memory-0"'));
  if (!view) throw new Error('QEMU did not describe the CPU address space (info mtree -f)');
  const ranges: MappedRange[] = [];
  for (const line of view.split('\n')) {
    const m = /^\s*([0-9a-f]{16})-([0-9a-f]{16}) \(prio (-?\d+), [^)]*\): (\S+)/.exec(line);
    if (!m) continue;
    const start = Number.parseInt(m[1], 16);
    if (start > 0xffffffff) continue;
    const prio = Number(m[3]);
    ranges.push({ start, end: Math.min(Number.parseInt(m[2], 16), 0xffffffff), name: m[4], implemented: prio > -1000 && m[4] !== 'nvic-default' });
  }
  return ranges;
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

/** The firmware a saved board holds, from the record beside its state file (none if unreadable). */
function readFirmwareRecord(stateFile: string): string | undefined {
  try {
    const record = JSON.parse(readFileSync(`${stateFile}.json`, 'utf8')) as { firmware?: unknown };
    return typeof record.firmware === 'string' ? record.firmware : undefined;
  } catch {
    return undefined;
  }
}

