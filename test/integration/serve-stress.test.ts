/**
 * `dapdeck serve` as the user runs it (its own process), under a bounded loopback stress: hundreds
 * of probe sockets, malformed frames and HTTP, and clients dropping in the middle of a flash on
 * emulated boards. Afterwards the server still answers, its QEMU children and open file descriptors
 * are back to the baseline, and its memory did not grow from one identical round to the next.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DebugSession } from '../../core/arm/session';
import { loadImage } from '../../core/elf';
import { flashImage } from '../../core/flash/flasher';
import { resolveChip } from '../../main/targets';
import { ensureSampleFirmware } from '../../main/firmware';
import { eventually } from '../support/eventually';
import { WebSocketTransport } from '../../renderer/src/device/ws-transport';

const ROOT = resolve(__dirname, '../..');
/** A dropped page's board is held this long for a reload that never comes, then closed. */
const GRACE_S = 1;
let server: ChildProcess;
let base = '';

beforeAll(async () => {
  // Node 20 has no global WebSocket: the app's transport runs here on ws's, which has the same API.
  (globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;
  server = spawn(process.execPath, [resolve(ROOT, 'bin/dapdeck.cjs'), 'serve', '--port', '0', '--reattach-grace', String(GRACE_S)], { stdio: ['ignore', 'pipe', 'pipe'] });
  base = await new Promise<string>((ok, fail) => {
    let out = '';
    server.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/\S+\/)/.exec(out);
      if (m) ok(m[1]);
    });
    server.once('exit', (code) => fail(new Error(`serve exited ${code}`)));
  });
}, 30_000);
afterAll(() => {
  server?.kill('SIGTERM');
});

const pid = () => server.pid!;
const children = (): string[] => {
  const all = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  return all.filter((d) => {
    try {
      return readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ')[1] === String(pid());
    } catch {
      return false;
    }
  });
};
const openFds = () => readdirSync(`/proc/${pid()}/fd`).length;
const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid()}/status`, 'utf8'))![1]);


/** One client misbehaving in one of several ways; resolves when it is done with the server. */
async function hostileClient(i: number): Promise<void> {
  const wsUrl = `${base.replace('http', 'ws')}probe?selector=sim:cortex-m${i % 2 ? 3 : 0}`;
  const kind = i % 6;
  if (kind === 5) {
    // Malformed HTTP: a broken request line, a bad escape, a foreign Host.
    const port = Number(new URL(base).port);
    await new Promise<void>((ok) => {
      const s = connect(port, '127.0.0.1', () => s.end(i % 12 === 5 ? 'GARBAGE\r\n\r\n' : `GET /%zz HTTP/1.1\r\nHost: evil.example:${port}\r\n\r\n`));
      s.on('data', () => undefined);
      s.on('close', () => ok());
      s.on('error', () => ok());
    });
    return;
  }
  const ws = new WebSocket(wsUrl);
  ws.on('error', () => undefined);
  await new Promise<void>((ok) => {
    ws.once('message', () => ok());
    ws.once('close', () => ok());
  });
  if (ws.readyState !== ws.OPEN) return;
  const closed = new Promise<void>((ok) => ws.once('close', () => ok()));
  if (kind === 0) ws.send(new Uint8Array(70 * 1024)); // oversized: 1009
  else if (kind === 1) ws.send(Buffer.from([0xc3, 0x28]), { binary: false }); // invalid UTF-8: 1007
  else if (kind === 2) for (let n = 0; n < 20; n++) ws.send(randomBytes(1 + (n * 37) % 600)); // garbage packets
  else if (kind === 3) {
    for (let n = 0; n < 8; n++) ws.send(Uint8Array.of(0x05, 0x00, 0x01, 0x00)); // DP reads, then vanish
    ws.terminate();
    return;
  }
  if (kind !== 4) await new Promise((r) => setTimeout(r, 30));
  ws.close();
  await closed;
}

/**
 * A client flashing the hello sample onto an emulated micro:bit that disappears part-way; one that
 * asked for a reattach key (as the page does) has its board held for the grace period, then closed.
 */
async function droppedFlash(afterPackets: number, reattach = false): Promise<void> {
  const transport = new WebSocketTransport(`${base.replace('http', 'ws')}probe?selector=emu:microbit&blank=1${reattach ? '&reattach=1' : ''}`);
  let sent = 0;
  const write = transport.write.bind(transport);
  transport.write = async (data) => {
    if (++sent === afterPackets) await transport.close(); // the tab is closed mid-flash
    return write(data);
  };
  const session = await DebugSession.open(transport, { responseTimeoutMs: 2000 });
  const { algorithm, ram } = resolveChip('nRF51822_xxAA');
  const elf = ensureSampleFirmware('hello', 'microbit');
  const image = loadImage(readFileSync(elf), elf, {});
  await expect(flashImage(session, algorithm, image, { ram })).rejects.toThrow();
}

describe('dapdeck serve under a bounded loopback stress', () => {
  it('survives hundreds of hostile sockets and dropped flashes, back to its baseline afterwards', async () => {
    const round = async () => {
      for (let batch = 0; batch < 6; batch++) await Promise.all(Array.from({ length: 50 }, (_, i) => hostileClient(batch * 50 + i)));
      await Promise.all([droppedFlash(20), droppedFlash(40, true), droppedFlash(60)]);
    };
    // Warm-up round: code loaded, pools grown, first QEMU started once.
    await round();
    await eventually(() => children().length === 0, 2000 + GRACE_S * 1000, 'no QEMU children').catch((e) => {
      throw new Error(`${e.message}: ${children().map((c) => readFileSync(`/proc/${c}/cmdline`, 'utf8').replace(/\0/g, ' ')).join('; ')}`);
    });
    const fds = openFds();
    const rss = rssKiB();
    await round();
    // Every board of every client is gone (a held one once its grace period ended), and so is every
    // socket and pipe that came with it.
    await eventually(() => children().length === 0, 2000 + GRACE_S * 1000, 'no QEMU children');
    await eventually(() => openFds() <= fds, 2000, 'open files back to baseline');
    // Another identical round did not leave memory behind (a leak per client would show here).
    const grown = rssKiB() - rss;
    console.log(JSON.stringify({ serveStress: { socketsPerRound: 300, droppedFlashesPerRound: 3, heldPerRound: 1, rounds: 2, fdsBaseline: fds, fdsAfter: openFds(), rssBaselineKiB: rss, rssGrowthKiB: grown } }));
    expect(grown).toBeLessThan(48 * 1024);
    expect(server.exitCode).toBeNull();
    const probes = await (await fetch(`${base}api/probes`)).json();
    expect(probes.length).toBeGreaterThan(0);
  }, 240_000);
});
