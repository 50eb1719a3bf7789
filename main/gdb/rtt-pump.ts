/**
 * RTT while GDB debugs: the GDB server calls `poll` between its halt checks while the core runs
 * (so RTT reads never interleave with GDB's own requests) and `drain` once after each stop, which
 * prints what the firmware wrote up to the stop. Nothing is polled while the core is halted.
 * defmt is decoded and printed as `attach` prints it; one channel's raw bytes can also be served
 * over TCP (`--rtt-port`), e.g. for `dapdeck decode tcp://HOST:PORT`.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { ChannelRouter, type ChannelSinks } from '../../core/capture/router';
import type { DefmtTable } from '../../core/defmt';
import { hex32 } from '../../core/dap/protocol';
import { RttSession, type MemoryRange, type RttBatchMemory } from '../../core/rtt/session';
import { Printer, type OutputOptions } from '../cli/stream';

export interface RttPumpOptions extends OutputOptions {
  memory: RttBatchMemory;
  address?: number;
  scan: MemoryRange[];
  table?: DefmtTable;
  defmtChannel: number;
  /** Up channels to print. */
  channels: number[];
  out?: (text: string) => void;
  warn?: (text: string) => void;
}

/** How often to look for the control block while it is not there yet (each look reads memory). */
const ATTACH_RETRY_MS = 200;

export class RttPump {
  private session: RttSession | null = null;
  private lastAttach = 0;
  private readonly printer: Printer;
  private readonly router: ChannelRouter;
  private readonly sinks: ChannelSinks;
  private readonly rawClients = new Set<Socket>();
  private rawServer: Server | null = null;
  private rawChannel = -1;
  /** Bytes received per channel (tests and the `monitor rtt` status). */
  readonly received = new Map<number, number>();

  constructor(private readonly options: RttPumpOptions) {
    this.printer = new Printer(options, options.out, options.warn);
    this.router = new ChannelRouter({ table: options.table ?? null, defmtChannel: options.table ? options.defmtChannel : undefined, channels: options.channels });
    this.sinks = {
      defmt: (channel, events) => this.printer.defmt(channel, events),
      text: (channel, lines) => this.printer.lines(channel, lines, options.channels.length > 1 ? `[${channel}] ` : ''),
    };
  }

  /** Serve up channel `channel`'s raw bytes to every TCP client of host:port. */
  async serveChannel(channel: number, host: string, port: number): Promise<number> {
    this.rawChannel = channel;
    this.rawServer = createServer((socket) => {
      this.rawClients.add(socket);
      socket.on('error', () => undefined);
      socket.once('close', () => this.rawClients.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      this.rawServer!.once('error', reject);
      this.rawServer!.listen(port, host, () => resolve());
    });
    return (this.rawServer.address() as { port: number }).port;
  }

  /**
   * One poll (attaching first when needed). True when data arrived. A failed read (the block's
   * memory went away, a probe error) must not stop the debugging: it is said once and RTT is looked
   * for again later.
   */
  async poll(): Promise<boolean> {
    try {
      return await this.pollOnce();
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.lastError) this.printer.note(`RTT read failed (${message}); looking for the control block again`);
      this.lastError = message;
      this.session = null;
      this.lastAttach = Date.now();
      return false;
    }
  }

  private lastError = '';

  private async pollOnce(): Promise<boolean> {
    if (!this.session) {
      if (Date.now() - this.lastAttach < ATTACH_RETRY_MS) return false;
      this.lastAttach = Date.now();
      try {
        this.session = await RttSession.attach(this.options.memory, { address: this.options.address, scan: this.options.scan, timeoutMs: 0 });
      } catch {
        return false; // not set up yet (firmware still starting, or none): look again later
      }
      this.printer.note(`RTT control block at ${hex32(this.session.address)}`);
    }
    const result = await this.session.poll();
    if (result.kind === 'reset') {
      this.router.restart(this.sinks);
      this.session = null;
      this.lastAttach = 0;
      return false;
    }
    for (const { channel, data } of result.chunks) {
      this.received.set(channel, (this.received.get(channel) ?? 0) + data.length);
      if (channel === this.rawChannel) for (const c of this.rawClients) c.write(data);
    }
    this.router.route(result.chunks, this.sinks);
    return result.chunks.length > 0;
  }

  /** After a stop: what the firmware wrote before it, then quiet until the core runs again. */
  async drain(): Promise<void> {
    // Not attached yet (the firmware set its block up after the last look): where the ELF names the
    // block a look costs one read, so look now; what it wrote before the stop prints before the stop.
    if (!this.session) {
      if (this.options.address === undefined) return; // a scan of RAM at every stop would slow stepping
      this.lastAttach = 0;
    }
    while (await this.poll());
  }

  status(): string {
    if (!this.session) return 'RTT: no control block found yet (it is looked for while the core runs)';
    const channels = this.session.block.up.map((c) => `up ${c.index} "${c.name}" ${this.received.get(c.index) ?? 0} bytes`).join(', ');
    return `RTT control block at ${hex32(this.session.address)}: ${channels}; ${this.printer.summary()}${this.rawServer ? `; channel ${this.rawChannel} served on TCP port ${(this.rawServer.address() as { port: number }).port}` : ''}`;
  }

  async close(): Promise<void> {
    for (const c of this.rawClients) c.destroy();
    if (this.rawServer) await new Promise<void>((r) => this.rawServer!.close(() => r()));
  }
}
