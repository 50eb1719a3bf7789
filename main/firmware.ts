/** Locating (and building on demand) the sample firmware that ships with the repository. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..');

export function sampleFirmwarePath(sample: string, board: string): string {
  return resolve(REPO_ROOT, '.cache', 'firmware', `${sample}-${board}.elf`);
}

/** The sample's ELF, built with scripts/build-firmware.sh when missing or stale (the script decides). */
export function ensureSampleFirmware(sample: string, board: string): string {
  const path = sampleFirmwarePath(sample, board);
  try {
    execFileSync('bash', [resolve(REPO_ROOT, 'scripts', 'build-firmware.sh'), sample], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (err) {
    throw new Error(`building the ${sample} sample firmware failed (${(err as Error).message.split('\n')[0]})`);
  }
  if (!existsSync(path)) throw new Error(`the ${sample} sample firmware was not produced at ${path}`);
  return path;
}
