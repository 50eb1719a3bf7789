/** `dapdeck serve`: the HTTP API, static files, token rules, and the WebSocket CMSIS-DAP bridge. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { execFile, execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { eventually } from '../support/eventually';
import { MAX_MESSAGE_BYTES, ServeOptionError, serve, type RunningServer } from '../../main/serve/server';
import { DebugSession } from '../../core/arm/session';
import { chipFromPortable } from '../../core/flash/portable-chip';
import { resolveChip } from '../../main/targets';
import { readU32le } from '../../core/dap/protocol';
import { WebSocketTransport } from '../../renderer/src/device/ws-transport';
import { firmwarePath } from '../support/firmware';
import { readFileSync } from 'node:fs';
import { loadImage } from '../../core/elf';
import { flashImage } from '../../core/flash/flasher';

let open: RunningServer;
let guarded: RunningServer;

beforeAll(async () => {
  open = await serve({ port: 0 });
  guarded = await serve({ port: 0, token: 's3cret' });
});
afterAll(async () => {
  await open?.close();
  await guarded?.close();
});

function exchange(url: string, packets: number[][], origin?: string): Promise<{ info: Record<string, unknown>; responses: number[][] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin ? { origin } : {});
    const responses: number[][] = [];
    let info: Record<string, unknown> = {};
    ws.on('message', (data, binary) => {
      if (!binary) {
        info = JSON.parse(String(data));
        if (info.type === 'error') return reject(new Error(String(info.message)));
        for (const p of packets) ws.send(Uint8Array.from(p)); // pipelined, answered in order
        return;
      }
      responses.push(Array.from(data as Buffer));
      if (responses.length === packets.length) {
        ws.close();
        resolve({ info, responses });
      }
    });
    ws.on('error', reject);
    ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

describe('dapdeck serve', () => {
  it('lists probes and chips, resolves a chip for the app, and serves target files', async () => {
    const probes = await (await fetch(`${open.url}api/probes`)).json();
    expect(probes.map((p: { selector: string }) => p.selector)).toEqual(expect.arrayContaining(['emu:microbit', 'sim:cortex-m3']));
    const chips = await (await fetch(`${open.url}api/chips`)).json();
    expect(chips).toContainEqual({ chip: 'nRF51822_xxAA', name: 'nRF51822_xxAA', family: 'nRF51 Series', cores: ['armv6m'], flashBytes: 0x40000, ramBytes: 0x4000, source: 'built-in' });
    // The chip resolved as the CLI resolves it, carried as JSON: same regions, code, entry points and sectors.
    const portable = await (await fetch(`${open.url}api/chips/nrf51822_XXAA`)).json();
    const carried = chipFromPortable(portable);
    const local = resolveChip('nRF51822_xxAA');
    expect(carried.ram).toEqual(local.ram);
    expect(carried.regions.map((r) => [r.region, r.algorithm.name, Buffer.from(r.algorithm.blob).equals(Buffer.from(local.regions[0].algorithm.blob)), r.algorithm.pcProgramPage, r.algorithm.flash.sectors])).toEqual(
      local.regions.map((r) => [{ name: undefined, ...r.region }, r.algorithm.name, true, r.algorithm.pcProgramPage, r.algorithm.flash.sectors]),
    );
    const unknown = await fetch(`${open.url}api/chips/NoSuchChip`);
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error).toMatch(/^unknown chip "NoSuchChip"/);
    const yaml = await (await fetch(`${open.url}api/targets/nrf51.yaml`)).text();
    expect(yaml).toMatch(/nRF51822_xxAA/);
    expect((await fetch(`${open.url}api/targets/..%2F..%2Fpackage.json`)).status).toBe(404);
  });

  it('never serves files outside the web build, and sends a CSP', async () => {
    const r = await fetch(`${open.url}..%2Fpackage.json`);
    expect([404, 503]).toContain(r.status);
    expect(r.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
  });

  it('bridges CMSIS-DAP packets over a WebSocket, in order', async () => {
    const { info, responses } = await exchange(`${open.url.replace('http', 'ws')}probe?selector=sim:cortex-m3`, [
      [0x00, 0xff], // DAP_Info packet size
      [0x00, 0xf0], // capabilities
      [0x02, 0x01], // DAP_Connect SWD
    ]);
    expect(info).toMatchObject({ type: 'probe', selector: 'sim:cortex-m3', packetSize: 512 });
    expect(responses[0]).toEqual([0x00, 2, 0x00, 0x02]);
    expect(responses[1][0]).toBe(0x00);
    expect(responses[1][2] & 1).toBe(1); // SWD
    expect(responses[2]).toEqual([0x02, 0x01]);
  });

  it('requires the token when one is set, for HTTP and WebSocket alike', async () => {
    expect((await fetch(`${guarded.url}api/probes`)).status).toBe(401);
    expect((await fetch(`${guarded.url}api/probes?token=wrong`)).status).toBe(401);
    expect((await fetch(`${guarded.url}api/probes?token=s3cret`)).status).toBe(200);
    expect((await fetch(`${guarded.url}api/probes`, { headers: { Authorization: 'Bearer s3cret' } })).status).toBe(200);
    await expect(exchange(`${guarded.url.replace('http', 'ws')}probe?selector=sim:cortex-m3`, [[0, 0xff]])).rejects.toThrow(/401/);
    const ok = await exchange(`${guarded.url.replace('http', 'ws')}probe?selector=sim:cortex-m3&token=s3cret`, [[0, 0xff]]);
    expect(ok.responses).toHaveLength(1);
  });

  it('generates a token when listening beyond loopback', async () => {
    const s = await serve({ host: '0.0.0.0', port: 0 });
    try {
      expect(s.token).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      await s.close();
    }
  });

  it('refuses probe sockets opened by pages of other origins', async () => {
    const url = `${open.url.replace('http', 'ws')}probe?selector=sim:cortex-m3`;
    await expect(exchange(url, [[0, 0xff]], 'https://evil.example')).rejects.toThrow(/403/);
    const own = await exchange(url, [[0, 0xff]], open.url.replace(/\/$/, ''));
    expect(own.responses).toHaveLength(1);
  });

  it('reports an unknown probe over the socket', async () => {
    await expect(exchange(`${open.url.replace('http', 'ws')}probe?selector=sim:nope`, [[0, 0xff]])).rejects.toThrow(/unknown simulated target "nope"/);
  });
});

/** Raw HTTP so the test can send what browsers and well-behaved clients never would (any Host). */
function rawGet(url: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, headers, method: 'GET' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A WebSocket handshake over a plain TCP socket: frames after it are whatever the test writes. */
async function rawSocket(url: string, path: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (!seen.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (!seen.startsWith('HTTP/1.1 101')) reject(new Error(seen.split('\r\n')[0]));
      else resolve();
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
  return socket;
}

/** A client frame; `masked` false breaks RFC 6455's rule that clients mask every frame. */
function frame(opcode: number, payload: Uint8Array, masked = true): Buffer {
  const mask = masked ? randomBytes(4) : null;
  const head = [0x80 | opcode, (masked ? 0x80 : 0) | payload.length];
  const body = Buffer.from(payload.map((b, i) => (mask ? b ^ mask[i % 4] : b)));
  return Buffer.concat([Buffer.from(head), mask ?? Buffer.alloc(0), body]);
}

/** The close code in the server's close frame (the socket then ends). */
function closeCode(socket: Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error('no close frame within 3 s')), 3000);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      // Skip the text message describing the probe; find the close frame (opcode 8).
      for (let p = 0; p + 2 <= data.length; ) {
        const len = data[p + 1] & 0x7f;
        const header = len === 126 ? 4 : 2;
        const size = len === 126 ? data.readUInt16BE(p + 2) : len;
        if (p + header + size > data.length) break;
        if ((data[p] & 0x0f) === 8) {
          clearTimeout(timer);
          return resolve(data.readUInt16BE(p + header));
        }
        p += header + size;
      }
    });
  });
}

/** QEMU processes this test process started that are still alive. */
function qemuChildren(): number {
  try {
    return execFileSync('ps', ['-o', 'comm=', '--ppid', String(process.pid)], { encoding: 'utf8' })
      .split('\n')
      .filter((c) => c.startsWith('qemu-system')).length;
  } catch {
    return 0; // ps exits 1 when there are no children
  }
}


describe('dapdeck serve under hostile and careless clients', () => {
  const probeUrl = () => `${open.url.replace('http', 'ws')}probe?selector=sim:cortex-m3`;
  const alive = async () => expect((await fetch(`${open.url}api/probes`)).status).toBe(200);

  it('closes a socket that sends an oversized message (1009) and serves on', async () => {
    const ws = new WebSocket(probeUrl());
    await new Promise((r) => ws.once('message', r));
    const code = new Promise<number>((r) => ws.once('close', (c) => r(c)));
    ws.send(new Uint8Array(MAX_MESSAGE_BYTES + 1));
    expect(await code).toBe(1009);
    await alive();
  });

  it('closes a socket that sends invalid UTF-8 text (1007) or an unmasked frame (1002), and serves on', async () => {
    const bad = await rawSocket(open.url, '/probe?selector=sim:cortex-m3');
    const code = closeCode(bad);
    bad.write(frame(0x1, Uint8Array.of(0xc3, 0x28, 0xff))); // a text frame that is not UTF-8
    expect(await code).toBe(1007);
    bad.destroy();
    const unmasked = await rawSocket(open.url, '/probe?selector=sim:cortex-m3');
    const code2 = closeCode(unmasked);
    unmasked.write(frame(0x2, Uint8Array.of(0x00, 0xff), false));
    expect(await code2).toBe(1002);
    unmasked.destroy();
    await alive();
    const again = await exchange(probeUrl(), [[0, 0xff]]);
    expect(again.responses[0]).toEqual([0x00, 2, 0x00, 0x02]);
  });

  it('answers only to its own names: a DNS-rebinding Host is refused for HTTP and WebSocket', async () => {
    const port = new URL(open.url).port;
    expect(await rawGet(open.url, '/api/probes', { Host: `evil.example:${port}` })).toBe(421);
    expect(await rawGet(open.url, '/api/probes', { Host: `localhost:${Number(port) + 1}` })).toBe(421);
    expect(await rawGet(open.url, '/api/probes', { Host: `localhost:${port}` })).toBe(200);
    expect(await rawGet(open.url, '/api/probes', { Host: `[::1]:${port}` })).toBe(200);
    const rebound = new WebSocket(probeUrl(), { headers: { Host: `evil.example:${port}` }, origin: `http://evil.example:${port}` });
    const status = await new Promise<number>((resolve, reject) => {
      rebound.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      rebound.on('open', () => reject(new Error('a rebinding page got a probe socket')));
      rebound.on('error', () => undefined);
    });
    expect(status).toBe(421);
    // The Origin must name this server too, not merely agree with the Host header.
    await expect(exchange(probeUrl(), [[0, 0xff]], `http://evil.example:${port}`)).rejects.toThrow(/403/);
    const own = await exchange(probeUrl(), [[0, 0xff]], `http://localhost:${port}`);
    expect(own.responses).toHaveLength(1);
  });

  it('refuses an empty token instead of running without authentication', async () => {
    await expect(serve({ host: '0.0.0.0', port: 0, token: '' })).rejects.toThrow(ServeOptionError);
    await expect(serve({ host: '0.0.0.0', port: 0, token: '  ' })).rejects.toThrow(/token is empty/);
    // As a script with an unset $TOKEN runs it: a usage error (exit 2), nothing listening.
    const cli = await new Promise<{ code: number; stderr: string }>((done) =>
      execFile(process.execPath, [resolve(__dirname, '../../bin/dapdeck.cjs'), 'serve', '--host', '0.0.0.0', '--port', '0', '--token', ''], { timeout: 30_000 }, (err, _out, stderr) =>
        done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr }),
      ),
    );
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/^dapdeck: error: the token is empty/);
  });

  it('answers 400 to a malformed percent-encoding', async () => {
    expect((await fetch(`${open.url}%`)).status).toBe(400);
    expect((await fetch(`${open.url}%zz`)).status).toBe(400);
    await alive();
  });

  it('does not read a response for a standalone DAP_TransferAbort (it has none)', async () => {
    const ws = new WebSocket(probeUrl());
    await new Promise((r) => ws.once('message', r));
    const got: number[][] = [];
    ws.on('message', (d, binary) => binary && got.push(Array.from(d as Buffer)));
    ws.send(Uint8Array.of(0x07));
    ws.send(Uint8Array.of(0x00, 0xff));
    ws.send(Uint8Array.of(0x02, 0x01));
    await eventually(() => got.length >= 2, 2000);
    await new Promise((r) => setTimeout(r, 100));
    ws.close();
    expect(got).toEqual([
      [0x00, 2, 0x00, 0x02],
      [0x02, 0x01],
    ]);
  });

  it('closes every emulated board a client opened within a second of the client leaving', async () => {
    const before = qemuChildren();
    const url = `${open.url.replace('http', 'ws')}probe?selector=emu:microbit&blank=1`;
    // 1. The client leaves while QEMU is still starting.
    const early = new WebSocket(url);
    await new Promise((r) => early.once('open', r));
    await eventually(() => qemuChildren() === before + 1, 5000); // QEMU is starting
    early.close();
    await eventually(() => qemuChildren() === before, 1000);
    // 2. The probe model rejected a packet (its command stalls, as a real probe would): then the client leaves.
    const stuck = new WebSocket(url);
    await new Promise((r) => stuck.once('message', r));
    expect(qemuChildren()).toBe(before + 1);
    const error = new Promise<string>((r) => stuck.on('message', (d, binary) => !binary && r(String(d))));
    stuck.send(Uint8Array.of(0x7f, 0x05)); // DAP_ExecuteCommands announcing 5 commands, carrying none
    expect(await error).toMatch(/announces 5 commands/);
    stuck.send(Uint8Array.of(0x00, 0xff)); // never answered: the probe stalled
    stuck.close();
    await eventually(() => qemuChildren() === before, 1000);
    // 3. The client vanishes without a close handshake.
    const dropped = new WebSocket(url);
    await new Promise((r) => dropped.once('message', r));
    dropped.terminate();
    await eventually(() => qemuChildren() === before, 1000);
    await alive();
  });
});

describe('dapdeck serve: a reloading page reattaches to its running board within the grace period', () => {
  let graceful: RunningServer;
  const GRACE_S = 2;
  beforeAll(async () => {
    (globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;
    graceful = await serve({ port: 0, reattachGraceSeconds: GRACE_S });
  });
  afterAll(async () => {
    await graceful?.close();
  });

  // Where gdb-multiarch (not this project) says the hello sample keeps its SysTick counter, and
  // where its statics end: the RAM above _ebss is touched by nothing but a stack kilobytes deep.
  const addressOf = (expression: string) => {
    const out = execFileSync('gdb-multiarch', ['-batch', '-ex', `info address ${expression}`, firmwarePath('hello', 'microbit')], { encoding: 'utf8' });
    return parseInt(/ at (?:address )?0x([0-9a-f]+)/.exec(out)![1], 16);
  };
  const MARK = 0x5eed1e55;
  const probeUrl = (query: string, server = graceful) => `${server.url.replace('http', 'ws')}probe?selector=emu:microbit&${query}`;
  const openSession = async (url: string) => {
    const transport = new WebSocketTransport(url);
    const session = await DebugSession.open(transport, { responseTimeoutMs: 8000 });
    return { transport, session, word: async (at: number) => readU32le(await session.ap.readMemory(at, 4), 0) };
  };

  it('hands the same running firmware to resume=KEY within the grace period, and a fresh board after it; the held board is then closed', async () => {
    const before = qemuChildren();
    const ticks = addressOf('hello::TICKS');
    const spare = addressOf('_ebss');
    // A page that may reload asks for a key; it flashes the hello sample onto its blank board and runs it
    // (boards keep their flash between uses: a board's own contents are not this test's to assume).
    const first = await openSession(probeUrl('blank=1&reattach=1'));
    const key = first.transport.info!.reattach!;
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(first.transport.info!.graceSeconds).toBe(GRACE_S);
    const { algorithm, ram } = resolveChip('nRF51822_xxAA');
    const hello = firmwarePath('hello', 'microbit');
    expect((await flashImage(first.session, algorithm, loadImage(readFileSync(hello), hello), { ram })).verified).toBe(true);
    await first.session.core.reset({ halt: false });
    // Mark this board in RAM the firmware never touches (a fresh board has other contents there).
    await first.session.ap.writeMemory(spare, Uint8Array.of(0x55, 0x1e, 0xed, 0x5e));
    expect(await first.word(spare)).toBe(MARK);
    let ranTo = await first.word(ticks);
    for (let i = 0; i < 100 && ranTo < 3; i++) {
      await new Promise((r) => setTimeout(r, 50));
      ranTo = await first.word(ticks);
    }
    expect(ranTo).toBeGreaterThanOrEqual(3); // the firmware runs (its SysTick counts)
    await first.transport.close(); // the page reloads: the socket drops without a goodbye to the probe
    await new Promise((r) => setTimeout(r, 300));
    expect(qemuChildren()).toBe(before + 1); // held, not closed

    // A page of another origin holding the key is still refused (the Origin check comes first)...
    const foreign = new WebSocket(probeUrl(`resume=${key}`), { origin: 'http://evil.example' });
    const refused = await new Promise<number>((r) => foreign.on('unexpected-response', (_q, res) => r(res.statusCode ?? 0)));
    expect(refused).toBe(403);

    // ...and the page itself takes the same board over: the mark is there, and the firmware kept
    // running (its counter went on from where it was, and moves on; nothing was reset or reflashed).
    const second = await openSession(probeUrl(`resume=${key}&reattach=1`));
    expect(second.transport.info!.resumed).toBe(true);
    expect(second.transport.info!.reattach).not.toBe(key); // a new key for the next reload
    expect(await second.word(spare)).toBe(MARK);
    const resumedAt = await second.word(ticks);
    expect(resumedAt).toBeGreaterThanOrEqual(ranTo);
    expect(await second.session.core.isHalted()).toBe(false);
    let later = resumedAt;
    for (let i = 0; i < 100 && later === resumedAt; i++) {
      await new Promise((r) => setTimeout(r, 50));
      later = await second.word(ticks);
    }
    expect(later).toBeGreaterThan(resumedAt);
    expect(qemuChildren()).toBe(before + 1);
    // The old key was used up.
    const reused = await openSession(probeUrl(`resume=${key}`));
    expect(reused.transport.info!.resumed).toBe(false);
    await reused.transport.close();

    // The page goes away for longer than the grace period: its board is closed, and the key then
    // brings a fresh board (the mark is gone).
    const secondKey = second.transport.info!.reattach!;
    await second.transport.close();
    await eventually(() => qemuChildren() === before, GRACE_S * 1000 + 3000, 'the held board closed after the grace period');
    const late = await openSession(probeUrl(`resume=${secondKey}`));
    expect(late.transport.info!.resumed).toBe(false);
    expect(await late.word(spare)).not.toBe(MARK);
    await late.transport.close();
    await eventually(() => qemuChildren() === before, 1000, 'a board without a key closed at once');
  }, 60_000);

  it('closes a board at once when its client never asked for a key, or when the grace period is 0', async () => {
    const before = qemuChildren();
    const plain = await openSession(probeUrl(''));
    expect(plain.transport.info!.reattach).toBeUndefined();
    await plain.transport.close();
    await eventually(() => qemuChildren() === before, 1000);
    // A server started with --reattach-grace 0 gives no key even to a client that asks.
    const none = await serve({ port: 0, reattachGraceSeconds: 0 });
    try {
      const asked = await openSession(probeUrl('reattach=1', none));
      expect(asked.transport.info!.reattach).toBeUndefined();
      await asked.transport.close();
      await eventually(() => qemuChildren() === before, 1000);
    } finally {
      await none.close();
    }
  }, 60_000);
});
