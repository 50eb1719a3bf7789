/**
 * The serverless Pico demo end to end in Chromium (playwright-core driving Debian's
 * /usr/bin/chromium): the web build served by a plain static file server written here — no
 * `dapdeck serve`, no probe API, no WebSocket — with the same Content-Security-Policy the app's
 * own server sends (no 'unsafe-eval'). The page's worker runs the emulated Pico (rp2040js with
 * Dapdeck's boot ROM behind the CMSIS-DAP v2 model and the multi-drop wire); the test connects to
 * it, halts it in the boot ROM, and reads the ROM back through the debug session, checked against
 * the ROM ELF's .text as binutils' readelf dumps it; flashes BIN images made here through the
 * RP2040 flash algorithm (erase, program, verify, skip-unchanged) and reads them back; flashes the
 * Pico samples bundled with the page (built by rustc) and reads their decoded defmt lines in the
 * xterm console and the task/ISR lanes their SystemView stream draws. The same static page also reaches a USB
 * Debug Probe through WebUSB: a navigator.usb stand-in shaped like the Raspberry Pi Debug Probe
 * (vendor interface, bulk endpoints) whose transfers go to `emu:pico` in this test process.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CSP, TYPES } from '../../main/serve/server';
import { sampleFirmwarePath } from '../../main/firmware';
import { openProbe, type OpenedProbe } from '../../main/probe/registry';
import { buildWebApp } from '../../main/web/build';

const ROOT = resolve(__dirname, '../..');
const ARTIFACTS = resolve(ROOT, 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';
/** This file's own web build: another e2e file building out/web at the same time would swap the app under its page. */
const WEB_ROOT = join(mkdtempSync(join(tmpdir(), 'dapdeck-pico-page-')), 'web');

let server: Server;
let url: string;
let browser: Browser;
let usbProbe: OpenedProbe | null = null;
let page: Page;
/** Every path the page asked the static server for, and what Chromium said went wrong. */
const requested: string[] = [];
const problems: string[] = [];
const sockets: string[] = [];

/** Files of the build, nothing else: no /api, no WebSocket upgrade (Node's server refuses those). */
function staticServer(root: string): Promise<Server> {
  const s = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requested.push(path);
    const file = resolve(root, normalize(path === '/' ? '/index.html' : path).replace(/^\/+/, ''));
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Security-Policy': CSP });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Security-Policy': CSP });
    res.end(readFileSync(file));
  });
  return new Promise((ok) => s.listen(0, '127.0.0.1', () => ok(s)));
}

beforeAll(async () => {
  buildWebApp({ outDir: WEB_ROOT });
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/install-system-deps.sh installs Debian's chromium`);
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await staticServer(WEB_ROOT);
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (m) => {
    // A CSP refusal (eval, a blocked fetch or worker) is reported as a console error.
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 404/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('websocket', (ws) => sockets.push(ws.url()));
}, 120_000);

afterAll(async () => {
  await usbProbe?.close();
  await browser?.close();
  await new Promise((ok) => server?.close(ok));
});

const terminalText = () => page.evaluate(() => (window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText());

/** The ROM's .text as `readelf -x .text` dumps it (binutils reads the ELF, not Dapdeck's loader). */
function romTextFromReadelf(): Uint8Array {
  const dump = execFileSync('readelf', ['-x', '.text', sampleFirmwarePath('bootrom', 'rp2040')], { encoding: 'utf8' });
  const bytes: number[] = [];
  for (const line of dump.split('\n')) {
    const m = /^\s*0x([0-9a-f]{8}) ((?:[0-9a-f]{2,8} ){1,4})/.exec(line);
    if (!m) continue;
    expect(parseInt(m[1], 16)).toBe(bytes.length);
    for (const word of m[2].trim().split(' ')) for (let i = 0; i < word.length; i += 2) bytes.push(parseInt(word.slice(i, i + 2), 16));
  }
  return Uint8Array.from(bytes);
}

/** Bytes out of the memory view's hex dump (8 per row: "ADDRESS  b0 b1 … |ascii|"). */
function bytesOfDump(text: string): { address: number; bytes: number[] }[] {
  return text
    .split('\n')
    .map((l) => /^([0-9a-f]{8})\s+((?:[0-9a-f]{2} ?)+)/i.exec(l.trim()))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ address: parseInt(m[1], 16), bytes: m[2].trim().split(/\s+/).map((b) => parseInt(b, 16)) }));
}

describe('the serverless Pico demo (a static page, the emulator in its worker)', () => {
  it('offers the emulated Pico on a page with no probe server and connects to it in the worker', async () => {
    await page.goto(url);
    // With no probe API behind the page, the Pico in the page is the board on offer.
    await page.waitForFunction(() => (document.querySelector('[data-testid=probe]') as HTMLSelectElement | null)?.value === 'page:pico', null, { timeout: 10_000 });
    expect(await page.textContent('[data-testid=probe] option[value="page:pico"]')).toBe('Emulated Pico (in this page)');
    expect(await page.inputValue('[data-testid=chip]')).toBe('RP2040');
    // The same page still offers a real Debug Probe over WebUSB (Chromium has navigator.usb on http://127.0.0.1).
    expect(await page.isVisible('[data-testid=connect-usb]')).toBe(true);
    expect(await page.evaluate(() => 'usb' in navigator)).toBe(true);
    await page.click('[data-testid=connect]');
    await page.waitForSelector('[data-testid=status]:has-text("Emulated Pico (in this page) — Cortex-M0+")', { timeout: 30_000 });
    await page.waitForSelector('[data-testid=target-state][data-state=running]', { timeout: 10_000 });
    // The worker reports how fast the emulator runs, once a second.
    const speed = await page.waitForSelector('[data-testid=emulator-speed]', { timeout: 10_000 });
    expect(await speed.textContent()).toMatch(/^Pico in this page: [\d.]+ MHz emulated of 125, [\d.]+ MIPS$/);
  }, 60_000);

  it('halts the core in the boot ROM (flash is erased) and reads the ROM back through the probe model', async () => {
    await page.click('[data-testid=halt]');
    await page.waitForSelector('[data-testid=target-state][data-state=halted]', { timeout: 10_000 });
    const pc = parseInt((await page.textContent('[data-testid=registers] tr:has(td:text-is("pc")) td:nth-child(2)'))!, 16);
    // Erased flash: no boot2 passes the ROM's CRC check, so the core waits in the ROM (below 16 KiB).
    expect(pc).toBeLessThan(0x4000);
    const rom = romTextFromReadelf();
    expect(rom.length).toBeGreaterThan(0x100);
    await page.fill('[data-testid=mem-address]', '0x00000000');
    await page.fill('[data-testid=mem-length]', '256');
    await page.click('[data-testid=mem-read]');
    const dump = await page.waitForSelector('[data-testid=memory-dump]', { timeout: 10_000 });
    const rows = bytesOfDump((await dump.textContent()) ?? '');
    expect(rows.length).toBe(256 / 8);
    for (const row of rows) expect(row.bytes).toEqual(Array.from(rom.subarray(row.address, row.address + row.bytes.length)));
    await page.screenshot({ path: resolve(ARTIFACTS, 'pico-page-rom.png') });
    await page.click('[data-testid=run]');
    await page.waitForSelector('[data-testid=target-state][data-state=running]', { timeout: 10_000 });
  }, 60_000);

  it('flashes a BIN through the RP2040 flash algorithm in the page (erase, program, verify) and reads it back', async () => {
    // 6000 bytes made here (two 4 KiB sectors, the last page partly filled) at 0x10010000; then the
    // same with one byte changed in the second sector: only that sector is erased and programmed again.
    const first = Uint8Array.from({ length: 6000 }, (_, i) => (i * 167 + (i >> 8) * 13 + 5) & 0xff);
    const second = first.slice();
    second[5000] ^= 0x5a;
    const dir = mkdtempSync(join(tmpdir(), 'dapdeck-pico-bin-'));
    for (const [name, image, expected] of [['first.bin', first, /^✓ first\.bin: 2 sectors in the image, 0 erased \(2 already blank\), 2 pages programmed .*verified/], ['second.bin', second, /^✓ second\.bin: .*1 erased.*verified/]] as const) {
      writeFileSync(join(dir, name), image);
      await page.setInputFiles('[data-testid=file]', join(dir, name));
      await page.fill('[data-testid=bin-base]', '0x10010000');
      await page.click('[data-testid=flash-only]');
      const result = await page.waitForSelector(`[data-testid=flash-result]:has-text("${name}")`, { timeout: 60_000 });
      expect(await result.textContent()).toMatch(expected);
      for (const [offset, length] of [[0, 256], [4992, 16], [6000 - 112, 112]]) {
        const address = 0x10010000 + offset;
        await page.fill('[data-testid=mem-address]', `0x${address.toString(16)}`);
        await page.fill('[data-testid=mem-length]', String(length));
        await page.click('[data-testid=mem-read]');
        await page.waitForSelector(`[data-testid=memory-dump]:has-text("${address.toString(16).padStart(8, '0')}")`, { timeout: 10_000 });
        const rows = bytesOfDump((await page.textContent('[data-testid=memory-dump]')) ?? '');
        expect(rows.reduce((n, r) => n + r.bytes.length, 0)).toBe(length);
        for (const row of rows) expect(row.bytes).toEqual(Array.from(image.subarray(row.address - 0x10010000, row.address - 0x10010000 + row.bytes.length)));
      }
    }
  }, 120_000);

  it('flashes the bundled hello sample and shows its decoded defmt lines in the console', async () => {
    await page.selectOption('[data-testid=bundled-sample]', 'hello');
    await page.waitForSelector('[data-testid=file-name]:has-text("hello-rp2040.elf")');
    const clicked = Date.now();
    await page.click('[data-testid=flash-run]');
    const result = await page.waitForSelector('[data-testid=flash-result]:has-text("hello-rp2040.elf")', { timeout: 60_000 });
    const flashedAt = Date.now();
    expect(await result.textContent()).toMatch(/^✓ hello-rp2040\.elf: .*verified \(crc\)/);
    // The firmware's first line, decoded with the ELF's defmt table and located by its DWARF.
    await page.waitForFunction(() => /hello from dapdeck on rp2040/.test((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText()), null, { timeout: 30_000, polling: 20 });
    const firstLine = Date.now();
    console.log(`pico-page: Flash & run of hello-rp2040.elf: flashed and verified after ${flashedAt - clicked} ms, first log line after ${firstLine - clicked} ms`);
    await page.waitForFunction(() => /tick 3/.test((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText()), null, { timeout: 30_000 });
    const text = await terminalText();
    expect(text).toMatch(/0\.000000 INFO  hello from dapdeck on rp2040\s+hello::log_showcase @ firmware-samples\/hello\/src\/main\.rs:\d+/);
    expect(text).toMatch(/INFO  signed -128 -32768 -2147483648 -9223372036854775808/);
    // SysTick counts in the firmware: tick N at N × 0.1 s of its own clock, in order.
    const ticks = [...text.matchAll(/(\d+\.\d{6}) INFO  tick (\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(ticks.slice(0, 3).map(([, n]) => n)).toEqual([1, 2, 3]);
    for (const [seconds, n] of ticks) expect(seconds).toBeCloseTo(n / 10, 6);
    await page.screenshot({ path: resolve(ARTIFACTS, 'pico-page-hello.png') });
  }, 120_000);

  it('flashes the bundled tasks sample and draws its task and ISR lanes from SystemView', async () => {
    await page.selectOption('[data-testid=bundled-sample]', 'tasks');
    await page.waitForSelector('[data-testid=file-name]:has-text("tasks-rp2040.elf")');
    await page.click('[data-testid=flash-run]');
    const result = await page.waitForSelector('[data-testid=flash-result]:has-text("tasks-rp2040.elf")', { timeout: 60_000 });
    expect(await result.textContent()).toMatch(/verified \(crc\)/);
    await page.waitForFunction(() => /tasks: blink every 2 ms, sensor on TIMER ALARM0 every 5 ms/.test((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText()), null, { timeout: 30_000 });
    // The executor's reports: its own counters of task runs, growing.
    await page.waitForFunction(() => ((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText().match(/report: blink ran \d+ times/g) ?? []).length >= 2, null, { timeout: 30_000 });
    const reports = [...(await terminalText()).matchAll(/report: blink ran (\d+) times, sensor (\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(reports[1][0]).toBeGreaterThan(reports[0][0]);
    expect(reports[1][1]).toBeGreaterThan(reports[0][1]);
    await page.click('[data-testid=tab-timeline]');
    await page.click('[data-testid=trace-toggle]');
    const statsRows = () => page.$$eval('[data-testid=timeline-stats] tbody tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')));
    await page.waitForFunction(
      () => {
        const rows = Array.from(document.querySelectorAll('[data-testid=timeline-stats] tbody tr'), (tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? ''));
        const runs = (name: string) => Number(rows.find((r) => r[0] === name)?.[2] ?? 0);
        return ['SysTick', 'TIMER_IRQ_0', 'blink', 'sensor', 'report'].every((n) => runs(n) > 0);
      },
      null,
      { timeout: 60_000 },
    );
    const rows = await statsRows();
    const kind = (name: string) => rows.find((r) => r[0] === name)![1];
    expect(['blink', 'sensor', 'report'].map(kind)).toEqual(['task', 'task', 'task']);
    expect(['SysTick', 'TIMER_IRQ_0'].map(kind)).toEqual(['isr', 'isr']);
    await page.waitForTimeout(500);
    await page.screenshot({ path: resolve(ARTIFACTS, 'pico-page-timeline.png') });
    console.log(`pico-page: while tracing tasks, ${await page.textContent('[data-testid=emulator-speed]')}`);
    await page.click('[data-testid=trace-toggle]');
    await page.click('[data-testid=tab-console]');
  }, 120_000);

  it('reaches a Debug Probe over WebUSB from the same static page', async () => {
    // The "Debug Probe": emu:pico behind the v2 probe model in this process; each USB transfer the
    // page makes is one packet to or from it (no server, no socket).
    usbProbe = await openProbe('emu:pico', { blank: true });
    const probe = usbProbe;
    const usbPage = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    usbPage.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    usbPage.on('websocket', (ws) => sockets.push(ws.url()));
    await usbPage.exposeFunction('debugProbeOpen', () => probe.transport.open());
    await usbPage.exposeFunction('debugProbeClose', () => probe.transport.close());
    await usbPage.exposeFunction('debugProbeOut', async (bytes: number[]) => probe.transport.write(Uint8Array.from(bytes)));
    await usbPage.exposeFunction('debugProbeIn', async () => {
      const view = await probe.transport.read();
      return Array.from(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    });
    await usbPage.addInitScript((packetSize: number) => {
      type Bridge = { debugProbeOpen(): Promise<void>; debugProbeClose(): Promise<void>; debugProbeOut(b: number[]): Promise<void>; debugProbeIn(): Promise<number[]> };
      const bridge = window as unknown as Bridge;
      // The Raspberry Pi Debug Probe's USB shape: 2e8a:000c, a CMSIS-DAP v2 vendor interface with bulk OUT/IN.
      const ep = (n: number, direction: string) => ({ endpointNumber: n, direction, type: 'bulk', packetSize });
      const device = {
        opened: false,
        configuration: null as unknown,
        vendorId: 0x2e8a,
        productId: 0x000c,
        manufacturerName: 'Raspberry Pi',
        productName: 'Debug Probe (CMSIS-DAP)',
        claimed: -1,
        async open() {
          await bridge.debugProbeOpen();
          this.opened = true;
        },
        async selectConfiguration() {
          this.configuration = { interfaces: [{ interfaceNumber: 0, alternates: [{ interfaceClass: 0xff, interfaceName: 'CMSIS-DAP v2 Interface', endpoints: [ep(4, 'out'), ep(5, 'in')] }] }] };
        },
        async claimInterface(n: number) {
          this.claimed = n;
        },
        async releaseInterface() {},
        async close() {
          await bridge.debugProbeClose();
          this.opened = false;
        },
        async transferOut(n: number, data: ArrayBuffer | ArrayBufferView) {
          if (this.claimed !== 0 || n !== 4) return { status: 'stall', bytesWritten: 0 };
          const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
          await bridge.debugProbeOut(Array.from(bytes));
          return { status: 'ok', bytesWritten: bytes.length };
        },
        async transferIn(n: number) {
          if (this.claimed !== 0 || n !== 5) return { status: 'stall' };
          return { status: 'ok', data: new DataView(Uint8Array.from(await bridge.debugProbeIn()).buffer) };
        },
      };
      Object.defineProperty(navigator, 'usb', { configurable: true, value: { requestDevice: async () => device, getDevices: async () => [device], addEventListener() {}, removeEventListener() {} } });
    }, probe.transport.packetSize);
    await usbPage.goto(url);
    await usbPage.click('[data-testid=connect-usb]');
    await usbPage.waitForSelector('[data-testid=status]:has-text("Raspberry Pi Debug Probe (CMSIS-DAP) (WebUSB) — Cortex-M0+")', { timeout: 30_000 });
    await usbPage.click('[data-testid=halt]');
    await usbPage.waitForSelector('[data-testid=target-state][data-state=halted]', { timeout: 10_000 });
    const pc = parseInt((await usbPage.textContent('[data-testid=registers] tr:has(td:text-is("pc")) td:nth-child(2)'))!, 16);
    expect(pc).toBeLessThan(0x4000); // blank flash: the core waits in the ROM
    // The probe model counted the page's packets: the session ran over WebUSB, not in the page's worker.
    expect(probe.stats!().commands).toBeGreaterThan(10);
    await usbPage.close();
  }, 60_000);

  it('used nothing but the static files: no probe socket, no CSP refusal, no page error', () => {
    expect(sockets).toEqual([]);
    expect(problems).toEqual([]);
    // The page looked for a probe server and found none (404s), then loaded the ROM asset from the build.
    expect(requested).toContain('/api/probes');
    for (const name of ['bootrom', 'hello', 'tasks']) expect(requested.some((p) => new RegExp(`^/assets/${name}-rp2040-[\\w-]+\\.elf$`).test(p))).toBe(true);
  });
});
