/** The target database and both algorithm forms (FLM and YAML) describe the same algorithm. */
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { algorithmFromFlm, parseTargetYaml } from '../../core/flash/algorithm';
import { resolveChip } from '../../main/targets';
import { firmwarePath } from '../support/firmware';

describe('target database', () => {
  it('resolves nRF51822_xxAA to its memory map and the nRF51 NVMC algorithm', () => {
    const { chip, algorithm, ram } = resolveChip('nrf51822_xxaa');
    expect(chip.name).toBe('nRF51822_xxAA');
    expect(ram).toEqual({ start: 0x20000000, size: 0x4000 });
    expect(algorithm.flash).toMatchObject({ start: 0, size: 0x40000, pageSize: 0x400, erasedValue: 0xff });
    expect(algorithm.flash.sectors).toHaveLength(256);
  });

  it('ships the same algorithm as YAML that the .FLM built from source contains', () => {
    const flm = firmwarePath('flash-nrf51', 'microbit');
    const fromFlm = algorithmFromFlm(readFileSync(flm), flm);
    const { algorithm: fromYaml } = resolveChip('nRF51822_xxAA');
    expect(Buffer.from(fromYaml.blob)).toEqual(Buffer.from(fromFlm.blob));
    for (const key of ['pcInit', 'pcUninit', 'pcProgramPage', 'pcEraseSector', 'pcEraseAll', 'pcVerify', 'pcBlankCheck', 'pcCrc32', 'dataSectionOffset'] as const) {
      expect(fromYaml[key]).toBe(fromFlm[key]);
    }
    expect(fromYaml.flash).toEqual(fromFlm.flash);
    expect(fromFlm.description).toBe('nRF51xxx 256 KiB Flash (Dapdeck)');
  });

  it('names the problem for unknown chips, missing algorithms and broken files', () => {
    expect(() => resolveChip('STM32F999')).toThrow(/unknown chip "STM32F999" \(known: nRF51822_xxAA; add one with --target-file FILE\)/);
    expect(() => resolveChip('nRF51822_xxAA', { algo: '/nonexistent/algo.flm' })).toThrow(/flash algorithm \/nonexistent\/algo.flm: no such file/);
    const dir = mkdtempSync(join(tmpdir(), 'dapdeck-'));
    const notElf = join(dir, 'bad.flm');
    writeFileSync(notElf, 'this is not an ELF file at all, just text padding it out past 52 bytes');
    expect(() => resolveChip('nRF51822_xxAA', { algo: notElf })).toThrow(/bad\.flm: not an ELF file \(bad magic\)/);
    const hello = firmwarePath('hello', 'microbit');
    expect(() => resolveChip('nRF51822_xxAA', { algo: hello })).toThrow(/not a flash algorithm: no PrgCode section/);
    const yaml = join(dir, 'chip.yaml');
    writeFileSync(yaml, 'name: X\nvariants:\n  - name: Chip1\n    memory_map: []\n    flash_algorithms: [missing]\n');
    expect(() => resolveChip('Chip1', { targetFiles: [yaml] })).toThrow(/chip Chip1 names flash algorithm\(s\) missing, which its target file does not define/);
    expect(() => parseTargetYaml('flash_algorithms:\n  - name: a\n    instructions: "%%%"\n', 'f.yaml')).toThrow(/f\.yaml: flash_algorithms\[0\]: instructions are not valid base64/);
  });
});
