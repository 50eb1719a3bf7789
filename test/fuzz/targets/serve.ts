/**
 * `dapdeck serve` under mutated traffic: each input is the raw bytes a client writes on one TCP
 * connection (HTTP requests, WebSocket handshakes and frames, CMSIS-DAP packets inside them). The
 * server must answer within the time limit, never with a 500, and still serve the next client: a
 * crash (the next connection is refused) is an uncaught failure.
 */
import { connect } from 'node:net';
import { serve, type RunningServer } from '../../../main/serve/server';
import { int, pick, type FuzzTarget } from '../harness';

let server: RunningServer | null = null;
let port = 0;
async function running(): Promise<number> {
  if (!server) {
    server = await serve({ port: 0 });
    port = Number(new URL(server.url).port);
  }
  return port;
}

const PORT = '@PORT@';
const text = (s: string) => new TextEncoder().encode(s);

/** A client frame (RFC 6455), masked as clients must. */
function frame(opcode: number, payload: Uint8Array): Uint8Array {
  const mask = Uint8Array.of(0x12, 0x34, 0x56, 0x78);
  const head = payload.length < 126 ? [0x80 | opcode, 0x80 | payload.length] : [0x80 | opcode, 0x80 | 126, payload.length >> 8, payload.length & 0xff];
  return Uint8Array.from([...head, ...mask, ...payload.map((b, i) => b ^ mask[i % 4])]);
}

const upgrade = (query: string) =>
  text(`GET /probe?${query} HTTP/1.1\r\nHost: 127.0.0.1:${PORT}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);

const concat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => Array.from(p)));

// CMSIS-DAP commands a host sends: DAP_Info, Connect, SWJ clock, TransferConfigure, a DP read, an
// AP write + read in one DAP_Transfer, a TransferBlock, ExecuteCommands, a TransferAbort.
const DAP = [
  [0x00, 0xff],
  [0x02, 0x01],
  [0x11, 0x00, 0x09, 0x3d, 0x00],
  [0x04, 0x00, 0x40, 0x00, 0x00, 0x00],
  [0x05, 0x00, 0x01, 0x02],
  [0x05, 0x00, 0x03, 0x01, 0x02, 0x00, 0x00, 0x20, 0x0f],
  [0x06, 0x00, 0x04, 0x00, 0x0f],
  [0x7f, 0x02, 0x00, 0x04, 0x02, 0x01],
  [0x07],
].map((p) => Uint8Array.from(p));

export const serveTarget: FuzzTarget<{ status: number | null }> = {
  name: 'serve',
  description: "dapdeck serve's HTTP API and WebSocket probe bridge (raw bytes on a connection)",
  seeds: async () => (await running(), [
    text(`GET /api/probes HTTP/1.1\r\nHost: 127.0.0.1:${PORT}\r\n\r\n`),
    text(`GET /api/chips HTTP/1.1\r\nHost: localhost:${PORT}\r\nOrigin: http://localhost:${PORT}\r\n\r\n`),
    text(`GET /api/targets/nrf51.yaml?token=x HTTP/1.1\r\nHost: 127.0.0.1:${PORT}\r\nAuthorization: Bearer abc\r\n\r\n`),
    text(`GET /api/samples/hello?board=nope HTTP/1.1\r\nHost: 127.0.0.1:${PORT}\r\n\r\nGET /%41%zz HTTP/1.1\r\nHost: 127.0.0.1:${PORT}\r\n\r\n`),
    concat(upgrade('selector=sim:cortex-m3'), ...DAP.map((p) => frame(0x2, p))),
    concat(upgrade('selector=sim:cortex-m0&flavour=v1-hid'), ...DAP.slice(0, 5).map((p) => frame(0x2, p)), frame(0x1, text('{"hello":1}')), frame(0x9, text('ping')), frame(0x8, Uint8Array.of(0x03, 0xe8))),
  ]),
  mutate(input, { rng }) {
    // Whole-frame edits keep the handshake intact so the mutations reach the bridge behind it.
    const end = findHeaderEnd(input);
    if (end < 0) return input;
    const extra = frame(pick(rng, [0x0, 0x1, 0x2, 0x8, 0x9, 0xa, 0x3, 0xf]), Uint8Array.from({ length: int(rng, 80) }, () => int(rng, 256)));
    const at = end + int(rng, input.length - end + 1);
    return concat(input.subarray(0, at), extra, input.subarray(at));
  },
  async run(input) {
    const p = await running();
    const bytes = Buffer.from(Buffer.from(input).toString('latin1').split(PORT).join(String(p)), 'latin1');
    const status = await new Promise<number | null>((resolve, reject) => {
      const socket = connect(p, '127.0.0.1');
      let seen = '';
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        socket.destroy();
        const m = /^HTTP\/1\.1 (\d{3})/.exec(seen);
        resolve(m ? Number(m[1]) : null);
      };
      // Quiet for 40 ms, or closed by the server: this client is done.
      const idle = () => {
        clearTimeout(timer);
        timer = setTimeout(done, 40);
      };
      socket.on('connect', () => {
        socket.write(bytes);
        idle();
      });
      socket.on('data', (d) => {
        seen += d.toString('latin1');
        idle();
      });
      socket.on('close', done);
      socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? reject(new Error('the server is gone: connection refused')) : done()));
    });
    // The next client is still served: one bad connection never ends the server.
    const next = await fetch(`http://127.0.0.1:${p}/api/chips`);
    if (next.status !== 200) throw new Error(`the server answers ${next.status} after that input`);
    return { status };
  },
  expectedErrors: [],
  check({ status }) {
    if (status !== null && status >= 500 && status !== 503) throw new Error(`the server answered ${status} to client input (client mistakes are 4xx)`);
  },
  shortIterations: 150,
  timeLimitMs: 5000, // a whole connection and the next client's request, on a loaded CI machine
  close: async () => {
    await server?.close();
    server = null;
  },
};

function findHeaderEnd(input: Uint8Array): number {
  for (let i = 0; i + 3 < input.length; i++) if (input[i] === 13 && input[i + 1] === 10 && input[i + 2] === 13 && input[i + 3] === 10) return i + 4;
  return -1;
}
