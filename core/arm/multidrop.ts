/**
 * SWD multi-drop (ADIv5.2 B4.3.4, SWD protocol version 2): several DPs share one SWD wire and the
 * host picks one by writing TARGETSEL = TINSTANCE[31:28] | TARGETID[27:0] right after a line reset.
 * Parts whose DPs are only reachable this way are listed here, with the instance of each core.
 */
export interface MultidropPart {
  name: string;
  /** DP TARGETID (bank 2 of DP register 0x4): TREVISION[31:28] TPARTNO[27:12] TDESIGNER[11:1] 1. */
  targetId: number;
  cores: readonly { name: string; instance: number }[];
  /** A DP with no AP whose CTRL/STAT.CDBGPWRUPREQ resets the chip into a safe state. */
  rescueInstance?: number;
}

/**
 * RP2040 (datasheet 2.3.4 "Debug"; OpenOCD tcl/target/rp2040.cfg uses the same IDs): TARGETID
 * 0x01002927 (part 0x1002, designer 0x493 = Raspberry Pi), core 0 at instance 0, core 1 at 1, the
 * rescue DP at 0xF.
 */
export const MULTIDROP_PARTS: readonly MultidropPart[] = [
  { name: 'RP2040', targetId: 0x01002927, cores: [{ name: 'core 0', instance: 0 }, { name: 'core 1', instance: 1 }], rescueInstance: 0xf },
];

export function targetSel(targetId: number, instance: number): number {
  return (((instance & 0xf) << 28) | (targetId & 0x0fffffff)) >>> 0;
}

/** The part whose TARGETID this is (TREVISION ignored, as TARGETSEL ignores it). */
export function findMultidropPart(targetId: number): MultidropPart | undefined {
  return MULTIDROP_PARTS.find((p) => ((p.targetId ^ targetId) & 0x0fffffff) === 0);
}

export function findMultidropPartByName(name: string): MultidropPart | undefined {
  return MULTIDROP_PARTS.find((p) => p.name.toLowerCase() === name.toLowerCase());
}
