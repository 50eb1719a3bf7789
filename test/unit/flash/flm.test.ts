/** CMSIS-Pack .FLM loading (files built here with the FlashOS.h FlashDevice layout): corrupt sizes are refused, not allocated. */
import { describe, expect, it } from 'vitest';
import { AlgorithmError, algorithmFromFlm } from '../../../core/flash/algorithm';
import { SHF_ALLOC, SHF_EXECINSTR, SHT_NOBITS, buildElf } from '../../support/elf-builder';
import { flashDevice } from '../../fuzz/targets/flash-descriptions';

const code = Uint8Array.from({ length: 32 }, (_, i) => i);
const symbols = ['Init', 'EraseSector', 'ProgramPage'].map((name, i) => ({ name, value: 0x100 + 8 * i + 1, section: 'PrgCode' }));
const flm = (data: { address: number; size: number }, device: Uint8Array) =>
  buildElf({
    sections: [
      { name: 'PrgCode', flags: SHF_ALLOC | SHF_EXECINSTR, address: 0x100, data: code },
      { name: 'PrgData', type: SHT_NOBITS, flags: SHF_ALLOC, address: data.address, size: data.size },
      { name: 'DevDscr', flags: SHF_ALLOC, address: 0x1000, data: device },
    ],
    symbols,
  });

describe('.FLM flash algorithms', () => {
  it('loads the blob, entry points and sectors', () => {
    const a = algorithmFromFlm(flm({ address: 0x120, size: 16 }, flashDevice(0, 0x40000, [[0x400, 0]])), 'nrf.flm');
    expect(a.blob.length).toBe(0x30);
    expect(a).toMatchObject({ pcInit: 0, pcEraseSector: 8, pcProgramPage: 16, dataSectionOffset: 0x20 });
    expect(a.flash.sectors).toHaveLength(256);
  });

  it('refuses a blob no target RAM could hold instead of allocating it (found by the fuzz suite)', () => {
    expect(() => algorithmFromFlm(flm({ address: 0xffffff00, size: 0x100 }, flashDevice(0, 0x40000, [[0x400, 0]])), 'big.flm')).toThrow(
      new AlgorithmError('big.flm: PrgCode and PrgData span 4294967040 bytes, more than a flash algorithm can have in target RAM (4194304)'),
    );
    expect(() => algorithmFromFlm(flm({ address: 0x80, size: 16 }, flashDevice(0, 0x40000, [[0x400, 0]])), 'early.flm')).toThrow('early.flm: PrgData at 0x80 is linked before PrgCode (0x100)');
  });

  it('refuses an entry point outside PrgCode', () => {
    const bytes = buildElf({
      sections: [
        { name: 'PrgCode', flags: SHF_ALLOC | SHF_EXECINSTR, address: 0x100, data: code },
        { name: 'DevDscr', flags: SHF_ALLOC, address: 0x1000, data: flashDevice(0, 0x40000, [[0x400, 0]]) },
      ],
      symbols: [...symbols, { name: 'EraseChip', value: 0x11, section: 'PrgCode' }],
    });
    expect(() => algorithmFromFlm(bytes, 'wild.flm')).toThrow('wild.flm: entry point EraseChip at 0x11 is outside PrgCode (0x100, 32 bytes)');
  });

  it('refuses sector tables that describe no real flash', () => {
    expect(() => algorithmFromFlm(flm({ address: 0x120, size: 16 }, flashDevice(0, 0xffffffff, [[1, 0]])), 'tiny.flm')).toThrow(/^tiny\.flm: FlashDevice describes more than 1048576 sectors/);
    expect(() => algorithmFromFlm(flm({ address: 0x120, size: 16 }, flashDevice(0xfffff000, 0x2000, [[0x400, 0]])), 'top.flm')).toThrow('top.flm: FlashDevice 8192 bytes at 0xfffff000 run past the end of the 32-bit address space');
  });
});
