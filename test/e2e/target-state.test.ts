/**
 * The app tells the truth about the target, end to end in Chromium against `dapdeck serve` with
 * emulated boards (QEMU): one visible target state that drives which actions are enabled
 * (halt/run/reset/reflash), registers and memory read at a halt and marked stale while running,
 * symbols from the ELF in the memory view, a blank board that refuses Attach and stays usable, a
 * board whose emulator dies, a server killed or frozen mid-stream, and errors in the app's words.
 * Screenshots at 1024×700 and 1440×900 land in test-artifacts/.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { serve, type RunningServer } from '../../main/serve/server';
import { firmwarePath } from '../support/firmware';
import { buildWebApp } from '../../main/web/build';

const ROOT = resolve(__dirname, '../..');
const ARTIFACTS = resolve(ROOT, 'test-artifacts');
// Its own build directory: other browser test files build theirs at the same time.
const WEB_ROOT = resolve(ROOT, 'out/web-e2e-state');
const SIZES = [
  { width: 1024, height: 700 },
  { width: 1440, height: 900 },
];

let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  buildWebApp({ outDir: WEB_ROOT });
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await serve({ port: 0, webRoot: WEB_ROOT });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function newPage(size = SIZES[0]): Promise<Page> {
  const page = await browser.newPage({ viewport: size });
  page.on('pageerror', (err) => console.error('page error:', err.message));
  return page;
}

const stateOf = (page: Page) => page.getAttribute('[data-testid=target-state]', 'data-state');
const waitState = (page: Page, state: string, timeout = 30_000) => page.waitForSelector(`[data-testid=target-state][data-state=${state}]`, { timeout });
const terminalText = (page: Page) => page.evaluate(() => (window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText());
const enabled = (page: Page, ids: string[]) => page.evaluate((list) => Object.fromEntries(list.map((id) => [id, !(document.querySelector(`[data-testid=${id}]`) as HTMLButtonElement).disabled])), ids);
const shotAt = (page: Page, name: string) => page.screenshot({ path: resolve(ARTIFACTS, `${name}-${page.viewportSize()!.width}x${page.viewportSize()!.height}.png`) });
/** The same moment at both sizes (the layout must hold at 1024×700 and use the room at 1440×900). */
async function shot(page: Page, name: string): Promise<void> {
  const original = page.viewportSize()!;
  for (const size of SIZES) {
    await page.setViewportSize(size);
    await page.waitForTimeout(150);
    await shotAt(page, name);
  }
  await page.setViewportSize(original);
}

/** What gdb-multiarch (not this project) says a symbol's address is. */
function gdbAddress(elf: string, expression: string): number {
  const out = execFileSync('gdb-multiarch', ['-batch', '-ex', expression, elf], { encoding: 'utf8' });
  return parseInt(/(?:= |at address )0x([0-9a-f]+)/.exec(out)![1], 16);
}

/** A `dapdeck serve` in a process of its own, so a test can kill or freeze it. */
async function startServerProcess(token: string): Promise<{ child: ChildProcess; host: string }> {
  const child = spawn(process.execPath, [resolve(ROOT, 'bin/dapdeck.cjs'), 'serve', '--port', '0', '--token', token], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((ok, fail) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', ok);
    child.once('exit', (code) => fail(new Error(`dapdeck serve exited (${code})`)));
  });
  return { child, host: new URL(/(http:\/\/\S+)/.exec(line)![1]).host };
}

describe('target state in the app', () => {
  it('shows halted/running/flashing, enables only what applies, reads registers and memory at a halt, marks them stale, clears them on new firmware', async () => {
    const hello = firmwarePath('hello', 'microbit');
    {
      const page = await newPage(SIZES[0]);
      try {
        await page.goto(server.url);
        // First run: the three steps, before anything is connected; nothing to act on yet.
        expect(await page.textContent('[data-testid=first-run]')).toMatch(/Pick a probe.*Connect.*Choose firmware.*Flash & run/s);
        expect(await stateOf(page)).toBe('disconnected');
        expect(await enabled(page, ['halt', 'run', 'reset', 'flash-run', 'attach', 'mem-read'])).toEqual({ halt: false, run: false, reset: false, 'flash-run': false, attach: false, 'mem-read': false });
        expect(await page.textContent('[data-testid=flash-hint]')).toContain('connect to a probe first');
        await shot(page, 'first-run');
        // The header keeps one row at 1024 px whatever the state says.
        const header = await page.$eval('.bar', (bar) => ({ height: bar.getBoundingClientRect().height, outside: [...bar.querySelectorAll('button, select, .target-state')].filter((e) => { const r = e.getBoundingClientRect(); return r.top < 0 || r.bottom > bar.getBoundingClientRect().bottom || r.right > bar.getBoundingClientRect().right; }).length }));
        expect(header).toEqual({ height: 48, outside: 0 });

        // A blank emulated board (a factory-fresh nRF51: erased flash reads 0xFF) sits halted at its
        // erased reset vector.
        await page.click('[data-testid=connect]');
        await waitState(page, 'halted');
        expect(await page.textContent('[data-testid=target-state]')).toMatch(/^Halted \(.+\) · pc 0xffffff(fe|ff)$/);
        expect(await enabled(page, ['halt', 'run', 'reset', 'attach'])).toEqual({ halt: false, run: true, reset: true, attach: true });

        // Attach on it: refused in the app's words, the session stays usable (no timeout, no lost link).
        await page.click('[data-testid=attach]');
        await page.waitForSelector('[data-testid=errors]:has-text("flash is blank")', { timeout: 10_000 });
        expect(await stateOf(page)).toBe('halted');

        // Flash & run: Halt/Reset/Attach/Flash are off while it flashes (recorded as the state changes).
        await page.evaluate(() => {
          const w = window as unknown as { duringFlash?: Record<string, boolean> };
          const observer = new MutationObserver(() => {
            if (document.querySelector('[data-testid=target-state]')?.getAttribute('data-state') !== 'flashing' || w.duringFlash) return;
            w.duringFlash = Object.fromEntries(['halt', 'run', 'reset', 'attach', 'flash-run', 'mem-read', 'connect'].map((id) => [id, !(document.querySelector(`[data-testid=${id}]`) as HTMLButtonElement).disabled]));
          });
          observer.observe(document.body, { subtree: true, attributes: true, childList: true, characterData: true });
        });
        await page.setInputFiles('[data-testid=file]', hello);
        await page.click('[data-testid=flash-run]');
        expect(await page.textContent('[data-testid=errors]').catch(() => null)).toBeNull(); // the next action cleared the old error
        await page.waitForSelector('[data-testid=flash-result]', { timeout: 60_000 });
        expect(await page.evaluate(() => (window as unknown as { duringFlash?: Record<string, boolean> }).duringFlash)).toEqual({ halt: false, run: false, reset: false, attach: false, 'flash-run': false, 'mem-read': false, connect: false });
        await waitState(page, 'running');
        await page.waitForFunction(() => /tick 2/.test((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText()), null, { timeout: 30_000 });
        expect(await enabled(page, ['halt', 'run', 'reset'])).toEqual({ halt: true, run: false, reset: true });

        // Halt: the state says why and where; registers and the memory view are read at the halt.
        await page.click('[data-testid=halt]');
        await waitState(page, 'halted');
        const label = (await page.textContent('[data-testid=target-state]'))!;
        expect(label).toMatch(/^Halted \(by request\) · pc 0x[0-9a-f]{8}$/);
        expect(await page.textContent('[data-testid=registers] h2')).toContain('at halt');
        const pc = await page.textContent('.registers tr:has(td:text-is("pc")) td:nth-child(2)');
        expect(label).toContain(pc!);
        // No new log lines while halted (the firmware is stopped, not quiet): what was already on
        // its way (the last poll's batch) lands first, then nothing.
        await page.waitForTimeout(400);
        const before = await terminalText(page);
        await page.waitForTimeout(600);
        expect(await terminalText(page)).toBe(before);
        // A symbol from the ELF: the address gdb-multiarch gives for hello::main.
        await page.fill('[data-testid=mem-address]', 'main');
        await page.click('[data-testid=mem-read]');
        const main = gdbAddress(hello, 'info address hello::main');
        await page.waitForSelector('[data-testid=memory-caption]:has-text("hello::main")');
        expect(await page.textContent('[data-testid=memory-caption]')).toContain(`hello::main @ 0x${main.toString(16).padStart(8, '0')} · 64 bytes · at halt`);
        const dump = (await page.textContent('[data-testid=memory-dump]'))!;
        expect(dump.split('\n')[0]).toMatch(new RegExp(`^${main.toString(16).padStart(8, '0')}  `));
        // The address column is whole: not scrolled or clipped inside the panel.
        for (const size of SIZES) {
          await page.setViewportSize(size);
          const clipped = await page.$eval('[data-testid=memory-dump]', (pre) => pre.scrollWidth > pre.clientWidth || pre.scrollLeft !== 0);
          expect(clipped, `memory dump clipped at ${size.width}x${size.height}`).toBe(false);
        }
        await page.setViewportSize(SIZES[0]);
        await shot(page, 'halted');

        // Run: the registers and the memory read at the halt stay, marked stale.
        await page.click('[data-testid=run]');
        await waitState(page, 'running');
        await page.waitForSelector('[data-testid=registers] h2:has-text("stale")');
        expect(await page.textContent('[data-testid=memory-caption]')).toContain('stale');
        await page.waitForFunction((t) => (window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText().length > t, before.length, { timeout: 10_000 });

        // Reset: still running (from the reset vector), the log says so.
        await page.click('[data-testid=reset]');
        await page.waitForFunction(() => /\(target reset\)/.test((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText()), null, { timeout: 10_000 });
        expect(await stateOf(page)).toBe('running');

        // A symbol that is not in the ELF is refused, in words.
        await page.fill('[data-testid=mem-address]', 'no_such_symbol');
        await page.click('[data-testid=mem-read]');
        await page.waitForSelector('[data-testid=errors]:has-text("no symbol “no_such_symbol” in hello-microbit.elf")');

        // Reflash (another firmware): what was read from the old one is gone.
        await page.setInputFiles('[data-testid=file]', firmwarePath('tasks', 'microbit'));
        await page.click('[data-testid=flash-run]');
        await page.waitForSelector('[data-testid=flash-result]:has-text("tasks-microbit.elf")', { timeout: 60_000 });
        await waitState(page, 'running');
        expect(await page.$('[data-testid=registers]')).toBeNull();
        expect(await page.$('[data-testid=memory-dump]')).toBeNull();
        expect(await page.$('[data-testid=errors]')).toBeNull();
        await shot(page, 'reflashed');
      } finally {
        await page.close();
      }
    }
  }, 180_000);

  it('a HardFault: the status names it and the function it hit; the console gets one stop block with the backtrace and file:line', async () => {
    const fault = firmwarePath('fault', 'microbit');
    const page = await newPage();
    try {
      await page.goto(server.url);
      await page.click('[data-testid=connect]');
      await waitState(page, 'halted');
      await page.setInputFiles('[data-testid=file]', fault);
      await page.click('[data-testid=flash-run]');
      await page.waitForSelector('[data-testid=flash-result]', { timeout: 60_000 });
      // The sample reads 0x30000004 three calls deep: vector catch halts on HardFault entry.
      await waitState(page, 'halted', 30_000);
      expect(await page.textContent('[data-testid=target-state]')).toMatch(/^Halted \(HardFault in fault::read_register\) · pc 0x[0-9a-f]{8}$/);
      await page.waitForFunction(() => /stack backtrace:/.test((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText()), null, { timeout: 10_000 });
      const text = await terminalText(page);
      expect(text).toContain('fault sample: reading a sensor at 0x30000004');
      expect(text).toMatch(/dapdeck: stopped: HardFault in code at 0x[0-9a-f]{8}/);
      expect(text).toMatch(/faulting code: pc 0x[0-9a-f]{8} \(fault::read_register\), called from 0x[0-9a-f]{8} \(fault::read_sensor\+0x[0-9a-f]+\)/);
      // The same frames the CLI prints (and gdb-multiarch unwinds, test/integration/backtrace.test.ts).
      const frames = [...text.matchAll(/^\s*\d+: 0x[0-9a-f]{8} @ (\S+)/gm)].map((m) => m[1]);
      expect(frames).toEqual(['fault::rt::DefaultHandler', 'core::ptr::read_volatile<u32>', 'fault::read_register', 'fault::read_sensor', 'fault::main', 'fault::rt::Reset']);
      expect(text).toMatch(/<exception entry>/);
      expect(text).toMatch(/at firmware-samples\/fault\/src\/main\.rs:27:\d+/);
      expect(text.match(/dapdeck: stopped:/g)).toHaveLength(1); // one block, not one per status poll
      await shot(page, 'hardfault');
    } finally {
      await page.close();
    }
  }, 150_000);

  it('shows a core that locked up (Run on blank flash) and a Halt that brings it back', async () => {
    const page = await newPage();
    try {
      await page.goto(server.url);
      await page.click('[data-testid=connect]');
      await waitState(page, 'halted');
      // Emulated boards keep what earlier tests flashed, as real ones do: erase the whole chip first,
      // then reset, so the core starts from the empty reset vector.
      await page.fill('[data-testid=erase-range]', '');
      await page.click('[data-testid=erase]');
      await page.waitForSelector('[data-testid=erase-result]:has-text("erased")', { timeout: 120_000 });
      await page.click('[data-testid=reset]');
      // Run on blank flash: the reset vector is empty, the core faults in its fault handler and
      // locks up (DHCSR.S_LOCKUP): neither halted nor running code, and the app says so. (A reset
      // that halts leaves it at the empty vector; one that runs locks it up already.) Wait for the
      // reset's outcome first: Run is disabled while it is under way.
      await page.waitForSelector('[data-testid=target-state][data-lockup=yes], [data-testid=target-state][data-state=halted]:not([data-lockup=yes])', { timeout: 30_000 });
      if ((await page.getAttribute('[data-testid=target-state]', 'data-lockup')) !== 'yes') await page.click('[data-testid=run]');
      await page.waitForSelector('[data-testid=target-state][data-lockup=yes]', { timeout: 10_000 });
      expect(await page.textContent('[data-testid=target-state]')).toMatch(/^Locked up/);
      expect(await enabled(page, ['halt', 'reset', 'mem-read'])).toEqual({ halt: true, reset: true, 'mem-read': true });
      await shot(page, 'locked-up');
      // A debugger halt ends lockup (ARMv7-M C1.6); the session was usable throughout.
      await page.click('[data-testid=halt]');
      await waitState(page, 'halted');
      await page.click('[data-testid=mem-read]');
      await page.waitForSelector('[data-testid=memory-dump]', { timeout: 10_000 });
    } finally {
      await page.close();
    }
  }, 120_000);

  it('notices a probe server killed or frozen mid-stream at once, without waiting on requests, and offers Reconnect', async () => {
    const token = 'state-test';
    const page = await newPage();
    const servers: ChildProcess[] = [];
    try {
      await page.goto(server.url);
      for (const how of ['killed', 'frozen'] as const) {
        const { child, host } = await startServerProcess(token);
        servers.push(child);
        await page.fill('[data-testid=server]', `${host}/?token=${token}`);
        await page.fill('[data-testid=remote-selector]', 'emu:microbit');
        await page.click('[data-testid=connect]');
        await waitState(page, 'halted');
        await page.setInputFiles('[data-testid=file]', firmwarePath('hello', 'microbit'));
        await page.click('[data-testid=flash-run]');
        await waitState(page, 'running', 60_000);
        await page.waitForFunction(() => /tick 1/.test((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText()), null, { timeout: 30_000 });
        const started = Date.now();
        if (how === 'killed') child.kill('SIGTERM');
        else child.kill('SIGSTOP');
        await waitState(page, 'lost', 15_000);
        const noticed = Date.now() - started;
        const reason = (await page.textContent('[data-testid=lost]'))!;
        if (how === 'killed') {
          expect(reason).toContain('the probe server closed the connection');
          expect(noticed).toBeLessThan(3000);
        } else {
          expect(reason).toContain('the probe server stopped answering');
        }
        await shot(page, `server-${how}`);
        // Nothing waits on the dead transport: actions are off, and the state stays put.
        expect(await enabled(page, ['halt', 'reset', 'flash-run', 'attach', 'mem-read', 'reconnect'])).toEqual({ halt: false, reset: false, 'flash-run': false, attach: false, 'mem-read': false, reconnect: true });
        if (how === 'frozen') {
          child.kill('SIGCONT');
          child.kill('SIGTERM');
        }
        await new Promise((ok) => (child.exitCode !== null || child.signalCode !== null ? ok(null) : child.once('exit', ok)));
      }
    } finally {
      for (const c of servers) {
        if (c.exitCode === null && c.signalCode === null) {
          c.kill('SIGCONT');
          c.kill('SIGTERM');
        }
      }
      await page.close();
    }
  }, 180_000);

  it('survives a reload mid-stream: the console history is back, and the same firmware streams on (reattached, not reflashed)', async () => {
    const page = await newPage();
    const ticks = (text: string) => [...text.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
    try {
      await page.goto(server.url);
      await page.click('[data-testid=connect]');
      await waitState(page, 'halted');
      await page.setInputFiles('[data-testid=file]', firmwarePath('hello', 'microbit'));
      await page.click('[data-testid=flash-run]');
      await page.waitForFunction(() => /tick 4\b/.test((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText()), null, { timeout: 60_000 });
      const flashes = await page.textContent('[data-testid=flash-result]');
      expect(flashes).toMatch(/verified/);

      await page.reload();
      // At once, before any new line: the history of this tab's session, then a note saying so.
      await page.waitForFunction(() => /restored \d+ lines? from before the page was reloaded/.test((window as unknown as { dapdeckTerminalText?(): string }).dapdeckTerminalText?.() ?? ''));
      const restored = await terminalText(page);
      const [history] = restored.split(/restored \d+ lines? from before the page was reloaded/);
      expect(history).toContain('hello from dapdeck');
      const lastBefore = Math.max(...ticks(history));
      expect(lastBefore).toBeGreaterThanOrEqual(4);
      // The chosen file is still chosen.
      expect(await page.textContent('[data-testid=file-name]')).toMatch(/^hello-microbit\.elf/);

      // The page takes its board over (the server held it): running, and the log streams on from
      // the same firmware — its SysTick count continues (a reflash or reset would start at tick 1
      // and print the banner again), decoded with the kept ELF (located lines).
      await waitState(page, 'running', 30_000);
      await page.waitForFunction(
        (n) => {
          const text = (window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText();
          const after = text.split(/reattached to /)[1] ?? '';
          return [...after.matchAll(/tick (\d+)/g)].some((m) => Number(m[1]) > n);
        },
        lastBefore,
        { timeout: 30_000 },
      );
      const after = (await terminalText(page)).split(/reattached to /)[1];
      expect(after).toMatch(/^.*the firmware kept running/);
      expect(after).not.toContain('hello from dapdeck');
      expect(after).not.toMatch(/the board from before is gone/);
      const newTicks = ticks(after);
      expect(Math.min(...newTicks)).toBeGreaterThan(1);
      expect(newTicks).toEqual([...newTicks].sort((a, b) => a - b));
      expect(after).toMatch(/tick \d+\s+.*main\.rs:\d+/);
      // No flash happened in this page.
      expect(await page.$('[data-testid=flash-result]')).toBeNull();
      await shot(page, 'reloaded-mid-stream');
    } finally {
      await page.close();
    }
  }, 180_000);

  it('shows errors in their own dismissable area, in the app’s words, and asks a .bin for its base address', async () => {
    const page = await newPage();
    try {
      await page.goto(server.url);
      // A Cortex-M3 board with the nRF51 chip chosen: the app names its own menu, not a CLI flag.
      await page.selectOption('[data-testid=probe]', 'emu:lm3s6965evb');
      await page.click('[data-testid=connect]');
      await waitState(page, 'halted');
      await page.setInputFiles('[data-testid=file]', firmwarePath('hello', 'microbit'));
      await page.click('[data-testid=flash-only]');
      const error = await page.waitForSelector('[data-testid=errors] .error', { timeout: 30_000 });
      const text = (await error.textContent())!;
      expect(text).toContain('choose the right chip in the Chip menu');
      expect(text).not.toMatch(/--chip|--base/);
      expect(await stateOf(page)).toBe('halted');
      // The error wraps inside its area (no clipped line), and is red, not the status colour.
      const box = await page.$eval('[data-testid=errors] .error', (el) => ({ scroll: el.scrollWidth - el.clientWidth, lines: Math.round(el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight || '18')), colour: getComputedStyle(el).color }));
      expect(box.scroll).toBeLessThanOrEqual(0);
      expect(box.colour).not.toBe('rgb(129, 199, 132)');
      await shot(page, 'error');
      await page.click('[data-testid=errors] .dismiss');
      expect(await page.$('[data-testid=errors]')).toBeNull();

      // A raw .bin: the base address field appears; Flash waits for a valid address.
      const bin = resolve(ARTIFACTS, '..', 'out', 'e2e-image.bin');
      writeFileSync(bin, Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 7) & 0xff)));
      await page.setInputFiles('[data-testid=file]', bin);
      await page.fill('[data-testid=bin-base]', 'start');
      expect((await enabled(page, ['flash-only']))['flash-only']).toBe(false);
      expect(await page.textContent('[data-testid=flash-hint]')).toContain('base address');
      await page.fill('[data-testid=bin-base]', '0x00000000');
      expect((await enabled(page, ['flash-only']))['flash-only']).toBe(true);
    } finally {
      await page.close();
    }
  }, 120_000);

  it('console: echoes what is sent (channel and line ending chosen), finds with a count, counts lines while paused, Clear stays cleared, case option, Copy needs a selection, DOM renderer on software GL', async () => {
    const page = await newPage();
    const text = () => terminalText(page);
    try {
      await page.goto(server.url);
      await page.click('[data-testid=connect]');
      await waitState(page, 'halted');
      await page.setInputFiles('[data-testid=file]', firmwarePath('hello', 'microbit'));
      await page.click('[data-testid=flash-run]');
      await page.waitForFunction(() => /tick 3\b/.test((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText()), null, { timeout: 60_000 });

      // Chromium here renders WebGL with SwiftShader: the console uses xterm's DOM renderer.
      const renderer = await page.evaluate(() => (window as unknown as { dapdeckRenderer: { kind: string; reason: string } }).dapdeckRenderer);
      expect(renderer.kind).toBe('dom');
      expect(renderer.reason).toMatch(/software-rendered \(.*SwiftShader/);

      // Sent text is echoed with the channel and the line ending it went with.
      expect(await page.$$eval('[data-testid=down-channel] option', (os) => os.map((o) => o.textContent))).toContain('↓0 Terminal');
      await page.selectOption('[data-testid=line-ending]', { label: 'CRLF' });
      await page.fill('[data-testid=rtt-input]', 'status please');
      await page.press('[data-testid=rtt-input]', 'Enter');
      await page.waitForFunction(() => /↓0 status please␍␊/.test((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText()), null, { timeout: 10_000 });

      // Find: a count of matches, or "not found".
      await page.fill('[data-testid=find]', 'tick 2');
      await page.press('[data-testid=find]', 'Enter');
      await page.waitForSelector('[data-testid=find-result]:has-text(" of ")');
      expect(await page.textContent('[data-testid=find-result]')).toMatch(/^1 of \d+$/);
      await page.fill('[data-testid=find]', 'no such text anywhere');
      await page.press('[data-testid=find]', 'Enter');
      await page.waitForSelector('[data-testid=find-result]:has-text("not found")');

      // Paused: the view stands still and says how many lines wait.
      await page.check('[data-testid=pause]');
      const frozen = await text();
      await page.waitForSelector('[data-testid=unseen]', { timeout: 10_000 });
      expect(await page.textContent('[data-testid=unseen]')).toMatch(/^\d+ new lines?$/);
      expect(await text()).toBe(frozen);
      await page.click('[data-testid=unseen]'); // resumes
      await page.waitForFunction((t) => (window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText() !== t, frozen);

      // Clear stays cleared when a filter changes; the filter ignores case unless asked not to.
      await page.click('[data-testid=clear]');
      await page.fill('[data-testid=filter]', 'TICK');
      await page.waitForFunction(() => /tick \d+/.test((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText()), null, { timeout: 10_000 });
      const afterClear = await text();
      expect(afterClear).not.toMatch(/hello from dapdeck|tick 1\b|tick 2\b|tick 3\b/);
      await page.check('[data-testid=filter-case]');
      await page.waitForFunction(() => !/tick/.test((window as unknown as { dapdeckTerminalText(): string }).dapdeckTerminalText()));
      await page.uncheck('[data-testid=filter-case]');
      await page.fill('[data-testid=filter]', '');

      // Copy without a selection is off: the clipboard keeps what it had.
      await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
      await page.evaluate(() => navigator.clipboard.writeText('kept'));
      expect(await page.$eval('[data-testid=copy]', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('kept');
      await shot(page, 'console');
    } finally {
      await page.close();
    }
  }, 120_000);

  it('timeline: a counter while recording, the span under the cursor (cleared on leave), zoom at the cursor, an axis in the units of the window, two-point measure, save/load and Perfetto export, cleared on reflash', async () => {
    const page = await newPage();
    try {
      await page.goto(server.url);
      await page.click('[data-testid=connect]');
      await waitState(page, 'halted');
      await page.setInputFiles('[data-testid=file]', firmwarePath('tasks', 'microbit'));
      await page.click('[data-testid=flash-run]');
      await waitState(page, 'running', 60_000);
      await page.click('[data-testid=tab-timeline]');
      await page.click('[data-testid=trace-toggle]');
      await page.waitForSelector('[data-testid=timeline-canvas]:visible', { timeout: 30_000 });
      await page.waitForFunction(() => /(\d+) events, [\d.]+ KiB/.test(document.querySelector('[data-testid=timeline-hint]')?.textContent ?? ''));
      await page.waitForTimeout(1500);
      await page.click('[data-testid=trace-toggle]'); // stop: the picture holds still from here
      await page.waitForTimeout(600);
      const canvas = (await (await page.$('[data-testid=timeline-canvas]'))!.boundingBox())!;
      const hint = async () => (await page.textContent('[data-testid=timeline-hint]'))!;
      const shown = () => hint().then((h) => Number(/showing ([\d.]+) ms of/.exec(h)![1]));

      // Hover: the SysTick row (first row) has short ISR spans; sweep until one is under the cursor.
      let hover = '';
      for (let x = 115; x < canvas.width && !hover.trim(); x += 2) {
        await page.mouse.move(canvas.x + x, canvas.y + 13);
        await page.waitForTimeout(25);
        hover = (await page.textContent('[data-testid=timeline-hover]')) ?? '';
      }
      expect(hover).toMatch(/^SysTick \(isr\): from [\d.]+ ms, for [\d.]+ µs/);
      await shot(page, 'timeline-hover');
      await page.mouse.move(canvas.x + canvas.width / 2, canvas.y + canvas.height + 80);
      await page.waitForFunction(() => !(document.querySelector('[data-testid=timeline-hover]')?.textContent ?? '').trim());

      // Zoom at the cursor: the time under it stays under it.
      const at = canvas.x + 110 + (canvas.width - 110) * 0.25;
      const before = await shown();
      await page.mouse.move(at, canvas.y + 40);
      await page.keyboard.down('Shift');
      await page.mouse.click(at, canvas.y + 40); // measuring point A, at the cursor
      await page.keyboard.up('Shift');
      await page.waitForSelector('[data-testid=timeline-measure]');
      const a = Number(/A at ([\d.]+) ms/.exec((await page.textContent('[data-testid=timeline-measure]'))!)![1]);
      await page.mouse.wheel(0, -200);
      await page.waitForFunction((w) => Number(/showing ([\d.]+) ms/.exec(document.querySelector('[data-testid=timeline-hint]')?.textContent ?? '')?.[1]) < w, before);
      await page.waitForTimeout(500);
      // Point A (drawn by the worker at its time) must still be under the cursor: measure there again.
      await page.keyboard.down('Shift');
      await page.mouse.click(at, canvas.y + 40);
      await page.keyboard.up('Shift');
      const measure = (await page.textContent('[data-testid=timeline-measure]'))!;
      const [, delta] = /A→B: (-?[\d.]+) (µs|ms)/.exec(measure)!;
      expect(Math.abs(Number(delta) * (measure.includes(' µs') ? 0.001 : 1))).toBeLessThan((await shown()) / 50);
      expect(a).toBeGreaterThan(0);

      // The axis labels use the window's unit: ms ticks when the window is tens of ms.
      const window = await shown();
      expect(window).toBeGreaterThan(1);
      await shot(page, 'timeline-measure');

      // Save the recording and the Perfetto export; load the recording back.
      const [saved] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=recording-save]')]);
      const svdat = resolve(ROOT, 'out', 'e2e-recording.svdat');
      await saved.saveAs(svdat);
      const [exported] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=recording-perfetto]')]);
      const json = resolve(ROOT, 'out', 'e2e-trace.json');
      await exported.saveAs(json);
      const trace = JSON.parse(readFileSync(json, 'utf8')) as { traceEvents: { ph: string; name: string }[] };
      expect(trace.traceEvents.filter((e) => e.ph === 'X' && e.name === 'SysTick').length).toBeGreaterThan(10);

      // The event list: the task and ISR spans of the window on screen, as the Perfetto export has
      // them there; it follows zoom and pan. Zoom in (at the cursor) until the window's spans all fit the list.
      type Listed = { from: number; to: number; total: number; complete: boolean; rows: { lane: string; start: number; dur: number }[] };
      const listed = () =>
        page.$eval('[data-testid=timeline-events]', (el): Listed => ({
          from: Number(el.getAttribute('data-from-us')),
          to: Number(el.getAttribute('data-to-us')),
          total: Number(el.getAttribute('data-total')),
          complete: el.getAttribute('data-complete') === 'yes',
          rows: [...el.querySelectorAll('tbody tr')].map((r) => ({ lane: r.getAttribute('data-lane')!, start: Number(r.getAttribute('data-start-us')), dur: Number(r.getAttribute('data-duration-us')) })),
        }));
      const spans = (trace as unknown as { traceEvents: { ph: string; name: string; cat: string; ts: number; dur: number }[] }).traceEvents.filter((e) => e.ph === 'X' && (e.cat === 'task' || e.cat === 'isr'));
      const exportedIn = (from: number, to: number) => spans.filter((e) => e.ts <= to && e.ts + e.dur >= from).map((e) => ({ lane: e.name, start: e.ts, dur: e.dur }));
      const sameSpans = (a: Listed['rows'], b: Listed['rows']) => {
        const order = (x: Listed['rows']) => [...x].sort((p, q) => p.start - q.start || p.lane.localeCompare(q.lane));
        const [x, y] = [order(a), order(b)];
        expect(x.length).toBe(y.length);
        x.forEach((r, i) => {
          expect(r.lane).toBe(y[i].lane);
          expect(Math.abs(r.start - y[i].start)).toBeLessThan(0.01);
          expect(Math.abs(r.dur - y[i].dur)).toBeLessThan(0.01);
        });
      };
      let list = await listed();
      for (let i = 0; i < 30 && (list.total > 200 || !list.complete); i++) {
        await page.mouse.move(at, canvas.y + 40);
        await page.mouse.wheel(0, -200);
        await page.waitForFunction((w) => Number(document.querySelector('[data-testid=timeline-events]')?.getAttribute('data-to-us')) - Number(document.querySelector('[data-testid=timeline-events]')?.getAttribute('data-from-us')) < w - 1e-3, list.to - list.from);
        list = await listed();
      }
      expect(list.total).toBeGreaterThan(3);
      expect(list.rows.length).toBe(list.total);
      expect(Math.abs((list.to - list.from) / 1000 - (await shown()))).toBeLessThan(0.1); // the window the axis shows
      sameSpans(list.rows, exportedIn(list.from, list.to));
      // Pan back in time (←): another window, another list, again the export's spans there.
      await page.focus('[data-testid=timeline-canvas]');
      const panned = list.from;
      await page.keyboard.press('ArrowLeft');
      await page.keyboard.press('ArrowLeft');
      await page.waitForFunction((f) => Number(document.querySelector('[data-testid=timeline-events]')?.getAttribute('data-from-us')) < f - 1e-3, panned);
      list = await listed();
      expect(list.rows.length).toBe(list.total);
      sameSpans(list.rows, exportedIn(list.from, list.to));
      await shot(page, 'timeline-events');
      await page.setInputFiles('[data-testid=recording-load]', svdat);
      await page.waitForFunction(() => /e2e-recording\.svdat/.test(document.querySelector('[data-testid=timeline-hint]')?.textContent ?? ''));

      // Reflash: the old firmware's lanes go.
      await page.click('[data-testid=tab-console]');
      await page.click('[data-testid=flash-run]');
      await page.waitForSelector('[data-testid=flash-result]', { timeout: 60_000 });
      await page.click('[data-testid=tab-timeline]');
      await page.waitForFunction(() => !document.querySelector('[data-testid=timeline-stats]'), null, { timeout: 5000 });
      expect(await page.isVisible('[data-testid=timeline-canvas]')).toBe(false);
    } finally {
      await page.close();
    }
  }, 180_000);
});
