/**
 * `npm run bench`: every benchmark, one JSON object per line on stdout. Figures from the virtual
 * bench are modeled (deterministic): packets, bytes and modeled wire seconds, not wall time.
 * Decoder benchmarks measure this machine's CPU and say so in their rows.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

type BenchModule = Record<string, () => Promise<object[]>>;

const suites: [file: string, exportName: string][] = [
  ['memory.ts', 'benchMemory'],
  ['defmt.ts', 'benchDefmt'],
  ['elf.ts', 'benchElf'],
  ['flash.ts', 'benchFlash'],
  ['rtt.ts', 'benchRtt'],
  ['trace.ts', 'benchTrace'],
  ['browser.ts', 'benchBrowser'],
  ['gdb.ts', 'benchGdb'],
  ['peers.ts', 'benchPeers'],
];

async function main(): Promise<void> {
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
