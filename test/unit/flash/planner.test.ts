import { describe, expect, it } from 'vitest';
import { crc32 } from '../../../core/flash/crc32';
import { expandSectors, pagesToProgram, sectorContents, touchedSectors } from '../../../core/flash/planner';

const geometry = { sectors: expandSectors(0, 0x4000, [{ offset: 0, size: 0x400 }]), pageSize: 0x100, erasedValue: 0xff };

describe('crc32', () => {
  it('matches the IEEE check value', () => {
    // The standard check value: CRC-32 of ASCII "123456789" is 0xCBF43926.
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
});

describe('flash planner', () => {
  it('expands sector layouts with several sector sizes', () => {
    const s = expandSectors(0x08000000, 0x20000, [{ offset: 0, size: 0x4000 }, { offset: 0x10000, size: 0x10000 }]);
    expect(s).toHaveLength(5);
    expect(s[3]).toEqual({ address: 0x0800c000, size: 0x4000 });
    expect(s[4]).toEqual({ address: 0x08010000, size: 0x10000 });
  });

  it('finds touched sectors and which ones are partial', () => {
    const chunks = [
      { address: 0x000, data: new Uint8Array(0x400).fill(1) }, // exactly sector 0
      { address: 0x500, data: new Uint8Array(0x10).fill(2) }, // part of sector 1
      { address: 0xbf0, data: new Uint8Array(0x20).fill(3) }, // straddles sectors 2 and 3
    ];
    const plans = touchedSectors(chunks, geometry);
    expect(plans.map((p) => [p.sector.address, p.partial])).toEqual([
      [0x000, false],
      [0x400, true],
      [0x800, true],
      [0xc00, true],
    ]);
    expect(plans[2].covered).toEqual([[0x3f0, 0x400]]);
    expect(plans[3].covered).toEqual([[0, 0x10]]);
  });

  it('refuses bytes outside flash, naming the address', () => {
    expect(() => touchedSectors([{ address: 0x3ff0, data: new Uint8Array(0x20) }], geometry)).toThrow(/0x00004000 is not inside any flash sector/);
  });

  it('keeps the untouched bytes of a partial sector and skips erased pages', () => {
    const chunks = [{ address: 0x410, data: Uint8Array.of(1, 2, 3) }];
    const [plan] = touchedSectors(chunks, geometry);
    const current = new Uint8Array(0x400).fill(0xaa);
    const contents = sectorContents(plan, chunks, 0xff, current);
    expect(Array.from(contents.subarray(0x0e, 0x15))).toEqual([0xaa, 0xaa, 1, 2, 3, 0xaa, 0xaa]);
    const fresh = sectorContents(plan, chunks, 0xff);
    expect(pagesToProgram(fresh, 0x100, 0xff)).toEqual([0]);
    expect(pagesToProgram(contents, 0x100, 0xff)).toEqual([0, 0x100, 0x200, 0x300]);
  });
});
