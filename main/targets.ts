/**
 * The target database: probe-rs-style YAML files in core/flash/targets (data, not code), plus any
 * --target-file and --algo the user passes. Resolves a chip name to its memory map and algorithm.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { AlgorithmError, algorithmFromFlm, parseTargetYaml, type ChipDescription, type FlashAlgorithm, type TargetDescription } from '../core/flash/algorithm';
import { REPO_ROOT } from './firmware';

export const BUILTIN_TARGETS = resolve(REPO_ROOT, 'core', 'flash', 'targets');

export interface ResolvedChip {
  chip: ChipDescription;
  algorithm: FlashAlgorithm;
  ram: { start: number; size: number };
}

function readFile(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AlgorithmError(`${what} ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

export function loadTargets(extraFiles: string[] = []): TargetDescription[] {
  const files = readdirSync(BUILTIN_TARGETS)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => resolve(BUILTIN_TARGETS, f));
  return [...files, ...extraFiles].map((f) => parseTargetYaml(new TextDecoder().decode(readFile(f, 'target file')), f));
}

export function listChips(targets = loadTargets()): string[] {
  return targets.flatMap((t) => t.chips.map((c) => c.name));
}

export function resolveChip(name: string, options: { targetFiles?: string[]; algo?: string } = {}): ResolvedChip {
  const targets = loadTargets(options.targetFiles ?? []);
  for (const t of targets) {
    const chip = t.chips.find((c) => c.name.toLowerCase() === name.toLowerCase());
    if (!chip) continue;
    let algorithm: FlashAlgorithm | undefined;
    if (options.algo) {
      algorithm = algorithmFromFlm(readFile(options.algo, 'flash algorithm'), options.algo);
    } else {
      algorithm = t.algorithms.find((a) => chip.algorithms.includes(a.name));
      if (!algorithm) throw new AlgorithmError(`chip ${chip.name} names flash algorithm(s) ${chip.algorithms.join(', ') || '(none)'}, which its target file does not define`);
    }
    const ram = chip.ram[0];
    if (!ram) throw new AlgorithmError(`chip ${chip.name} has no RAM region to run a flash algorithm in`);
    return { chip, algorithm, ram };
  }
  throw new AlgorithmError(`unknown chip "${name}" (known: ${listChips(targets).join(', ')}; add one with --target-file FILE)`);
}
