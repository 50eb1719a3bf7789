/**
 * A CMSIS-DAP transport over a WebSocket to `dapdeck serve`: each command packet is one binary
 * message and each response one binary message, in order — the same contract as USB, so the whole
 * core (debug layer, flashing, RTT) runs unchanged against emulated boards and remote probes.
 *
 * A lost server is noticed at once: the socket closing fails every waiting read and calls
 * `onFailure`; a server that stops answering (network gone, process stopped) is noticed by the
 * heartbeat — a text ping every HEARTBEAT_MS that the server answers with a pong.
 */
import type { DapTransport } from '../../../core/dap/transport';

export interface RemoteProbeInfo {
  selector: string;
  description: string;
  packetSize: number;
  /** Asked for with `reattach=1`: the key that takes this board over after the socket drops (`resume=KEY`). */
  reattach?: string;
  /** How long the server holds the board for that. */
  graceSeconds?: number;
  /** Answer to `resume=KEY`: true if this is the board held under KEY, false if it is a fresh one. */
  resumed?: boolean;
}

export const HEARTBEAT_MS = 1000;
/** No message at all from the server for this long (pongs included) means it is gone. */
export const SILENCE_LIMIT_MS = 3000;
/** How long close() waits for the server's closing handshake. */
const CLOSE_WAIT_MS = 1000;

export class WebSocketTransport implements DapTransport {
  packetSize = 64;
  info: RemoteProbeInfo | null = null;
  /** Called once when the connection fails after it was open (closed, errored, or silent). */
  onFailure: ((err: Error) => void) | null = null;
  private ws: WebSocket | null = null;
  private responses: DataView[] = [];
  private waiters: { resolve: (v: DataView) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | null = null;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private lastHeard = 0;
  /** The server has answered a ping: from then on, its silence means it is gone. */
  private answersPings = false;

  constructor(readonly url: string) {}

  open(): Promise<void> {
    // Opening again (a session opening the transport it was given) replaces the socket: the old one
    // is closed, or the server would keep its board alive for a socket nobody reads; nothing from
    // it (a late response, its failure) carries over.
    this.stopHeartbeat();
    this.ws?.close();
    this.responses = [];
    this.waiters = [];
    this.failure = null;
    this.answersPings = false;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      let ready = false;
      ws.onmessage = (event) => {
        if (ws !== this.ws) return;
        this.lastHeard = performance.now();
        if (typeof event.data === 'string') {
          const message = JSON.parse(event.data) as { type: string; message?: string } & RemoteProbeInfo;
          if (message.type === 'probe') {
            this.info = message;
            this.packetSize = message.packetSize;
            ready = true;
            this.startHeartbeat(ws);
            resolve();
          } else if (message.type === 'pong') {
            this.answersPings = true;
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
        if (ws !== this.ws) return;
        const err = new Error(ready ? 'the connection to the probe server failed' : `cannot reach the probe server at ${this.url.replace(/token=[^&]+/, 'token=…').replace(/^ws/, 'http')}`);
        if (!ready) reject(err);
        this.fail(err);
      };
      ws.onclose = (event) => {
        if (ws !== this.ws) return;
        const err = new Error(`the probe server closed the connection${event.reason ? `: ${event.reason}` : ''}`);
        if (!ready) reject(err);
        this.fail(err);
      };
    });
  }

  private startHeartbeat(ws: WebSocket): void {
    this.lastHeard = performance.now();
    this.heartbeat = setInterval(() => {
      if (this.answersPings && performance.now() - this.lastHeard > SILENCE_LIMIT_MS) {
        this.fail(new Error(`the probe server stopped answering (nothing for ${(SILENCE_LIMIT_MS / 1000).toFixed(1)} s)`));
        ws.close();
        return;
      }
      if (ws.readyState === WebSocket.OPEN) ws.send('{"type":"ping"}');
    }, HEARTBEAT_MS);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.stopHeartbeat();
    for (const w of this.waiters.splice(0)) w.reject(err);
    this.onFailure?.(err);
  }

  /**
   * Close, and wait (at most CLOSE_WAIT_MS) until the server has seen it: a connection opened next
   * (Reconnect with the server's reattach key) then finds the board already held for it.
   */
  async close(): Promise<void> {
    this.stopHeartbeat();
    const ws = this.ws;
    this.ws = null;
    this.failure ??= new Error('closed');
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((done) => {
      const timer = setTimeout(done, CLOSE_WAIT_MS);
      ws.addEventListener('close', () => {
        clearTimeout(timer);
        done();
      });
      ws.close();
    });
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
