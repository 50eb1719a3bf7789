/** Sample firmware for tests: built on demand (never skipped), path returned. */
import { readFileSync } from 'node:fs';
import { ensureSampleFirmware, sampleFirmwarePath } from '../../main/firmware';

export type Board = 'microbit' | 'lm3s6965evb' | 'rp2040';

export function firmwarePath(sample: string, board: Board, variant?: string): string {
  return ensureSampleFirmware(sample, board, variant);
}

/** The Pico's padded, checksummed boot2 block (256 bytes), as the rp2040 samples link it. */
export function boot2Block(): Uint8Array {
  ensureSampleFirmware('boot2', 'rp2040');
  return new Uint8Array(readFileSync(sampleFirmwarePath('boot2', 'rp2040').replace(/\.elf$/, '.bin')));
}
