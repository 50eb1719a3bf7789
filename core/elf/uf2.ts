/**
 * UF2 (Microsoft's USB Flashing Format) images: 512-byte blocks, each a 32-byte header (magic
 * 0x0A324655 "UF2\n", magic 0x9E5D5157, flags, target address, payload size, block number, block
 * count, file size or family ID), up to 476 bytes of data, and the end magic 0x0AB16F30; all
 * little-endian. Flags: 0x1 not main flash (skipped), 0x1000 file container (a file for a
 * bootloader's file system, not flash contents), 0x2000 family ID present, 0x4000 MD5 and 0x8000
 * extension tags (both after the payload; they do not change it).
 *
 * As the spec asks of bootloaders, blocks of a family other than the chip's are left out, so
 * files for several families concatenated into one work; a file with no block for the chip's
 * family is refused, naming the family it is for. Each family's blocks must be numbered
 * 0..count-1 with none missing or repeated: a truncated or damaged file is refused, never
 * flashed in part.
 */
import { FlashImage, ImageError, type ImageChunk } from './image';
import { describeUf2Family } from './uf2-families';

export const UF2_MAGIC_START0 = 0x0a324655;
export const UF2_MAGIC_START1 = 0x9e5d5157;
export const UF2_MAGIC_END = 0x0ab16f30;
export const UF2_BLOCK_SIZE = 512;
export const UF2_MAX_PAYLOAD = 476;
export const UF2_FLAG_NOT_MAIN_FLASH = 0x1;
export const UF2_FLAG_FILE_CONTAINER = 0x1000;
export const UF2_FLAG_FAMILY_ID = 0x2000;

export interface Uf2Block {
  index: number;
  flags: number;
  address: number;
  data: Uint8Array;
  blockNo: number;
  numBlocks: number;
  family?: number;
  /** False for blocks flagged "not main flash" (comments, sources): numbered with the rest, never written. */
  mainFlash: boolean;
}

/** True when the bytes start with a UF2 block's two start magics. */
export function isUf2(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  const v = new DataView(bytes.buffer, bytes.byteOffset, 8);
  return v.getUint32(0, true) === UF2_MAGIC_START0 && v.getUint32(4, true) === UF2_MAGIC_START1;
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/** Every block of a UF2 file, checked. */
export function readUf2Blocks(bytes: Uint8Array, name: string): Uf2Block[] {
  if (bytes.length === 0) throw new ImageError(`${name}: empty file`);
  if (bytes.length % UF2_BLOCK_SIZE !== 0) throw new ImageError(`${name}: ${bytes.length} bytes is not a whole number of 512-byte UF2 blocks (truncated?)`);
  const blocks: Uf2Block[] = [];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let index = 0; index * UF2_BLOCK_SIZE < bytes.length; index++) {
    const o = index * UF2_BLOCK_SIZE;
    const word = (at: number) => v.getUint32(o + at, true);
    if (word(0) !== UF2_MAGIC_START0 || word(4) !== UF2_MAGIC_START1 || word(508) !== UF2_MAGIC_END) {
      const which = word(0) !== UF2_MAGIC_START0 ? 'first start' : word(4) !== UF2_MAGIC_START1 ? 'second start' : 'end';
      throw new ImageError(`${name}: block ${index} (file offset ${o}) has a wrong ${which} magic number: not a UF2 block, or damaged`);
    }
    const flags = word(8);
    if (flags & UF2_FLAG_FILE_CONTAINER) throw new ImageError(`${name}: block ${index} is part of a file container (flag 0x1000), a file for a bootloader's file system, not flash contents`);
    const size = word(16);
    if (size > UF2_MAX_PAYLOAD) throw new ImageError(`${name}: block ${index} says it carries ${size} bytes, more than a UF2 block holds (476)`);
    const address = word(12);
    if (address + size > 2 ** 32) throw new ImageError(`${name}: block ${index}: ${size} bytes at ${hex(address)} run past the end of the 32-bit address space`);
    blocks.push({
      index,
      flags,
      address,
      data: bytes.slice(o + 32, o + 32 + size),
      blockNo: word(20),
      numBlocks: word(24),
      family: flags & UF2_FLAG_FAMILY_ID ? word(28) : undefined,
      mainFlash: (flags & UF2_FLAG_NOT_MAIN_FLASH) === 0,
    });
  }
  if (!blocks.some((b) => b.mainFlash)) throw new ImageError(`${name}: no block of this UF2 file is for main flash`);
  return blocks;
}

/** The families a file's blocks are for (undefined: blocks without a family ID), in file order. */
export function uf2Families(blocks: readonly Uf2Block[]): (number | undefined)[] {
  return [...new Set(blocks.filter((b) => b.mainFlash).map((b) => b.family))];
}

/** The chip a UF2 is checked against: its name and the UF2 family IDs it answers to. */
export interface Uf2Chip {
  name: string;
  families: readonly number[];
}

/**
 * The flash image of a UF2 file for `chip`: the blocks without a family ID and those of the
 * chip's families. Without a chip, a file for one family (or none) is taken whole.
 */
export function imageFromUf2(bytes: Uint8Array, name: string, chip?: Uf2Chip): FlashImage {
  const blocks = readUf2Blocks(bytes, name);
  const families = uf2Families(blocks);
  const stated = families.filter((f): f is number => f !== undefined);
  let wanted: (number | undefined)[];
  if (!chip) {
    if (stated.length > 1) throw new ImageError(`${name}: a UF2 for several families (${stated.map(describeUf2Family).join(', ')}); name the chip to pick one`);
    wanted = families;
  } else {
    wanted = families.filter((f) => f === undefined || chip.families.includes(f));
    if (wanted.length === 0) {
      const has = chip.families.length ? `whose UF2 famil${chip.families.length === 1 ? 'y is' : 'ies are'} ${chip.families.map(describeUf2Family).join(', ')}` : 'which has no UF2 family ID registered (a UF2 without a family ID is taken for it)';
      throw new ImageError(`${name}: a UF2 for ${stated.map(describeUf2Family).join(', ')}, not for ${chip.name}, ${has}`);
    }
  }
  const chunks: ImageChunk[] = [];
  for (const family of wanted) {
    const group = blocks.filter((b) => b.family === family);
    const what = family === undefined ? 'blocks' : `blocks of family ${describeUf2Family(family)}`;
    const count = group[0].numBlocks;
    const seen = new Set<number>();
    for (const b of group) {
      if (b.numBlocks !== count) throw new ImageError(`${name}: block ${b.index} says the file has ${b.numBlocks} ${what}, block ${group[0].index} said ${count}: damaged`);
      if (b.blockNo >= count) throw new ImageError(`${name}: block ${b.index} is number ${b.blockNo} of ${count} ${what}: damaged`);
      if (seen.has(b.blockNo)) throw new ImageError(`${name}: block number ${b.blockNo} of the ${what} appears twice (file block ${b.index})`);
      seen.add(b.blockNo);
    }
    if (seen.size !== count) {
      // The first few missing numbers, from the gaps between those present (a damaged count may be 2^32).
      const missing: number[] = [];
      let next = 0;
      for (const n of [...seen, count].sort((a, b) => a - b)) {
        for (; next < n && missing.length < 6; next++) missing.push(next);
        next = n + 1;
        if (missing.length >= 6) break;
      }
      const total = count - seen.size;
      throw new ImageError(`${name}: ${total} of ${count} ${what} missing (number${total === 1 ? '' : 's'} ${missing.slice(0, 5).join(', ')}${total > 5 ? ', …' : ''}): truncated or damaged`);
    }
    // Contiguous blocks become one chunk (one allocation per run, however long the file).
    const runs: Uf2Block[][] = [];
    for (const b of [...group].sort((x, y) => x.address - y.address)) {
      if (b.data.length === 0 || !b.mainFlash) continue;
      const run = runs[runs.length - 1];
      const end = run ? run[run.length - 1].address + run[run.length - 1].data.length : -1;
      if (run && end === b.address) run.push(b);
      else runs.push([b]);
    }
    for (const run of runs) {
      const data = new Uint8Array(run.reduce((n, b) => n + b.data.length, 0));
      let at = 0;
      for (const b of run) {
        data.set(b.data, at);
        at += b.data.length;
      }
      chunks.push({ address: run[0].address, data, source: `UF2 block${run.length > 1 ? 's' : ''} ${run[0].index}${run.length > 1 ? `..${run[run.length - 1].index}` : ''}` });
    }
  }
  return new FlashImage(name, chunks);
}
