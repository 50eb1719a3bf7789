/**
 * One GDB client's conversation (GDB manual, appendix E "Remote Protocol"), transport-free: bytes
 * in through `receive`, bytes out through the connection's `write`. All-stop mode, one thread.
 *
 * Packets are handled strictly one after another. A continue runs inside that sequence: it resumes
 * the core, then polls it (one DHCSR read per poll) until it halts or the client sends the
 * interrupt byte, calling the `whileRunning` hook between polls (the CLI streams RTT there), and
 * only then answers with the stop reply. Everything the server does to the core goes through the
 * narrow GdbTarget interface below.
 */
import { framePacket, fromHex, fromLatin1, latin1, leWord, RspFramer, toHex, unescapeBinary } from './packets';

export type StopReason =
  | { kind: 'breakpoint'; software: boolean }
  | { kind: 'watchpoint'; type: 'watch' | 'rwatch' | 'awatch'; address: number }
  | { kind: 'step' }
  | { kind: 'request' }
  | { kind: 'reset' }
  /** A fault the debugger caught (vector catch) or a lockup: the exception and what the fault status registers say. */
  | { kind: 'fault'; exception: string; details: string[] }
  | { kind: 'other'; description: string }
  /** The firmware called semihosting (BKPT 0xAB; operation in r0, parameter in r1). */
  | { kind: 'semihosting'; op: number; arg: number; pc: number }
  /** The firmware exited through semihosting (SYS_EXIT, SYS_EXIT_EXTENDED): halted at that call. */
  | { kind: 'exit'; code: number; reason: string };

/** What serving a semihosting call came to: carry on, or the program ended. */
export type SemihostingResult = { resume: true } | { exit: { code: number; reason: string } };

export type WatchType = 'write' | 'read' | 'access';

/** What the server needs from the debug session (core/gdb/session-target.ts implements it). */
export interface GdbTarget {
  /** A client connected: get the core ready to be debugged (e.g. catch faults). */
  attach(): Promise<void>;
  targetXml(): string;
  /** The memory map, or null when flash cannot be programmed (then GDB writes flash with M/X). */
  memoryMapXml(): string | null;
  registerCount(): number;
  /** Every register in description order, as hex in target byte order; unavailable ones as 'x'. */
  readAllRegisters(): Promise<string>;
  readRegister(n: number): Promise<string>;
  writeRegister(n: number, hex: string): Promise<void>;
  writeAllRegisters(hex: string): Promise<void>;
  readMemory(address: number, length: number): Promise<Uint8Array>;
  writeMemory(address: number, data: Uint8Array): Promise<void>;
  halt(): Promise<void>;
  resume(): Promise<void>;
  step(): Promise<void>;
  isHalted(): Promise<boolean>;
  /** Why the core halted (reads and clears the sticky debug status). */
  stopReason(): Promise<StopReason>;
  /**
   * Carry out the semihosting call the core is halted on (result in r0, PC past the BKPT), when
   * the server serves semihosting itself; without it, such a call is an ordinary stop for GDB.
   */
  semihosting?(call: { op: number; arg: number; pc: number }): Promise<SemihostingResult>;
  /** pc and sp, for the stop reply (saves GDB a round trip). */
  expedite(): Promise<{ pc: number; sp: number }>;
  reset(halt: boolean): Promise<void>;
  insertBreakpoint(type: 0 | 1, address: number, kind: number): Promise<void>;
  removeBreakpoint(type: 0 | 1, address: number, kind: number): Promise<void>;
  insertWatchpoint(type: WatchType, address: number, length: number): Promise<void>;
  removeWatchpoint(type: WatchType, address: number, length: number): Promise<void>;
  flashErase(address: number, length: number): Promise<void>;
  flashWrite(address: number, data: Uint8Array): Promise<void>;
  /** Program what erase/write collected, verified; returns a one-line report. */
  flashDone(): Promise<string>;
  /** Breakpoints and watchpoints out, core running: the debugger leaves. */
  detach(): Promise<void>;
}

export interface GdbConnection {
  write(bytes: Uint8Array): void;
  close(): void;
}

export interface GdbServerHooks {
  /** Called between halt polls while the core runs; true when it did work (poll again at once). */
  whileRunning?(): Promise<boolean>;
  /** The core stopped (awaited after the stop reply went out, before the next packet is handled). */
  onHalted?(reason: StopReason): void | Promise<void>;
  /** The core was resumed (continue, detach, monitor resume). */
  onResumed?(): void;
  /** `monitor` commands the server does not know itself (e.g. `rtt`); null when unknown too. */
  monitor?(command: string): Promise<string | null>;
  /** Diagnostics for the server's own terminal (refused requests with their reason). */
  log?(line: string): void;
  /** Every packet received and every reply sent (for statistics). */
  onPacket?(direction: 'in' | 'out', payload: string): void;
}

const PACKET_SIZE = 0x4000;
const SIGINT = 2;
const SIGTRAP = 5;
const SIGSEGV = 11;

export class GdbServerSession {
  private readonly framer = new RspFramer();
  private ackMode = true;
  private lastSent: Uint8Array | null = null;
  private chain: Promise<void> = Promise.resolve();
  private running = false;
  private interruptRequested = false;
  private closed = false;
  private lastStop: StopReason = { kind: 'request' };
  private clientFeatures = new Set<string>();
  private wake: (() => void) | null = null;
  /** Set once the client detached or killed: the transport should close. */
  finished = false;

  constructor(
    private readonly target: GdbTarget,
    private readonly connection: GdbConnection,
    private readonly hooks: GdbServerHooks = {},
  ) {}

  /** Halt the core for the new client (GDB expects a stopped target after connecting). */
  async start(): Promise<void> {
    await this.enqueue(async () => {
      await this.target.attach();
      if (!(await this.target.isHalted())) await this.target.halt();
      this.lastStop = { kind: 'request' };
      await this.hooks.onHalted?.(this.lastStop);
    });
  }

  receive(bytes: Uint8Array): void {
    for (const event of this.framer.push(bytes)) {
      switch (event.kind) {
        case 'interrupt':
          this.interruptRequested = true;
          this.wake?.();
          break;
        case 'nack':
          if (this.lastSent) this.connection.write(this.lastSent);
          break;
        case 'bad-checksum':
          if (this.ackMode) this.connection.write(latin1('-'));
          break;
        case 'packet':
          if (this.ackMode) this.connection.write(latin1('+'));
          this.enqueue(() => this.handle(event.payload));
          break;
      }
    }
  }

  /** The client went away: stop waiting for the core; leave it as the caller decides. */
  disconnected(): Promise<void> {
    this.closed = true;
    this.wake?.();
    return this.chain;
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const run = this.chain.then(work).catch((err) => this.hooks.log?.(`gdb: ${(err as Error).message}`));
    this.chain = run;
    return run;
  }

  private send(payload: string | Uint8Array): void {
    if (this.closed) return;
    const frame = framePacket(payload);
    this.lastSent = frame;
    this.hooks.onPacket?.('out', typeof payload === 'string' ? payload : fromLatin1(payload));
    this.connection.write(frame);
  }

  private async handle(raw: Uint8Array): Promise<void> {
    const packet = fromLatin1(raw);
    this.hooks.onPacket?.('in', packet);
    try {
      const reply = await this.dispatch(packet, raw);
      if (reply !== null) this.send(reply);
    } catch (err) {
      const message = (err as Error).message;
      this.hooks.log?.(`gdb: ${describePacket(packet)}: ${message}`);
      // GDB 13 reads only a number after E in most replies ("E.text" breaks its parsing of m/p
      // replies): the reason goes to this terminal, a monitor command's reason to GDB's console.
      this.send('E01');
    }
  }

  /** The reply to one packet, or null when it has none (or sent its own). */
  private async dispatch(packet: string, raw: Uint8Array): Promise<string | null> {
    const t = this.target;
    const head = packet[0];
    if (packet.startsWith('qSupported')) {
      for (const f of packet.slice('qSupported:'.length).split(';')) this.clientFeatures.add(f);
      const features = [`PacketSize=${PACKET_SIZE.toString(16)}`, 'QStartNoAckMode+', 'qXfer:features:read+', 'vContSupported+', 'swbreak+', 'hwbreak+'];
      if (t.memoryMapXml()) features.push('qXfer:memory-map:read+');
      return features.join(';');
    }
    if (packet === 'QStartNoAckMode') {
      this.send('OK');
      this.ackMode = false;
      return null;
    }
    if (packet.startsWith('qXfer:features:read:target.xml:')) return xferSlice(t.targetXml(), packet.slice('qXfer:features:read:target.xml:'.length));
    if (packet.startsWith('qXfer:features:read:')) return 'E00';
    if (packet.startsWith('qXfer:memory-map:read::')) {
      const map = t.memoryMapXml();
      return map ? xferSlice(map, packet.slice('qXfer:memory-map:read::'.length)) : '';
    }
    if (packet === '?') return this.stopReply(this.lastStop);
    if (packet === '!') return 'OK'; // extended mode
    if (packet === 'qAttached') return '1';
    if (packet === 'qC') return 'QC1';
    if (packet === 'qfThreadInfo') return 'm1';
    if (packet === 'qsThreadInfo') return 'l';
    if (packet.startsWith('qThreadExtraInfo')) return toHex(latin1('core'));
    if (head === 'H') return 'OK';
    if (head === 'T') return 'OK'; // thread alive
    if (packet === 'qOffsets') return '';
    if (packet === 'g') return t.readAllRegisters();
    if (head === 'G') {
      await t.writeAllRegisters(packet.slice(1));
      return 'OK';
    }
    if (head === 'p') return t.readRegister(parseHexNumber(packet.slice(1), 'register number'));
    if (head === 'P') {
      const [n, value] = packet.slice(1).split('=');
      await t.writeRegister(parseHexNumber(n, 'register number'), value);
      return 'OK';
    }
    if (head === 'm') {
      const [address, length] = addressLength(packet.slice(1));
      return toHex(await t.readMemory(address, Math.min(length, PACKET_SIZE / 2 - 8)));
    }
    if (head === 'M') {
      const colon = packet.indexOf(':');
      const [address, length] = addressLength(packet.slice(1, colon));
      const data = fromHex(packet.slice(colon + 1));
      if (data.length !== length) throw new Error(`M packet says ${length} bytes but carries ${data.length}`);
      await t.writeMemory(address, data);
      return 'OK';
    }
    if (head === 'X') {
      const colon = raw.indexOf(0x3a);
      const [address, length] = addressLength(packet.slice(1, colon));
      const data = unescapeBinary(raw.subarray(colon + 1));
      if (data.length !== length) throw new Error(`X packet says ${length} bytes but carries ${data.length}`);
      if (length > 0) await t.writeMemory(address, data);
      return 'OK';
    }
    if (packet === 'vCont?') return 'vCont;c;C;s;S';
    if (packet.startsWith('vCont;')) {
      // One thread: the first action is the one that applies to it.
      const action = packet.slice(6).split(';')[0][0];
      return this.run(action === 's' || action === 'S');
    }
    if (head === 'c' || head === 'C') return this.run(false);
    if (head === 's' || head === 'S') return this.run(true);
    if (head === 'Z' || head === 'z') return this.breakpoint(head === 'Z', packet.slice(1));
    if (packet.startsWith('vFlashErase:')) {
      const [address, length] = addressLength(packet.slice('vFlashErase:'.length));
      await t.flashErase(address, length);
      return 'OK';
    }
    if (packet.startsWith('vFlashWrite:')) {
      const start = 'vFlashWrite:'.length;
      const colon = raw.indexOf(0x3a, start);
      await t.flashWrite(parseHexNumber(packet.slice(start, colon), 'address'), unescapeBinary(raw.subarray(colon + 1)));
      return 'OK';
    }
    if (packet === 'vFlashDone') {
      const report = await t.flashDone();
      this.hooks.log?.(`gdb: load: ${report}`);
      return 'OK';
    }
    if (packet.startsWith('qRcmd,')) return this.monitor(fromLatin1(fromHex(packet.slice(6))).trim());
    if (head === 'D') {
      await t.detach();
      this.hooks.onResumed?.();
      this.send('OK');
      this.finished = true;
      this.connection.close();
      return null;
    }
    if (head === 'k') {
      // No process to kill on bare metal: leave the board as a fresh start would (reset, running).
      await t.detach();
      await t.reset(false);
      this.hooks.onResumed?.();
      this.finished = true;
      this.connection.close();
      return null;
    }
    return ''; // not supported: GDB falls back or says so
  }

  private async run(step: boolean): Promise<string | null> {
    const t = this.target;
    this.interruptRequested = false;
    if (step) {
      await t.step();
      let reason = await t.stopReason();
      // Stepping onto a semihosting call halts on it without executing it: serving it is the step.
      if (reason.kind === 'semihosting' && t.semihosting) {
        const served = await t.semihosting(reason);
        reason = 'exit' in served ? { kind: 'exit', ...served.exit } : { kind: 'step' };
      }
      return this.stopped(reason.kind === 'breakpoint' || reason.kind === 'watchpoint' || reason.kind === 'exit' ? reason : { kind: 'step' });
    }
    await t.resume();
    this.running = true;
    this.hooks.onResumed?.();
    let idleMs = 0;
    try {
      for (;;) {
        if (this.closed) return null;
        if (this.interruptRequested) {
          this.interruptRequested = false;
          if (!(await t.isHalted())) {
            await t.halt();
            await t.stopReason(); // clear the sticky status: this halt was ours
            return this.stopped({ kind: 'request' });
          }
        }
        if (await t.isHalted()) {
          const reason = await t.stopReason();
          // A semihosting call is served and the core goes on, unseen by GDB (as OpenOCD and
          // pyOCD do with semihosting enabled); only the program's exit is a stop.
          if (reason.kind === 'semihosting' && t.semihosting) {
            const served = await t.semihosting(reason);
            if ('exit' in served) return this.stopped({ kind: 'exit', ...served.exit });
            await t.resume();
            continue;
          }
          return this.stopped(reason);
        }
        const busy = (await this.hooks.whileRunning?.()) ?? false;
        idleMs = busy ? 0 : Math.min(Math.max(1, idleMs * 2), 8);
        if (idleMs) await new Promise<void>((resolve) => {
          const timer = setTimeout(done, idleMs);
          function done() {
            clearTimeout(timer);
            resolve();
          }
          this.wake = done;
        });
        this.wake = null;
      }
    } finally {
      this.running = false;
    }
  }

  /** Sends the stop reply itself (so the halted hook runs after it went out). */
  private async stopped(reason: StopReason): Promise<null> {
    this.lastStop = reason;
    this.send(await this.stopReply(reason));
    await this.hooks.onHalted?.(reason);
    return null;
  }

  private async stopReply(reason: StopReason): Promise<string> {
    const { pc, sp } = await this.target.expedite();
    const signal = reason.kind === 'request' ? SIGINT : reason.kind === 'fault' ? SIGSEGV : SIGTRAP;
    let stop = `T${signal.toString(16).padStart(2, '0')}`;
    if (reason.kind === 'breakpoint') {
      const feature = reason.software ? 'swbreak' : 'hwbreak';
      if (this.clientFeatures.has(`${feature}+`)) stop += `${feature}:;`;
    } else if (reason.kind === 'watchpoint') stop += `${reason.type}:${reason.address.toString(16)};`;
    stop += `0d:${leWord(sp)};0f:${leWord(pc)};thread:1;`;
    return stop;
  }

  private async breakpoint(insert: boolean, args: string): Promise<string> {
    const [typeText, addressText, kindText] = args.split(',');
    const type = Number(typeText);
    const address = parseHexNumber(addressText, 'address');
    const kind = parseHexNumber(kindText ?? '2', 'kind');
    const t = this.target;
    if (type === 0 || type === 1) {
      if (insert) await t.insertBreakpoint(type, address, kind);
      else await t.removeBreakpoint(type, address, kind);
      return 'OK';
    }
    if (type >= 2 && type <= 4) {
      const watch: WatchType = type === 2 ? 'write' : type === 3 ? 'read' : 'access';
      if (insert) await t.insertWatchpoint(watch, address, kind);
      else await t.removeWatchpoint(watch, address, kind);
      return 'OK';
    }
    return '';
  }

  private async monitor(command: string): Promise<string | null> {
    const t = this.target;
    const out = (text: string) => this.send(`O${toHex(latin1(text.endsWith('\n') ? text : `${text}\n`))}`);
    const words = command.split(/\s+/).filter(Boolean);
    switch (words.join(' ')) {
      case 'reset':
      case 'reset run':
        await t.reset(false);
        this.hooks.onResumed?.();
        out('target reset, running');
        return 'OK';
      case 'reset halt':
        await t.reset(true);
        await t.stopReason();
        this.lastStop = { kind: 'reset' };
        await this.hooks.onHalted?.(this.lastStop);
        out('target reset, halted at the reset vector');
        return 'OK';
      case 'halt':
        if (!(await t.isHalted())) await t.halt();
        await t.stopReason();
        await this.hooks.onHalted?.({ kind: 'request' });
        out('target halted');
        return 'OK';
      case 'resume':
        await t.resume();
        this.hooks.onResumed?.();
        out('target running (GDB still thinks it is stopped: use "monitor halt" before reading state)');
        return 'OK';
      case '':
      case 'help':
        out('monitor commands: reset [halt|run], halt, resume, rtt');
        return 'OK';
    }
    const answer = await this.hooks.monitor?.(command);
    if (answer === null || answer === undefined) {
      out(`unknown monitor command "${command}" (try: monitor help)`);
      return 'E01';
    }
    out(answer);
    return 'OK';
  }

  /** True while a continue is in progress (the core runs). */
  get isRunning(): boolean {
    return this.running;
  }
}

function parseHexNumber(text: string | undefined, what: string): number {
  if (!text || !/^[0-9a-fA-F]+$/.test(text)) throw new Error(`bad ${what} "${text ?? ''}"`);
  return parseInt(text, 16) >>> 0;
}

function addressLength(text: string): [number, number] {
  const [a, l] = text.split(',');
  return [parseHexNumber(a, 'address'), parseHexNumber(l, 'length')];
}

/** `offset,length` of a qXfer read: 'm' + data when more follows, 'l' + data for the last piece. */
function xferSlice(document: string, range: string): string {
  const [offset, length] = addressLength(range);
  const part = document.slice(offset, offset + length);
  return (offset + length >= document.length ? 'l' : 'm') + part;
}

function describePacket(packet: string): string {
  const name = /^(v[A-Za-z]+|q[A-Za-z]+|Q[A-Za-z]+|.)/.exec(packet)?.[0] ?? packet;
  return `${name} packet`;
}
