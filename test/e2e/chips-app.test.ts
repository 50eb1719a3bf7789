/**
 * Chips in the web app, end to end in Chromium against `dapdeck serve`: the chip picker searches
 * every chip the server knows (built in, an installed CMSIS-Pack assembled here from a pdsc written
 * here and the vendor-style nRF51 .FLM, and a probe-rs target file the server was given); a pack's
 * chip flashes the emulated micro:bit; erase (a range, then all) and read-back to a file, whose
 * bytes are checked against the hello ELF (built by rustc) and the erased value.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { loadImage } from '../../core/elf';
import { algorithmFromFlm } from '../../core/flash/algorithm';
import { serve, type RunningServer } from '../../main/serve/server';
import { installPack } from '../../main/packs';
import { firmwarePath } from '../support/firmware';
import { testPack } from '../support/packs';
import { targetFileYaml } from '../support/target-files';
import { buildWebApp } from '../../main/web/build';

const ROOT = resolve(__dirname, '../..');
const ARTIFACTS = resolve(ROOT, 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';
const dir = mkdtempSync(join(tmpdir(), 'dapdeck-chips-app-'));
/** This file's own web build: another e2e file building out/web at the same time would swap the app under its page. */
const WEB_ROOT = join(dir, 'web');

let server: RunningServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  buildWebApp({ outDir: WEB_ROOT });
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/install-system-deps.sh installs Debian's chromium`);
  mkdirSync(ARTIFACTS, { recursive: true });
  // This file's own data directory, with the test pack installed as `dapdeck pack add` installs it.
  process.env.DAPDECK_DATA_DIR = join(dir, 'data');
  installPack(testPack('1.0.0', [['nRF51822_xxAA', 0x4000], ['nRF51822_xxAC', 0x8000], ['nRF51422_xxAA', 0x4000]]), 'test.pack');
  // A Cortex-M3 part from a target file: the LM3S board now has a chip of its own core type on offer.
  const targetFile = join(dir, 'lm3s.yaml');
  const flm = firmwarePath('flash-nrf51', 'microbit');
  writeFileSync(targetFile, targetFileYaml('Stellaris LM3S (test)', [{ name: 'LM3S6965', flash: { start: 0, end: 0x40000 }, algorithms: ['a'], coreType: 'armv7m' }], [{ algorithm: algorithmFromFlm(readFileSync(flm), flm), name: 'a', default: true }]));
  server = await serve({ port: 0, webRoot: WEB_ROOT, targetFiles: [targetFile] });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  page.on('pageerror', (err) => console.error('page error:', err.message));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  delete process.env.DAPDECK_DATA_DIR;
});

const options = () => page.$$eval('[data-testid=chip] option', (os) => os.map((o) => (o as HTMLOptionElement).value));

async function readBack(start: string, length: string): Promise<Buffer> {
  await page.fill('[data-testid=readback-start]', start);
  await page.fill('[data-testid=readback-length]', length);
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('[data-testid=readback-save]')]);
  expect(download.suggestedFilename()).toBe(`nRF51822_xxAC-${start}-${length}.bin`);
  return readFileSync((await download.path())!);
}

describe('chips in the app', () => {
  it('searches every chip the server knows: built in, from a pack, from a target file', async () => {
    await page.goto(server.url);
    await page.waitForSelector('[data-testid=chip-count]:has-text("5 chips")', { timeout: 30_000 });
    expect(await options()).toEqual(['LM3S6965', 'nRF51422_xxAA', 'nRF51822_xxAA', 'nRF51822_xxAC', 'RP2040']);
    await page.fill('[data-testid=chip-search]', 'armv7m');
    await page.waitForSelector('[data-testid=chip-count]:has-text("1 of 5")');
    // The chosen chip (nRF51822_xxAA) stays in the menu beside what matches.
    expect(await options()).toEqual(['nRF51822_xxAA', 'LM3S6965']);
    expect(await page.textContent('[data-testid=chip] option[value=LM3S6965]')).toBe('LM3S6965 — Stellaris LM3S (test) (target file)');
    await page.fill('[data-testid=chip-search]', 'pack 51822');
    await page.waitForSelector('[data-testid=chip-count]:has-text("2 of 5")');
    expect(await options()).toEqual(['nRF51822_xxAA', 'nRF51822_xxAC']);
    await page.selectOption('[data-testid=chip]', 'nRF51822_xxAC');
    expect(await page.getAttribute('[data-testid=chip] option[value=nRF51822_xxAC]', 'title')).toBe(
      'nRF51822_xxAC: nRF51 Series, armv6m, 256 KiB flash, 32 KiB RAM, pack NordicSemiconductor.nRF_DeviceFamilyPack_Test 1.0.0',
    );
    // Read-back defaults to the chip's flash.
    await page.waitForFunction(() => (document.querySelector('[data-testid=readback-length]') as HTMLInputElement).value === '0x00040000');
    expect(await page.inputValue('[data-testid=readback-start]')).toBe('0x00000000');
  }, 60_000);

  it('flashes the micro:bit with the pack chip, erases a range and all, and saves flash to a file', async () => {
    await page.selectOption('[data-testid=probe]', 'emu:microbit');
    await page.click('[data-testid=connect]');
    await page.waitForSelector('[data-testid=status]:has-text("Cortex-M0")', { timeout: 30_000 });
    const elf = firmwarePath('hello', 'microbit');
    await page.setInputFiles('[data-testid=file]', elf);
    await page.click('[data-testid=flash-only]');
    const result = await page.waitForSelector('[data-testid=flash-result]', { timeout: 60_000 });
    expect(await result.textContent()).toMatch(/^✓ hello-microbit\.elf: \d+ sectors in the image, .*, verified \((crc|read-back)\)$/);

    const hello = loadImage(readFileSync(elf), elf);
    const expected = Buffer.from(hello.bytes(0, 0x800, 0xff));
    expect(await readBack('0x00000000', '0x00000800')).toEqual(expected);

    await page.fill('[data-testid=erase-range]', '0x0..0x400');
    await page.click('[data-testid=erase]');
    await page.waitForSelector('[data-testid=erase-result]', { timeout: 60_000 });
    expect(await page.textContent('[data-testid=erase-result]')).toBe('✓ nRF51822_xxAC: erased 1 sector covering 0x00000000..0x00000400');
    expected.fill(0xff, 0, 0x400);
    expect(await readBack('0x00000000', '0x00000800')).toEqual(expected);
    await page.screenshot({ path: resolve(ARTIFACTS, 'chips-erase-readback.png') });

    await page.fill('[data-testid=erase-range]', '');
    await page.click('[data-testid=erase]');
    await page.waitForSelector('[data-testid=erase-result]:has-text("erased 256 sectors")', { timeout: 120_000 });
    const all = await readBack('0x00000000', '0x00040000');
    expect(all.length).toBe(0x40000);
    expect(all.every((b) => b === 0xff)).toBe(true);

    await page.fill('[data-testid=erase-range]', '0x80000..0x81000');
    await page.click('[data-testid=erase]');
    await page.waitForSelector('[data-testid=errors]');
    expect(await page.textContent('[data-testid=errors]')).toContain("nothing of nRF51822_xxAC's flash lies in 0x80000..0x81000");
  }, 240_000);
});
