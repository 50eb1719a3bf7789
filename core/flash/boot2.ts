/**
 * The RP2040's boot2 block: the first 256 bytes of flash, 252 bytes of code (zero-padded) and the
 * CRC-32/MPEG-2 of those 252 bytes as a little-endian word, which the boot ROM checks before it
 * runs the code (RP2040 datasheet 2.8.1).
 */
import { crc32Mpeg2 } from './crc32';

export const BOOT2_SIZE = 256;
export const BOOT2_CODE_SIZE = 252;

/** Pad boot2's code to 252 bytes and append its checksum. */
export function padBoot2(code: Uint8Array): Uint8Array {
  if (code.length > BOOT2_CODE_SIZE) throw new Error(`boot2 code is ${code.length} bytes; it must fit in ${BOOT2_CODE_SIZE}`);
  const out = new Uint8Array(BOOT2_SIZE);
  out.set(code);
  new DataView(out.buffer).setUint32(BOOT2_CODE_SIZE, crc32Mpeg2(out.subarray(0, BOOT2_CODE_SIZE)), true);
  return out;
}

/** Whether a 256-byte block carries the checksum the boot ROM accepts. */
export function boot2Valid(block: Uint8Array): boolean {
  if (block.length < BOOT2_SIZE) return false;
  const stored = new DataView(block.buffer, block.byteOffset, BOOT2_SIZE).getUint32(BOOT2_CODE_SIZE, true);
  return crc32Mpeg2(block.subarray(0, BOOT2_CODE_SIZE)) === stored;
}
