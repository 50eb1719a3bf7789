/**
 * A CMSIS-DAP transport over a WebSocket to `dapdeck serve`: each command packet is one binary
 * message and each response one binary message, in order — the same contract as USB, so the whole
 * core (debug layer, flashing, RTT) runs unchanged against emulated boards and remote probes.
 */
import type { DapTransport } from '../../../core/dap/transport';

export interface RemoteProbeInfo {
  selector: string;
  description: string;
  packetSize: number;
}

export class WebSocketTransport implements DapTransport {
  packetSize = 64;
  info: RemoteProbeInfo | null = null;
  private ws: WebSocket | null = null;
  private responses: DataView[] = [];
  private waiters: { resolve: (v: DataView) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | null = null;

  constructor(readonly url: string) {}

  open(): Promise<void> {
    // Opening again (a session opening the transport it was given) replaces the socket: the old one
    // is closed, or the server would keep its board alive for a socket nobody reads.
    if (this.ws) void this.close();
    this.failure = null;
    this.responses = [];
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      let ready = false;
      ws.onmessage = (event) => {
        if (this.ws !== ws) return; // a replaced socket
        if (typeof event.data === 'string') {
          const message = JSON.parse(event.data) as { type: string; message?: string } & RemoteProbeInfo;
          if (message.type === 'probe') {
            this.info = message;
            this.packetSize = message.packetSize;
            ready = true;
            resolve();
          } else if (message.type === 'error') {
            const err = new Error(message.message ?? 'probe server error');
            if (!ready) reject(err);
            else this.fail(err);
          }
          return;
        }
        const view = new DataView(event.data as ArrayBuffer);
        const waiter = this.waiters.shift();
        if (waiter) waiter.resolve(view);
        else this.responses.push(view);
      };
      ws.onerror = () => {
        if (this.ws !== ws) return;
        const err = new Error(`cannot reach the probe server at ${this.url.replace(/token=[^&]+/, 'token=…')}`);
        if (!ready) reject(err);
        this.fail(err);
      };
      ws.onclose = (event) => {
        if (this.ws !== ws) return;
        const err = new Error(`the probe server closed the connection${event.reason ? `: ${event.reason}` : ''}`);
        if (!ready) reject(err);
        this.fail(err);
      };
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  async close(): Promise<void> {
    const ws = this.ws;
    this.ws = null;
    ws?.close();
    this.fail(new Error('transport closed')); // nothing still waiting on this socket hangs
  }

  async write(data: BufferSource): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.ws) throw new Error('not connected');
    this.ws.send(data);
  }

  read(): Promise<DataView> {
    const ready = this.responses.shift();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
}
