/**
 * `dapdeck pack add/list/remove` through the real CLI: a .pack assembled here (a zip, made with
 * fflate) from a .pdsc written here in the shape of Nordic's nRF Device Family Pack and the
 * vendor-style nRF51 .FLM this project builds (NVMC mode set only in Init by its fnc code). The
 * pack's device flashes and verifies the emulated micro:bit; the same pack downloads from an HTTP
 * server on 127.0.0.1; bad packs are refused in one line and leave the installed ones as they were.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { strToU8, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dapdeckEnv } from '../support/cli';
import { firmwarePath } from '../support/firmware';
import { testPackFiles, testPdsc, vendorStyleFlm } from '../support/packs';

describe('dapdeck pack', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dapdeck-pack-'));
  const env = { DAPDECK_DATA_DIR: join(dir, 'data') };
  const cli = (...args: string[]) => dapdeckEnv(env, ...args);
  const flm = vendorStyleFlm();
  const packFile = (name: string, files: Record<string, Uint8Array>) => {
    const path = join(dir, name);
    writeFileSync(path, zipSync(files));
    return path;
  };
  const good = testPackFiles;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    const served = zipSync(good('1.1.0'));
    server = createServer((req, res) => {
      if (req.url === '/NordicSemiconductor.nRF_DeviceFamilyPack_Test.1.1.0.pack') res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from(served));
      else res.writeHead(404).end('not here');
    });
    await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((done) => server.close(() => done())));

  it('installs a pack whose devices become chips, flashes and verifies the emulated micro:bit with one of them', async () => {
    const added = await cli('pack', 'add', packFile('test.pack', good('1.0.0')));
    expect(added).toMatchObject({ code: 0, stdout: 'installed NordicSemiconductor.nRF_DeviceFamilyPack_Test 1.0.0: 2 devices (nRF51822_xxAA, nRF51822_xxAC)\n' });
    const listed = JSON.parse((await cli('pack', 'list', '--json')).stdout);
    expect(listed.map((p: { id: string; version: string; devices: string[] }) => [p.id, p.version, p.devices])).toEqual([['NordicSemiconductor.nRF_DeviceFamilyPack_Test', '1.0.0', ['nRF51822_xxAA', 'nRF51822_xxAC']]]);

    const chips = await cli('chips', 'nrf51822', '--json');
    expect(chips.code).toBe(0);
    expect(chips.stderr).toBe('dapdeck: nRF51822_xxAA: using the description from pack NordicSemiconductor.nRF_DeviceFamilyPack_Test 1.0.0 instead of the built-in one\n');
    expect(JSON.parse(chips.stdout).map((r: { name: string; family: string; cores: string[]; flashBytes: number; ramBytes: number; source: string; pack: string }) => [r.name, r.family, r.cores, r.flashBytes, r.ramBytes, r.source, r.pack])).toEqual([
      ['nRF51822_xxAA', 'nRF51 Series', ['armv6m'], 0x40000, 0x4000, 'pack', 'NordicSemiconductor.nRF_DeviceFamilyPack_Test 1.0.0'],
      ['nRF51822_xxAC', 'nRF51 Series', ['armv6m'], 0x40000, 0x8000, 'pack', 'NordicSemiconductor.nRF_DeviceFamilyPack_Test 1.0.0'],
    ]);
    const table = await cli('chips', 'xxAC');
    expect(table.stdout).toMatch(/\nnRF51822_xxAC +nRF51 Series +armv6m +256 KiB +32 KiB +pack NordicSemiconductor\.nRF_DeviceFamilyPack_Test 1\.0\.0\n$/);

    const info = JSON.parse((await cli('chip', 'info', 'nRF51822_xxAC', '--json')).stdout);
    expect(info.memory.map((m: { kind: string; name: string; start: number; size: number; boot: boolean; algorithm?: string; sectors?: unknown }) => [m.kind, m.name, m.start, m.size, m.boot, m.algorithm, m.sectors])).toEqual([
      ['nvm', 'IROM1', 0, 0x40000, true, 'nrf51xxx_vendor', [{ start: 0, size: 0x400, count: 256 }]],
      ['ram', 'IRAM1', 0x20000000, 0x8000, false, undefined, undefined],
    ]);
    // The algorithm runs where the pack's RAMstart/RAMsize say (16 KiB), not in all 32 KiB of IRAM1.
    expect(info.ram).toEqual({ start: 0x20000000, size: 0x4000 });
    expect(info.algorithms).toMatchObject([{ name: 'nrf51xxx_vendor', default: true, start: 0, size: 0x40000 }]);

    const elf = firmwarePath('hello', 'microbit');
    const flashed = await cli('flash', '--probe', 'emu:microbit', '--chip', 'nRF51822_xxAA', '--json', elf);
    expect(flashed.stderr).toMatch(/nRF51822_xxAA: \d+ sectors in the image, .*verified/);
    expect(flashed.code).toBe(0);
    const report = JSON.parse(flashed.stdout);
    expect(report).toMatchObject({ chip: 'nRF51822_xxAA', verified: true });
    expect(report.regions.map((r: { name: string; report: { verified: boolean; pagesProgrammed: number } }) => [r.name, r.report.verified, r.report.pagesProgrammed > 0])).toEqual([['IROM1', true, true]]);
  }, 120_000);

  it('downloads a pack from a URL, replacing the older version; a failed download says why', async () => {
    const added = await cli('pack', 'add', `${base}/NordicSemiconductor.nRF_DeviceFamilyPack_Test.1.1.0.pack`);
    expect(added).toMatchObject({ code: 0, stdout: 'installed NordicSemiconductor.nRF_DeviceFamilyPack_Test 1.1.0: 2 devices (nRF51822_xxAA, nRF51822_xxAC), replacing version 1.0.0\n' });
    expect(JSON.parse((await cli('pack', 'list', '--json')).stdout).map((p: { version: string }) => p.version)).toEqual(['1.1.0']);
    const missing = await cli('pack', 'add', `${base}/nothing.pack`);
    expect(missing).toMatchObject({ code: 1, stderr: `dapdeck: error: ${base}/nothing.pack: download failed: HTTP 404 Not Found\n` });
  });

  it('refuses a bad pack in one line and keeps what is installed', async () => {
    const refuse = async (file: string, message: string) => {
      const r = await cli('pack', 'add', file);
      expect(r).toMatchObject({ code: 1, stdout: '', stderr: `dapdeck: error: ${file}: ${message}\n` });
    };
    await refuse(packFile('no-pdsc.pack', { 'Flash/nrf51xxx_vendor.FLM': flm }), 'no .pdsc package description at the top of the pack');
    await refuse(
      packFile('broken-xml.pack', { 'X.pdsc': strToU8(testPdsc('1.0.0').replace('</subFamily>', '')), 'Flash/nrf51xxx_vendor.FLM': flm }),
      "X.pdsc: not valid XML: Expected closing tag 'subFamily' (opened in line 10, col 7) instead of closing tag 'family'. (line 22, column 5)",
    );
    await refuse(
      packFile('no-flm.pack', { 'X.pdsc': strToU8(testPdsc('1.0.0', 'Flash/nrf51xxx_other.FLM')), 'Flash/nrf51xxx_vendor.FLM': flm }),
      'X.pdsc: device nRF51822_xxAA names flash algorithm Flash/nrf51xxx_other.FLM, which is not in the pack',
    );
    writeFileSync(join(dir, 'not-a-zip.pack'), 'PK but not really a zip');
    await refuse(join(dir, 'not-a-zip.pack'), 'not a CMSIS-Pack (a zip file): invalid zip data');
    await refuse(join(dir, 'absent.pack'), 'no such file');
    expect(JSON.parse((await cli('pack', 'list', '--json')).stdout).map((p: { id: string; version: string }) => [p.id, p.version])).toEqual([['NordicSemiconductor.nRF_DeviceFamilyPack_Test', '1.1.0']]);
  });

  it('removes a pack: its chips are gone, the built-in one is back', async () => {
    expect(await cli('pack', 'remove', 'nowhere')).toMatchObject({ code: 1, stderr: 'dapdeck: error: no installed pack "nowhere" (installed: NordicSemiconductor.nRF_DeviceFamilyPack_Test)\n' });
    expect(await cli('pack', 'remove', 'nRF_DeviceFamilyPack_Test')).toMatchObject({ code: 0, stdout: 'removed NordicSemiconductor.nRF_DeviceFamilyPack_Test 1.1.0 (2 devices)\n' });
    const chips = await cli('chips', '--json');
    expect(chips.stderr).toBe('');
    expect(JSON.parse(chips.stdout).map((r: { name: string; source: string }) => [r.name, r.source])).toEqual([
      ['nRF51822_xxAA', 'built-in'],
      ['RP2040', 'built-in'],
    ]);
    expect((await cli('pack', 'list')).stderr).toBe(`0 packs in ${join(dir, 'data', 'packs')}\n`);
  });
});
