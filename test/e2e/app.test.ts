/**
 * The web app end to end in Chromium (playwright-core driving Debian's /usr/bin/chromium) against
 * `dapdeck serve`: pick the emulated micro:bit, flash hello, read decoded lines in the xterm
 * console, filter by level, then flash the tasks sample and see its timeline lanes. Screenshots
 * land in test-artifacts/ for people to look at.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { serve, type RunningServer } from '../../main/serve/server';
import { firmwarePath } from '../support/firmware';
import { buildWebApp } from '../../main/web/build';

const ROOT = resolve(__dirname, '../..');
const ARTIFACTS = resolve(ROOT, 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';

let server: RunningServer;
let browser: Browser;
let page: Page;

const terminalText = () => page.evaluate(() => (window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText());

beforeAll(async () => {
  // Always from the current sources: a stale build would test yesterday's app (about 2 s).
  buildWebApp();
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/install-system-deps.sh installs Debian's chromium`);
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await serve({ port: 0 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('pageerror', (err) => console.error('page error:', err.message));
  page.on('console', (m) => {
    if (m.type() === 'error') console.error('page console:', m.text());
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});


type ShimWindow = Window & { openProbeSocket(url: string, onPacket: (packet: ArrayBuffer) => void): Promise<{ ws: WebSocket; packetSize: number }> };

/**
 * For the USB and HID shims (runs in the page): a socket to a probe on `dapdeck serve`, open once
 * the server has said which probe it is; each binary message is one packet from the probe model.
 */
function installProbeSocket(): void {
  (window as unknown as ShimWindow).openProbeSocket = (url, onPacket) =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      ws.onmessage = (e) => {
        if (typeof e.data !== 'string') return onPacket(e.data);
        const m = JSON.parse(e.data);
        if (m.type === 'probe') resolve({ ws, packetSize: m.packetSize });
        else reject(new Error(m.message));
      };
      ws.onerror = () => reject(new Error('shim: probe server unreachable'));
    });
}
describe('the web app', () => {
  it('connects to the emulated micro:bit, flashes hello with progress, and shows decoded, located lines', async () => {
    await page.goto(server.url);
    await page.selectOption('[data-testid=probe]', 'emu:microbit');
    await page.click('[data-testid=connect]');
    await page.waitForSelector('[data-testid=status]:has-text("Cortex-M0")', { timeout: 30_000 });
    await page.setInputFiles('[data-testid=file]', firmwarePath('hello', 'microbit'));
    await page.click('[data-testid=flash-run]');
    await page.waitForSelector('[data-testid=progress]', { timeout: 30_000 });
    await page.screenshot({ path: resolve(ARTIFACTS, 'flash-progress.png') });
    const result = await page.waitForSelector('[data-testid=flash-result]', { timeout: 60_000 });
    expect(await result.textContent()).toMatch(/verified \(crc\)/);
    await page.waitForFunction(() => /tick 3/.test((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText()), null, { timeout: 30_000 });
    const text = await terminalText();
    expect(text).toMatch(/0\.000000 INFO  hello from dapdeck on microbit\s+hello::log_showcase @ firmware-samples\/hello\/src\/main\.rs:\d+/);
    expect(text).toMatch(/0\.000000 ERROR error level: code -1/);
    expect(text).toMatch(/0\.100000 INFO  tick 1/);
    await page.screenshot({ path: resolve(ARTIFACTS, 'console.png') });
  }, 120_000);

  it('filters the console by level and by text', async () => {
    for (const level of ['trace', 'debug', 'info']) await page.uncheck(`[data-testid=level-${level}]`);
    // xterm parses writes asynchronously: wait until the redraw has landed.
    await page.waitForFunction(() => !/INFO /.test((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText()), null, { timeout: 10_000 });
    const text = await terminalText();
    expect(text).toMatch(/WARN  bitfield 5 1010/);
    expect(text).toMatch(/ERROR error level: code -1/);
    expect(text).not.toMatch(/INFO |DEBUG |TRACE /);
    await page.screenshot({ path: resolve(ARTIFACTS, 'console-filtered.png') });
    for (const level of ['trace', 'debug', 'info']) await page.check(`[data-testid=level-${level}]`);
    await page.fill('[data-testid=filter]', 'Point');
    await page.waitForFunction(() => !/tick/.test((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText()), null, { timeout: 10_000 });
    const points = (await terminalText()).split('\n').filter((l) => l.trim());
    expect(points.length).toBeGreaterThanOrEqual(2);
    expect(points.every((l) => l.includes('Point'))).toBe(true);
    await page.fill('[data-testid=filter]', '');
  }, 60_000);

  it('flashes the tasks sample and draws its task and ISR lanes', async () => {
    for (const level of ['trace', 'debug', 'info', 'warn', 'error']) await page.check(`[data-testid=level-${level}]`);
    await page.fill('[data-testid=filter]', '');
    await page.setInputFiles('[data-testid=file]', firmwarePath('tasks', 'microbit'));
    await page.click('[data-testid=flash-run]');
    await page.waitForSelector('[data-testid=flash-result]:has-text("tasks-microbit.elf")', { timeout: 60_000 });
    await page.waitForFunction(() => /tasks: blink every 2 ms/.test((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText()), null, { timeout: 30_000 });
    await page.click('[data-testid=tab-timeline]');
    await page.click('[data-testid=trace-toggle]');
    await page.waitForFunction(
      () => {
        // Lanes appear with the task list at the start of the recording; wait for runs in them.
        const rows = Array.from(document.querySelectorAll('[data-testid=timeline-stats] tbody tr'), (tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? ''));
        const runs = (name: string) => Number(rows.find((r) => r[0] === name)?.[2] ?? 0);
        return ['SysTick', 'TIMER0', 'blink', 'sensor', 'report'].every((n) => rows.some((r) => r[0] === n)) && runs('blink') > 0 && runs('SysTick') > 0;
      },
      null,
      { timeout: 30_000 },
    );
    const rows = await page.$$eval('[data-testid=timeline-stats] tbody tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')));
    const blink = rows.find((r) => r[0] === 'blink')!;
    expect(blink[1]).toBe('task');
    expect(Number(blink[2])).toBeGreaterThan(0);
    await page.waitForTimeout(500);
    await page.screenshot({ path: resolve(ARTIFACTS, 'timeline.png') });
    // Zoom out with the keyboard: the worker redraws the whole recording from the model.
    await page.focus('[data-testid=timeline-canvas]');
    for (let i = 0; i < 12; i++) await page.keyboard.press('-');
    await page.waitForFunction(() => {
      const m = /showing ([\d.]+) ms of ([\d.]+) ms/.exec(document.querySelector('[data-testid=timeline]')?.textContent ?? '');
      return !!m && Number(m[1]) > 200;
    });
    await page.waitForTimeout(400);
    // The CPU-load strip under the lanes: everything but Idle over the window; for this firmware
    // (mostly asleep) it agrees with the Idle lane's share in the statistics.
    const load = Number(await page.getAttribute('[data-testid=timeline-canvas]', 'data-cpu-load'));
    const idleShare = Number((await page.$$eval('[data-testid=timeline-stats] tbody tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')))).find((r) => r[0] === 'Idle')![3].replace('%', '')) / 100;
    expect(load).toBeGreaterThan(0);
    expect(load).toBeLessThan(0.2);
    expect(Math.abs(1 - idleShare - load)).toBeLessThan(0.03);
    const box = (await page.$('[data-testid=timeline-canvas]'))!;
    const rect = (await box.boundingBox())!;
    await page.mouse.move(rect.x + rect.width / 2, rect.y + 7 * 26 + 30);
    await page.waitForFunction(() => /CPU load [\d.]+ % at [\d.]+ ms/.test(document.querySelector('[data-testid=timeline]')?.textContent ?? ''));
    await page.screenshot({ path: resolve(ARTIFACTS, 'timeline-zoomed-out.png') });
  }, 120_000);

  it('runs the real WebUSB transport against a navigator.usb shim bridged to the probe model', async () => {
    const usbPage = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await usbPage.addInitScript(installProbeSocket);
    const probeUrl = `${server.url.replace('http', 'ws')}probe?selector=sim:cortex-m3`;
    // A stand-in for a USB CMSIS-DAP v2 probe: one vendor interface, bulk OUT/IN; each transfer is
    // one packet to/from the strict probe model behind dapdeck serve.
    await usbPage.addInitScript((url: string) => {
      class FakeDevice {
        opened = false;
        configuration: unknown = null;
        productName = 'Dapdeck virtual CMSIS-DAP v2';
        manufacturerName = 'Dapdeck';
        vendorId = 0x1209;
        productId = 0xda9d;
        packetSize = 64;
        ws: WebSocket | null = null;
        queue: ArrayBuffer[] = [];
        waiters: ((b: ArrayBuffer) => void)[] = [];
        transfers = 0;
        opens = 0;
        async open() {
          this.opens++;
          this.queue = [];
          this.waiters = [];
          const { ws, packetSize } = await (window as unknown as ShimWindow).openProbeSocket(url, (packet) => {
            const w = this.waiters.shift();
            if (w) w(packet);
            else this.queue.push(packet);
          });
          this.ws = ws;
          this.packetSize = packetSize;
          this.opened = true;
        }
        async selectConfiguration() {
          const ep = (n: number, direction: string) => ({ endpointNumber: n, direction, type: 'bulk', packetSize: this.packetSize });
          // Like a board with another vendor interface before the probe's (a firmware updater):
          // only the one named CMSIS-DAP leads to the probe.
          this.configuration = {
            interfaces: [
              { interfaceNumber: 0, alternates: [{ interfaceClass: 0xff, interfaceName: 'Firmware update', endpoints: [ep(3, 'out'), ep(4, 'in')] }] },
              { interfaceNumber: 1, alternates: [{ interfaceClass: 0xff, interfaceName: 'CMSIS-DAP v2', endpoints: [ep(1, 'out'), ep(2, 'in')] }] },
            ],
          };
        }
        claimed = -1;
        async claimInterface(n: number) {
          this.claimed = n;
        }
        async releaseInterface() {}
        async close() {
          this.ws?.close();
          this.opened = false;
        }
        async transferOut(ep: number, data: ArrayBuffer) {
          if (this.claimed !== 1 || ep !== 1) return { status: 'stall', bytesWritten: 0 };
          this.transfers++;
          this.ws!.send(data);
          return { status: 'ok', bytesWritten: data.byteLength };
        }
        async transferIn(ep: number) {
          if (this.claimed !== 1 || ep !== 2) return { status: 'stall' };
          const buffer = this.queue.shift() ?? (await new Promise<ArrayBuffer>((r) => this.waiters.push(r)));
          return { status: 'ok', data: new DataView(buffer) };
        }
      }
      const device = new FakeDevice();
      (window as unknown as { shimDevice: FakeDevice }).shimDevice = device;
      Object.defineProperty(navigator, 'usb', { configurable: true, value: { requestDevice: async () => device, getDevices: async () => [device] } });
    }, probeUrl);
    await usbPage.goto(server.url);
    await usbPage.click('[data-testid=connect-usb]');
    await usbPage.waitForSelector('[data-testid=status]:has-text("(WebUSB) — Cortex-M3")', { timeout: 30_000 });
    expect(await usbPage.textContent('[data-testid=status]')).toMatch(/^Dapdeck virtual CMSIS-DAP v2 \(WebUSB\)/); // the maker is not said twice
    await usbPage.click('[data-testid=halt]');
    await usbPage.waitForSelector('.registers td:has-text("pc")', { timeout: 30_000 });
    const transfers = await usbPage.evaluate(() => (window as unknown as { shimDevice: { transfers: number } }).shimDevice.transfers);
    expect(transfers).toBeGreaterThan(5);
    // The probe list shows the device in use; Reconnect reopens that device, not a listed one.
    expect(await usbPage.$eval('[data-testid=probe]', (el) => (el as HTMLSelectElement).selectedOptions[0].textContent)).toBe('USB: Dapdeck virtual CMSIS-DAP v2');
    await usbPage.click('[data-testid=connect]');
    await usbPage.waitForFunction(() => (window as unknown as { shimDevice: { opens: number } }).shimDevice.opens === 2, null, { timeout: 30_000 });
    // Connected again (the shim's reopened socket is a fresh probe model, its core running): the
    // state is the new session's, and the registers read at the old session's halt are gone.
    await usbPage.waitForFunction(
      () => !document.querySelector('.registers') && document.querySelector('[data-testid=target-state]')?.getAttribute('data-state') === 'running' && (document.querySelector('[data-testid=status]')?.textContent ?? '').includes('(WebUSB) — Cortex-M3'),
      null,
      { timeout: 30_000 },
    );
    await usbPage.screenshot({ path: resolve(ARTIFACTS, 'webusb.png') });
    await usbPage.close();
  }, 60_000);

  it('reaches a probe on another dapdeck serve (token-guarded) and reads its memory', async () => {
    const other = await serve({ port: 0, token: 'remote-token' });
    const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await p.goto(server.url);
      await p.fill('[data-testid=server]', `${new URL(other.url).host}/?token=remote-token`);
      await p.fill('[data-testid=remote-selector]', 'sim:cortex-m3');
      await p.click('[data-testid=connect]');
      await p.waitForSelector('[data-testid=status]:has-text("Cortex-M3")', { timeout: 30_000 });
      await p.fill('[data-testid=mem-address]', '0xE000ED00');
      await p.click('.memory button[type=submit]');
      const dump = await p.waitForSelector('[data-testid=memory-dump]', { timeout: 10_000 });
      // CPUID of the Cortex-M3 model (0x412FC230), little-endian.
      expect(await dump.textContent()).toMatch(/^e000ed00  30 c2 2f 41 [0-9a-f ]{11} {2}0\.\/A\.{4}\ne000ed08  /); // 8 bytes a line: fits the panel
      await p.screenshot({ path: resolve(ARTIFACTS, 'remote-memory.png') });
    } finally {
      await p.close();
      await other.close();
    }
  }, 60_000);

  it('runs the WebHID (CMSIS-DAP v1) transport against a navigator.hid shim bridged to the v1 probe model', async () => {
    const hidPage = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await hidPage.addInitScript(installProbeSocket);
    const probeUrl = `${server.url.replace('http', 'ws')}probe?selector=sim:cortex-m0&flavour=v1-hid`;
    await hidPage.addInitScript((url: string) => {
      // A stand-in HID probe: 64-byte output reports to the probe model, its 64-byte answers as input reports.
      class FakeHid extends EventTarget {
        opened = false;
        productName = 'Dapdeck virtual CMSIS-DAP v1';
        reports = 0;
        ws: WebSocket | null = null;
        async open() {
          const { ws } = await (window as unknown as ShimWindow).openProbeSocket(url, (packet) => {
            const ev = new Event('inputreport') as Event & { data: DataView; reportId: number };
            ev.data = new DataView(packet);
            ev.reportId = 0;
            this.dispatchEvent(ev);
          });
          this.ws = ws;
          this.opened = true;
        }
        async close() {
          this.ws?.close();
          this.opened = false;
        }
        async sendReport(_id: number, data: Uint8Array) {
          if (data.byteLength !== 64) throw new Error(`HID reports are 64 bytes, got ${data.byteLength}`);
          this.reports++;
          // The model takes the command bytes; HID padding is not part of the command.
          this.ws!.send(data as Uint8Array<ArrayBuffer>);
        }
      }
      const device = new FakeHid();
      (window as unknown as { shimHid: FakeHid }).shimHid = device;
      Object.defineProperty(navigator, 'hid', { configurable: true, value: { requestDevice: async () => [device], getDevices: async () => [device] } });
    }, probeUrl);
    await hidPage.goto(server.url);
    await hidPage.click('[data-testid=connect-hid]');
    await hidPage.waitForSelector('[data-testid=status]:has-text("(WebHID, CMSIS-DAP v1) — Cortex-M0")', { timeout: 30_000 });
    await hidPage.fill('[data-testid=mem-address]', '0xE000ED00');
    await hidPage.click('.memory button[type=submit]');
    const dump = await hidPage.waitForSelector('[data-testid=memory-dump]', { timeout: 10_000 });
    expect(await dump.textContent()).toMatch(/^e000ed00  00 c2 0c 41/); // Cortex-M0 CPUID 0x410CC200
    expect(await hidPage.evaluate(() => (window as unknown as { shimHid: { reports: number } }).shimHid.reports)).toBeGreaterThan(5);
    await hidPage.close();
  }, 60_000);
});
