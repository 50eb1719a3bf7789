/** Which chip a command works on: the one --chip names, else the one the target and probe identify. */
import type { DebugSession } from '../../core/arm/session';
import { describeDetection, detectChip } from '../../core/flash/detect';
import { checkChipCore } from '../../core/flash/chip-check';
import { emulateFlashAlgorithm } from '../../core/sim/flash-emulator';
import { MemoryTarget } from '../../core/sim/memory-target';
import type { OpenedProbe } from '../probe/registry';
import { findChip, loadChipDatabase, resolveKnownChip, type ResolvedChip } from '../targets';
import { UsageError } from './parse';

export interface ChipChoiceOptions {
  chip?: string;
  algo?: string;
  targetFile?: string[];
}

/**
 * The chip --chip names, else the one the target and probe identify (see core/flash/detect.ts);
 * held to the core the target reports. A replaced built-in is said once, and so is a detected chip.
 * Flash and erase alike: on the in-process model — memory but no CPU to run code — the model
 * carries out the algorithms' calls itself, at the chip's datasheet timings (QEMU boards run them).
 */
export async function chooseChip(opts: ChipChoiceOptions, session: DebugSession, probe?: OpenedProbe, say: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<ResolvedChip> {
  const db = loadChipDatabase({ targetFiles: opts.targetFile });
  if (db.notice) say(`dapdeck: ${db.notice}`);
  let known;
  if (opts.chip) known = findChip(opts.chip, db);
  else {
    const result = await detectChip(session, db.chips);
    const said = describeDetection(result);
    if (result.matches.length > 1) throw new UsageError(`several chips match what the target reports (${said}): ${result.matches.join(', ')}; pass --chip NAME`);
    if (result.matches.length === 0) throw new UsageError(`cannot tell which chip this is (${said || 'nothing identifying was read'}); pass --chip NAME (see dapdeck chips)`);
    known = db.chips.find((k) => k.chip.name === result.matches[0])!;
    say(`dapdeck: chip ${known.chip.name}, detected from ${said}`);
  }
  const resolved = { ...resolveKnownChip(known, { algo: opts.algo }), notice: db.notice };
  if (session.summary) checkChipCore(resolved.chip, session.summary.core);
  if (probe?.target instanceof MemoryTarget) for (const r of resolved.regions) emulateFlashAlgorithm(probe.target, r.algorithm);
  return resolved;
}
