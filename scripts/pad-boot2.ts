/**
 * scripts/pad-boot2.ts BOOT2.elf OUT.bin — boot2's code from its ELF (the bytes loaded from
 * 0x10000000), padded to 252 bytes with the boot ROM's CRC32 appended: the 256-byte block the
 * Pico samples link at the start of flash. Run by scripts/build-firmware.sh.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { loadImage } from '../core/elf';
import { padBoot2 } from '../core/flash/boot2';

const [elfPath, outPath] = process.argv.slice(2);
if (!elfPath || !outPath) {
  process.stderr.write('usage: pad-boot2.ts BOOT2.elf OUT.bin\n');
  process.exit(2);
}
const image = loadImage(readFileSync(elfPath), elfPath);
const start = 0x10000000;
const end = Math.max(start, ...image.chunks.map((c) => c.address + c.data.length));
if (image.chunks.some((c) => c.address < start)) throw new Error(`${elfPath}: boot2 must be linked at 0x10000000`);
writeFileSync(outPath, padBoot2(image.bytes(start, end - start)));
