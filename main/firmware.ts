/** Locating (and building on demand) the sample firmware that ships with the repository. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** The repository (or app) root: the nearest folder above this file with Dapdeck's package.json (bundles move __dirname). */
export const REPO_ROOT = findRoot(__dirname);

function findRoot(from: string): string {
  for (let dir = from; ; dir = resolve(dir, '..')) {
    const pkg = resolve(dir, 'package.json');
    if (existsSync(pkg) && /"name":\s*"dapdeck"/.test(readFileSync(pkg, 'utf8'))) return dir;
    if (resolve(dir, '..') === dir) return resolve(from, '..');
  }
}

/** A sample's ELF; `variant` names a build from the sample's `variants` file. */
export function sampleFirmwarePath(sample: string, board: string, variant?: string): string {
  return resolve(REPO_ROOT, '.cache', 'firmware', `${sample}${variant ? `-${variant}` : ''}-${board}.elf`);
}

/** The sample's ELF, built with scripts/build-firmware.sh when missing or stale (the script decides). */
export function ensureSampleFirmware(sample: string, board: string, variant?: string): string {
  const path = sampleFirmwarePath(sample, board, variant);
  try {
    execFileSync('bash', [resolve(REPO_ROOT, 'scripts', 'build-firmware.sh'), sample], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (err) {
    throw new Error(`building the ${sample} sample firmware failed (${(err as Error).message.split('\n')[0]})`);
  }
  if (!existsSync(path)) throw new Error(`the ${sample} sample firmware was not produced at ${path}`);
  return path;
}
