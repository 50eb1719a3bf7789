/**
 * Installed CMSIS-Packs: `dapdeck pack add/list/remove`, and their devices for the chip database.
 *
 * A pack is a zip holding a .pdsc and the .FLM flash algorithms it names. Adding one checks it
 * whole before anything is written (the pdsc parses, every algorithm a device names is in the zip
 * and loads), then keeps the pdsc and those algorithms — not the pack's sources, SVDs or docs —
 * under packs/VENDOR.NAME/ in Dapdeck's data directory, replacing an older copy of the same pack
 * in one rename. The data directory is $DAPDECK_DATA_DIR when set (tests), else the platform's
 * per-user data directory.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { dataDir } from './paths';
import { unzipSync } from 'fflate';
import { AlgorithmError } from '../core/flash/algorithm';
import { packPath, parsePdsc, pdscToTarget, type PdscPack } from '../core/flash/pdsc';
import type { TargetDescription } from '../core/flash/target-file';

export const packsDir = () => join(dataDir(), 'packs');

export interface InstalledPack {
  /** VENDOR.NAME, the directory it lives in and what `pack remove` takes. */
  id: string;
  vendor: string;
  name: string;
  version?: string;
  devices: string[];
  dir: string;
  pdsc: string;
}

/** The biggest pack accepted (vendor DFPs with every SVD run to a few hundred MiB). */
const MAX_PACK_BYTES = 1 << 30;

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');

/** The files of a zip by path (forward slashes), or a one-line error saying why it is not one. */
function unzip(bytes: Uint8Array, source: string, wanted: (path: string) => boolean): Map<string, Uint8Array> {
  try {
    const files = unzipSync(bytes, { filter: (f) => wanted(packPath(f.name)) });
    return new Map(Object.entries(files).map(([name, data]) => [packPath(name), data]));
  } catch (err) {
    throw new AlgorithmError(`${source}: not a CMSIS-Pack (a zip file): ${(err as Error).message}`);
  }
}

/** Check a pack and install it; returns what was installed and the copy it replaced, if any. */
export function installPack(bytes: Uint8Array, source: string): { pack: InstalledPack; replaced?: string } {
  if (bytes.length > MAX_PACK_BYTES) throw new AlgorithmError(`${source}: ${bytes.length} bytes, more than a pack can be (${MAX_PACK_BYTES})`);
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) throw new AlgorithmError(`${source}: not a CMSIS-Pack (a zip file): it does not start with a zip header`);
  // The pdsc sits at the top of the pack (CMSIS-Pack: VENDOR.NAME.pdsc in the root folder).
  const pdscs = [...unzip(bytes, source, (p) => !p.includes('/') && /\.pdsc$/i.test(p))];
  if (pdscs.length === 0) throw new AlgorithmError(`${source}: no .pdsc package description at the top of the pack`);
  if (pdscs.length > 1) throw new AlgorithmError(`${source}: several .pdsc files at the top of the pack (${pdscs.map(([p]) => p).join(', ')}); a pack has one`);
  const [pdscName, pdscBytes] = pdscs[0];
  const where = `${source}: ${pdscName}`;
  const pack = parsePdsc(new TextDecoder().decode(pdscBytes), where);
  if (pack.devices.length === 0) throw new AlgorithmError(`${where}: describes no devices`);
  const wanted = new Set(pack.devices.flatMap((d) => d.algorithms.map((a) => a.file.toLowerCase())));
  for (const p of wanted) {
    if (p.startsWith('/') || p.split('/').includes('..')) throw new AlgorithmError(`${where}: flash algorithm path ${JSON.stringify(p)} leaves the pack`);
  }
  const flms = unzip(bytes, source, (p) => wanted.has(p.toLowerCase()));
  const byLower = new Map([...flms].map(([p, data]) => [p.toLowerCase(), { path: p, data }]));
  // Every device's algorithms load, or nothing is installed (the error names the device and file).
  pdscToTarget(pack, (p) => byLower.get(p.toLowerCase())?.data, where);

  const id = `${safeName(pack.vendor)}.${safeName(pack.name)}`;
  const root = packsDir();
  mkdirSync(root, { recursive: true });
  const staging = join(root, `.${id}.${process.pid}.incoming`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging);
  try {
    writeFileSync(join(staging, `${id}.pdsc`), pdscBytes);
    for (const { path, data } of byLower.values()) {
      const out = join(staging, 'files', path);
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, data);
    }
    const dir = join(root, id);
    let replaced: string | undefined;
    if (existsSync(dir)) {
      replaced = readInstalled(dir)?.version ?? 'unknown version';
      const old = join(root, `.${id}.${process.pid}.old`);
      rmSync(old, { recursive: true, force: true });
      renameSync(dir, old);
      renameSync(staging, dir);
      rmSync(old, { recursive: true, force: true });
    } else renameSync(staging, dir);
    return { pack: readInstalled(dir)!, replaced };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function readPdscOf(dir: string): { pack: PdscPack; pdsc: string } | undefined {
  const pdsc = readdirSync(dir).find((f) => /\.pdsc$/i.test(f));
  if (!pdsc) return undefined;
  const path = join(dir, pdsc);
  return { pack: parsePdsc(readFileSync(path, 'utf8'), path), pdsc: path };
}

function readInstalled(dir: string): InstalledPack | undefined {
  const read = readPdscOf(dir);
  if (!read) return undefined;
  const { pack, pdsc } = read;
  return { id: dir.split(/[\\/]/).pop()!, vendor: pack.vendor, name: pack.name, version: pack.version, devices: pack.devices.map((d) => d.name), dir, pdsc };
}

function packDirs(): string[] {
  const root = packsDir();
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => join(root, e.name))
    .sort();
}

export function listPacks(): InstalledPack[] {
  return packDirs().flatMap((d) => readInstalled(d) ?? []);
}

/** Remove an installed pack by VENDOR.NAME or NAME (case-insensitive). */
export function removePack(name: string): InstalledPack {
  const want = name.toLowerCase();
  const packs = listPacks();
  const hits = packs.filter((p) => p.id.toLowerCase() === want || p.name.toLowerCase() === want);
  if (hits.length === 0) throw new AlgorithmError(`no installed pack "${name}" (installed: ${packs.map((p) => p.id).join(', ') || 'none'})`);
  if (hits.length > 1) throw new AlgorithmError(`"${name}" names several packs (${hits.map((p) => p.id).join(', ')}); give VENDOR.NAME`);
  rmSync(hits[0].dir, { recursive: true, force: true });
  return hits[0];
}

/** Each installed pack's devices; a pack that no longer reads is skipped with a one-line problem. */
export function loadPackTargets(): { targets: TargetDescription[]; problems: string[] } {
  const targets: TargetDescription[] = [];
  const problems: string[] = [];
  for (const dir of packDirs()) {
    try {
      const read = readPdscOf(dir);
      if (!read) throw new AlgorithmError(`${dir}: no .pdsc (reinstall the pack with dapdeck pack add)`);
      const files = join(dir, 'files');
      const lower = new Map<string, string>();
      const walk = (d: string, rel: string) => {
        if (!existsSync(d)) return;
        for (const e of readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
          else lower.set(`${rel}${e.name}`.toLowerCase(), join(d, e.name));
        }
      };
      walk(files, '');
      targets.push(
        pdscToTarget(
          read.pack,
          (p) => {
            const path = lower.get(p.toLowerCase());
            return path ? readFileSync(path) : undefined;
          },
          read.pdsc,
        ),
      );
    } catch (err) {
      problems.push(`pack ${dir.split(/[\\/]/).pop()} skipped: ${(err as Error).message}`);
    }
  }
  return { targets, problems };
}

/** A pack's bytes from a file or an http(s) URL. */
export async function fetchPack(source: string): Promise<Uint8Array> {
  if (/^https?:\/\//i.test(source)) {
    let response: Response;
    try {
      response = await fetch(source, { redirect: 'follow' });
    } catch (err) {
      const cause = (err as { cause?: Error }).cause;
      throw new AlgorithmError(`${source}: download failed: ${cause?.message ?? (err as Error).message}`);
    }
    if (!response.ok) throw new AlgorithmError(`${source}: download failed: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
    return new Uint8Array(await response.arrayBuffer());
  }
  try {
    return readFileSync(source);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AlgorithmError(`${source}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message}`);
  }
}
