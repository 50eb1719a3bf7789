/** A minimal QEMU Machine Protocol client: capabilities, HMP passthrough, reset, quit. */
import { Socket, connect } from 'node:net';

export class QmpClosedError extends Error {}

export class Qmp {
  private lines: string[] = [];
  private partial = '';
  private waiter: (() => void) | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  /** Sees QEMU's asynchronous events as they arrive (RESET, STOP, …): name and data. */
  onEvent?: (event: string, data: unknown) => void;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.partial += d;
      let nl: number;
      while ((nl = this.partial.indexOf('\n')) >= 0) {
        const line = this.partial.slice(0, nl);
        this.partial = this.partial.slice(nl + 1);
        // Events go to their listener now, not into the replies a command waits for.
        const event = /^\{"timestamp"[^\n]*"event":/.test(line) ? (JSON.parse(line) as { event: string; data?: unknown }) : null;
        if (event) this.onEvent?.(event.event, event.data);
        else this.lines.push(line);
      }
      this.waiter?.();
    });
    socket.on('error', () => undefined);
    // QEMU gone: nothing will answer, so say so now rather than after every request's timeout.
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  private closed = false;

  static async connect(port: number): Promise<Qmp> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    const qmp = new Qmp(socket);
    await qmp.nextMessage(3000); // greeting
    await qmp.execute('qmp_capabilities');
    return qmp;
  }

  execute(command: string, args?: object, timeoutMs = 3000): Promise<unknown> {
    const run = this.chain.then(async () => {
      this.socket.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
      for (;;) {
        const msg = (await this.nextMessage(timeoutMs)) as { return?: unknown; error?: { desc: string }; event?: string };
        if (msg.event) continue;
        if (msg.error) throw new Error(`QMP ${command}: ${msg.error.desc}`);
        return msg.return;
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  async hmp(commandLine: string): Promise<string> {
    return (await this.execute('human-monitor-command', { 'command-line': commandLine })) as string;
  }

  /** Read physical memory while the guest runs (HMP `xp`): QEMU's gdbstub cannot. */
  async readPhysical(address: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = Math.min(length - done, 4096);
      const text = await this.hmp(`xp /${n}bx 0x${(address + done).toString(16)}`);
      let i = 0;
      for (const line of text.split('\n')) {
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        for (const tok of line.slice(colon + 1).trim().split(/\s+/)) {
          if (tok.startsWith('0x') && i < n) out[done + i++] = parseInt(tok, 16);
        }
      }
      if (i !== n) throw new Error(`QMP xp returned ${i} of ${n} bytes at 0x${(address + done).toString(16)}: ${text.slice(0, 80)}`);
      done += n;
    }
    return out;
  }

  close(): void {
    this.socket.destroy();
  }

  private async nextMessage(timeoutMs: number): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.closed) throw new QmpClosedError('QMP: QEMU closed its monitor connection');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('QMP: no reply from QEMU');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = null;
    }
    return JSON.parse(this.lines.shift()!);
  }
}
