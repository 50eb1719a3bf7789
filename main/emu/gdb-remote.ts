/**
 * A GDB Remote Serial Protocol client (GDB manual, appendix E "Remote Protocol") for QEMU's stub:
 * framing with checksums, acks until QStartNoAckMode, run-length decoding, one request at a time,
 * and stop replies that arrive on their own while the target runs.
 */
import { Socket, connect } from 'node:net';
import { framePacket } from '../../core/gdb/packets';

export class GdbRemoteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GdbRemoteError';
  }
}

export interface StopReply {
  signal: number;
  raw: string;
}

export class GdbRemote {
  private buffer = '';
  private ackMode = true;
  private waiting: { resolve: (p: string) => void; reject: (e: Error) => void } | null = null;
  private stopWaiters: { resolve: (s: StopReply) => void; reject: (e: Error) => void }[] = [];
  /** Called for every stop reply (the target's own breakpoints included). */
  onStop: ((s: StopReply) => void) | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private expectingStop = false;
  private closed: Error | null = null;
  packetSize = 4000;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => this.onData(d));
    socket.on('close', () => this.fail(new GdbRemoteError('GDB stub connection closed')));
    socket.on('error', (e) => this.fail(new GdbRemoteError(`GDB stub connection error: ${e.message}`)));
  }

  static connect(port: number, host = '127.0.0.1'): Promise<GdbRemote> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host });
      socket.once('connect', () => resolve(new GdbRemote(socket)));
      socket.once('error', reject);
    });
  }

  /** Negotiate features; switch off acks when the stub allows it. */
  async handshake(): Promise<string> {
    const features = await this.request('qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+;xmlRegisters=arm');
    const size = /PacketSize=([0-9a-f]+)/i.exec(features);
    if (size) this.packetSize = parseInt(size[1], 16);
    if (/QStartNoAckMode\+/.test(features)) {
      if ((await this.request('QStartNoAckMode')) === 'OK') this.ackMode = false;
    }
    return features;
  }

  /** Send a packet and wait for its reply. Requests are serialised. */
  request(payload: string, timeoutMs = 3000): Promise<string> {
    const run = this.chain.then(() => this.exchange(payload, timeoutMs));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Send a packet that has no immediate reply (c, s); the stop reply comes through waitForStop. */
  resume(payload: string): Promise<void> {
    const run = this.chain.then(() => {
      this.checkOpen();
      this.expectingStop = true;
      this.writePacket(payload);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** The next stop reply (T/S packet), e.g. after resume() or interrupt(). */
  waitForStop(timeoutMs: number): Promise<StopReply> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(this.closed);
        return;
      }
      const waiter = {
        resolve: (s: StopReply) => {
          clearTimeout(timer);
          resolve(s);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.stopWaiters = this.stopWaiters.filter((w) => w !== waiter);
        reject(new GdbRemoteError(`target did not stop within ${timeoutMs} ms`));
      }, timeoutMs);
      this.stopWaiters.push(waiter);
    });
  }

  /** Ctrl-C: the out-of-band interrupt byte. */
  interrupt(): void {
    this.checkOpen();
    this.expectingStop = true;
    this.socket.write('\x03', 'latin1');
  }

  close(): void {
    this.socket.destroy();
  }

  private async exchange(payload: string, timeoutMs: number): Promise<string> {
    this.checkOpen();
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new GdbRemoteError(`no reply from the GDB stub to "${payload.slice(0, 24)}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = {
        resolve: (p) => {
          clearTimeout(timer);
          resolve(p);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.writePacket(payload);
    });
  }

  private writePacket(payload: string): void {
    this.socket.write(framePacket(payload));
  }

  private onData(data: string): void {
    this.buffer += data;
    for (;;) {
      // Acks and stray bytes before a packet are skipped.
      const start = this.buffer.indexOf('$');
      const notify = this.buffer.indexOf('%');
      const first = start < 0 ? notify : notify < 0 ? start : Math.min(start, notify);
      if (first < 0) {
        this.buffer = '';
        return;
      }
      const hash = this.buffer.indexOf('#', first);
      if (hash < 0 || hash + 3 > this.buffer.length) {
        this.buffer = this.buffer.slice(first);
        return;
      }
      const body = this.buffer.slice(first + 1, hash);
      const isNotification = this.buffer[first] === '%';
      this.buffer = this.buffer.slice(hash + 3);
      if (this.ackMode && !isNotification) this.socket.write('+');
      if (isNotification) continue;
      this.dispatch(decodeRunLength(body));
    }
  }

  private dispatch(packet: string): void {
    const isStop = /^[TSW][0-9a-f]{2}/i.test(packet);
    // A request in flight gets its reply; a stop reply with no request waiting is asynchronous
    // (the target stopped by itself, or after c/s/interrupt, which have no direct reply).
    if (this.waiting && !(isStop && this.stopWaiters.length && this.expectingStop)) {
      const w = this.waiting;
      this.waiting = null;
      w.resolve(packet);
      return;
    }
    if (isStop) {
      this.expectingStop = false;
      const reply = { signal: parseInt(packet.slice(1, 3), 16), raw: packet };
      const waiters = this.stopWaiters;
      this.stopWaiters = [];
      for (const w of waiters) w.resolve(reply);
      this.onStop?.(reply);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw this.closed;
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.closed = err;
    this.waiting?.reject(err);
    this.waiting = null;
    // Nobody waits forever (or for a timer) on a stop that can no longer come.
    const waiters = this.stopWaiters;
    this.stopWaiters = [];
    for (const w of waiters) w.reject(err);
  }
}

/** Run-length encoding in replies: "X*n" repeats X (n - 29) more times. */
export function decodeRunLength(body: string): string {
  if (!body.includes('*')) return body;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '*' && i > 0) {
      out += out[out.length - 1].repeat(body.charCodeAt(i + 1) - 29);
      i++;
    } else out += body[i];
  }
  return out;
}
