/**
 * `dapdeck chips`, `dapdeck chip info`, and flash/erase --json, through the real CLI, with a target
 * file in probe-rs's tagged form (written here) beside the built-in chip. The image touching main
 * flash and UICR is an Intel HEX made by GNU objcopy, not by this project.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { algorithmFromFlm } from '../../core/flash/algorithm';
import { firmwarePath } from '../support/firmware';
import { targetFileYaml } from '../support/target-files';

const BIN = resolve(__dirname, '../../bin/dapdeck.cjs');

function dapdeck(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 90_000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('dapdeck chips and chip info', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dapdeck-chips-'));
  const targetFile = join(dir, 'family.yaml');
  const UICR = { start: 0x10001000, end: 0x10001100 };

  beforeAll(() => {
    const flm = firmwarePath('flash-nrf51', 'microbit', 'vendor-style');
    const vendor = algorithmFromFlm(readFileSync(flm), flm);
    writeFileSync(
      targetFile,
      targetFileYaml(
        'Test Family',
        [
          { name: 'TestChip_Flash_UICR', flash: { start: 0, end: 0x40000 }, extraNvm: [{ ...UICR, name: 'UICR' }], algorithms: ['vendor', 'vendor-uicr'] },
          { name: 'TestChip_M4', flash: { start: 0, end: 0x20000 }, algorithms: ['vendor'], coreType: 'armv7em' },
        ],
        [
          { algorithm: vendor, name: 'vendor', default: true },
          { algorithm: vendor, name: 'vendor-uicr', range: UICR },
        ],
      ),
    );
  });

  it('lists built-in chips and those of a target file, filtered, as a table and as JSON', async () => {
    const builtin = await dapdeck('chips');
    expect(builtin.code).toBe(0);
    expect(builtin.stdout).toMatch(/^NAME +FAMILY +CORE +FLASH +RAM +SOURCE\nnRF51822_xxAA +nRF51 Series +armv6m +256 KiB +16 KiB +built-in\nRP2040 +RP2040 +2× armv6m +2 MiB +264 KiB +built-in\n$/);
    const all = await dapdeck('chips', '--target-file', targetFile, '--json');
    expect(all.code).toBe(0);
    const rows = JSON.parse(all.stdout) as { name: string; source: string; flashBytes: number; ramBytes: number; cores: string[] }[];
    expect(rows.map((r) => [r.name, r.source, r.flashBytes, r.ramBytes, r.cores])).toEqual([
      ['nRF51822_xxAA', 'built-in', 0x40000, 0x4000, ['armv6m']],
      ['RP2040', 'built-in', 0x200000, 0x42000, ['armv6m', 'armv6m']],
      ['TestChip_Flash_UICR', 'target file', 0x40100, 0x4000, ['armv6m']],
      ['TestChip_M4', 'target file', 0x20000, 0x4000, ['armv7em']],
    ]);
    const filtered = await dapdeck('chips', 'm4', '--target-file', targetFile);
    expect(filtered.stdout.split('\n').filter(Boolean).map((l) => l.split(/ +/)[0])).toEqual(['NAME', 'TestChip_M4']);
    expect(filtered.stderr).toBe('1 of 4 chips match "m4"\n');
  });

  it('shows a chip: memory map, which algorithm programs each region, sector layout', async () => {
    const text = await dapdeck('chip', 'info', 'testchip_flash_uicr', '--target-file', targetFile);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('core     main: armv6m behind AP #0\n');
    expect(text.stdout).toMatch(/memory   nvm +0x00000000\.\.0x00040000 +256 KiB  boot\n +programmed by vendor: sectors 256 × 1 KiB from 0x00000000; pages of 4 KiB\n/);
    expect(text.stdout).toMatch(/memory   nvm +0x10001000\.\.0x10001100 +256 B  UICR\n +programmed by vendor-uicr: sectors 1 × 256 B from 0x10001000; pages of 256 B\n/);
    expect(text.stdout).toContain('memory   ram      0x20000000..0x20004000     16 KiB  (alias)\n');
    const json = JSON.parse((await dapdeck('chip', 'info', 'TestChip_Flash_UICR', '--target-file', targetFile, '--json')).stdout);
    expect(json.memory.filter((m: { kind: string }) => m.kind === 'nvm').map((m: { algorithm: string; sectors: unknown }) => [m.algorithm, m.sectors])).toEqual([
      ['vendor', [{ start: 0, size: 0x400, count: 256 }]],
      ['vendor-uicr', [{ start: 0x10001000, size: 0x100, count: 1 }]],
    ]);
    expect(json.ram).toEqual({ start: 0x20000000, size: 0x4000 });
    const unknown = await dapdeck('chip', 'info', 'TestChip', '--target-file', targetFile);
    expect(unknown).toMatchObject({ code: 1, stderr: 'dapdeck: error: unknown chip "TestChip" (did you mean: TestChip_Flash_UICR, TestChip_M4; see dapdeck chips, or add one with --target-file FILE)\n' });
  });

  it('flashes a HEX (made by objcopy) covering main flash and UICR on the emulated micro:bit in one run, reporting each region as JSON; erase --json', async () => {
    // One page of main flash and four bytes of UICR.CUSTOMER[0], each made into Intel HEX by objcopy.
    const hex = join(dir, 'app-uicr.hex');
    writeFileSync(join(dir, 'app.bin'), Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 13) & 0xff)));
    writeFileSync(join(dir, 'uicr.bin'), Buffer.from([0xde, 0xc0, 0xad, 0x0b]));
    execFileSync('objcopy', ['-I', 'binary', '-O', 'ihex', join(dir, 'app.bin'), join(dir, 'app.hex')]);
    execFileSync('objcopy', ['-I', 'binary', '-O', 'ihex', '--change-addresses', '0x10001080', join(dir, 'uicr.bin'), join(dir, 'uicr.hex')]);
    const main = readFileSync(join(dir, 'app.hex'), 'utf8');
    expect(main).toMatch(/:00000001FF\s*$/);
    writeFileSync(hex, main.replace(/:00000001FF\s*$/, '') + readFileSync(join(dir, 'uicr.hex'), 'utf8'));
    const flashed = await dapdeck('flash', '--probe', 'emu:microbit', '--chip', 'TestChip_Flash_UICR', '--target-file', targetFile, '--json', hex);
    expect(flashed.stderr).toMatch(/TestChip_Flash_UICR: 2 sectors in the image, .*2 pages programmed \(1280 bytes\), verified \(read-back\)/);
    expect(flashed.code).toBe(0);
    const report = JSON.parse(flashed.stdout);
    expect(report).toMatchObject({ file: hex, chip: 'TestChip_Flash_UICR', verified: true });
    expect(report.regions.map((r: { name: string; start: number; report: { verified: boolean; pagesProgrammed: number } }) => [r.name, r.start, r.report.verified, r.report.pagesProgrammed])).toEqual([
      ['vendor', 0, true, 1],
      ['UICR', 0x10001000, true, 1],
    ]);
    const outside = await dapdeck('flash', '--probe', 'emu:microbit', '--chip', 'TestChip_M4', '--target-file', targetFile, hex);
    expect(outside).toMatchObject({ code: 1 });
    expect(outside.stderr).toContain('wrong chip? TestChip_M4 has an armv7em core, but the target is a Cortex-M0 (armv6m)');
    const erased = await dapdeck('erase', '--probe', 'emu:microbit', '--chip', 'TestChip_Flash_UICR', '--target-file', targetFile, '--range', '0x0..0x800', '--json');
    expect(erased.code).toBe(0);
    expect(JSON.parse(erased.stdout)).toEqual({ chip: 'TestChip_Flash_UICR', sectors: 2, regions: [{ region: 'vendor', start: 0, size: 0x40000, sectors: 2 }] });
  }, 120_000);

  it('detects the chip when --chip is left out: flashes the emulated micro:bit, refuses an ambiguous or unknown target with what it read', async () => {
    const elf = firmwarePath('hello', 'microbit');
    const detected = await dapdeck('flash', '--probe', 'emu:microbit', elf);
    // The emulated chip is a factory-fresh nRF51822-QFAA: FICR CONFIGID.HWID 0x0072, in the built-in HWID table.
    expect(detected.stderr).toContain(
      'dapdeck: chip nRF51822_xxAA, detected from Cortex-M0 (armv6m); the probe\'s target device "nRF51822_xxAA" (Nordic Semiconductor) → nRF51822_xxAA; FICR CONFIGID.HWID 0x0072 (nRF51 Series) → nRF51822_xxAA\n',
    );
    expect(detected.stderr).toMatch(/nRF51822_xxAA: \d+ sectors in the image, .*verified \(crc\)/);
    expect(detected.code).toBe(0);
    // A family whose CONFIGID table names another chip for what the FICR holds (HWID 0x0072):
    // two chips fit, and the user must choose.
    const flm = firmwarePath('flash-nrf51', 'microbit');
    const twin = join(dir, 'twin.yaml');
    writeFileSync(twin, targetFileYaml('Twin Family', [{ name: 'TwinChip', flash: { start: 0, end: 0x40000 }, algorithms: ['a'] }], [{ algorithm: algorithmFromFlm(readFileSync(flm), flm), name: 'a', default: true }], { 0x0072: 'TwinChip' }));
    const ambiguous = await dapdeck('flash', '--probe', 'emu:microbit', '--target-file', twin, elf);
    expect(ambiguous).toMatchObject({
      code: 2,
      stderr:
        'dapdeck: error: several chips match what the target reports (Cortex-M0 (armv6m); the probe\'s target device "nRF51822_xxAA" (Nordic Semiconductor) → nRF51822_xxAA; FICR CONFIGID.HWID 0x0072 (nRF51 Series) → nRF51822_xxAA; FICR CONFIGID.HWID 0x0072 (Twin Family) → TwinChip): nRF51822_xxAA, TwinChip; pass --chip NAME\n',
    });
    const unknown = await dapdeck('erase', '--probe', 'emu:lm3s6965evb');
    expect(unknown).toMatchObject({
      code: 2,
      stderr: 'dapdeck: error: cannot tell which chip this is (Cortex-M3 (armv7m); the probe\'s target device "LM3S6965" (Texas Instruments) → no known chip); pass --chip NAME (see dapdeck chips)\n',
    });
  }, 120_000);
});
