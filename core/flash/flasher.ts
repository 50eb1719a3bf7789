/**
 * Flashing an image: plan → (find blank runs by on-target BlankCheck, skip unchanged sectors by
 * on-target CRC) → erase what is neither → program with double-buffered pages → verify. A flash is
 * reported good only after verification passed.
 */
import type { DebugSession } from '../arm/session';
import { hex32 } from '../dap/protocol';
import type { FlashImage } from '../elf/image';
import type { FlashAlgorithm } from './algorithm';
import { crc32 } from './crc32';
import { pagesToProgram, sectorContents, touchedSectors, type Sector } from './planner';
import { AlgorithmRunner, CRC_SECTORS_PER_CALL, type RamRegion } from './runner';

export type FlashPhase = 'plan' | 'erase' | 'program' | 'verify';

export interface FlashProgress {
  phase: FlashPhase;
  /** Units: sectors for plan/erase/verify, bytes for program. */
  done: number;
  total: number;
  /** Units per second since the phase started (wall clock). */
  rate: number;
}

export interface FlashOptions {
  ram: RamRegion;
  verify?: boolean;
  /**
   * true: erase the whole chip first. 'auto' (default): erase the whole chip instead of sector by
   * sector only when that loses nothing — no touched sector keeps content it already had and every
   * other sector is already blank (checked on the target) — since one chip erase is far cheaper
   * than many sector erases on most parts. false: always erase sector by sector. Either way a
   * sector found blank is not erased again.
   */
  chipErase?: boolean | 'auto';
  skipUnchanged?: boolean;
  onProgress?: (p: FlashProgress) => void;
  signal?: AbortSignal;
}

export interface FlashReport {
  sectorsTouched: number;
  sectorsSkipped: number;
  sectorsErased: number;
  /** Touched sectors found already erased (programmed without an erase). */
  sectorsBlank: number;
  chipErase: boolean;
  pagesProgrammed: number;
  bytesProgrammed: number;
  verified: boolean;
  verifyMethod: 'crc' | 'algorithm' | 'read-back' | 'none';
  algorithmCalls: number;
}

export class FlashError extends Error {
  constructor(
    message: string,
    /** Sectors whose contents are unknown after the failure (erased or partly programmed). */
    readonly partialSectors: number[] = [],
  ) {
    super(message);
    this.name = 'FlashError';
  }
}

interface Work {
  sector: Sector;
  contents: Uint8Array;
  crc: number;
}

export async function flashImage(session: DebugSession, algorithm: FlashAlgorithm, image: FlashImage, options: FlashOptions): Promise<FlashReport> {
  const flash = algorithm.flash;
  const phaseStart = new Map<FlashPhase, number>();
  const progress = (p: Omit<FlashProgress, 'rate'>) => {
    if (!options.onProgress) return;
    const started = phaseStart.get(p.phase) ?? (phaseStart.set(p.phase, Date.now()), Date.now());
    const seconds = (Date.now() - started) / 1000;
    options.onProgress({ ...p, rate: seconds > 0 ? p.done / seconds : 0 });
  };
  image.checkInside([{ name: `${algorithm.name} flash`, start: flash.start, size: flash.size }]);
  if (algorithm.transferEncoding !== 'raw') throw new FlashError(`flash algorithm ${algorithm.name} takes ${algorithm.transferEncoding}-compressed pages, which Dapdeck does not send yet`);
  const geometry = { sectors: flash.sectors, pageSize: flash.pageSize, erasedValue: flash.erasedValue };
  const plans = touchedSectors(image.chunks, geometry);
  const report: FlashReport = {
    sectorsTouched: plans.length,
    sectorsSkipped: 0,
    sectorsErased: 0,
    sectorsBlank: 0,
    chipErase: options.chipErase === true,
    pagesProgrammed: 0,
    bytesProgrammed: 0,
    verified: false,
    verifyMethod: 'none',
    algorithmCalls: 0,
  };

  // Nothing of the old firmware may run while its flash changes underneath it.
  await session.core.reset({ halt: true });
  const runner = new AlgorithmRunner(session, algorithm, options.ram);
  const dirty = new Set<number>();
  const check = (what: string) => {
    if (options.signal?.aborted) {
      throw new FlashError(`flash cancelled during ${what}; the target is halted${dirty.size ? `; sectors that may be partly written: ${[...dirty].map(hex32).join(', ')}` : ''}`, [...dirty]);
    }
  };
  const expectZero = (result: number, what: string) => {
    if (result !== 0) throw new FlashError(`flash algorithm ${what} failed (returned ${result})`, [...dirty]);
  };

  const phase = new AlgorithmPhase(runner, algorithm);

  try {
    await runner.load();
    await phase.enter(FNC_VERIFY); // planning only reads flash (blank checks, CRCs)

    // Plan: final contents of every touched sector (partial ones keep their other bytes).
    progress({ phase: 'plan', done: 0, total: plans.length });
    const work: Work[] = [];
    for (const [i, plan] of plans.entries()) {
      const current = plan.partial && options.chipErase !== true ? await session.ap.readMemory(plan.sector.address, plan.sector.size) : undefined;
      const contents = sectorContents(plan, image.chunks, flash.erasedValue, current);
      work.push({ sector: plan.sector, contents, crc: crc32(contents) });
      progress({ phase: 'plan', done: i + 1, total: plans.length });
    }

    // Sectors already blank need no erase and no CRC: on a fresh or erased chip one fast call per
    // run of touched sectors answers for all of them.
    const blank = options.chipErase === true ? new Set<number>() : await blankSectors(runner, algorithm, work.map((w) => w.sector), check);
    report.sectorsBlank = blank.size;

    // Skip sectors that already hold exactly what they should.
    let changed = work;
    if (options.skipUnchanged !== false && options.chipErase !== true) {
      const onTarget = await sectorCrcs(runner, algorithm, session, work.filter((w) => !blank.has(w.sector.address)).map((w) => w.sector), () => check('planning'));
      changed = [];
      for (const w of work) {
        const blankCrc = erasedCrc(w.sector.size, flash.erasedValue);
        let crc = blankCrc;
        if (!blank.has(w.sector.address)) {
          crc = onTarget.get(w.sector.address)!;
          // The CRC of an erased sector says it is blank just as surely as it says "unchanged".
          if (crc === blankCrc) blank.add(w.sector.address);
        }
        if (crc !== w.crc) changed.push(w);
      }
      report.sectorsBlank = blank.size;
      report.sectorsSkipped = work.length - changed.length;
    }
    const toErase = changed.filter((w) => !blank.has(w.sector.address));
    // A chip erase must not take away a touched sector that was skipped because it already holds
    // its content (a skipped blank sector stays blank, so that one is fine).
    const changedSet = new Set(changed);
    const keeps = work.some((w) => !changedSet.has(w) && !blank.has(w.sector.address));

    if ((options.chipErase ?? 'auto') === 'auto' && toErase.length > 1 && !keeps) {
      report.chipErase = await restIsBlank(runner, algorithm, work);
    }

    const pages = coalescePages(
      changed.flatMap((w) => pagesToProgram(w.contents, flash.pageSize, flash.erasedValue).map((off) => ({ address: w.sector.address + off, data: w.contents.subarray(off, off + flash.pageSize), sectors: [w.sector.address] }))),
      flash.pageSize,
    );
    // The first page crosses USB while the last erase runs (an algorithm leaves its page buffers
    // alone while erasing): on a v1 HID probe a 4 KiB page is ~75 ms of reports the erase would idle.
    let preloaded = 0;
    const erasePreloading = async (entry: number, args: number[], what: string, timeoutMs: number): Promise<number> => {
      await runner.start(entry, args, what, timeoutMs);
      // One page only: a second would leave nothing to send while the first one programs.
      if (pages.length) {
        await session.ap.writeMemory(runner.placement.buffers[0], pages[0].data);
        preloaded = 1;
      }
      return runner.wait();
    };

    // Erase.
    if (report.chipErase || toErase.length) await phase.enter(FNC_ERASE);
    if (report.chipErase) {
      if (algorithm.pcEraseAll === undefined) throw new FlashError(`flash algorithm ${algorithm.name} has no EraseChip entry point`);
      progress({ phase: 'erase', done: 0, total: 1 });
      for (const s of flash.sectors) dirty.add(s.address);
      expectZero(await erasePreloading(algorithm.pcEraseAll, [], 'EraseChip', Math.max(flash.eraseSectorTimeoutMs * 4, 10_000)), 'EraseChip');
      progress({ phase: 'erase', done: 1, total: 1 });
    } else {
      for (const [i, w] of toErase.entries()) {
        check('erase');
        progress({ phase: 'erase', done: i, total: toErase.length });
        dirty.add(w.sector.address);
        const what = `EraseSector(${hex32(w.sector.address)})`;
        const last = i === toErase.length - 1;
        expectZero(last ? await erasePreloading(algorithm.pcEraseSector, [w.sector.address], what, flash.eraseSectorTimeoutMs) : await runner.call(algorithm.pcEraseSector, [w.sector.address], what, flash.eraseSectorTimeoutMs), what);
        report.sectorsErased++;
      }
      progress({ phase: 'erase', done: toErase.length, total: toErase.length });
    }

    // Program, double-buffered: the next page crosses USB while the algorithm programs this one.
    const total = pages.reduce((n, p) => n + p.data.length, 0);
    if (pages.length) await phase.enter(FNC_PROGRAM);
    progress({ phase: 'program', done: 0, total });
    let pendingPage: { address: number; data: Uint8Array } | null = null;
    let bytesDone = 0;
    for (const [i, page] of pages.entries()) {
      check('programming');
      const buffer = runner.placement.buffers[i % 2];
      if (i >= preloaded) await session.ap.writeMemory(buffer, page.data);
      if (pendingPage) {
        expectZero(await runner.wait(), `ProgramPage(${hex32(pendingPage.address)})`);
        report.pagesProgrammed++;
        bytesDone += pendingPage.data.length;
        progress({ phase: 'program', done: bytesDone, total });
      }
      for (const sector of page.sectors) dirty.add(sector); // a blank sector being programmed is partly written until done
      await runner.start(algorithm.pcProgramPage, [page.address, page.data.length, buffer], `ProgramPage(${hex32(page.address)})`, flash.programPageTimeoutMs * 4);
      pendingPage = page;
    }
    if (pendingPage) {
      expectZero(await runner.wait(), `ProgramPage(${hex32(pendingPage.address)})`);
      report.pagesProgrammed++;
      progress({ phase: 'program', done: total, total });
    }
    report.bytesProgrammed = total; // a last page cut short by its sector counts what it holds

    // Verify every sector we wrote (all touched sectors after a chip erase).
    const toVerify = report.chipErase ? work : changed;
    if (options.verify !== false) {
      if (toVerify.length) await phase.enter(FNC_VERIFY);
      progress({ phase: 'verify', done: 0, total: toVerify.length });
      if (algorithm.pcCrc32 !== undefined || algorithm.pcCrc32Sectors !== undefined) {
        // Every written sector's CRC on the target, from as few calls as the routines allow, then
        // compared one by one.
        report.verifyMethod = 'crc';
        const crcs = await sectorCrcs(runner, algorithm, session, toVerify.map((w) => w.sector), () => check('verify'));
        for (const w of toVerify) {
          const crc = crcs.get(w.sector.address)!;
          if (crc !== w.crc) throw new FlashError(`verify failed: sector ${hex32(w.sector.address)}..${hex32(w.sector.address + w.sector.size)} has CRC ${hex32(crc)}, expected ${hex32(w.crc)}`, [w.sector.address]);
        }
        progress({ phase: 'verify', done: toVerify.length, total: toVerify.length });
      } else {
        report.verifyMethod = 'read-back';
        for (const [i, w] of toVerify.entries()) {
          check('verify');
          await readBackSector(session, w);
          progress({ phase: 'verify', done: i + 1, total: toVerify.length });
        }
      }
      report.verified = true;
    }
    await phase.leave();
    dirty.clear();
  } catch (err) {
    await session.core.halt().catch(() => undefined);
    if (err instanceof FlashError) throw err;
    const partial = [...dirty];
    throw new FlashError(
      `${(err as Error).message}${partial.length ? `; sectors that may be partly written: ${partial.map(hex32).join(', ')}` : ''}`,
      partial,
    );
  } finally {
    report.algorithmCalls = runner.calls;
    await runner.unload();
  }
  return report;
}

/** CMSIS FlashOS.h function codes: what Init prepares the flash controller for, and UnInit ends. */
export const FNC_ERASE = 1;
export const FNC_PROGRAM = 2;
export const FNC_VERIFY = 3;

/**
 * The CMSIS algorithm contract: every operation runs between Init(adr, clk, fnc) and UnInit(fnc)
 * with the fnc code of its kind. Vendor algorithms set the controller's mode there (Nordic's
 * enables erasing in Init(…, 1) and writing in Init(…, 2)), so erasing or programming under
 * another phase's Init does nothing.
 */
class AlgorithmPhase {
  private current: number | null = null;

  constructor(
    private readonly runner: AlgorithmRunner,
    private readonly algorithm: FlashAlgorithm,
  ) {}

  async enter(fnc: number): Promise<void> {
    if (this.current === fnc) return;
    await this.leave();
    if (this.algorithm.pcInit !== undefined) {
      const r = await this.runner.call(this.algorithm.pcInit, [this.algorithm.flash.start, 0, fnc], `Init(${fnc})`, 1000);
      if (r !== 0) throw new FlashError(`flash algorithm Init(${hex32(this.algorithm.flash.start)}, 0, ${fnc}) failed (returned ${r})`);
    }
    this.current = fnc;
  }

  async leave(): Promise<void> {
    const fnc = this.current;
    if (fnc === null) return;
    this.current = null;
    if (this.algorithm.pcUninit !== undefined) {
      const r = await this.runner.call(this.algorithm.pcUninit, [fnc], `UnInit(${fnc})`, 1000);
      if (r !== 0) throw new FlashError(`flash algorithm UnInit(${fnc}) failed (returned ${r})`);
    }
  }
}

/** One programmable region of a chip and the algorithm that programs it. */
export interface RegionFlash {
  region: { start: number; size: number; name?: string };
  algorithm: FlashAlgorithm;
}

/**
 * Flash an image that may touch several regions (main flash, UICR, option bytes…), each with its
 * own algorithm, in one run: every byte must fall in some region; regions the image does not
 * touch are left alone. The report adds the regions' reports up (verified only if all were).
 */
export async function flashRegions(session: DebugSession, regions: readonly RegionFlash[], image: FlashImage, options: FlashOptions): Promise<FlashReport & { regions: { name: string; start: number; report: FlashReport }[] }> {
  image.checkInside(regions.map((r) => ({ name: r.region.name ?? r.algorithm.name, start: r.region.start, size: r.region.size })));
  const parts = regions.map((r) => ({ ...r, image: image.within(r.region.start, r.region.size) })).filter((p) => p.image.chunks.length > 0);
  const total: FlashReport & { regions: { name: string; start: number; report: FlashReport }[] } = {
    sectorsTouched: 0,
    sectorsSkipped: 0,
    sectorsErased: 0,
    sectorsBlank: 0,
    chipErase: false,
    pagesProgrammed: 0,
    bytesProgrammed: 0,
    verified: parts.length > 0,
    verifyMethod: 'none',
    algorithmCalls: 0,
    regions: [],
  };
  for (const part of parts) {
    const r = await flashImage(session, part.algorithm, part.image, options);
    total.regions.push({ name: part.region.name ?? part.algorithm.name, start: part.region.start, report: r });
    for (const key of ['sectorsTouched', 'sectorsSkipped', 'sectorsErased', 'sectorsBlank', 'pagesProgrammed', 'bytesProgrammed', 'algorithmCalls'] as const) total[key] += r[key];
    total.chipErase ||= r.chipErase;
    total.verified &&= r.verified;
    if (total.verifyMethod === 'none' || r.verifyMethod === 'read-back') total.verifyMethod = r.verifyMethod;
  }
  return total;
}

const erasedCrcs = new Map<string, number>();

/** CRC-32 of a blank sector: `size` bytes of the erased value. */
function erasedCrc(size: number, erasedValue: number): number {
  const key = `${size}:${erasedValue}`;
  let crc = erasedCrcs.get(key);
  if (crc === undefined) erasedCrcs.set(key, (crc = crc32(new Uint8Array(size).fill(erasedValue))));
  return crc;
}

/** Contiguous runs of the given sectors (in address order), merged. */
function runsOf(sectors: Sector[]): { start: number; size: number; sectors: Sector[] }[] {
  const runs: { start: number; size: number; sectors: Sector[] }[] = [];
  for (const s of [...sectors].sort((a, b) => a.address - b.address)) {
    const last = runs[runs.length - 1];
    if (last && last.start + last.size === s.address) {
      last.size += s.size;
      last.sectors.push(s);
    } else runs.push({ start: s.address, size: s.size, sectors: [s] });
  }
  return runs;
}

/** Whether [start, start+size) holds only the erased value, asked of the target. */
async function isBlank(runner: AlgorithmRunner, algorithm: FlashAlgorithm, start: number, size: number): Promise<boolean> {
  const timeoutMs = Math.max(2000, size / 1000);
  if (algorithm.pcBlankCheck !== undefined) {
    return (await runner.call(algorithm.pcBlankCheck, [start, size, algorithm.flash.erasedValue], `BlankCheck(${hex32(start)})`, timeoutMs)) === 0;
  }
  const crc = await runner.crc32(start, size, timeoutMs);
  return crc === erasedCrc(size, algorithm.flash.erasedValue);
}

/**
 * Touched sectors that are already blank, by the algorithm's BlankCheck: one call per run of
 * sectors; a run that is not entirely blank (the usual case when re-flashing) costs only until
 * its first programmed byte and is then left to the per-sector CRC.
 */
async function blankSectors(runner: AlgorithmRunner, algorithm: FlashAlgorithm, sectors: Sector[], check: (what: string) => void): Promise<Set<number>> {
  const blank = new Set<number>();
  if (algorithm.pcBlankCheck === undefined) return blank;
  for (const run of runsOf(sectors)) {
    check('planning');
    if (await isBlank(runner, algorithm, run.start, run.size)) for (const s of run.sectors) blank.add(s.address);
  }
  return blank;
}

/** Whether every flash sector outside `work` is erased (one call per run of such sectors). */
async function restIsBlank(runner: AlgorithmRunner, algorithm: FlashAlgorithm, work: Work[]): Promise<boolean> {
  if (algorithm.pcEraseAll === undefined || (algorithm.pcCrc32 === undefined && algorithm.pcBlankCheck === undefined)) return false;
  const touched = new Set(work.map((w) => w.sector.address));
  for (const run of runsOf(algorithm.flash.sectors.filter((s) => !touched.has(s.address)))) {
    if (!(await isBlank(runner, algorithm, run.start, run.size))) return false;
  }
  return true;
}

/**
 * The on-target CRC of each sector: with the several-sector routine one call per run of
 * contiguous, equal-size sectors (up to CRC_SECTORS_PER_CALL); else one call (or one read-back)
 * per sector.
 */
async function sectorCrcs(runner: AlgorithmRunner, algorithm: FlashAlgorithm, session: DebugSession, sectors: Sector[], checkpoint: () => void): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (algorithm.pcCrc32Sectors === undefined) {
    for (const s of sectors) {
      checkpoint();
      out.set(s.address, await targetCrc(runner, algorithm, s, session));
    }
    return out;
  }
  const sorted = [...sectors].sort((a, b) => a.address - b.address);
  for (let i = 0; i < sorted.length; ) {
    checkpoint();
    let n = 1;
    while (i + n < sorted.length && n < CRC_SECTORS_PER_CALL && sorted[i + n].size === sorted[i].size && sorted[i + n].address === sorted[i].address + n * sorted[i].size) n++;
    const crcs = await runner.crc32Sectors(sorted[i].address, sorted[i].size, n, 2000 + (n * sorted[i].size) / 100);
    crcs.forEach((crc, k) => out.set(sorted[i + k].address, crc));
    i += n;
  }
  return out;
}

async function targetCrc(runner: AlgorithmRunner, algorithm: FlashAlgorithm, sector: Sector, session: DebugSession): Promise<number> {
  if (algorithm.pcCrc32 !== undefined) {
    return runner.crc32(sector.address, sector.size, 2000);
  }
  // No on-target CRC: read the sector back (slower: every byte crosses USB).
  return crc32(await session.ap.readMemory(sector.address, sector.size));
}

/** Verify without an on-target CRC: the sector read back and compared byte by byte. */
async function readBackSector(session: DebugSession, w: Work): Promise<void> {
  const back = await session.ap.readMemory(w.sector.address, w.sector.size);
  const bad = back.findIndex((b, i) => b !== w.contents[i]);
  if (bad >= 0) {
    throw new FlashError(`verify failed at ${hex32(w.sector.address + bad)}: read 0x${back[bad].toString(16).padStart(2, '0')}, expected 0x${w.contents[bad].toString(16).padStart(2, '0')}`, [w.sector.address]);
  }
}

/** Erase the whole chip, or the sectors covering [start, start+size). */
export async function eraseFlash(session: DebugSession, algorithm: FlashAlgorithm, options: { ram: RamRegion; range?: { start: number; size: number } }): Promise<number> {
  await session.core.reset({ halt: true });
  const runner = new AlgorithmRunner(session, algorithm, options.ram);
  try {
    await runner.load();
    const phase = new AlgorithmPhase(runner, algorithm);
    await phase.enter(FNC_ERASE);
    const sectors = options.range
      ? algorithm.flash.sectors.filter((s) => s.address < options.range!.start + options.range!.size && s.address + s.size > options.range!.start)
      : null;
    if (!sectors && algorithm.pcEraseAll !== undefined) {
      const r = await runner.call(algorithm.pcEraseAll, [], 'EraseChip', 20_000);
      if (r !== 0) throw new FlashError(`flash algorithm EraseChip failed (returned ${r})`);
      await phase.leave();
      return algorithm.flash.sectors.length;
    }
    for (const s of sectors ?? algorithm.flash.sectors) {
      const r = await runner.call(algorithm.pcEraseSector, [s.address], `EraseSector(${hex32(s.address)})`, algorithm.flash.eraseSectorTimeoutMs);
      if (r !== 0) throw new FlashError(`flash algorithm EraseSector(${hex32(s.address)}) failed (returned ${r})`, [s.address]);
    }
    await phase.leave();
    return (sectors ?? algorithm.flash.sectors).length;
  } finally {
    await runner.unload();
  }
}

export function describeReport(r: FlashReport): string {
  const parts = [
    `${r.sectorsTouched} sector${r.sectorsTouched === 1 ? '' : 's'} in the image`,
    r.sectorsSkipped ? `${r.sectorsSkipped} unchanged (skipped)` : '',
    r.chipErase ? 'chip erased' : `${r.sectorsErased} erased${r.sectorsBlank ? ` (${r.sectorsBlank} already blank)` : ''}`,
    `${r.pagesProgrammed} pages programmed (${r.bytesProgrammed} bytes)`,
    r.verified ? `verified (${r.verifyMethod})` : 'NOT verified',
  ].filter(Boolean);
  return parts.join(', ');
}

interface ProgramPage {
  address: number;
  data: Uint8Array;
  /** The sectors it writes into. */
  sectors: number[];
}

/**
 * Where sectors are smaller than the algorithm's page (its FlashDevice.szPage: the most one
 * ProgramPage call takes), contiguous pieces of the same page-aligned window go in one call: on a
 * v1 HID probe every call costs its own register writes and halt polls at 1 ms a report.
 */
export function coalescePages(pieces: readonly ProgramPage[], pageSize: number): ProgramPage[] {
  const out: ProgramPage[] = [];
  for (const piece of pieces) {
    const last = out[out.length - 1];
    const window = Math.floor(piece.address / pageSize);
    if (last && last.address + last.data.length === piece.address && Math.floor(last.address / pageSize) === window && last.data.length + piece.data.length <= pageSize) {
      const data = new Uint8Array(last.data.length + piece.data.length);
      data.set(last.data);
      data.set(piece.data, last.data.length);
      out[out.length - 1] = { address: last.address, data, sectors: [...last.sectors, ...piece.sectors] };
    } else out.push({ ...piece, sectors: [...piece.sectors] });
  }
  return out;
}

