/**
 * `dapdeck serve`: the web UI and a WebSocket probe server in one HTTP server.
 *
 *   GET  /                     the web app (the renderer's web build, out/web)
 *   GET  /api/probes           probes this machine offers (emulated boards, simulated, USB)
 *   GET  /api/chips            every chip Dapdeck knows (built in, installed packs, --target-file):
 *                              name, family, cores, flash and RAM size, source
 *   GET  /api/chips/NAME       one chip resolved for flashing: its regions, each with its flash
 *                              algorithm, and the RAM they run in (core/flash/portable-chip.ts)
 *   GET  /api/targets/NAME     a target description (probe-rs YAML)
 *   GET  /api/samples/NAME     a sample firmware ELF (hello, tasks) built for ?board=
 *   WS   /probe?selector=…     one probe: each binary message is a CMSIS-DAP command packet, each
 *                              binary reply its response, in order (USB semantics over a socket);
 *                              the first text message describes the probe; a text
 *                              {"type":"ping"} is answered {"type":"pong"} (the page's heartbeat).
 *
 * Loopback by default. Bound to any other address, every request needs `token` (query or
 * `Authorization: Bearer`); the token is generated if not given and printed once. Every request must
 * name this server in its Host header (a loopback name, the --host given, or for a wildcard bind one
 * of this machine's addresses or names): a DNS-rebinding page reaches the port under its own name and
 * is refused. Without a token, WebSocket connections from pages of other origins are refused.
 * A bad socket (oversized, invalid or unmasked frames) is closed with its close code; nothing a client
 * sends ends the server, and every board a client opened is closed as soon as it leaves — with one
 * bounded exception a client asks for: a socket opened with `reattach=1` is told a reattach key in its
 * probe message, and when it drops, its board is held (running) for the grace period; a socket
 * opened with `resume=KEY` within it (through the same Host/Origin/token checks) takes that board
 * over, so a reloaded page finds its firmware still running. Unclaimed, the board is closed when
 * the grace period ends.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { listProbes, openProbe, type OpenedProbe } from '../probe/registry';
import { BUILTIN_TARGETS, chipSummary, findChip, loadChipDatabase, resolveKnownChip } from '../targets';
import { portableChip } from '../../core/flash/portable-chip';
import { REPO_ROOT, ensureSampleFirmware } from '../firmware';

export interface ServeOptions {
  host?: string;
  port?: number;
  token?: string;
  /** Directory with the web build (default out/web). */
  webRoot?: string;
  /** Further names this server may be reached by (Host header), e.g. a DNS name of this machine. */
  allowHosts?: string[];
  /**
   * Seconds a board stays open after its client (one that asked with `reattach=1`) dropped, for
   * the client to come back with `resume=KEY` (a page reload). 0: closed at once, as for every
   * other client.
   */
  reattachGraceSeconds?: number;
  /** probe-rs target files whose chips the app may pick, beside the built-in ones and installed packs. */
  targetFiles?: string[];
}

/** Long enough for a page to reload on a busy machine; short enough that a closed tab frees its board soon. */
export const DEFAULT_REATTACH_GRACE_S = 10;

/** Refused options (an empty token would silently turn authentication off). */
export class ServeOptionError extends Error {}

/** Largest WebSocket message accepted: a v2 packet is at most 1 KiB; anything bigger is not a probe command. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/** CMSIS-DAP command with no response (it aborts the transfer in progress). */
const DAP_TRANSFER_ABORT = 0x07;

export interface RunningServer {
  url: string;
  token: string | null;
  server: Server;
  close(): Promise<void>;
}

/** Content types of the web build's files (the e2e test's plain static server serves them the same way). */
export const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

/** The page's Content-Security-Policy, sent with every response (no 'unsafe-eval': the emulator in the worker needs none). */
export const CSP = "default-src 'self'; script-src 'self'; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const SAMPLES = new Set(['hello', 'tasks']);

export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost';
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
const WILDCARDS = new Set(['0.0.0.0', '::', '[::]']);

/** A host name as it appears in a Host header or an Origin: lower case, IPv6 in brackets. */
function hostForm(name: string): string {
  const n = name.trim().toLowerCase();
  return n.includes(':') && !n.startsWith('[') ? `[${n}]` : n;
}

/**
 * The names a request may use for this server: what it is bound to. Loopback binds answer to the
 * loopback names; a wildcard bind to those, this machine's interface addresses and host name; any
 * other address to itself. Plus what the user allowed explicitly.
 */
export function serverNames(boundHost: string, extra: string[] = []): Set<string> {
  const names = new Set<string>(extra.map(hostForm));
  if (isLoopback(boundHost)) LOOPBACK_NAMES.forEach((n) => names.add(n));
  else if (WILDCARDS.has(boundHost)) {
    LOOPBACK_NAMES.forEach((n) => names.add(n));
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(hostForm(a.address.replace(/%.*$/, '')));
    const me = hostname().toLowerCase();
    names.add(me);
    names.add(`${me}.local`);
  } else names.add(hostForm(boundHost));
  return names;
}

/** Whether a Host header (`name:port`) names this server. */
export function isOwnHost(header: string | undefined, names: Set<string>, port: number): boolean {
  if (!header) return false;
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d+))?$/i.exec(header.trim());
  if (!m) return false;
  const headerPort = m[2] === undefined ? 80 : Number(m[2]);
  return headerPort === port && names.has(hostForm(m[1]));
}

export async function serve(options: ServeOptions = {}): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  if (options.token !== undefined && options.token.trim() === '') {
    throw new ServeOptionError('the token is empty (an unset variable?): give a non-empty --token, or none to have one generated');
  }
  const token = isLoopback(host) ? (options.token ?? null) : (options.token ?? randomBytes(16).toString('hex'));
  const names = serverNames(host, options.allowHosts);
  let port = 0; // known once listening
  const ownHost = (req: IncomingMessage) => isOwnHost(req.headers.host, names, port);
  const webRoot = resolve(options.webRoot ?? join(REPO_ROOT, 'out', 'web'));
  const open = new Set<OpenedProbe>();
  const graceS = options.reattachGraceSeconds ?? DEFAULT_REATTACH_GRACE_S;
  if (!(Number.isFinite(graceS) && graceS >= 0 && graceS <= 3600)) throw new ServeOptionError(`the reattach grace period must be 0 to 3600 seconds, got ${graceS}`);
  const held = new Held(graceS * 1000, open);

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
      if (!ownHost(req)) return send(res, 421, JSON.stringify({ error: `this server does not answer to the host "${req.headers.host ?? ''}"` }));
      if (!authorized(req)) return send(res, 401, JSON.stringify({ error: 'token required' }));
      const url = new URL(req.url ?? '/', 'http://x');
      let path: string;
      try {
        path = decodeURIComponent(url.pathname);
      } catch {
        return send(res, 400, JSON.stringify({ error: 'malformed percent-encoding in the path' }));
      }
      if (req.method !== 'GET') return send(res, 405, JSON.stringify({ error: 'GET only' }));
      if (path === '/favicon.ico') return send(res, 204, '');
      if (path === '/api/probes') return send(res, 200, JSON.stringify(await listProbes()));
      if (path === '/api/chips') {
        const db = loadChipDatabase({ targetFiles: options.targetFiles });
        const chips = db.chips.map((k) => ({ chip: k.chip.name, ...chipSummary(k), file: undefined }));
        chips.sort((a, b) => a.chip.localeCompare(b.chip));
        return send(res, 200, JSON.stringify(chips));
      }
      const chipPath = /^\/api\/chips\/([^/]+)$/.exec(path);
      if (chipPath) {
        try {
          const db = loadChipDatabase({ targetFiles: options.targetFiles });
          const known = findChip(chipPath[1], db);
          return send(res, 200, JSON.stringify(portableChip(resolveKnownChip(known))));
        } catch (err) {
          return send(res, 404, JSON.stringify({ error: (err as Error).message }));
        }
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

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const refuse = (status: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      socket.destroy();
    };
    if (!ownHost(req)) return refuse('421 Misdirected Request');
    const url = new URL(req.url ?? '/', 'http://x');
    // Without a token, only this server's own pages (or non-browser clients, which send no Origin)
    // may drive probes: any web page the user visits could otherwise reach a loopback socket. The
    // Origin must name this server too (not merely agree with a Host the page chose).
    const origin = req.headers.origin;
    const foreign = !token && origin !== undefined && !isOwnOrigin(origin, names, port);
    if (url.pathname !== '/probe') return refuse('404 Not Found');
    if (!authorized(req)) return refuse('401 Unauthorized');
    if (foreign) return refuse('403 Forbidden');
    wss.handleUpgrade(req, socket, head, (ws) => {
      bridge(ws, url.searchParams, open, held).catch((err: Error) => closeWithError(ws, 1011, err.message));
    });
  });
  // Malformed HTTP (bad request lines, oversized headers) answers 400 and closes that socket only.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    socket.destroy();
  });

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 7878, host, () => ok());
  });
  const address = server.address() as { port: number };
  port = address.port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${address.port}/`,
    token,
    server,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      held.clear();
      await Promise.all([...open].map((p) => p.close().catch(() => undefined)));
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

function isOwnOrigin(origin: string, names: Set<string>, port: number): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  return url.protocol === 'http:' && isOwnHost(url.host, names, port);
}

/** Tell the client why, in the one text message it reads, and close with a code. */
function closeWithError(ws: WebSocket, code: number, message: string): void {
  if (ws.readyState !== ws.OPEN) return;
  ws.send(JSON.stringify({ type: 'error', message }));
  ws.close(code, message.slice(0, 120)); // a close reason is at most 123 bytes
}

/** A board whose client dropped, kept for a reattach: its probe, and when its last command settled. */
interface HeldBoard {
  probe: OpenedProbe;
  /** Resolves once every command the old client sent was answered (or failed). */
  settled: Promise<void>;
  timer: ReturnType<typeof setTimeout>;
}

/** How long a reattach waits for the old client's last commands to finish on the held board. */
const SETTLE_LIMIT_MS = 5000;

/** Boards held for a reattach, by key; each closed when its grace period ends unclaimed. */
class Held {
  private boards = new Map<string, HeldBoard>();

  constructor(
    readonly graceMs: number,
    private open: Set<OpenedProbe>,
  ) {}

  hold(key: string, probe: OpenedProbe, settled: Promise<void>): void {
    const timer = setTimeout(() => {
      this.boards.delete(key);
      this.open.delete(probe);
      void probe.close().catch(() => undefined);
    }, this.graceMs);
    this.boards.set(key, { probe, settled, timer });
  }

  /** The board held under `key`, no longer held (the caller owns it now); undefined if none. */
  take(key: string): HeldBoard | undefined {
    const board = this.boards.get(key);
    if (!board) return undefined;
    this.boards.delete(key);
    clearTimeout(board.timer);
    return board;
  }

  /** The server is closing: stop the timers (the boards are in `open` and closed with the rest). */
  clear(): void {
    for (const b of this.boards.values()) clearTimeout(b.timer);
    this.boards.clear();
  }
}

/**
 * Relay CMSIS-DAP packets between a socket and a probe, keeping USB's in-order semantics. The probe
 * lives exactly as long as the socket: a client that leaves while the board is still starting, or
 * while a command is stuck in a stalled probe, still has its board closed at once — unless the
 * client asked for a reattach key and had it (then the board is held for the grace period).
 */
async function bridge(ws: WebSocket, params: URLSearchParams, open: Set<OpenedProbe>, held: Held): Promise<void> {
  let closed = false;
  let probe: OpenedProbe | null = null;
  let reattachKey: string | null = null;
  let writes: Promise<void> = Promise.resolve();
  let reads: Promise<void> = Promise.resolve();
  const release = () => {
    if (!probe) return;
    const p = probe;
    probe = null;
    if (reattachKey && held.graceMs > 0) {
      // Held, still open (and in `open`, so a server shutdown closes it too).
      held.hold(reattachKey, p, Promise.all([writes, reads]).then(() => undefined));
      return;
    }
    open.delete(p);
    void p.close().catch(() => undefined);
  };
  // ws reports a protocol violation (oversized message 1009, invalid UTF-8 1007, unmasked or bad
  // frame 1002) as an 'error' on this socket after starting its closing handshake with that code;
  // without a listener the error would end the whole server.
  ws.on('error', () => undefined);
  const leaving = new AbortController();
  ws.on('close', () => {
    closed = true;
    leaving.abort(); // a board still starting is stopped at once
    release();
  });
  const selector = params.get('selector') ?? '';
  // Only a held board is taken over, never one whose socket is still open: a duplicated browser tab
  // carries the same key in its copied sessionStorage and must not take the original tab's board.
  const resumeKey = params.get('resume');
  let resumed = resumeKey ? held.take(resumeKey) : undefined;
  if (resumed) {
    // The old client's last commands finish first: their responses must not reach the new client.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settled = await Promise.race([resumed.settled.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), SETTLE_LIMIT_MS)))]);
    clearTimeout(timer);
    if (!settled) {
      // Stuck in a stalled command: this board cannot be handed over; the client gets a fresh one.
      open.delete(resumed.probe);
      void resumed.probe.close().catch(() => undefined);
      resumed = undefined;
    }
  }
  let opened: OpenedProbe;
  if (resumed) opened = resumed.probe;
  else {
    try {
      opened = await openProbe(selector, {
        blank: params.get('blank') === '1',
        flavour: params.get('flavour') === 'v1-hid' ? 'v1-hid' : 'v2-bulk',
        defaultElf: (board) => ensureSampleFirmware(params.get('sample') === 'tasks' ? 'tasks' : 'hello', board),
        signal: leaving.signal,
      });
    } catch (err) {
      closeWithError(ws, 1011, (err as Error).message);
      return;
    }
  }
  probe = opened;
  open.add(opened);
  if (closed) return release(); // the client left while its board was starting (no key was given yet)
  const transport = opened.transport;
  if (!resumed) await transport.open();
  if (closed) return release();
  // The key is given only to a client that asked (a page that may reload); from now on, dropping
  // the socket holds the board for the grace period instead of closing it.
  if (params.get('reattach') === '1' && held.graceMs > 0) reattachKey = randomBytes(16).toString('hex');
  ws.send(
    JSON.stringify({
      type: 'probe',
      selector: opened.selector,
      description: opened.description,
      packetSize: transport.packetSize,
      ...(reattachKey ? { reattach: reattachKey, graceSeconds: held.graceMs / 1000 } : {}),
      ...(resumeKey !== null ? { resumed: !!resumed } : {}),
    }),
  );
  const report = (err: unknown) => {
    if (!closed) ws.send(JSON.stringify({ type: 'error', message: (err as Error).message }));
  };
  ws.on('message', (data, isBinary) => {
    if (closed) return;
    if (!isBinary) {
      // The page's heartbeat: a pong tells it this server (and this socket) is still here.
      if (data.toString() === '{"type":"ping"}') ws.send('{"type":"pong"}');
      return;
    }
    const packet = new Uint8Array(data as Buffer);
    if (packet.length === 0 || packet.length > transport.packetSize) {
      report(new Error(`packet of ${packet.length} bytes refused (packet size ${transport.packetSize})`));
      return;
    }
    const written = writes.then(() => transport.write(packet));
    writes = written.catch(() => undefined); // a refused write fails its own command, not the next ones
    // A standalone DAP_TransferAbort has no response: reading one for it would hand the next
    // command's response to it, and every later reply would be one off.
    if (packet[0] === DAP_TRANSFER_ABORT) {
      written.catch(report);
      return;
    }
    reads = reads.then(async () => {
      try {
        await written;
        const response = await transport.read();
        if (!closed) ws.send(new Uint8Array(response.buffer as ArrayBuffer, response.byteOffset, response.byteLength));
      } catch (err) {
        report(err);
      }
    });
  });
}
