/**
 * Browser figures, measured side by side in one Chromium run: console throughput (defmt decode +
 * xterm versus raw xterm.write of the same text), timeline frame time over 1 000 000 events, and
 * the app's console streaming 1000 lines/s on Chromium's software GL (SwiftShader: --disable-gpu)
 * with real clicks (CDP input events) while it streams: fps and click response.
 * Needs the web build (out/web) and /usr/bin/chromium; says so instead of failing silently.
 */
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { serve } from '../main/serve/server';
import { buildWebApp } from '../main/web/build';


export async function benchBrowser(): Promise<object[]> {
  if (!existsSync('/usr/bin/chromium')) return [{ bench: 'browser', skipped: 'no /usr/bin/chromium (scripts/install-system-deps.sh installs it)' }];
  buildWebApp();
  const server = await serve({ port: 0 });
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.url}bench.html`);
    await page.waitForFunction(() => typeof (window as unknown as { runBench?: unknown }).runBench === 'function');
    const rows = await page.evaluate(() => (window as unknown as { runBench(): Promise<object[]> }).runBench());
    const streaming = page.evaluate(() => (window as unknown as { runStreamingBench(rate: number, seconds: number): Promise<object> }).runStreamingBench(1000, 6));
    // Click the console's "follow" box while it streams, every 350 ms (up to 12 clicks; on a busy
    // machine fewer fit into the measured seconds: the row says how many were measured).
    const phase = () => page.evaluate(() => (window as unknown as { benchPhase?: string }).benchPhase);
    await page.waitForFunction(() => (window as unknown as { benchPhase?: string }).benchPhase === 'measuring', null, { timeout: 30_000 });
    for (let i = 0; i < 12 && (await phase()) === 'measuring'; i++) {
      await page.waitForTimeout(350);
      if ((await phase()) !== 'measuring') break;
      await page.click('[data-testid=follow]', { timeout: 5000 }).catch(() => undefined); // the run may end meanwhile
    }
    return [...rows, await streaming];
  } finally {
    await browser.close();
    await server.close();
  }
}
