/** The target database and both algorithm forms (FLM and YAML) describe the same algorithm. */
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { algorithmFromFlm, parseTargetYaml } from '../../core/flash/algorithm';
import { loadChipDatabase, resolveChip } from '../../main/targets';
import { targetFileYaml, type AlgorithmEntry } from '../support/target-files';
import { firmwarePath } from '../support/firmware';
import { ensureSampleFirmware } from '../../main/firmware';

describe('target database', () => {
  it('resolves nRF51822_xxAA to its memory map and the nRF51 NVMC algorithm', () => {
    const { chip, algorithm, ram } = resolveChip('nrf51822_xxaa');
    expect(chip.name).toBe('nRF51822_xxAA');
    expect(ram).toEqual({ start: 0x20000000, size: 0x4000 });
    expect(algorithm.flash).toMatchObject({ start: 0, size: 0x40000, pageSize: 0x1000, erasedValue: 0xff });
    expect(algorithm.flash.sectors).toHaveLength(256);
    // FICR CONFIGID.HWID 0x72 is an nRF51822 QFAA (Nordic's compatibility matrix): detection data.
    const [detection] = loadChipDatabase().targets[0].chipDetection;
    expect(detection).toMatchObject({ method: 'NordicConfigId', configIdAddress: 0x1000005c });
    expect((detection as { hwid: Map<number, string> }).hwid.get(0x72)).toBe('nRF51822_xxAA');
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

  it('ships RP2040 with its memory map and the ROM-calling algorithm built from firmware-samples/flash-rp2040', () => {
    const { chip, algorithm, ram, regions } = resolveChip('rp2040');
    // The Pico's W25Q16JV behind XIP, 4 KiB erase sectors; 264 KiB of SRAM (banks 0–5) for the algorithm.
    expect(regions.map((r) => r.region)).toEqual([{ start: 0x10000000, size: 0x200000, name: undefined }]);
    expect(ram).toEqual({ start: 0x20000000, size: 0x42000 });
    expect(algorithm.flash).toMatchObject({ start: 0x10000000, size: 0x200000, pageSize: 0x1000, erasedValue: 0xff, programPageTimeoutMs: 1000, eraseSectorTimeoutMs: 3000 });
    expect(algorithm.flash.sectors).toHaveLength(512);
    expect(algorithm.pcEraseAll).toBeUndefined();
    // Multi-drop TARGETSEL of each core's DP: what auto-detection matches.
    expect(chip.coreList.map((c) => [c.name, c.type, c.targetSel])).toEqual([
      ['core0', 'armv6m', 0x01002927],
      ['core1', 'armv6m', 0x11002927],
    ]);
    const flm = ensureSampleFirmware('flash-rp2040', 'rp2040');
    const fromFlm = algorithmFromFlm(readFileSync(flm), flm);
    expect(Buffer.from(algorithm.blob)).toEqual(Buffer.from(fromFlm.blob));
    for (const key of ['pcInit', 'pcUninit', 'pcProgramPage', 'pcEraseSector', 'pcVerify', 'pcBlankCheck', 'pcCrc32', 'pcCrc32Sectors', 'dataSectionOffset'] as const) {
      expect(algorithm[key]).toBe(fromFlm[key]);
    }
    expect(algorithm.flash).toEqual(fromFlm.flash);
  });

  it('names the problem for unknown chips, missing algorithms and broken files', () => {
    expect(() => resolveChip('STM32F999')).toThrow(/unknown chip "STM32F999" \(known: nRF51822_xxAA, RP2040; see dapdeck chips, or add one with --target-file FILE\)/);
    expect(() => resolveChip('nRF51822_xxAA', { algo: '/nonexistent/algo.flm' })).toThrow(/flash algorithm \/nonexistent\/algo.flm: no such file/);
    const dir = mkdtempSync(join(tmpdir(), 'dapdeck-'));
    const notElf = join(dir, 'bad.flm');
    writeFileSync(notElf, 'this is not an ELF file at all, just text padding it out past 52 bytes');
    expect(() => resolveChip('nRF51822_xxAA', { algo: notElf })).toThrow(/bad\.flm: not an ELF file \(bad magic\)/);
    const hello = firmwarePath('hello', 'microbit');
    expect(() => resolveChip('nRF51822_xxAA', { algo: hello })).toThrow(/not a flash algorithm: no PrgCode section/);
    const yaml = join(dir, 'chip.yaml');
    writeFileSync(yaml, 'name: X\nvariants:\n  - name: Chip1\n    memory_map: []\n    flash_algorithms: [missing]\n');
    expect(() => resolveChip('Chip1', { targetFiles: [yaml] })).toThrow(/chip Chip1 names flash algorithm missing, which its target file does not define/);
    expect(() => parseTargetYaml('flash_algorithms:\n  - name: a\n    instructions: "%%%"\n', 'f.yaml')).toThrow(/f\.yaml: flash algorithm a: instructions are not valid base64/);
  });

  const dir = mkdtempSync(join(tmpdir(), 'dapdeck-targets-'));
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const nrf51 = () => {
    const flm = firmwarePath('flash-nrf51', 'microbit');
    return algorithmFromFlm(readFileSync(flm), flm);
  };

  it('reads the tagged form probe-rs writes: regions, cores, AP, detection, algorithm fields; unknown tags and fields quietly', () => {
    const algorithm = nrf51();
    const entries: AlgorithmEntry[] = [
      { algorithm, name: 'main-flash', default: true, stackSize: 1024 },
      { algorithm, name: 'other-main-flash' },
      { algorithm, name: 'uicr', range: { start: 0x10001000, end: 0x10001400 } },
    ];
    const text = targetFileYaml(
      'Tagged Family',
      [{ name: 'TaggedChip', flash: { start: 0, end: 0x40000 }, extraNvm: [{ start: 0x10001000, end: 0x10001400, name: 'UICR' }], algorithms: ['main-flash', 'other-main-flash', 'uicr'] }],
      entries,
      { 0x1d: 'TaggedChip' },
    );
    const emitted = vi.spyOn(process, 'emitWarning');
    const warned = vi.spyOn(console, 'warn');
    try {
      const target = parseTargetYaml(text, 'tagged.yaml');
      const [chip] = target.chips;
      expect(chip.coreList).toEqual([{ name: 'main', type: 'armv6m', ap: { version: 1, address: 0 } }]);
      expect(chip.memoryMap.map((m) => [m.kind, m.start, m.size, m.isAlias, m.access.boot])).toEqual([
        ['nvm', 0, 0x40000, false, true],
        ['nvm', 0x10001000, 0x400, false, false],
        ['ram', 0x20000000, 0x4000, false, false],
        ['ram', 0x20000000, 0x4000, true, false],
      ]);
      expect(chip.flash).toEqual([{ start: 0, size: 0x40000 }, { start: 0x10001000, size: 0x400 }]);
      expect(target.manufacturer).toEqual({ id: 0x44, cc: 2 });
      expect(target.chipDetection[0]).toMatchObject({ method: 'NordicConfigId', configIdAddress: 0x1000005c });
      expect([...(target.chipDetection[0] as { hwid: Map<number, string> }).hwid]).toEqual([[0x1d, 'TaggedChip']]);
      expect(target.chipDetection[1]).toEqual({ method: 'SomeDetectionFromTheFuture', unread: true });
      const [main] = target.algorithms;
      // Entry points written with the Thumb bit set are the same offsets as the .FLM's.
      expect([main.pcInit, main.pcProgramPage, main.stackSize, main.default, main.transferEncoding]).toEqual([algorithm.pcInit, algorithm.pcProgramPage, 1024, true, 'raw']);
      // Each region gets the algorithm covering it (the default one where two do), limited to it.
      const file = write('tagged.yaml', text);
      const resolved = resolveChip('taggedchip', { targetFiles: [file] });
      expect(resolved.regions.map((r) => [r.algorithm.name, r.region.start, r.algorithm.flash.sectors.length, r.algorithm.pcEraseAll === undefined])).toEqual([
        ['main-flash', 0, 256, false],
        ['uicr', 0x10001000, 1, false],
      ]);
      expect(resolved.algorithm.name).toBe('main-flash');
      expect(resolved.ram).toEqual({ start: 0x20000000, size: 0x4000 });
    } finally {
      emitted.mockRestore();
      warned.mockRestore();
    }
    expect(emitted).not.toHaveBeenCalled();
    expect(warned).not.toHaveBeenCalled();
  });

  it('refuses two default algorithms for one region, naming both', () => {
    const algorithm = nrf51();
    const file = write('two-defaults.yaml', targetFileYaml('F', [{ name: 'C', flash: { start: 0, end: 0x40000 }, algorithms: ['a', 'b'] }], [{ algorithm, name: 'a', default: true }, { algorithm, name: 'b', default: true }]));
    expect(() => resolveChip('C', { targetFiles: [file] })).toThrow('chip C: region 0x00000000..0x00040000 is covered by 2 default flash algorithms (a, b); pass one with --algo');
  });

  it('lets a chip in your target file replace the built-in one of the same name, and says so once', () => {
    const algorithm = nrf51();
    const file = write('mine.yaml', targetFileYaml('Mine', [{ name: 'nRF51822_xxAA', flash: { start: 0, end: 0x20000 }, algorithms: ['mine'] }], [{ algorithm, name: 'mine', default: true }]));
    const db = loadChipDatabase({ targetFiles: [file] });
    expect(db.chips.filter((c) => c.chip.name === 'nRF51822_xxAA').map((c) => c.source)).toEqual(['target file']);
    expect(db.notice).toBe('nRF51822_xxAA: using the description from your target file instead of the built-in one');
    const resolved = resolveChip('nRF51822_xxAA', { targetFiles: [file] });
    expect([resolved.file, resolved.algorithm.name, resolved.regions[0].region.size]).toEqual([file, 'mine', 0x20000]);
    expect(loadChipDatabase().notice).toBeUndefined();
  });

  it('checks every number in a target file, naming file, chip or algorithm, and field (a zero-size sector used to loop until out of memory)', () => {
    const base = readFileSync(resolveChip('nRF51822_xxAA').file, 'utf8');
    const bad = (from: string | RegExp, to: string) => {
      expect(base).toMatch(from);
      return base.replace(from, to);
    };
    const cases: [string, RegExp][] = [
      [bad('- size: "0x400"', '- size: "0x0"'), /x\.yaml: flash algorithm nrf51-nvmc \(used by nRF51822_xxAA\): flash_properties\.sectors\[0\]\.size must be a positive whole number up to 4294967295, got "0x0"/],
      [bad('- size: "0x400"', '- size: -1024'), /flash_properties\.sectors\[0\]\.size must be a positive whole number .*, got -1024/],
      [bad('- size: "0x400"', '- size: 1.5'), /flash_properties\.sectors\[0\]\.size must be a positive whole number .*, got 1\.5/],
      [bad('- size: "0x400"', '- size: 0x1').replace('end: "0x40000"\n      page_size', 'end: "0x100000000"\n      page_size'), /flash_properties\.sectors cut 0x100000000 bytes into 4294967296 sectors \(at most 1048576\)/],
      [bad('page_size: "0x1000"', 'page_size: "0"'), /flash algorithm nrf51-nvmc \(used by nRF51822_xxAA\): flash_properties\.page_size must be a positive whole number/],
      [bad('erased_byte_value: "0xff"', 'erased_byte_value: 256'), /flash_properties\.erased_byte_value must be a whole number ≥ 0 up to 255, got 256/],
      [bad('end: "0x40000"\n      page_size', 'end: "-0x40000"\n      page_size'), /flash_properties\.address_range\.end must be a whole number ≥ 0, got "-0x40000"/],
      [bad(/data_section_offset: "0x[0-9a-f]+"/, 'data_section_offset: zero'), /data_section_offset must be a whole number ≥ 0 up to 4294967295, got "zero"/],
      [bad(/pc_program_page: "0x[0-9a-f]+"/, 'pc_program_page: "0x100000"'), /pc_program_page 0x100000 is outside the \d+-byte instructions/],
      [bad('            start: "0x20000000"', '            start: "0x20008000"'), /x\.yaml: chip nRF51822_xxAA: memory_map\[1\]\.range ends \(0x20004000\) before it starts \(0x20008000\)/],
      [bad('            start: "0x20000000"', '            start: 0.5'), /x\.yaml: chip nRF51822_xxAA: memory_map\[1\]\.range\.start must be a whole number ≥ 0, got 0\.5/],
    ];
    for (const [text, message] of cases) {
      // A second, valid chip is the one asked for: the broken numbers are refused all the same.
      const file = write('x.yaml', text.replace('nRF51822_xxAA', 'nRF51822_xxAA').replace(/^variants:\n/m, 'variants:\n  - name: Other\n    memory_map: []\n'));
      let error = '';
      try {
        resolveChip('nRF51822_xxAA', { targetFiles: [file] });
      } catch (err) {
        error = (err as Error).message;
      }
      expect(error, String(message)).toMatch(message);
    }
  });
});
