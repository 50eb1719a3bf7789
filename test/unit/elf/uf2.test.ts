/**
 * UF2 input, on files written by the `uf2` npm package (an encoder nobody here wrote) from the
 * hello sample's image, checked against the figures of Microsoft's UF2 spec (block layout, magic
 * numbers, flags) and its family list (which the package also carries: the two tables must agree).
 */
import { readFileSync } from 'node:fs';
import { familyMap, magicValues, UF2Flags } from 'uf2';
import { describe, expect, it } from 'vitest';
import { detectImageFormat, loadImage } from '../../../core/elf';
import { UF2_FAMILIES, uf2FamiliesOfChip } from '../../../core/elf/uf2-families';
import { imageFromUf2, UF2_MAGIC_END, UF2_MAGIC_START0, UF2_MAGIC_START1 } from '../../../core/elf/uf2';
import { firmwarePath } from '../../support/firmware';
import { contiguous, uf2FromImage } from '../../support/uf2';

const RP2040 = 0xe48bff56;
const NRF52 = 0x1b57745f;
const NRF52840 = 0xada52840;

const elf = firmwarePath('hello', 'microbit');
const hello = loadImage(readFileSync(elf), elf);
const microbit = { name: 'nRF51822_xxAA', families: uf2FamiliesOfChip('nRF51822_xxAA') };
const rp2040 = { name: 'RP2040', families: uf2FamiliesOfChip('RP2040') };

function error(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('no error');
}

describe('UF2 images', () => {
  it('uses the spec figures and the same family IDs as the published family list', () => {
    expect(magicValues).toEqual([
      { offset: 0, value: UF2_MAGIC_START0 },
      { offset: 4, value: UF2_MAGIC_START1 },
      { offset: 508, value: UF2_MAGIC_END },
    ]);
    expect([UF2Flags.notMainFlash, UF2Flags.fileContainer, UF2Flags.familyIDPresent]).toEqual([0x1, 0x1000, 0x2000]);
    const shared = UF2_FAMILIES.filter((f) => familyMap.has(f.id));
    expect(shared.length).toBeGreaterThan(20);
    for (const f of shared) expect([f.id, f.description]).toEqual([f.id, familyMap.get(f.id)]);
    expect(uf2FamiliesOfChip('nRF52840_xxAA')).toEqual([NRF52, NRF52840]);
    expect(uf2FamiliesOfChip('STM32F407VGTx')).toEqual([0x57755a57, 0x6d0922fa, 0x8fb060fe]);
    expect(uf2FamiliesOfChip('RP2040')).toEqual([RP2040]);
    expect(uf2FamiliesOfChip('nRF51822_xxAA')).toEqual([]);
  });

  it('reads a UF2 written from the hello image back to the same bytes, recognised by content', () => {
    const bytes = uf2FromImage(hello);
    expect(bytes.length % 512).toBe(0);
    expect(detectImageFormat(bytes, 'firmware')).toBe('uf2');
    expect(detectImageFormat(bytes, 'hello.uf2')).toBe('uf2');
    const image = loadImage(bytes, 'hello.uf2', { chip: microbit });
    expect(contiguous(image)).toEqual(contiguous(hello));
    expect(image.chunks[0].source).toMatch(/^UF2 blocks 0\.\.\d+$/);
  });

  it('takes the blocks of the chip\'s family from concatenated files and refuses a UF2 for another family', () => {
    const forRp = uf2FromImage(hello, RP2040);
    const forNrf = uf2FromImage(hello.within(0, 0x100), NRF52840);
    const both = new Uint8Array([...forNrf, ...forRp]);
    expect(contiguous(imageFromUf2(both, 'both.uf2', rp2040))).toEqual(contiguous(hello));
    expect(contiguous(imageFromUf2(both, 'both.uf2', { name: 'nRF52840_xxAA', families: uf2FamiliesOfChip('nRF52840_xxAA') }))).toEqual(contiguous(hello.within(0, 0x100)));
    expect(error(() => imageFromUf2(forRp, 'rp.uf2', microbit))).toBe(
      'rp.uf2: a UF2 for RP2040 (0xe48bff56), not for nRF51822_xxAA, which has no UF2 family ID registered (a UF2 without a family ID is taken for it)',
    );
    expect(error(() => imageFromUf2(forRp, 'rp.uf2', { name: 'nRF52840_xxAA', families: [NRF52, NRF52840] }))).toBe(
      'rp.uf2: a UF2 for RP2040 (0xe48bff56), not for nRF52840_xxAA, whose UF2 families are NRF52 (0x1b57745f), NRF52840 (0xada52840)',
    );
    expect(error(() => imageFromUf2(both, 'both.uf2'))).toBe('both.uf2: a UF2 for several families (NRF52840 (0xada52840), RP2040 (0xe48bff56)); name the chip to pick one');
    // A block flagged "not main flash" (comments, sources) is not written.
    const commented = uf2FromImage(hello);
    new DataView(commented.buffer).setUint32(512 + 8, UF2Flags.notMainFlash, true);
    const image = imageFromUf2(commented, 'c.uf2', microbit);
    expect(image.size).toBe(hello.size - 256);
  });

  it('names what is wrong with a damaged or truncated file', () => {
    const good = uf2FromImage(hello, RP2040);
    const blocks = good.length / 512;
    const edit = (f: (v: DataView) => void) => {
      const copy = good.slice();
      f(new DataView(copy.buffer));
      return copy;
    };
    expect(error(() => imageFromUf2(good.subarray(0, good.length - 100), 'a.uf2', rp2040))).toBe(`a.uf2: ${good.length - 100} bytes is not a whole number of 512-byte UF2 blocks (truncated?)`);
    expect(error(() => imageFromUf2(good.subarray(0, good.length - 512), 'a.uf2', rp2040))).toBe(`a.uf2: 1 of ${blocks} blocks of family RP2040 (0xe48bff56) missing (number ${blocks - 1}): truncated or damaged`);
    expect(error(() => imageFromUf2(edit((v) => v.setUint32(2 * 512 + 508, 0, true)), 'a.uf2', rp2040))).toBe('a.uf2: block 2 (file offset 1024) has a wrong end magic number: not a UF2 block, or damaged');
    expect(error(() => imageFromUf2(edit((v) => v.setUint32(3 * 512 + 4, 0, true)), 'a.uf2', rp2040))).toBe('a.uf2: block 3 (file offset 1536) has a wrong second start magic number: not a UF2 block, or damaged');
    expect(error(() => imageFromUf2(edit((v) => v.setUint32(1 * 512 + 16, 477, true)), 'a.uf2', rp2040))).toBe('a.uf2: block 1 says it carries 477 bytes, more than a UF2 block holds (476)');
    expect(error(() => imageFromUf2(edit((v) => v.setUint32(1 * 512 + 20, 0, true)), 'a.uf2', rp2040))).toBe('a.uf2: block number 0 of the blocks of family RP2040 (0xe48bff56) appears twice (file block 1)');
    expect(error(() => imageFromUf2(edit((v) => v.setUint32(1 * 512 + 8, UF2Flags.fileContainer, true)), 'a.uf2', rp2040))).toBe(
      "a.uf2: block 1 is part of a file container (flag 0x1000), a file for a bootloader's file system, not flash contents",
    );
  });
});
