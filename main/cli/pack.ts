/**
 * `dapdeck pack add FILE.pack|URL`, `pack list`, `pack remove NAME`: CMSIS-Packs whose devices
 * become chips beside the built-in ones (see main/packs.ts for what is kept and where).
 */
import type { Command } from 'commander';
import { fetchPack, installPack, listPacks, packsDir, removePack } from '../packs';

export function registerPack(program: Command): void {
  const pack = program.command('pack').description('CMSIS-Packs (vendor Device Family Packs): their devices become chips for flash, erase and gdb');

  pack
    .command('add')
    .description('install a .pack file, or download one from an http(s) URL')
    .argument('<file-or-url>')
    .option('--json', 'print the installed pack as JSON')
    .action(async (source: string, opts: { json?: boolean }) => {
      const bytes = await fetchPack(source);
      const { pack: p, replaced } = installPack(bytes, source);
      if (opts.json) {
        console.log(JSON.stringify({ ...p, replaced }));
        return;
      }
      console.log(`installed ${p.id}${p.version ? ` ${p.version}` : ''}: ${p.devices.length} device${p.devices.length === 1 ? '' : 's'} (${p.devices.slice(0, 8).join(', ')}${p.devices.length > 8 ? `, … ${p.devices.length - 8} more` : ''})${replaced ? `, replacing version ${replaced}` : ''}`);
    });

  pack
    .command('list')
    .description('installed packs')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const packs = listPacks();
      if (opts.json) {
        console.log(JSON.stringify(packs));
        return;
      }
      for (const p of packs) console.log(`${p.id}  ${p.version ?? '?'}  ${p.devices.length} device${p.devices.length === 1 ? '' : 's'}`);
      process.stderr.write(`${packs.length} pack${packs.length === 1 ? '' : 's'} in ${packsDir()}\n`);
    });

  pack
    .command('remove')
    .description('uninstall a pack (VENDOR.NAME as pack list shows it, or NAME)')
    .argument('<name>')
    .action((name: string) => {
      const p = removePack(name);
      console.log(`removed ${p.id}${p.version ? ` ${p.version}` : ''} (${p.devices.length} device${p.devices.length === 1 ? '' : 's'})`);
    });
}
