/**
 * `dapdeck serve`: the web UI and a WebSocket probe server in one HTTP server.
 *
 *   GET  /                     the web app (the renderer's web build, out/web)
 *   GET  /api/probes           probes this machine offers (emulated boards, simulated, USB)
 *   GET  /api/chips            chip names and the target file describing each
 *   GET  /api/targets/NAME     a target description (probe-rs YAML)
 *   GET  /api/samples/NAME     a sample firmware ELF (hello, tasks) built for ?board=
 *   WS   /probe?selector=…     one probe: each binary message is a CMSIS-DAP command packet, each
 *                              binary reply its response, in order (USB semantics over a socket);
 *                              the first text message describes the probe.
 *
 * Loopback by default. Bound to any other address, every request needs `token` (query or
 * `Authorization: Bearer`); the token is generated if not given and printed once. Without a token,
 * WebSocket connections from pages of other origins are refused.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { listProbes, openProbe, type OpenedProbe } from '../probe/registry';
import { BUILTIN_TARGETS } from '../targets';
import { parseTargetYaml } from '../../core/flash/algorithm';
import { REPO_ROOT, ensureSampleFirmware } from '../firmware';

export interface ServeOptions {
  host?: string;
  port?: number;
  token?: string;
  /** Directory with the web build (default out/web). */
  webRoot?: string;
}

export interface RunningServer {
  url: string;
  token: string | null;
  server: Server;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

const CSP = "default-src 'self'; script-src 'self'; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const SAMPLES = new Set(['hello', 'tasks']);

export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost';
}

export async function serve(options: ServeOptions = {}): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const token = isLoopback(host) ? (options.token ?? null) : (options.token ?? randomBytes(16).toString('hex'));
  const webRoot = resolve(options.webRoot ?? join(REPO_ROOT, 'out', 'web'));
  const open = new Set<OpenedProbe>();

  const authorized = (req: IncomingMessage): boolean => {
    if (!token) return true;
    const url = new URL(req.url ?? '/', 'http://x');
    const given = url.searchParams.get('token') ?? /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const a = Buffer.from(given);
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
  };

  const send = (res: ServerResponse, status: number, body: string | Uint8Array, type = 'application/json') => {
    const headers: Record<string, string> = { 'Content-Type': type, 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' };
    // A token-guarded server may be used by the app served elsewhere (remote probes): the token,
    // not the origin, is what authorises. Without a token, only same-origin pages may read the API.
    if (token) headers['Access-Control-Allow-Origin'] = '*';
    res.writeHead(status, headers);
    res.end(body);
  };

  const server = createServer(async (req, res) => {
    try {
      if (!authorized(req)) return send(res, 401, JSON.stringify({ error: 'token required' }));
      const url = new URL(req.url ?? '/', 'http://x');
      const path = decodeURIComponent(url.pathname);
      if (req.method !== 'GET') return send(res, 405, JSON.stringify({ error: 'GET only' }));
      if (path === '/favicon.ico') return send(res, 204, '');
      if (path === '/api/probes') return send(res, 200, JSON.stringify(await listProbes()));
      if (path === '/api/chips') {
        const chips = readdirSync(BUILTIN_TARGETS)
          .filter((f) => /\.ya?ml$/.test(f))
          .flatMap((f) => parseTargetYaml(readFileSync(join(BUILTIN_TARGETS, f), 'utf8'), f).chips.map((c) => ({ chip: c.name, target: f })));
        return send(res, 200, JSON.stringify(chips));
      }
      const target = /^\/api\/targets\/([\w.-]+\.ya?ml)$/.exec(path);
      if (target) {
        const file = join(BUILTIN_TARGETS, target[1]);
        if (!existsSync(file)) return send(res, 404, JSON.stringify({ error: `no target file ${target[1]}` }));
        return send(res, 200, readFileSync(file), 'text/yaml; charset=utf-8');
      }
      const sample = /^\/api\/samples\/([\w-]+)$/.exec(path);
      if (sample) {
        const board = url.searchParams.get('board') ?? 'microbit';
        if (!SAMPLES.has(sample[1]) || !['microbit', 'lm3s6965evb'].includes(board)) return send(res, 404, JSON.stringify({ error: 'no such sample' }));
        const elf = ensureSampleFirmware(sample[1], board);
        return send(res, 200, readFileSync(elf), 'application/octet-stream');
      }
      if (path.startsWith('/api/')) return send(res, 404, JSON.stringify({ error: 'no such endpoint' }));
      // Static files of the web build; never outside webRoot.
      const rel = normalize(path === '/' ? '/index.html' : path).replace(/^([/\\])+/, '');
      const file = resolve(webRoot, rel);
      if (!file.startsWith(webRoot) || !existsSync(file) || !statSync(file).isFile()) {
        if (!existsSync(join(webRoot, 'index.html'))) return send(res, 503, `The web app is not built: run "npm run web" (or npx vite build -c vite.web.config.mts).`, 'text/plain; charset=utf-8');
        return send(res, 404, 'not found', 'text/plain; charset=utf-8');
      }
      return send(res, 200, readFileSync(file), TYPES[extname(file)] ?? 'application/octet-stream');
    } catch (err) {
      send(res, 500, JSON.stringify({ error: (err as Error).message }));
    }
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    // Without a token, only this server's own pages (or non-browser clients, which send no Origin)
    // may drive probes: any web page the user visits could otherwise reach a loopback socket.
    const origin = req.headers.origin;
    const foreign = !token && origin !== undefined && origin !== `http://${req.headers.host}`;
    if (url.pathname !== '/probe' || !authorized(req) || foreign) {
      socket.write(`HTTP/1.1 ${foreign ? '403 Forbidden' : '401 Unauthorized'}\r\nConnection: close\r\n\r\n`);
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => void bridge(ws, url.searchParams, open));
  });

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 7878, host, () => ok());
  });
  const address = server.address() as { port: number };
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${address.port}/`,
    token,
    server,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await Promise.all([...open].map((p) => p.close().catch(() => undefined)));
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

/** Relay CMSIS-DAP packets between a socket and a probe, keeping USB's in-order semantics. */
async function bridge(ws: WebSocket, params: URLSearchParams, open: Set<OpenedProbe>): Promise<void> {
  const selector = params.get('selector') ?? '';
  let probe: OpenedProbe;
  try {
    probe = await openProbe(selector, {
      blank: params.get('blank') === '1',
      flavour: params.get('flavour') === 'v1-hid' ? 'v1-hid' : 'v2-bulk',
      defaultElf: (board) => ensureSampleFirmware(params.get('sample') === 'tasks' ? 'tasks' : 'hello', board),
    });
  } catch (err) {
    ws.send(JSON.stringify({ type: 'error', message: (err as Error).message }));
    ws.close(1011, 'cannot open probe');
    return;
  }
  open.add(probe);
  const transport = probe.transport;
  await transport.open();
  ws.send(JSON.stringify({ type: 'probe', selector: probe.selector, description: probe.description, packetSize: transport.packetSize }));
  let writes: Promise<void> = Promise.resolve();
  let reads: Promise<void> = Promise.resolve();
  let closed = false;
  ws.on('message', (data, isBinary) => {
    if (!isBinary || closed) return;
    const packet = new Uint8Array(data as Buffer);
    if (packet.length === 0 || packet.length > transport.packetSize) {
      ws.send(JSON.stringify({ type: 'error', message: `packet of ${packet.length} bytes refused (packet size ${transport.packetSize})` }));
      return;
    }
    writes = writes.then(() => transport.write(packet));
    const written = writes;
    reads = reads.then(async () => {
      try {
        await written;
        const response = await transport.read();
        if (!closed) ws.send(new Uint8Array(response.buffer as ArrayBuffer, response.byteOffset, response.byteLength));
      } catch (err) {
        if (!closed) ws.send(JSON.stringify({ type: 'error', message: (err as Error).message }));
      }
    });
  });
  ws.on('close', () => {
    closed = true;
    open.delete(probe);
    void reads.finally(() => probe.close().catch(() => undefined));
  });
}
