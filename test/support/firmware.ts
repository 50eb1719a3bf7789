/** Sample firmware for tests: built on demand (never skipped), path returned. */
import { ensureSampleFirmware } from '../../main/firmware';

export type Board = 'microbit' | 'lm3s6965evb';

export function firmwarePath(sample: string, board: Board, variant?: string): string {
  return ensureSampleFirmware(sample, board, variant);
}
