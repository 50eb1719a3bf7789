/**
 * A CMSIS-DAP probe as the host sees it: packets out, responses back, in order.
 *
 * Unlike dapjs (one command in flight, 64-byte packets), this keeps up to the probe's reported packet
 * count of commands in flight and uses its reported packet size: on a high-speed probe most of a
 * round trip is USB scheduling latency, and overlapping it with SWD execution is where speed comes
 * from (CMSIS-DAP spec, DAP_Info ID 0xFE "Packet Count": the host may send that many before reading).
 */
import type { DapTransport } from './transport';
import { Capability, Command, CommandName, DAP_OK, InfoId } from './protocol';
import { DebugError, ProbeDisconnectedError, ProbeTimeoutError, describeError } from './errors';

export interface ProbeInfo {
  vendor: string;
  product: string;
  serial: string;
  protocolVersion: string;
  firmwareVersion: string;
  capabilities: number;
  packetSize: number;
  packetCount: number;
  /** DAP_ExecuteCommands works: several commands may share one packet. */
  executeCommands: boolean;
}

export interface DapProbeOptions {
  /** How long to wait for any one response before declaring the link out of step. */
  responseTimeoutMs?: number;
  /** Cap the pipelining depth below what the probe reports (1 = dapjs-like, one at a time). */
  maxPacketCount?: number;
}

interface Pending {
  packet: Uint8Array;
  resolve: (response: Uint8Array) => void;
  reject: (err: Error) => void;
}

export class DapProbe {
  private queued: Pending[] = [];
  private inFlight = 0;
  private writeTail: Promise<void> = Promise.resolve();
  private readTail: Promise<unknown> = Promise.resolve();
  private failure: Error | null = null;
  private opened = false;
  private infoCache: ProbeInfo | null = null;
  private readonly responseTimeoutMs: number;

  constructor(
    readonly transport: DapTransport,
    private readonly options: DapProbeOptions = {},
  ) {
    this.responseTimeoutMs = options.responseTimeoutMs ?? 1000;
  }

  get info(): ProbeInfo {
    if (!this.infoCache) throw new DebugError('probe', 'probe is not open');
    return this.infoCache;
  }
  get packetSize(): number {
    return this.infoCache?.packetSize ?? this.transport.packetSize;
  }
  get packetCount(): number {
    return this.infoCache?.packetCount ?? 1;
  }
  /** Set when the link failed (timeout, unplug); cleared by reopen(). */
  get broken(): Error | null {
    return this.failure;
  }

  async open(): Promise<ProbeInfo> {
    this.failure = null;
    this.queued = [];
    this.inFlight = 0;
    this.writeTail = Promise.resolve();
    this.readTail = Promise.resolve();
    this.infoCache = null;
    try {
      await this.transport.open();
    } catch (err) {
      throw new ProbeDisconnectedError(`cannot open: ${describeError(err)}`, { cause: err });
    }
    this.opened = true;
    // Packet size first, with the transport's size: every probe answers DAP_Info in one small packet.
    const packetSize = await this.infoNumber(InfoId.PacketSize);
    const packetCount = await this.infoNumber(InfoId.PacketCount);
    const info: ProbeInfo = {
      vendor: await this.infoString(InfoId.Vendor),
      product: await this.infoString(InfoId.Product),
      serial: await this.infoString(InfoId.SerialNumber),
      protocolVersion: await this.infoString(InfoId.ProtocolVersion),
      firmwareVersion: await this.infoString(InfoId.FirmwareVersion),
      capabilities: await this.infoNumber(InfoId.Capabilities),
      // A probe reporting a larger packet than the USB endpoint carries would be split by USB;
      // never exceed what the transport moves in one transfer.
      packetSize: Math.min(packetSize || this.transport.packetSize, this.transport.packetSize),
      packetCount: Math.max(1, Math.min(packetCount || 1, this.options.maxPacketCount ?? 255)),
      executeCommands: false,
    };
    if (!(info.capabilities & Capability.Swd)) {
      throw new DebugError('probe', `probe "${info.product}" does not support SWD (capabilities 0x${info.capabilities.toString(16)})`);
    }
    this.infoCache = info;
    info.executeCommands = await this.detectExecuteCommands();
    return info;
  }

  async close(): Promise<void> {
    const err = new DebugError('probe', 'probe closed');
    this.fail(err);
    if (this.opened) {
      this.opened = false;
      await this.transport.close().catch(() => undefined);
    }
  }

  /** After a timeout or an unplug: drop everything in flight, close and open again. */
  async reopen(): Promise<ProbeInfo> {
    await this.close();
    return this.open();
  }

  /**
   * Queue one command packet; resolves with its response. Callers that issue several sends before
   * awaiting get pipelining for free, and responses are matched strictly in order.
   */
  send(packet: Uint8Array): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.failure);
    if (packet.length > this.packetSize) {
      return Promise.reject(
        new DebugError('probe', `${CommandName[packet[0]] ?? 'command'} of ${packet.length} bytes exceeds the probe's ${this.packetSize}-byte packet`),
      );
    }
    return new Promise((resolve, reject) => {
      this.queued.push({ packet, resolve, reject });
      this.pump();
    });
  }

  /** Send one command and check that the answer is for that command. */
  async command(id: number, payload: ArrayLike<number> = []): Promise<Uint8Array> {
    const packet = new Uint8Array(1 + payload.length);
    packet[0] = id;
    packet.set(payload, 1);
    const response = await this.send(packet);
    return checkResponseId(id, response);
  }

  /** Commands whose response is [id, status]: status must be DAP_OK. */
  async commandOk(id: number, payload: ArrayLike<number> = []): Promise<void> {
    const response = await this.command(id, payload);
    if (response[1] !== DAP_OK) {
      throw new DebugError('probe', `probe refused ${CommandName[id] ?? `command 0x${id.toString(16)}`} (status 0x${response[1].toString(16)})`);
    }
  }

  private pump(): void {
    while (!this.failure && this.inFlight < this.packetCount && this.queued.length > 0) {
      const pending = this.queued.shift()!;
      this.inFlight++;
      const written = this.writeTail.then(() => {
        if (this.failure) throw this.failure;
        return this.transport.write(pending.packet as Uint8Array<ArrayBuffer>);
      });
      this.writeTail = written.catch(() => undefined);
      const answered = this.readTail.then(async () => {
        await written;
        if (this.failure) throw this.failure;
        return this.readWithTimeout(pending.packet[0]);
      });
      this.readTail = answered.catch(() => undefined);
      answered.then(
        (response) => {
          this.inFlight--;
          pending.resolve(response);
          this.pump();
        },
        (err: unknown) => {
          this.inFlight--;
          const error = this.classify(err);
          this.fail(error);
          pending.reject(error);
        },
      );
    }
  }

  private async readWithTimeout(commandId: number): Promise<Uint8Array> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new ProbeTimeoutError(
              `no response from the probe to ${CommandName[commandId] ?? `command 0x${commandId.toString(16)}`} within ${this.responseTimeoutMs} ms`,
            ),
          ),
        this.responseTimeoutMs,
      );
    });
    try {
      const view = await Promise.race([this.transport.read(), timeout]);
      return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    } finally {
      clearTimeout(timer);
    }
  }

  private classify(err: unknown): Error {
    if (err instanceof DebugError) return err;
    return new ProbeDisconnectedError(describeError(err), { cause: err });
  }

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    const queued = this.queued;
    this.queued = [];
    for (const p of queued) p.reject(err);
  }

  private async infoRaw(id: number): Promise<Uint8Array> {
    const response = await this.command(Command.Info, [id]);
    const length = response[1] ?? 0;
    return response.subarray(2, 2 + length);
  }

  /**
   * The chip the probe says it is wired to (DAP_Info Target Device Vendor/Name): on-board probes
   * such as DAPLink report it; a stand-alone probe answers nothing (null).
   */
  async targetDevice(): Promise<{ vendor: string; name: string } | null> {
    const name = await this.infoString(InfoId.TargetDeviceName);
    return name ? { vendor: await this.infoString(InfoId.TargetDeviceVendor), name } : null;
  }

  private async infoString(id: number): Promise<string> {
    const bytes = await this.infoRaw(id);
    let end = bytes.indexOf(0);
    if (end < 0) end = bytes.length;
    return String.fromCharCode(...bytes.subarray(0, end));
  }

  private async infoNumber(id: number): Promise<number> {
    const b = await this.infoRaw(id);
    let value = 0;
    for (let i = Math.min(b.length, 4) - 1; i >= 0; i--) value = value * 256 + b[i];
    return value;
  }

  /** DAP_ExecuteCommands wrapping one DAP_Info: a probe without it answers 0xFF. */
  private async detectExecuteCommands(): Promise<boolean> {
    const response = await this.send(new Uint8Array([Command.ExecuteCommands, 1, Command.Info, InfoId.PacketCount]));
    return response[0] === Command.ExecuteCommands && response[1] === 1 && response[2] === Command.Info;
  }
}

export function checkResponseId(id: number, response: Uint8Array): Uint8Array {
  if (response.length === 0 || response[0] !== id) {
    const got = response.length ? `0x${response[0].toString(16)}` : 'an empty packet';
    const hint = response[0] === 0xff ? ' (command not supported by this probe)' : '';
    throw new DebugError('probe', `probe answered ${CommandName[id] ?? `command 0x${id.toString(16)}`} with ${got}${hint}`);
  }
  return response;
}
