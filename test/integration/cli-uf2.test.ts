/**
 * `dapdeck flash FILE.uf2` through the real CLI on the emulated micro:bit, with UF2 files written
 * by the `uf2` npm package (an encoder nobody here wrote) from the hello sample's image: one
 * without a family ID flashes and verifies, leaving the flash as the ELF itself would (the nRF51 has no registered UF2 family), one for the
 * NRF52 family (0x1b57745f in the spec's family list) is refused before anything is written, and
 * a truncated one is refused naming the problem.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadImage } from '../../core/elf';
import { dapdeckEnv } from '../support/cli';
import { firmwarePath } from '../support/firmware';
import { uf2FromImage } from '../support/uf2';

describe('dapdeck flash with UF2 input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dapdeck-uf2-'));
  const elf = firmwarePath('hello', 'microbit');
  const hello = loadImage(readFileSync(elf), elf);
  // The board keeps its flash between the commands, as a real one does.
  const dapdeck = (...args: string[]) => dapdeckEnv({ DAPDECK_STATE_DIR: dir }, ...args);

  it('flashes and verifies a UF2 without a family ID, refuses one for the NRF52 family and a truncated one', async () => {
    const plain = join(dir, 'hello.uf2');
    writeFileSync(plain, uf2FromImage(hello));
    const flashed = await dapdeck('flash', '--probe', 'emu:microbit', '--json', plain);
    expect(flashed.stderr).toMatch(/nRF51822_xxAA: \d+ sectors in the image, .*verified/);
    expect(flashed.code).toBe(0);
    expect(JSON.parse(flashed.stdout)).toMatchObject({ file: plain, chip: 'nRF51822_xxAA', verified: true });
    // What the UF2 wrote is what the ELF holds: flashing the ELF next finds every sector up to date.
    const again = await dapdeck('flash', '--probe', 'emu:microbit', '--chip', 'nRF51822_xxAA', elf);
    expect(again.stderr).toContain('flash already up to date');
    expect(again.code).toBe(0);

    const nrf52 = join(dir, 'hello-nrf52.uf2');
    writeFileSync(nrf52, uf2FromImage(hello, 0x1b57745f));
    const refused = await dapdeck('flash', '--probe', 'emu:microbit', '--chip', 'nRF51822_xxAA', nrf52);
    expect(refused).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `dapdeck: error: ${nrf52}: a UF2 for NRF52 (0x1b57745f), not for nRF51822_xxAA, which has no UF2 family ID registered (a UF2 without a family ID is taken for it)\n`,
    });

    const truncated = join(dir, 'truncated.uf2');
    writeFileSync(truncated, readFileSync(plain).subarray(0, 512 * 3));
    const damaged = await dapdeck('flash', '--probe', 'emu:microbit', '--chip', 'nRF51822_xxAA', truncated);
    const blocks = readFileSync(plain).length / 512;
    expect(damaged).toMatchObject({ code: 1, stderr: `dapdeck: error: ${truncated}: ${blocks - 3} of ${blocks} blocks missing (numbers 3, 4, 5, 6, 7, …): truncated or damaged\n` });
  }, 120_000);
});
