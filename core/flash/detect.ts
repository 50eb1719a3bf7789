/**
 * Which chip is on the wire, when the user did not say: from what the target and probe report,
 * matched with the descriptions. Sources, each giving chip names:
 * - the probe: on-board probes (DAPLink on a micro:bit) name their chip in DAP_Info 0x06;
 * - the descriptions' `chip_detection` data: nRF FICR CONFIGID.HWID (nRF51), FICR INFO.PART and
 *   INFO.VARIANT (nRF52/53/91);
 * - STM32 DBGMCU_IDCODE's DEV_ID, matched to chip names through the line table in
 *   ./stm32-idcode.ts (probe-rs has no chip_detection form for it), read only when STM32 chips
 *   of the core's type are among the candidates;
 * - on an SWD multi-drop wire, the TARGETSEL that selected the DP (its TARGETID and instance)
 *   against the cores' `targetsel` (RP2040: 0x01002927 for core 0);
 * - the ROM table's peripheral ID (ADIv5 / CoreSight: JEP106 designer and part number) against a
 *   family's `manufacturer` and a chip's `part`.
 * Only chips whose core type is the one CPUID reports take part, and only their families' vendor
 * registers are read (an nRF FICR address means something else on other chips). The core type
 * alone never picks a chip: many chips share one.
 */
import type { DebugSession } from '../arm/session';
import type { CoreIdentity } from '../arm/cortex-m';
import { hex32 } from '../dap/protocol';
import { coreType } from './chip-check';
import { dbgmcuIdcodeAddress, stm32Line } from './stm32-idcode';
import type { ChipDescription, TargetDescription } from './target-file';

export interface DetectionCandidate {
  chip: ChipDescription;
  target: TargetDescription;
}

export interface DetectionEvidence {
  /** What was read, e.g. "FICR CONFIGID.HWID 0x0072". */
  what: string;
  /** Chips it points at (names as the descriptions spell them). */
  chips: string[];
}

export interface DetectionResult {
  /** Every chip some evidence points at, in the order first found. */
  matches: string[];
  evidence: DetectionEvidence[];
  core: CoreIdentity | null;
  /** Values read that matched nothing, for the message when nothing matched. */
  seen: string[];
}

/** Designer and part number from the ROM table's PIDR0..4 (ADIv5 IHI 0031, CoreSight component ID). */
export function romTableId(pidr: number[]): { part: number; jep106: { id: number; cc: number } | null } {
  const [p0, p1, p2, , p4] = pidr;
  const part = (p0 & 0xff) | ((p1 & 0x0f) << 8);
  const usesJep106 = (p2 & 0x08) !== 0;
  return { part, jep106: usesJep106 ? { id: ((p1 >> 4) & 0x0f) | ((p2 & 0x07) << 4), cc: p4 & 0x0f } : null };
}

async function read32(session: DebugSession, address: number): Promise<number | null> {
  try {
    return (await session.ap.read32(address)) >>> 0;
  } catch {
    return null; // not there on this chip: no evidence
  }
}

export async function detectChip(session: DebugSession, candidates: readonly DetectionCandidate[]): Promise<DetectionResult> {
  const core = session.summary?.core ?? null;
  const type = core ? coreType(core.arch) : null;
  const fits = (c: ChipDescription) => !type || c.cores.length === 0 || c.cores.includes(type);
  const eligible = candidates.filter((c) => fits(c.chip));
  const known = new Map(eligible.map((c) => [c.chip.name.toLowerCase(), c.chip.name]));
  const evidence: DetectionEvidence[] = [];
  const seen: string[] = [];
  const note = (what: string, names: string[]) => {
    const chips = [...new Set(names.map((n) => known.get(n.toLowerCase())).filter((n): n is string => !!n))];
    if (chips.length) evidence.push({ what, chips });
    else seen.push(what);
  };

  const device = await session.probe.targetDevice().catch(() => null);
  if (device) note(`the probe's target device "${device.name}"${device.vendor ? ` (${device.vendor})` : ''}`, [device.name]);

  // A multi-drop DP answered to a TARGETSEL (TARGETID bits 27:0 and the instance): the chips with
  // a core selected by that value.
  // The families read from below: on a wire whose TARGETSEL named chips, only theirs (another
  // family's vendor register address means nothing there).
  let families = [...new Set(eligible.map((c) => c.target))];
  const dp = session.summary?.dp;
  if (dp?.targetSel !== undefined) {
    const sel = dp.targetSel;
    const named = eligible.filter((c) => c.chip.coreList.some((k) => k.targetSel !== undefined && k.targetSel >>> 0 === sel >>> 0));
    note(`DP TARGETID ${hex32(dp.targetId ?? sel)} selected by TARGETSEL ${hex32(sel)}`, named.map((c) => c.chip.name));
    if (named.length) families = [...new Set(named.map((c) => c.target))];
  }

  // Each family's vendor registers, read once per address.
  const reads = new Map<number, Promise<number | null>>();
  const at = (address: number) => reads.get(address) ?? (reads.set(address, read32(session, address)), reads.get(address)!);
  for (const family of families) {
    for (const method of family.chipDetection) {
      if ('hwid' in method) {
        const configId = await at(method.configIdAddress);
        if (configId === null) continue;
        const hwid = configId & 0xffff;
        note(`FICR CONFIGID.HWID 0x${hwid.toString(16).padStart(4, '0')} (${family.name})`, method.hwid.has(hwid) ? [method.hwid.get(hwid)!] : []);
      } else if ('variants' in method) {
        const part = await at(method.partAddress);
        if (part === null || part !== method.part) continue;
        const variant = await at(method.variantAddress);
        if (variant === null) continue;
        const ascii = String.fromCharCode(...[24, 16, 8, 0].map((s) => (variant >>> s) & 0xff)).replace(/[^\x20-\x7e]/g, '?');
        note(`FICR INFO.PART 0x${part.toString(16)} INFO.VARIANT ${hex32(variant)} "${ascii}" (${family.name})`, method.variants.has(variant) ? [method.variants.get(variant)!] : []);
      }
    }
  }

  // STM32 DBGMCU_IDCODE (DEV_ID in bits 11:0), where the core puts it.
  const stm32 = eligible.filter((c) => /^STM32/i.test(c.chip.name));
  const idcodeAt = core ? dbgmcuIdcodeAddress(core.name) : undefined;
  if (stm32.length && core && idcodeAt !== undefined) {
    const idcode = await at(idcodeAt);
    if (idcode !== null && idcode !== 0 && idcode !== 0xffffffff) {
      const { devId, line } = stm32Line(idcode, core.name);
      note(`STM32 DBGMCU_IDCODE ${hex32(idcode)}: DEV_ID 0x${devId.toString(16)}${line ? ` (${line.line})` : ''}`, line ? stm32.filter((c) => line.chips.test(c.chip.name)).map((c) => c.chip.name) : []);
    }
  }

  // ROM table designer and part, for families whose chips give a part number.
  const withPart = eligible.filter((c) => c.chip.part !== undefined && c.target.manufacturer);
  if (withPart.length && session.summary) {
    const base = (session.summary.ap.base & ~0xfff) >>> 0;
    const pidr = await Promise.all([0xfe0, 0xfe4, 0xfe8, 0xfec, 0xfd0].map((o) => read32(session, base + o)));
    if (pidr.every((v) => v !== null)) {
      const id = romTableId(pidr as number[]);
      const names = id.jep106 ? withPart.filter((c) => c.chip.part === id.part && c.target.manufacturer!.id === id.jep106!.id && c.target.manufacturer!.cc === id.jep106!.cc).map((c) => c.chip.name) : [];
      note(`ROM table part 0x${id.part.toString(16).padStart(3, '0')}${id.jep106 ? ` of JEP106 ${id.jep106.cc}:0x${id.jep106.id.toString(16)}` : ''}`, names);
    }
  }

  const matches = [...new Set(evidence.flatMap((e) => e.chips))];
  return { matches, evidence, core, seen };
}

/** One line saying what detection read and found. */
export function describeDetection(r: DetectionResult): string {
  const parts = r.evidence.map((e) => `${e.what} → ${e.chips.join(', ')}`);
  if (r.core) parts.unshift(`${r.core.name} (${coreType(r.core.arch)})`);
  parts.push(...r.seen.map((s) => `${s} → no known chip`));
  return parts.join('; ');
}
