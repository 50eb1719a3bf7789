/**
 * `npm run bench`: every benchmark, one JSON object per line on stdout. Figures from the virtual
 * bench are modeled (deterministic): packets, bytes and modeled wire seconds, not wall time.
 * Decoder benchmarks measure this machine's CPU and say so in their rows.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

type BenchModule = Record<string, () => Promise<object[]>>;

const suites: [file: string, exportName: string][] = [
  ['memory.ts', 'benchMemory'],
  ['defmt.ts', 'benchDefmt'],
  ['elf.ts', 'benchElf'],
  ['flash.ts', 'benchFlash'],
  ['pico.ts', 'benchPico'],
  ['rtt.ts', 'benchRtt'],
  ['trace.ts', 'benchTrace'],
  ['browser.ts', 'benchBrowser'],
  ['gdb.ts', 'benchGdb'],
  ['peers.ts', 'benchPeers'],
];

async function main(): Promise<void> {
  // Emulated boards keep their flash between commands: the bench's boards are its own, so the
  // user's saved boards stay as they are and every run starts alike.
  process.env.DAPDECK_STATE_DIR ??= mkdtempSync(join(tmpdir(), 'dapdeck-bench-boards-'));
  const only = process.argv.slice(2);
  for (const [file, exportName] of suites) {
    if (only.length && !only.some((o) => file.startsWith(o))) continue;
    const path = resolve(__dirname, file);
    if (!existsSync(path)) continue;
    const mod = (await import(path)) as BenchModule;
    for (const row of await mod[exportName]()) console.log(JSON.stringify(row));
  }
}

main().catch((err) => {
  console.error(`bench: ${err instanceof Error ? err.stack : err}`);
  process.exit(1);
});
