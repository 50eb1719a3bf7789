export * from './elf';
export * from './image';
export * from './hex';

import { ElfFile } from './elf';
import { FlashImage, ImageError } from './image';
import { imageFromHex } from './hex';

export type ImageFormat = 'elf' | 'hex' | 'bin';

/** Load a flash image from bytes, by extension or content: ELF magic, a leading ':' for HEX, else BIN. */
export function loadImage(bytes: Uint8Array, name: string, options: { format?: ImageFormat | 'auto'; base?: number } = {}): FlashImage {
  let format = options.format ?? 'auto';
  if (format === 'auto') {
    if (bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) format = 'elf';
    else if (/\.(hex|ihex)$/i.test(name) || bytes[0] === 0x3a) format = 'hex';
    else if (/\.bin$/i.test(name)) format = 'bin';
    else if (/\.(elf|axf|out)$/i.test(name) || !/\./.test(name.split('/').pop() ?? '')) format = 'elf';
    else throw new ImageError(`${name}: cannot tell the image format (use an .elf, .hex or .bin name, or --format)`);
  }
  switch (format) {
    case 'elf':
      return FlashImage.fromElf(new ElfFile(bytes, name));
    case 'hex':
      return imageFromHex(new TextDecoder().decode(bytes), name);
    case 'bin':
      if (options.base === undefined) throw new ImageError(`${name}: a raw binary needs a base address (--base ADDR)`);
      return FlashImage.fromBin(bytes, name, options.base);
  }
}
