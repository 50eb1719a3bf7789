/**
 * `dapdeck chips [FILTER]` and `dapdeck chip info NAME`: every chip Dapdeck knows (built in, from
 * installed CMSIS-Packs, or from target files the user passes), and one chip's memory map,
 * algorithms and sector layout.
 */
import type { Command } from 'commander';
import type { FlashAlgorithm } from '../../core/flash/algorithm';
import type { ChipDetection } from '../../core/flash/target-file';
import { chipSummary, findChip, loadChipDatabase, resolveKnownChip } from '../targets';

/** The core types of a chip, each once with its count: "armv6m", "2× armv6m", "armv7em+armv6m". */
function coreColumn(types: string[]): string {
  if (types.length === 0) return '?';
  const counts = new Map<string, number>();
  for (const t of types) counts.set(t, (counts.get(t) ?? 0) + 1);
  return [...counts].map(([t, n]) => (n > 1 ? `${n}× ${t}` : t)).join('+');
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

export function formatSize(bytes: number): string {
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes / (1 << 20)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

function targetFileOption(cmd: Command): Command {
  return cmd.option('--target-file <file.yaml>', 'add a probe-rs target description (repeatable)', (v: string, prev: string[] = []) => [...prev, v]).option('--json', 'machine-readable output');
}

/** Sectors as runs of equal size: "256 × 1 KiB from 0x00000000". */
export function sectorRuns(algorithm: FlashAlgorithm): { start: number; size: number; count: number }[] {
  const runs: { start: number; size: number; count: number }[] = [];
  for (const s of algorithm.flash.sectors) {
    const last = runs[runs.length - 1];
    if (last && last.size === s.size && last.start + last.count * last.size === s.address) last.count++;
    else runs.push({ start: s.address, size: s.size, count: 1 });
  }
  return runs;
}

function detectionFor(name: string, methods: ChipDetection[]): string[] {
  const out: string[] = [];
  for (const d of methods) {
    if ('hwid' in d) {
      const ids = [...d.hwid].filter(([, chip]) => chip === name).map(([id]) => `0x${id.toString(16)}`);
      if (ids.length) out.push(`nRF FICR CONFIGID.HWID at ${hex(d.configIdAddress)} in ${ids.join(', ')}`);
    } else if ('variants' in d) {
      const ids = [...d.variants].filter(([, chip]) => chip === name).map(([id]) => `0x${id.toString(16)}`);
      if (ids.length) out.push(`nRF FICR INFO.PART ${hex(d.partAddress)} = 0x${d.part.toString(16)}, INFO.VARIANT ${hex(d.variantAddress)} in ${ids.join(', ')}`);
    }
  }
  return out;
}

export function registerChips(program: Command): void {
  targetFileOption(program.command('chips').description('list the chips Dapdeck knows (built in, from installed packs and from --target-file), optionally those whose name or family contains FILTER').argument('[filter]'))
    .action((filter: string | undefined, opts: { targetFile?: string[]; json?: boolean }) => {
      const db = loadChipDatabase({ targetFiles: opts.targetFile });
      if (db.notice) process.stderr.write(`dapdeck: ${db.notice}\n`);
      const needle = filter?.toLowerCase();
      const rows = db.chips.filter((k) => !needle || k.chip.name.toLowerCase().includes(needle) || k.chip.family.toLowerCase().includes(needle)).map(chipSummary);
      rows.sort((a, b) => a.name.localeCompare(b.name));
      if (opts.json) {
        console.log(JSON.stringify(rows));
        return;
      }
      const width = (key: 'name' | 'family') => Math.max(key.length, ...rows.map((r) => r[key].length));
      const [wName, wFamily] = [width('name'), width('family')];
      const cores = rows.map((r) => coreColumn(r.cores));
      const wCore = Math.max(8, ...cores.map((c) => c.length));
      console.log(`${'NAME'.padEnd(wName)}  ${'FAMILY'.padEnd(wFamily)}  ${'CORE'.padEnd(wCore)}  ${'FLASH'.padStart(9)}  ${'RAM'.padStart(9)}  SOURCE`);
      for (const [i, r] of rows.entries()) {
        console.log(`${r.name.padEnd(wName)}  ${r.family.padEnd(wFamily)}  ${cores[i].padEnd(wCore)}  ${formatSize(r.flashBytes).padStart(9)}  ${formatSize(r.ramBytes).padStart(9)}  ${r.source === 'built-in' ? 'built-in' : r.pack ? `pack ${r.pack}` : r.file}`);
      }
      process.stderr.write(`${rows.length} of ${db.chips.length} chips${filter ? ` match "${filter}"` : ''}\n`);
    });

  const chip = program.command('chip').description('one chip in detail');
  targetFileOption(chip.command('info').description('memory map, flash algorithms and sector layout of a chip').argument('<name>'))
    .action((name: string, opts: { targetFile?: string[]; json?: boolean }) => {
      const db = loadChipDatabase({ targetFiles: opts.targetFile });
      if (db.notice) process.stderr.write(`dapdeck: ${db.notice}\n`);
      const known = findChip(name, db);
      const { chip: c, target } = known;
      const resolved = (() => {
        try {
          return resolveKnownChip(known);
        } catch (err) {
          return err as Error;
        }
      })();
      const regions = resolved instanceof Error ? [] : resolved.regions;
      const algorithmOf = (start: number) => regions.find((r) => r.region.start === start)?.algorithm;
      const info = {
        ...chipSummary(known),
        manufacturer: target.manufacturer,
        cores: c.coreList,
        memory: c.memoryMap.map((m) => {
          const algorithm = m.kind === 'nvm' && !m.isAlias ? algorithmOf(m.start) : undefined;
          return {
            kind: m.kind,
            name: m.name,
            start: m.start,
            size: m.size,
            boot: m.access.boot,
            alias: m.isAlias,
            algorithm: algorithm?.name,
            pageSize: algorithm?.flash.pageSize,
            sectors: algorithm ? sectorRuns(algorithm) : undefined,
          };
        }),
        algorithms: c.algorithms.map((n) => {
          const a = target.algorithms.find((x) => x.name === n);
          return { name: n, description: a?.description, default: a?.default ?? false, start: a?.flash.start, size: a?.flash.size, stackSize: a?.stackSize, transferEncoding: a?.transferEncoding };
        }),
        ram: resolved instanceof Error ? undefined : resolved.ram,
        problem: resolved instanceof Error ? resolved.message : undefined,
        detection: detectionFor(c.name, target.chipDetection),
        rttScanRanges: c.rttScanRanges,
      };
      if (opts.json) {
        console.log(JSON.stringify(info));
        return;
      }
      console.log(`${c.name}  (${c.family}; ${known.source === 'built-in' ? 'built-in' : known.source === 'pack' ? `pack ${target.name},` : 'target file'} ${target.file})`);
      for (const k of c.coreList) console.log(`core     ${k.name}: ${k.type || '?'}${k.ap ? ` behind AP ${k.ap.version === 1 ? `#${k.ap.address}` : `at ${hex(k.ap.address)} (ADIv6)`}` : ''}`);
      for (const m of info.memory) {
        const what = `${m.kind.padEnd(7)}  ${hex(m.start)}..${hex(m.start + m.size)}  ${formatSize(m.size).padStart(9)}${m.name ? `  ${m.name}` : ''}${m.boot ? '  boot' : ''}${m.alias ? '  (alias)' : ''}`;
        console.log(`memory   ${what}`);
        if (m.algorithm) {
          const runs = m.sectors!.map((r) => `${r.count} × ${formatSize(r.size)} from ${hex(r.start)}`).join(', ');
          console.log(`           programmed by ${m.algorithm}: sectors ${runs}; pages of ${formatSize(m.pageSize!)}`);
        }
      }
      for (const a of info.algorithms) console.log(`algorithm ${a.name}${a.default ? ' (default)' : ''}: ${a.description ?? 'not defined in the file'}${a.start !== undefined ? `, ${hex(a.start)}..${hex(a.start + a.size!)}` : ''}`);
      if (info.ram) console.log(`algorithms run in RAM ${hex(info.ram.start)}..${hex(info.ram.start + info.ram.size)}`);
      if (info.problem) console.log(`cannot flash: ${info.problem}`);
      for (const d of info.detection) console.log(`detected by ${d}`);
    });
}
