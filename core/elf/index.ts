export * from './elf';
export * from './image';
export * from './hex';
export * from './uf2';
export * from './uf2-families';

import { ElfFile } from './elf';
import { FlashImage, ImageError } from './image';
import { imageFromHex } from './hex';
import { imageFromUf2, isUf2, type Uf2Chip } from './uf2';

export type ImageFormat = 'elf' | 'hex' | 'bin' | 'uf2';

/** The image format, by content or extension: ELF magic, UF2 block magics or .uf2, a leading ':' or .hex for HEX, .bin for BIN. */
export function detectImageFormat(bytes: Uint8Array, name: string): ImageFormat {
  if (bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) return 'elf';
  if (isUf2(bytes) || /\.uf2$/i.test(name)) return 'uf2';
  if (/\.(hex|ihex)$/i.test(name) || bytes[0] === 0x3a) return 'hex';
  if (/\.bin$/i.test(name)) return 'bin';
  if (/\.(elf|axf|out)$/i.test(name) || !/\./.test(name.split('/').pop() ?? '')) return 'elf';
  throw new ImageError(`${name}: cannot tell the image format (use an .elf, .hex, .uf2 or .bin name, or --format)`);
}

export const FORMAT_NAME: Record<ImageFormat, string> = { elf: 'an ELF', hex: 'an Intel HEX', uf2: 'a UF2', bin: 'a raw binary' };

/**
 * Load a flash image from bytes (format given, or detected). A base address only means something
 * for a raw binary: ELF and HEX carry their own addresses, so a base with them is refused rather
 * than silently ignored. A UF2 is checked against `chip` (its family IDs; see ./uf2.ts).
 */
export function loadImage(bytes: Uint8Array, name: string, options: { format?: ImageFormat | 'auto'; base?: number; chip?: Uf2Chip } = {}): FlashImage {
  const format = !options.format || options.format === 'auto' ? detectImageFormat(bytes, name) : options.format;
  if (options.base !== undefined && format !== 'bin') {
    throw new ImageError(`${name}: a base address applies only to raw .bin images; this is ${FORMAT_NAME[format]} file, which carries its own load addresses`);
  }
  switch (format) {
    case 'elf':
      return FlashImage.fromElf(new ElfFile(bytes, name));
    case 'hex':
      return imageFromHex(new TextDecoder().decode(bytes), name);
    case 'uf2':
      return imageFromUf2(bytes, name, options.chip);
    case 'bin':
      if (options.base === undefined) throw new ImageError(`${name}: a raw binary needs a base address (--base ADDR)`);
      return FlashImage.fromBin(bytes, name, options.base);
  }
}
