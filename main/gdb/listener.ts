/**
 * The GDB server's TCP side: one client at a time (a second one is answered with the reason and
 * closed), loopback unless asked otherwise. The protocol itself is core/gdb.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { framePacket } from '../../core/gdb/packets';
import { GdbServerSession, type GdbServerHooks, type GdbTarget } from '../../core/gdb/server';

export interface GdbListenerOptions {
  target: GdbTarget;
  host: string;
  port: number;
  hooks?: GdbServerHooks;
  /** A client left without detaching: put the target back as a detach would. */
  onLostClient?: () => Promise<void>;
  /** A client's session ended (detached, killed or lost). */
  onClientEnd?: () => void;
  log: (line: string) => void;
}

export interface GdbListener {
  readonly host: string;
  readonly port: number;
  /** Resolves when the current client (if any) has gone. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export async function listenGdb(options: GdbListenerOptions): Promise<GdbListener> {
  let current: { socket: Socket; peer: string; done: Promise<void> } | null = null;
  const server: Server = createServer((socket) => {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    if (current) {
      const reason = `another GDB (${current.peer}) is debugging this target; detach it first`;
      options.log(`gdb: refused ${peer}: ${reason}`);
      // Answer its first packet, so GDB shows the reason instead of a bare "connection closed".
      socket.once('data', () => {
        socket.write('+');
        socket.end(framePacket(`E.${reason}`));
      });
      socket.on('error', () => undefined);
      setTimeout(() => socket.destroy(), 2000).unref();
      return;
    }
    let finishedSession: GdbServerSession | null = null;
    const session = new GdbServerSession(
      options.target,
      {
        write: (bytes) => {
          if (!socket.destroyed) socket.write(bytes);
        },
        close: () => socket.end(),
      },
      options.hooks,
    );
    finishedSession = session;
    let release!: () => void;
    const done = new Promise<void>((r) => (release = r));
    current = { socket, peer, done };
    options.log(`gdb: client ${peer} connected`);
    socket.on('data', (d) => session.receive(d));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      void (async () => {
        await session.disconnected();
        if (!finishedSession?.finished) {
          options.log(`gdb: client ${peer} left without detaching: breakpoints removed, core resumed`);
          await options.onLostClient?.().catch((err) => options.log(`gdb: ${(err as Error).message}`));
        } else options.log(`gdb: client ${peer} detached`);
        current = null;
        release();
        options.onClientEnd?.();
      })();
    });
    void session.start();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as { port: number; address: string };
  return {
    host: options.host,
    port: address.port,
    idle: () => current?.done ?? Promise.resolve(),
    close: async () => {
      current?.socket.destroy();
      await current?.done;
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
