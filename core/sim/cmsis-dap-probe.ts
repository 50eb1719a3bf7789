/**
 * The strict CMSIS-DAP probe model (CMSIS-DAP v2.1 command set) in front of a simulated target.
 *
 * It parses every packet as firmware would and answers exactly as the spec lays responses out. Where
 * real firmware would misbehave silently on a host error (a packet longer than the endpoint, a
 * response that would overflow the packet buffer, a truncated request), this model fails loudly, so
 * host bugs surface here instead of on a bench.
 */
import type { DapTransport } from '../dap/transport';
import { CortexMDebugModel } from './cortex-m-debug';
import { MemApModel } from './mem-ap';
import { ACK_NONE, ACK_OK, ACK_WAIT, SwdDpModel, type SwdResult } from './swd-dp';
import type { SimTarget } from './target';
import { SwoCapture, SwoTarget, type SwoTargetOptions } from './swo';
import { SWD_TRANSFER_CLOCKS, SWD_WAIT_CLOCKS, WIRE_CONSTANTS, WireModel, type ProbeFlavour, type WireStats } from './wire-model';

export type ProbeStats = WireStats;

export interface SimulatedProbeOptions {
  flavour: ProbeFlavour;
  target: SimTarget;
  /** Default 64 (v1 HID, full-speed report) or 512 (v2 bulk, high-speed packet). */
  packetSize?: number;
  /**
   * How many command packets the probe buffers (DAP_Info 0xFE). DAPLink's default build uses 4 for
   * HID and 4–8 for bulk; the Raspberry Pi debugprobe reports 2… 4 is a realistic middle.
   */
  packetCount?: number;
  serial?: string;
  /** An SWO source: ITM exception trace from a scripted interrupt schedule (UART mode). */
  swo?: SwoTargetOptions & { bufferBytes?: number };
  /**
   * Several SWD protocol version 2 DPs on the one wire (ADIv5.2 multi-drop), as on the RP2040: each
   * core's DP, and DPs without an AP (the rescue DP). `target` must be one of the cores.
   */
  multidrop?: { dpidr: number; targetId: number; dps: MultidropDpOptions[] };
}

export interface MultidropDpOptions {
  /** DLPIDR.TINSTANCE, which TARGETSEL[31:28] must match. */
  instance: number;
  /** The core behind this DP's AHB-AP (APSEL 0); null for a DP without APs. */
  target: SimTarget | null;
  /** Whether CSYSPWRUPACK follows CSYSPWRUPREQ (default yes). */
  systemPowerAck?: boolean;
  /** What CTRL/STAT.CDBGPWRUPREQ does beyond powering the debug domain (RP2040's rescue DP: chip reset). */
  onDebugPowerRequest?: (on: boolean) => Promise<void>;
}

/** One DP on the wire, with the AP and core model behind it (none for a rescue DP). */
interface WireDp {
  dp: SwdDpModel;
  ap: MemApModel | null;
  debug: CortexMDebugModel | null;
}

const CMD = {
  Info: 0x00, HostStatus: 0x01, Connect: 0x02, Disconnect: 0x03, TransferConfigure: 0x04, Transfer: 0x05,
  TransferBlock: 0x06, TransferAbort: 0x07, WriteAbort: 0x08, Delay: 0x09, ResetTarget: 0x0a, SwjPins: 0x10,
  SwjClock: 0x11, SwjSequence: 0x12, SwdConfigure: 0x13, SwdSequence: 0x1d, ExecuteCommands: 0x7f,
  SwoTransport: 0x17, SwoMode: 0x18, SwoBaudrate: 0x19, SwoControl: 0x1a, SwoStatus: 0x1b, SwoData: 0x1c, SwoExtendedStatus: 0x1e,
} as const;
const SWO_COMMANDS = new Set([0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1e]);

/** A host mistake the model refuses (a real probe would corrupt state or answer garbage). */
export class ProbeProtocolError extends Error {
  constructor(message: string) {
    super(`CMSIS-DAP model: ${message}`);
    this.name = 'ProbeProtocolError';
  }
}

interface Response {
  bytes: Uint8Array;
  arrival: number;
}

interface Execution {
  out: number[];
  clocks: number;
  transfers: number;
}

export class SimulatedProbe {
  readonly transport: DapTransport;
  readonly wire: WireModel;
  readonly dp: SwdDpModel;
  readonly ap: MemApModel;
  readonly debug: CortexMDebugModel;
  readonly packetSize: number;
  readonly packetCount: number;
  readonly faults: ProbeFaults;
  /** Every DP on the SWD wire; one unless the bench is multi-drop. */
  readonly dps: readonly WireDp[];
  /** SWO capture, when the bench has an SWO source (ITM exception trace from a script). */
  readonly swo: SwoCapture | null;

  private opened = false;
  private unplugged = false;
  private connected = false;
  private idleCycles = 0;
  private waitRetry = 64;
  private matchRetry = 0;
  private matchMask = 0xffffffff;
  private outstanding = 0;
  private writeWaiters: (() => void)[] = [];
  private processing: Promise<void> = Promise.resolve();
  private responses: Response[] = [];
  private readWaiters: { resolve: (r: Response) => void; reject: (e: Error) => void }[] = [];
  private stalled = false;
  private dropNext = false;
  private generation = 0;

  constructor(readonly options: SimulatedProbeOptions) {
    this.packetSize = options.packetSize ?? (options.flavour === 'v1-hid' ? 64 : 512);
    this.packetCount = options.packetCount ?? 4;
    // DAP_Info reports the packet count in one byte; 0 would leave every command waiting forever.
    if (!Number.isInteger(this.packetCount) || this.packetCount < 1 || this.packetCount > 255) {
      throw new RangeError(`simulated probe packet count ${this.packetCount} is outside 1..255 (DAP_Info reports it in one byte)`);
    }
    this.wire = new WireModel(WIRE_CONSTANTS[options.flavour]);
    const md = options.multidrop;
    if (md) {
      this.dps = md.dps.map((d) => {
        const core = d.target ? coreModels(d.target) : null;
        const aps = new Map(core ? [[0, core.ap]] : []);
        const dp = new SwdDpModel(md.dpidr, aps, { targetId: md.targetId, instance: d.instance, systemPowerAck: d.systemPowerAck, onDebugPowerRequest: d.onDebugPowerRequest });
        return { dp, ap: core?.ap ?? null, debug: core?.debug ?? null };
      });
      const first = this.dps[md.dps.findIndex((d) => d.target === options.target)];
      if (!first) throw new Error('multi-drop bench: options.target must be one of the DPs\' cores');
      this.dp = first.dp;
      this.ap = first.ap!;
      this.debug = first.debug!;
    } else {
      const core = coreModels(options.target);
      this.debug = core.debug;
      this.ap = core.ap;
      this.dp = new SwdDpModel(options.target.dpidr, new Map([[0, this.ap]]));
      this.dps = [{ dp: this.dp, ap: this.ap, debug: this.debug }];
    }
    this.faults = new ProbeFaults(this);
    this.swo = options.swo ? new SwoCapture(options.swo.bufferBytes ?? 4096, 6_000_000, new SwoTarget(options.swo)) : null;
    options.target.attachClock?.(() => this.now());
    this.transport = {
      packetSize: this.packetSize,
      open: () => this.open(),
      close: () => this.close(),
      read: () => this.read(),
      write: (data: BufferSource) => this.write(data),
    };
  }

  get stats(): ProbeStats {
    return this.wire.stats;
  }
  resetStats(): void {
    this.wire.reset();
  }

  // ---- transport ----

  private async open(): Promise<void> {
    if (this.unplugged) throw disconnected();
    this.opened = true;
    this.stalled = false;
    this.outstanding = 0;
    this.responses = [];
  }

  private async close(): Promise<void> {
    this.opened = false;
    this.generation++;
    const err = new Error('transport closed');
    for (const w of this.readWaiters.splice(0)) w.reject(err);
    for (const w of this.writeWaiters.splice(0)) w();
    this.responses = [];
    this.outstanding = 0;
    this.stalled = false;
  }

  private async write(data: BufferSource): Promise<void> {
    if (this.unplugged) throw disconnected();
    if (!this.opened) throw new Error('write on a closed transport');
    const bytes = toBytes(data);
    if (bytes.length > this.packetSize) {
      throw new ProbeProtocolError(`packet of ${bytes.length} bytes exceeds the probe's ${this.packetSize}-byte packet size`);
    }
    if (bytes.length === 0) throw new ProbeProtocolError('empty packet');
    // A full probe buffer NAKs further OUT packets: the write completes only once a response is read.
    const generation = this.generation;
    while (this.outstanding >= this.packetCount) {
      await new Promise<void>((resolve) => this.writeWaiters.push(resolve));
      if (this.unplugged) throw disconnected();
      if (generation !== this.generation) throw new Error('transport closed');
    }
    if (this.unplugAfter !== null && this.unplugAfter-- <= 0) {
      this.unplugAfter = null;
      this._unplug();
      throw disconnected();
    }
    this.outstanding++;
    const arrival = this.wire.packetOut(this.wireBytes(bytes.length));
    const packet = Uint8Array.from(bytes);
    this.processing = this.processing.then(() => this.process(packet, arrival, generation));
  }

  /** Bytes a packet occupies on the USB: a HID report is always its full declared size. */
  private wireBytes(length: number): number {
    return this.options.flavour === 'v1-hid' ? this.packetSize : length;
  }

  private read(): Promise<DataView> {
    if (this.unplugged) return Promise.reject(disconnected());
    if (!this.opened) return Promise.reject(new Error('read on a closed transport'));
    if (this.pendingFailure) {
      const failure = this.pendingFailure;
      this.pendingFailure = null;
      return Promise.reject(failure);
    }
    return new Promise<Response>((resolve, reject) => {
      this.readWaiters.push({ resolve, reject });
      this.deliver();
    }).then((r) => {
      this.wire.hostReads(r.arrival, this.outstanding);
      this.outstanding--;
      this.writeWaiters.shift()?.();
      const padded = this.options.flavour === 'v1-hid' ? padTo(r.bytes, this.packetSize) : r.bytes;
      return new DataView(padded.buffer, padded.byteOffset, padded.byteLength);
    });
  }

  private deliver(): void {
    while (!this.stalled && this.readWaiters.length && this.responses.length) {
      this.readWaiters.shift()!.resolve(this.responses.shift()!);
    }
  }

  private async process(packet: Uint8Array, arrival: number, generation: number): Promise<void> {
    if (generation !== this.generation || this.unplugged) return;
    let response: Uint8Array | null;
    let exec: Execution = { out: [], clocks: 0, transfers: 0 };
    let failure: Error | null = null;
    try {
      exec = await this.executePacket(packet, arrival);
      response = Uint8Array.from(exec.out);
      if (response.length > this.packetSize) {
        throw new ProbeProtocolError(`response of ${response.length} bytes to command 0x${packet[0].toString(16)} would overflow the ${this.packetSize}-byte packet (host asked for too much in one packet)`);
      }
    } catch (err) {
      failure = err as Error;
      response = null;
    }
    this.current = null;
    const targetSeconds = this.options.target.takeElapsedSeconds?.() ?? 0;
    const ready = this.wire.execute(arrival, exec.clocks, exec.transfers, targetSeconds);
    if (generation !== this.generation) return;
    if (failure) {
      // Surface the host error on the read that would have carried the response.
      const waiter = this.readWaiters.shift();
      if (waiter) waiter.reject(failure);
      else this.pendingFailure = failure;
      this.stalled = true;
      return;
    }
    if (this.dropNext) {
      // The response is lost on the wire: the host's read for it never completes.
      this.dropNext = false;
      this.stalled = true;
      return;
    }
    if (response!.length === 0) {
      this.outstanding--; // DAP_TransferAbort has no response
      this.writeWaiters.shift()?.();
      return;
    }
    this.responses.push({ bytes: response!, arrival: this.wire.packetIn(ready, this.wireBytes(response!.length)) });
    this.deliver();
  }

  private pendingFailure: Error | null = null;
  private commandStart = 0;
  private current: Execution | null = null;

  /** Modeled time inside the command being executed (advances with each SWD transfer). */
  private now(): number {
    const exec = this.current;
    return exec ? this.wire.timeInto(this.commandStart, exec.clocks, exec.transfers) : this.wire.host;
  }
  /** @internal Packets still accepted before an armed unplug. */
  unplugAfter: number | null = null;

  // ---- commands ----

  private async executePacket(packet: Uint8Array, arrival: number): Promise<Execution> {
    const exec: Execution = { out: [], clocks: 0, transfers: 0 };
    this.commandStart = this.wire.startOf(arrival);
    this.current = exec;
    const id = packet[0];
    if (id === CMD.ExecuteCommands) {
      const count = need(packet, 2, 'DAP_ExecuteCommands')[1];
      exec.out.push(CMD.ExecuteCommands, count);
      let p = 2;
      for (let i = 0; i < count; i++) {
        if (p >= packet.length) throw new ProbeProtocolError(`DAP_ExecuteCommands announces ${count} commands but the packet ends after ${i}`);
        if (packet[p] === CMD.ExecuteCommands) throw new ProbeProtocolError('DAP_ExecuteCommands cannot nest');
        p = await this.command(packet, p, exec);
      }
      return exec;
    }
    await this.command(packet, 0, exec);
    return exec;
  }

  /** Execute the command at packet[p]; append its response; return the offset after it. */
  private async command(packet: Uint8Array, p: number, exec: Execution): Promise<number> {
    const id = packet[p];
    const out = exec.out;
    switch (id) {
      case CMD.Info:
        need(packet, p + 2, 'DAP_Info');
        out.push(CMD.Info, ...this.info(packet[p + 1]));
        return p + 2;
      case CMD.HostStatus:
        need(packet, p + 3, 'DAP_HostStatus');
        out.push(id, 0);
        return p + 3;
      case CMD.Connect: {
        need(packet, p + 2, 'DAP_Connect');
        const port = packet[p + 1];
        // SWD only: port 0 (default) and 1 select SWD; JTAG (2) is not available on this probe.
        const selected = port === 0 || port === 1 ? 1 : 0;
        this.connected = selected === 1;
        out.push(id, selected);
        return p + 2;
      }
      case CMD.Disconnect:
        this.connected = false;
        out.push(id, 0);
        return p + 1;
      case CMD.TransferConfigure:
        need(packet, p + 6, 'DAP_TransferConfigure');
        this.idleCycles = packet[p + 1];
        this.waitRetry = packet[p + 2] | (packet[p + 3] << 8);
        this.matchRetry = packet[p + 4] | (packet[p + 5] << 8);
        out.push(id, 0);
        return p + 6;
      case CMD.Transfer:
        return this.transfer(packet, p, exec);
      case CMD.TransferBlock:
        return this.transferBlock(packet, p, exec);
      case CMD.TransferAbort:
        return p + 1; // no response: aborts nothing here since commands run to completion
      case CMD.WriteAbort: {
        need(packet, p + 6, 'DAP_WriteABORT');
        const r = await this.wireTransfer(false, false, 0, u32(packet, p + 2));
        this.account(exec, 1);
        out.push(id, r.ack === ACK_OK ? 0 : 0xff);
        return p + 6;
      }
      case CMD.Delay:
        need(packet, p + 3, 'DAP_Delay');
        exec.clocks += ((packet[p + 1] | (packet[p + 2] << 8)) * 1e-6) * this.wire.swdClockHz;
        out.push(id, 0);
        return p + 3;
      case CMD.ResetTarget:
        // No device-specific reset sequence is configured: "Execute" = 0, as DAPLink answers then.
        out.push(id, 0, 0);
        return p + 1;
      case CMD.SwjPins:
        need(packet, p + 7, 'DAP_SWJ_Pins');
        out.push(id, 0x80 | 0x02); // nRESET high, SWDIO high
        return p + 7;
      case CMD.SwjClock: {
        need(packet, p + 5, 'DAP_SWJ_Clock');
        const hz = u32(packet, p + 1);
        if (hz === 0) {
          out.push(id, 0xff);
        } else {
          this.wire.swdClockHz = Math.min(hz, 50_000_000);
          out.push(id, 0);
        }
        return p + 5;
      }
      case CMD.SwjSequence: {
        need(packet, p + 2, 'DAP_SWJ_Sequence');
        const bitCount = packet[p + 1] === 0 ? 256 : packet[p + 1];
        const bytes = Math.ceil(bitCount / 8);
        need(packet, p + 2 + bytes, 'DAP_SWJ_Sequence data');
        const bits: boolean[] = [];
        for (let i = 0; i < bitCount; i++) bits.push(((packet[p + 2 + (i >> 3)] >> (i & 7)) & 1) === 1);
        for (const d of this.dps) d.dp.sequence(bits);
        exec.clocks += bitCount;
        out.push(id, 0);
        return p + 2 + bytes;
      }
      case CMD.SwdConfigure:
        need(packet, p + 2, 'DAP_SWD_Configure');
        out.push(id, 0);
        return p + 2;
      case CMD.SwdSequence:
        return this.swdSequence(packet, p, exec);
      default:
        if (SWO_COMMANDS.has(id)) return this.swoCommand(packet, p, exec);
        // Unknown command: the spec's answer is the single byte 0xFF.
        out.push(0xff);
        return packet.length;
    }
  }

  /** DAP_SWO_* (UART mode, transport "read with DAP_SWO_Data"); DAP_ERROR without an SWO capture. */
  private async swoCommand(packet: Uint8Array, p: number, exec: Execution): Promise<number> {
    const id = packet[p];
    const out = exec.out;
    const swo = this.swo;
    const ERR = 0xff;
    if (swo) await swo.pump(this.now(), (a) => this.debug.read32(a));
    switch (id) {
      case CMD.SwoTransport:
        need(packet, p + 2, 'DAP_SWO_Transport');
        if (!swo || packet[p + 1] > 1) out.push(id, ERR); // 2 (separate endpoint) is not offered
        else {
          swo.transport = packet[p + 1];
          out.push(id, 0);
        }
        return p + 2;
      case CMD.SwoMode:
        need(packet, p + 2, 'DAP_SWO_Mode');
        if (!swo || packet[p + 1] > 1 || swo.active) out.push(id, ERR); // UART only; not while capturing
        else {
          swo.mode = packet[p + 1];
          out.push(id, 0);
        }
        return p + 2;
      case CMD.SwoBaudrate: {
        need(packet, p + 5, 'DAP_SWO_Baudrate');
        const requested = u32(packet, p + 1);
        const actual = swo && !swo.active ? swo.actualBaud(requested) : 0;
        if (swo && actual) swo.baud = actual;
        out.push(id, ...le32(actual));
        return p + 5;
      }
      case CMD.SwoControl:
        need(packet, p + 2, 'DAP_SWO_Control');
        if (!swo || (packet[p + 1] === 1 && (swo.mode !== 1 || swo.transport !== 1 || swo.baud === 0))) out.push(id, ERR);
        else {
          if (packet[p + 1] === 1) swo.start(this.now());
          else swo.stop();
          out.push(id, 0);
        }
        return p + 2;
      case CMD.SwoStatus:
        if (!swo) out.push(id, ERR, 0, 0, 0, 0);
        else out.push(id, swo.traceStatus(), ...le32(swo.buffer.length));
        return p + 1;
      case CMD.SwoExtendedStatus: {
        need(packet, p + 2, 'DAP_SWO_ExtendedStatus');
        const control = packet[p + 1];
        out.push(id, swo ? swo.traceStatus() : ERR);
        if (control & 1) out.push(...le32(swo ? swo.buffer.length : 0));
        if (control & 2) out.push(...le32(0), ...le32(0)); // index and timestamp: not tracked
        return p + 2;
      }
      case CMD.SwoData: {
        need(packet, p + 3, 'DAP_SWO_Data');
        const max = packet[p + 1] | (packet[p + 2] << 8);
        if (!swo || swo.transport !== 1) {
          out.push(id, ERR, 0, 0);
          return p + 3;
        }
        // The response must fit the packet: 4 header bytes, then data.
        const n = Math.min(max, swo.buffer.length, this.packetSize - 4 - out.length);
        const data = swo.buffer.splice(0, Math.max(0, n));
        out.push(id, swo.traceStatus(), data.length & 0xff, data.length >> 8, ...data);
        return p + 3;
      }
    }
    out.push(0xff);
    return packet.length;
  }

  private info(infoId: number): number[] {
    const str = (s: string) => {
      const b = Array.from(s, (c) => c.charCodeAt(0) & 0x7f);
      return [b.length + 1, ...b, 0];
    };
    const v2 = this.options.flavour === 'v2-bulk';
    switch (infoId) {
      case 0x01:
        return str('Dapdeck');
      case 0x02:
        return str(v2 ? 'Dapdeck virtual CMSIS-DAP v2' : 'Dapdeck virtual CMSIS-DAP v1');
      case 0x03:
        return str(this.options.serial ?? 'VB0001');
      case 0x04:
        return str(v2 ? '2.1.0' : '1.3.0');
      case 0x05:
        return this.options.target.targetDevice ? str(this.options.target.targetDevice.vendor) : [0];
      case 0x06:
        return this.options.target.targetDevice ? str(this.options.target.targetDevice.name) : [0];
      case 0x07:
      case 0x08:
        return [0];
      case 0x09:
        return str('0.1.0');
      case 0xf0:
        // SWD, plus SWO UART when this bench has an SWO source (no JTAG, no atomic queueing).
        return [1, this.swo ? 0x01 | 0x04 : 0x01];
      case 0xfd: {
        const size = this.swo?.bufferSize ?? 0;
        return [4, ...le32(size)];
      }
      case 0xfe:
        return [1, this.packetCount];
      case 0xff:
        return [2, this.packetSize & 0xff, this.packetSize >> 8];
      default:
        return [0];
    }
  }

  private account(exec: Execution, transfers: number, waits = 0): void {
    exec.transfers += transfers;
    exec.clocks += transfers * (SWD_TRANSFER_CLOCKS + this.idleCycles) + waits * SWD_WAIT_CLOCKS;
    this.wire.stats.swdTransfers += transfers;
  }

  /**
   * DAP_SWD_Sequence (CMSIS-DAP 1.2/2.0): clock out or sample SWDIO bit by bit. Hosts use it for
   * what DAP_Transfer cannot do, chiefly the unacknowledged TARGETSEL write of multi-drop SWD
   * (8 header bits out, 5 cycles in for turnaround/ACK/turnaround, 33 bits of data and parity out).
   * Output-only sequences are line-level bits (line reset, dormant wake-up). A bit-banged transfer
   * other than TARGETSEL is not modelled: the model refuses it rather than guess.
   */
  private async swdSequence(packet: Uint8Array, p: number, exec: Execution): Promise<number> {
    need(packet, p + 2, 'DAP_SWD_Sequence');
    const count = packet[p + 1];
    let q = p + 2;
    const segments: { input: boolean; bits: boolean[] }[] = [];
    for (let i = 0; i < count; i++) {
      need(packet, q + 1, `DAP_SWD_Sequence sequence ${i + 1} of ${count}`);
      const info = packet[q++];
      const n = info & 0x3f || 64;
      const input = (info & 0x80) !== 0;
      const bits: boolean[] = [];
      if (!input) {
        need(packet, q + Math.ceil(n / 8), `DAP_SWD_Sequence sequence ${i + 1} data`);
        for (let b = 0; b < n; b++) bits.push(((packet[q + (b >> 3)] >> (b & 7)) & 1) === 1);
        q += Math.ceil(n / 8);
      } else {
        for (let b = 0; b < n; b++) bits.push(true); // nobody drives: the pull-up reads 1
      }
      segments.push({ input, bits });
      exec.clocks += n;
    }
    if (segments.some((s) => s.input)) {
      const shape = segments.map((s) => `${s.input ? 'in' : 'out'}${s.bits.length}`).join(',');
      const header = segments[0]?.bits.reduce((v, bit, i) => v | ((bit ? 1 : 0) << i), 0);
      // 0x99: start, DP, write, A[3:2] = 0b11, parity 0, stop, park.
      if (shape !== 'out8,in5,out33' || header !== 0x99) {
        throw new ProbeProtocolError(`DAP_SWD_Sequence ${shape} (header 0x${(header ?? 0).toString(16)}): only the TARGETSEL write (out8 0x99, in5, out33) and output-only sequences are modelled`);
      }
      const data = segments[2].bits;
      let value = 0;
      for (let b = 0; b < 32; b++) if (data[b]) value |= 1 << b;
      for (const d of this.dps) d.dp.targetSelect(value >>> 0, data[32]);
    } else {
      const bits = segments.flatMap((s) => s.bits);
      for (const d of this.dps) d.dp.sequence(bits);
    }
    exec.out.push(CMD.SwdSequence, 0);
    for (const s of segments) {
      if (!s.input) continue;
      for (let b = 0; b < s.bits.length; b += 8) exec.out.push(0xff >> Math.max(0, 8 - (s.bits.length - b)));
    }
    return q;
  }

  /**
   * One transfer on the wire as every DP sees it. Only DPs that drive the line answer; with none the
   * probe reads the pull-up (no ACK). Two DPs driving the same bits are indistinguishable from one;
   * driving different bits garbles the ACK, modeled as no valid ACK.
   */
  private async wireTransfer(apnDp: boolean, read: boolean, a32: number, value: number): Promise<SwdResult> {
    if (this.dps.length === 1) return this.dp.transfer(apnDp, read, a32, value);
    let answer: SwdResult | null = null;
    let garbled = false;
    for (const d of this.dps) {
      const r = await d.dp.transfer(apnDp, read, a32, value);
      if (r.ack === ACK_NONE) continue;
      if (answer && (answer.ack !== r.ack || answer.value !== r.value)) garbled = true;
      answer ??= r;
    }
    return !answer || garbled ? { ack: ACK_NONE, value: 0 } : answer;
  }

  /** The one DP in the active state (multi-drop), whose AP a block transfer reaches. */
  private activeDp(): WireDp | null {
    if (this.dps.length === 1) return this.dps[0];
    const active = this.dps.filter((d) => d.dp.linkState === 'active');
    return active.length === 1 ? active[0] : null;
  }

  /** One SWD transfer with the probe's WAIT retry loop. */
  private async swd(exec: Execution, apnDp: boolean, read: boolean, a32: number, value: number) {
    let waits = 0;
    for (;;) {
      const r = await this.wireTransfer(apnDp, read, a32, value);
      if (r.ack === ACK_WAIT && waits < this.waitRetry) {
        waits++;
        continue;
      }
      this.account(exec, 1, waits);
      return r;
    }
  }

  private async transfer(packet: Uint8Array, p: number, exec: Execution): Promise<number> {
    need(packet, p + 3, 'DAP_Transfer');
    const count = packet[p + 2];
    let q = p + 3;
    const data: number[] = [];
    let done = 0;
    let status = ACK_OK;
    let postedApRead = false;
    let i = 0;
    for (; i < count; i++) {
      need(packet, q + 1, `DAP_Transfer request ${i + 1} of ${count}`);
      const req = packet[q++];
      const apnDp = (req & 1) !== 0;
      const read = (req & 2) !== 0;
      const a32 = req & 0x0c;
      if (req & 0x80) throw new ProbeProtocolError('DAP_Transfer timestamps requested but the probe reports no Test Domain Timer');
      if (!read && req & 0x20) {
        need(packet, q + 4, 'DAP_Transfer match mask');
        this.matchMask = u32(packet, q);
        q += 4;
        done++;
        continue;
      }
      if (read && req & 0x10) {
        need(packet, q + 4, 'DAP_Transfer match value');
        const expected = u32(packet, q);
        q += 4;
        let retries = 0;
        let r = await this.swd(exec, apnDp, true, a32, 0);
        // Posted AP reads: each value arrives with the next transfer; the final one via RDBUFF.
        if (apnDp) this.account(exec, 1);
        while (r.ack === ACK_OK && ((r.value & this.matchMask) >>> 0) !== expected >>> 0 && retries < this.matchRetry) {
          retries++;
          r = await this.swd(exec, apnDp, true, a32, 0);
          if (apnDp) this.account(exec, 1);
        }
        if (r.ack !== ACK_OK) {
          status = r.ack;
          break;
        }
        if (((r.value & this.matchMask) >>> 0) !== expected >>> 0) {
          status = ACK_OK | 0x10; // value mismatch
          break;
        }
        done++;
        continue;
      }
      let value = 0;
      if (!read) {
        need(packet, q + 4, `DAP_Transfer write data ${i + 1} of ${count}`);
        value = u32(packet, q);
        q += 4;
      }
      const r = await this.swd(exec, apnDp, read, a32, value);
      if (r.ack !== ACK_OK) {
        status = r.ack;
        break;
      }
      if (read) data.push(r.value);
      postedApRead = read && apnDp;
      if (!read || !apnDp) postedApRead = false;
      done++;
    }
    if (postedApRead) this.account(exec, 1); // RDBUFF read that collects the last posted AP read
    if (status !== ACK_OK) {
      // The rest of the request is skipped; its length still has to be consumed.
      q = skipTransferRequests(packet, q, count - i - 1);
    }
    exec.out.push(CMD.Transfer, done, status);
    for (const v of data) exec.out.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
    return q;
  }

  private async transferBlock(packet: Uint8Array, p: number, exec: Execution): Promise<number> {
    need(packet, p + 5, 'DAP_TransferBlock');
    const count = packet[p + 2] | (packet[p + 3] << 8);
    const req = packet[p + 4];
    const apnDp = (req & 1) !== 0;
    const read = (req & 2) !== 0;
    const a32 = req & 0x0c;
    if (req & 0xf0) throw new ProbeProtocolError(`DAP_TransferBlock request byte 0x${req.toString(16)} sets match/timestamp bits, which block transfers do not allow`);
    let q = p + 5;
    if (!read) need(packet, q + 4 * count, `DAP_TransferBlock with ${count} words of write data`);
    const data: number[] = [];
    let done = 0;
    let status = ACK_OK;
    const wired = this.activeDp();
    const burst = read && apnDp && a32 === 0x0c && wired?.ap && wired.debug && wired.dp.apBank === 0 ? wired.ap.burstRange(count) : null;
    if (burst) await wired!.debug!.beginBurst(burst.address, burst.length);
    for (let i = 0; i < count; i++) {
      const value = read ? 0 : u32(packet, q + 4 * i);
      const r = await this.swd(exec, apnDp, read, a32, value);
      if (r.ack !== ACK_OK) {
        status = r.ack;
        break;
      }
      if (read) data.push(r.value);
      done++;
    }
    if (burst) wired!.debug!.endBurst();
    if (read && apnDp && done > 0) this.account(exec, 1); // final RDBUFF
    if (!read) q += 4 * count;
    exec.out.push(CMD.TransferBlock, done & 0xff, done >> 8, status);
    for (const v of data) exec.out.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
    return q;
  }

  // ---- used by ProbeFaults ----

  /** @internal */ _unplug(): void {
    this.unplugged = true;
    this.generation++;
    const err = disconnected();
    for (const w of this.readWaiters.splice(0)) w.reject(err);
    for (const w of this.writeWaiters.splice(0)) w();
    this.responses = [];
    this.outstanding = 0;
    this.opened = false;
  }
  /** @internal */ _replug(): void {
    this.unplugged = false;
  }
  /** @internal */ _dropNextResponse(): void {
    this.dropNext = true;
  }
  get isConnected(): boolean {
    return this.connected;
  }
}

/** Fault injection for tests: each method arms one fault. */
export class ProbeFaults {
  constructor(private readonly probe: SimulatedProbe) {}
  /** The next `n` AP accesses see a WAIT ACK (the probe retries up to its WAIT retry count). */
  waitOnNextApAccesses(n: number): void {
    this.probe.dp.injectWaits = n;
  }
  /** The next AP access sees a FAULT ACK and sets STICKYERR. */
  faultOnNextApAccess(): void {
    this.probe.dp.injectFaults = 1;
  }
  /** The response to the next command is lost on the USB: the host's read never completes. */
  dropNextResponse(): void {
    this.probe._dropNextResponse();
  }
  /** Pull the USB cable: every pending and later transfer fails until replug(). */
  unplug(): void {
    this.probe._unplug();
  }
  /** Pull the cable after `packets` more command packets have gone out (mid-transfer). */
  unplugAfterPackets(packets: number): void {
    this.probe.unplugAfter = packets;
  }
  replug(): void {
    this.probe._replug();
  }
  /** Reset the target from outside (nRESET / brown-out). */
  async resetTarget(): Promise<void> {
    await this.probe.options.target.reset({ halt: false });
    this.probe.debug.noteExternalReset();
  }
}

/** The debug registers and AHB-AP in front of one core. */
function coreModels(target: SimTarget): { debug: CortexMDebugModel; ap: MemApModel } {
  const part = (target.cpuid >>> 4) & 0xfff;
  const arch = part >= 0xc23 && part !== 0xc60 ? 'v7m' : 'v6m';
  const debug = new CortexMDebugModel(target, { arch });
  // AHB-AP IDR values as Cortex-M0 (0x04770021), Cortex-M0+ (0x04770031) and Cortex-M3/M4
  // (0x24770011) report them; only the latter implements packed transfers.
  const idr = part === 0xc60 ? 0x04770031 : arch === 'v6m' ? 0x04770021 : 0x24770011;
  return { debug, ap: new MemApModel(debug, idr, 0xe00ff003, arch === 'v7m') };
}

function disconnected(): Error {
  const err = new Error('NotFoundError: the device was disconnected');
  err.name = 'NotFoundError';
  return err;
}

function toBytes(data: BufferSource): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data as ArrayBuffer);
}

function padTo(bytes: Uint8Array, size: number): Uint8Array {
  if (bytes.length >= size) return bytes;
  const out = new Uint8Array(size);
  out.set(bytes);
  return out;
}

function need(packet: Uint8Array, end: number, what: string): Uint8Array {
  if (packet.length < end) throw new ProbeProtocolError(`${what} truncated: needs ${end} bytes, packet has ${packet.length}`);
  return packet;
}

function u32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
}

/** Skip the remaining transfer requests of a DAP_Transfer after an error (their bytes are still in the packet). */
function skipTransferRequests(packet: Uint8Array, q: number, remaining: number): number {
  for (let i = 0; i < remaining && q < packet.length; i++) {
    const req = packet[q++];
    const read = (req & 2) !== 0;
    if (!read || req & 0x10) q += 4;
  }
  return Math.min(q, packet.length);
}
