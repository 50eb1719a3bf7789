/**
 * What the web page needs to run the emulated Pico in its own worker, with no `dapdeck serve`:
 * Dapdeck's RP2040 boot ROM and the Pico samples (build outputs in .cache/firmware, not committed)
 * as assets of the build, and the RP2040 chip description resolved as `dapdeck serve` resolves it
 * for /api/chips/RP2040 (regions with their flash algorithm, RAM), since a static page has no
 * server to ask. A Vite plugin: the renderer imports `virtual:page-emulator`; both the web build
 * and the Electron renderer build use it. A missing build output fails the build, naming the fix.
 */
import { existsSync } from 'node:fs';
import type { Plugin } from 'vite';
import { portableChip, type PortableChip } from '../../core/flash/portable-chip';
import { REPO_ROOT, sampleFirmwarePath } from '../firmware';
import { builtinTargetFiles, readTargetFile, resolveKnownChip } from '../targets';

const MODULE_ID = 'virtual:page-emulator';
const RESOLVED_ID = `\0${MODULE_ID}`;
/** The emulated board's chip, as named in core/flash/targets. */
export const PAGE_EMULATOR_CHIP = 'RP2040';
const BOARD = 'rp2040';
/** The samples the page offers to flash onto its Pico, in menu order. */
export const PAGE_EMULATOR_SAMPLES = ['hello', 'tasks'] as const;

export interface PageEmulatorFiles {
  bootrom: string;
  samples: { name: string; file: string }[];
  chip: PortableChip | null;
  /** Why there is no chip (its description is not among the built-in targets). */
  chipProblem: string | null;
}

/** The files and chip the page's emulator uses; throws a one-line error naming what is missing. */
export function pageEmulatorFiles(): PageEmulatorFiles {
  const missing = (path: string) => new Error(`the web build bundles ${path.slice(REPO_ROOT.length + 1)}, which is missing: run "npm run firmware" (scripts/build-firmware.sh) first`);
  const bootrom = sampleFirmwarePath('bootrom', BOARD);
  if (!existsSync(bootrom)) throw missing(bootrom);
  const samples = PAGE_EMULATOR_SAMPLES.map((name) => ({ name, file: sampleFirmwarePath(name, BOARD) }));
  for (const s of samples) if (!existsSync(s.file)) throw missing(s.file);
  let chip: PortableChip | null = null;
  let chipProblem: string | null = `Dapdeck has no built-in ${PAGE_EMULATOR_CHIP} chip description (core/flash/targets) in this build`;
  for (const file of builtinTargetFiles()) {
    const target = readTargetFile(file);
    const found = target.chips.find((c) => c.name === PAGE_EMULATOR_CHIP);
    if (!found) continue;
    chip = portableChip(resolveKnownChip({ chip: found, target, source: 'built-in' }));
    chipProblem = null;
  }
  return { bootrom, samples, chip, chipProblem };
}

export function pageEmulatorAssets(): Plugin {
  let files: PageEmulatorFiles | null = null;
  return {
    name: 'dapdeck-page-emulator',
    // Checked before anything is bundled: a missing ROM or sample stops the build with one line.
    buildStart() {
      try {
        files = pageEmulatorFiles();
      } catch (err) {
        this.error((err as Error).message);
      }
    },
    resolveId: (id) => (id === MODULE_ID ? RESOLVED_ID : undefined),
    load(id) {
      if (id !== RESOLVED_ID) return undefined;
      files ??= pageEmulatorFiles();
      // Vite's ?url imports make each ELF an asset of the build (hashed name, relative URL).
      for (const path of [files.bootrom, ...files.samples.map((s) => s.file)]) this.addWatchFile(path);
      const url = (path: string) => JSON.stringify(`${path}?url`);
      return [
        `import bootromUrl from ${url(files.bootrom)};`,
        ...files.samples.map((s, i) => `import sample${i} from ${url(s.file)};`),
        `export const bootrom = { name: 'bootrom-${BOARD}.elf', url: bootromUrl };`,
        `export const samples = [${files.samples.map((s, i) => `{ name: ${JSON.stringify(s.name)}, fileName: ${JSON.stringify(`${s.name}-${BOARD}.elf`)}, url: sample${i} }`).join(', ')}];`,
        `export const chipName = ${JSON.stringify(PAGE_EMULATOR_CHIP)};`,
        `export const chip = ${JSON.stringify(files.chip)};`,
        `export const chipProblem = ${JSON.stringify(files.chipProblem)};`,
      ].join('\n');
    },
  };
}
