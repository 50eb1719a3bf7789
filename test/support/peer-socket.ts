/**
 * The probe model's end of the socket that the peers' stand-ins talk to: the hidapi stand-in
 * (test/peers/hidapi-standin.c, for OpenOCD) and the pyOCD interface (test/peers/pyocd_dapdeck.py).
 * Each 'W' + 64 bytes is one report written to the probe; each 'R' asks for the next report the
 * probe sends, which goes back as 64 bytes. Reads happen only when the tool asks, so the wire
 * model's clock sees the tool's own pipelining, not one this bridge invents.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DapTransport } from '../../core/dap/transport';

const REPORT_SIZE = 64;

export interface PeerSocket {
  path: string;
  /** Errors the probe model raised (a tool's protocol mistake shows up here). */
  errors: Error[];
  /**
   * Resolves once the last tool's session has closed the probe (its socket closed after the tool
   * exited): Dapdeck may open the probe itself then, with the socket still serving the next tool.
   */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export async function servePeerSocket(transport: DapTransport): Promise<PeerSocket> {
  const dir = mkdtempSync(join(tmpdir(), 'dapdeck-peer-'));
  const path = join(dir, 'probe.sock');
  const errors: Error[] = [];
  let active: Socket | null = null;
  /** The tool's session, until it has closed the probe: Dapdeck may use the probe only after that. */
  let serving: Promise<void> = Promise.resolve();
  const server: Server = createServer((socket) => {
    if (active) {
      socket.destroy(); // one host at a time, as a USB device has one owner
      return;
    }
    active = socket;
    serving = serveOne(socket, transport, errors).finally(() => (active = null));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  return {
    path,
    errors,
    idle: () => serving,
    close: async () => {
      (active as Socket | null)?.destroy();
      await serving;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function serveOne(socket: Socket, transport: DapTransport, errors: Error[]): Promise<void> {
  await transport.open();
  let buffered = Buffer.alloc(0);
  // Writes go to the probe in order.
  let chain: Promise<void> = Promise.resolve();
  let failed = false;
  const fail = (err: Error) => {
    if (failed) return;
    failed = true;
    errors.push(err);
    socket.destroy();
  };
  socket.on('data', (data: Buffer) => {
    buffered = Buffer.concat([buffered, data]);
    for (;;) {
      if (buffered.length === 0) break;
      const kind = buffered[0];
      if (kind === 0x57 /* W */) {
        if (buffered.length < 1 + REPORT_SIZE) break;
        const report = Uint8Array.from(buffered.subarray(1, 1 + REPORT_SIZE));
        buffered = buffered.subarray(1 + REPORT_SIZE);
        const written = chain.then(() => transport.write(report));
        // The write may wait for a free probe buffer; later requests queue behind it.
        chain = written.catch(fail);
      } else if (kind === 0x52 /* R */) {
        buffered = buffered.subarray(1);
        // Not chained behind the writes: a write waiting for a free probe buffer waits for this very
        // read (responses come back in order whatever the timing).
        transport.read().then(
          (view) => {
            const out = Buffer.alloc(REPORT_SIZE);
            out.set(new Uint8Array(view.buffer, view.byteOffset, Math.min(view.byteLength, REPORT_SIZE)));
            if (!socket.destroyed) socket.write(out);
          },
          (err: Error) => fail(err),
        );
      } else {
        fail(new Error(`peer socket: unknown message byte 0x${kind.toString(16)}`));
        return;
      }
    }
  });
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await transport.close().catch(() => undefined);
}
