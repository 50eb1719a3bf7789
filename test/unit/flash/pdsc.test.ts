/**
 * The .pdsc reader: a package description written here in the shape vendors' Device Family Packs
 * have (Open-CMSIS-Pack PDSC format: family → subFamily → device → variant, `processor` Dcore,
 * `memory` by the older id (IROM1/IRAM1) and by name+access, `algorithm` start/size/RAMstart/
 * RAMsize/default; IAR-style algorithms are not CMSIS .FLMs and are passed over), turned into
 * chips around this project's nRF51 .FLM. Real pdsc files (Open-CMSIS-Pack devtools' test packs:
 * Keil.FM0plus_DFP, ARM.RteTest_DFP) were read with it by hand, not committed.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { algorithmFromFlm, AlgorithmError } from '../../../core/flash/algorithm';
import { coreTypeOfDcore, parsePdsc, pdscToTarget } from '../../../core/flash/pdsc';
import { firmwarePath } from '../../support/firmware';

const PDSC = `<?xml version="1.0" encoding="UTF-8"?>
<package schemaVersion="1.7.2" xmlns:xs="http://www.w3.org/2001/XMLSchema-instance">
  <vendor>TestVendor</vendor>
  <name>Test_DFP</name>
  <description>Devices for the reader's test</description>
  <releases>
    <release version="2.1.0" date="2026-11-01">newest</release>
    <release version="2.0.0" date="2026-01-01">older</release>
  </releases>
  <devices>
    <family Dfamily="Test Series" Dvendor="TestVendor:99">
      <processor Dcore="Cortex-M0" DcoreVersion="r0p0" Dfpu="NO_FPU" Dendian="Little-endian"/>
      <memory id="IRAM1" start="0x20000000" size="0x2000" init="0" default="1"/>
      <algorithm name="Flash\\main.FLM" start="0x00000000" size="0x40000" RAMstart="0x20000000" RAMsize="0x1000" default="1"/>
      <algorithm name="Flash\\main_iar.out" start="0x00000000" size="0x40000" default="1" style="IAR"/>
      <subFamily DsubFamily="TestA">
        <memory id="IROM1" start="0x00000000" size="0x20000" startup="1" default="1"/>
        <device Dname="TESTA_128">
          <algorithm name="Flash\\main.FLM" start="0x00000000" size="0x20000" RAMstart="0x20000000" RAMsize="0x1000" default="1"/>
        </device>
        <device Dname="TESTA_256">
          <memory id="IROM1" start="0x00000000" size="0x40000" startup="1" default="1"/>
          <memory id="IRAM1" start="0x20000000" size="0x4000" init="0" default="1"/>
          <algorithm name="./Flash/main.FLM" start="0x10001000" size="0x100" default="0"/>
          <variant Dvariant="TESTA_256_QFN"/>
          <variant Dvariant="TESTA_256_M4">
            <processor Dcore="Cortex-M4"/>
          </variant>
        </device>
      </subFamily>
    </family>
    <family Dfamily="Other Series" Dvendor="TestVendor:99">
      <processor Pname="cm33" Dcore="Cortex-M33"/>
      <device Dname="OTHER_1">
        <memory name="Flash" access="rx" start="0x08000000" size="0x10000" startup="1"/>
        <memory name="SRAM" access="rwx" start="0x30000000" size="0x8000"/>
        <memory name="Periph" access="rwp" start="0x40000000" size="0x1000"/>
        <memory name="IROM2" start="0x08100000" size="0x1000"/>
      </device>
    </family>
  </devices>
</package>`;

function flm() {
  const path = firmwarePath('flash-nrf51', 'microbit', 'vendor-style');
  return readFileSync(path);
}

describe('CMSIS-Pack descriptions', () => {
  it('reads devices with what each level inherits and overrides', () => {
    const pack = parsePdsc(PDSC, 'test.pdsc');
    expect([pack.vendor, pack.name, pack.version, pack.description]).toEqual(['TestVendor', 'Test_DFP', '2.1.0', "Devices for the reader's test"]);
    // A device with variants becomes its variants.
    expect(pack.devices.map((d) => [d.name, d.family, d.subFamily, d.vendor])).toEqual([
      ['TESTA_128', 'Test Series', 'TestA', 'TestVendor'],
      ['TESTA_256_QFN', 'Test Series', 'TestA', 'TestVendor'],
      ['TESTA_256_M4', 'Test Series', 'TestA', 'TestVendor'],
      ['OTHER_1', 'Other Series', undefined, 'TestVendor'],
    ]);
    const [a128, qfn, m4, other] = pack.devices;
    expect(a128.memory.map((m) => [m.key, m.start, m.size, m.access, m.startup])).toEqual([
      ['IRAM1', 0x20000000, 0x2000, 'rwx', false],
      ['IROM1', 0, 0x20000, 'rx', true],
    ]);
    // The device's own entry for the same file and start replaces the family's (size 128 KiB).
    expect(a128.algorithms).toEqual([{ file: 'Flash/main.FLM', start: 0, size: 0x20000, ram: { start: 0x20000000, size: 0x1000 }, default: true, processor: undefined }]);
    expect(qfn.memory.map((m) => [m.key, m.size])).toEqual([['IRAM1', 0x4000], ['IROM1', 0x40000]]);
    expect(qfn.algorithms.map((a) => [a.file, a.start, a.size, a.default])).toEqual([
      ['Flash/main.FLM', 0, 0x40000, true],
      ['Flash/main.FLM', 0x10001000, 0x100, false],
    ]);
    expect(qfn.processors).toEqual([{ name: undefined, core: 'Cortex-M0' }]);
    expect(m4.processors).toEqual([{ name: undefined, core: 'Cortex-M4' }]);
    expect(other.processors).toEqual([{ name: 'cm33', core: 'Cortex-M33' }]);
        // Without access, an IROM name says read-execute (flash).
    expect(other.memory.map((m) => [m.key, m.access])).toEqual([['Flash', 'rx'], ['SRAM', 'rwx'], ['Periph', 'rwp'], ['IROM2', 'rx']]);
  });

  it('makes chips: cores, memory map, each algorithm placed where the pdsc says, its RAM', () => {
    const pack = parsePdsc(PDSC, 'test.pdsc');
    const bytes = flm();
    const target = pdscToTarget(pack, (p) => (p.toLowerCase() === 'flash/main.flm' ? bytes : undefined), 'test.pdsc');
    const chip = (name: string) => target.chips.find((c) => c.name === name)!;
    expect(target.name).toBe('TestVendor.Test_DFP 2.1.0');
    expect(chip('TESTA_128').cores).toEqual(['armv6m']);
    expect(chip('TESTA_256_M4').cores).toEqual(['armv7em']);
    expect(chip('OTHER_1').coreList).toEqual([{ name: 'cm33', type: 'armv8m' }]);
    expect(chip('OTHER_1').memoryMap.map((m) => [m.kind, m.name, m.access.boot])).toEqual([['nvm', 'Flash', true], ['ram', 'SRAM', false], ['generic', 'Periph', false], ['nvm', 'IROM2', false]]);
    // The UICR algorithm's range is in no memory element: it becomes a flash region of its own.
    expect(chip('TESTA_256_QFN').flash).toEqual([{ start: 0, size: 0x40000 }, { start: 0x10001000, size: 0x100 }]);
    expect(chip('TESTA_256_QFN').ram).toEqual([{ start: 0x20000000, size: 0x4000 }]);
    const byName = (n: string) => target.algorithms.find((a) => a.name === n)!;
    const [small, big, uicr] = [chip('TESTA_128').algorithms[0], ...chip('TESTA_256_QFN').algorithms];
    expect([small, big, uicr]).toEqual(['main', 'main@0x00000000', 'main@0x10001000']);
    expect(byName(small).flash.sectors.length).toBe(128);
    expect(byName(big).flash.sectors.length).toBe(256);
    expect(byName(uicr).flash.sectors).toEqual([{ address: 0x10001000, size: 0x100 }]);
    expect([byName(big).default, byName(uicr).default, byName(big).ramRange, byName(uicr).ramRange]).toEqual([true, false, { start: 0x20000000, size: 0x1000 }, undefined]);
    // Same code as the .FLM itself.
    expect(Buffer.from(byName(big).blob)).toEqual(Buffer.from(algorithmFromFlm(bytes, 'main.FLM').blob));
  });

  it('maps CMSIS Dcore names to core types', () => {
    expect(['Cortex-M0', 'Cortex-M0+', 'SC000', 'Cortex-M3', 'Cortex-M4', 'Cortex-M7', 'Cortex-M23', 'Cortex-M33', 'Cortex-M55', 'Cortex-A9'].map(coreTypeOfDcore)).toEqual([
      'armv6m', 'armv6m', 'armv6m', 'armv7m', 'armv7em', 'armv7em', 'armv8m', 'armv8m', 'armv8m', '',
    ]);
  });

  it('says in one line what is wrong with a description', () => {
    const error = (xml: string) => {
      try {
        parsePdsc(xml, 'bad.pdsc');
      } catch (err) {
        expect(err).toBeInstanceOf(AlgorithmError);
        return (err as Error).message;
      }
      throw new Error('no error');
    };
    expect(error('<package><vendor>V</vendor><name>N</name><devices></package>')).toBe("bad.pdsc: not valid XML: Expected closing tag 'devices' (opened in line 1, col 42) instead of closing tag 'package'. (line 1, column 51)");
    expect(error('<pack/>')).toBe('bad.pdsc: not a CMSIS-Pack description (no <package> element)');
    expect(error('<package><vendor>V</vendor></package>')).toBe('bad.pdsc: the package has no name');
    expect(error('<package><vendor>V</vendor><name>N</name><devices><family Dfamily="F"><device Dname="D"><memory id="IROM1" start="0x0" size="lots"/></device></family></devices></package>')).toBe(
      'bad.pdsc: device D: memory IROM1: size must be an address or size, got "lots"',
    );
    const pack = parsePdsc('<package><vendor>V</vendor><name>N</name><devices><family Dfamily="F"><device Dname="D"><algorithm name="Flash/x.FLM" start="0" size="0x1000"/></device></family></devices></package>', 'ok.pdsc');
    expect(() => pdscToTarget(pack, () => undefined, 'ok.pdsc')).toThrow('ok.pdsc: device D names flash algorithm Flash/x.FLM, which is not in the pack');
  });
});
