/**
 * What GDB learns about the target from the server: the register set (a target description, GDB
 * manual appendix G, with the features GDB's ARM support looks for: org.gnu.gdb.arm.m-profile,
 * org.gnu.gdb.arm.m-system, org.gnu.gdb.arm.vfp) and the memory map (appendix "Memory Map
 * Format"), which tells GDB which addresses are flash, so its `load` goes through vFlash packets.
 *
 * Remote register numbers are the order of the registers in the description (no regnum attributes).
 */
import { CoreReg } from '../arm/registers';

export interface GdbRegister {
  name: string;
  bits: 32 | 64;
  type: 'int' | 'code_ptr' | 'data_ptr' | 'ieee_double';
  feature: 'org.gnu.gdb.arm.m-profile' | 'org.gnu.gdb.arm.m-system' | 'org.gnu.gdb.arm.vfp';
  /** How to read it through DCRSR: one REGSEL, a byte of the packed special register, or an S-register pair. */
  source: { reg: number } | { special: 'primask' | 'basepri' | 'faultmask' | 'control' } | { sPair: number };
}

/** CONTROL[31:24] FAULTMASK[23:16] BASEPRI[15:8] PRIMASK[7:0] of DCRSR REGSEL 20. */
export const SPECIAL_SHIFT = { primask: 0, basepri: 8, faultmask: 16, control: 24 } as const;
/** DCRSR REGSEL of S0 and of FPSCR (ARMv7-M C1.6.3, FP extension). */
const REGSEL_S0 = 0x40;
const REGSEL_FPSCR = 0x21;

export interface CoreFeatures {
  /** ARMv7-M and later have BASEPRI and FAULTMASK; ARMv6-M does not. */
  mainline: boolean;
  /** Single/double precision FP registers (Cortex-M4F/M7 with the FP extension). */
  fpu: boolean;
}

export function registerSet(features: CoreFeatures): GdbRegister[] {
  const regs: GdbRegister[] = [];
  const core = (name: string, reg: number, type: GdbRegister['type'] = 'int') => regs.push({ name, bits: 32, type, feature: 'org.gnu.gdb.arm.m-profile', source: { reg } });
  for (let i = 0; i <= 12; i++) core(`r${i}`, i);
  core('sp', CoreReg.sp, 'data_ptr');
  core('lr', CoreReg.lr);
  core('pc', CoreReg.pc, 'code_ptr');
  core('xpsr', CoreReg.xpsr);
  const system = (name: string, source: GdbRegister['source'], type: GdbRegister['type'] = 'int') => regs.push({ name, bits: 32, type, feature: 'org.gnu.gdb.arm.m-system', source });
  system('msp', { reg: CoreReg.msp }, 'data_ptr');
  system('psp', { reg: CoreReg.psp }, 'data_ptr');
  system('primask', { special: 'primask' });
  if (features.mainline) {
    system('basepri', { special: 'basepri' });
    system('faultmask', { special: 'faultmask' });
  }
  system('control', { special: 'control' });
  if (features.fpu) {
    for (let d = 0; d < 16; d++) regs.push({ name: `d${d}`, bits: 64, type: 'ieee_double', feature: 'org.gnu.gdb.arm.vfp', source: { sPair: REGSEL_S0 + 2 * d } });
    regs.push({ name: 'fpscr', bits: 32, type: 'int', feature: 'org.gnu.gdb.arm.vfp', source: { reg: REGSEL_FPSCR } });
  }
  return regs;
}

export function targetXml(regs: readonly GdbRegister[]): string {
  const features = [...new Set(regs.map((r) => r.feature))];
  const body = features
    .map((f) => {
      const lines = regs.filter((r) => r.feature === f).map((r) => `    <reg name="${r.name}" bitsize="${r.bits}" type="${r.type}"${r.feature === 'org.gnu.gdb.arm.m-system' ? ' group="system"' : ''}/>`);
      return `  <feature name="${f}">\n${lines.join('\n')}\n  </feature>`;
    })
    .join('\n');
  return `<?xml version="1.0"?>\n<!DOCTYPE target SYSTEM "gdb-target.dtd">\n<target version="1.0">\n  <architecture>arm</architecture>\n${body}\n</target>\n`;
}

export interface MapRegion {
  kind: 'flash' | 'ram';
  start: number;
  size: number;
  /** Erase block size (flash only). */
  blockSize?: number;
}

/**
 * Flash regions (one per run of equal-size sectors) and everything else as RAM: GDB refuses
 * accesses outside a memory map once it has one, and peripherals and the PPB must stay reachable
 * (`x/w 0xe000ed00`), as OpenOCD's map does by filling the gaps.
 */
export function memoryMapXml(flash: readonly { start: number; size: number; blockSize: number }[]): string {
  const sorted = [...flash].sort((a, b) => a.start - b.start);
  const regions: MapRegion[] = [];
  let at = 0;
  for (const f of sorted) {
    if (f.start > at) regions.push({ kind: 'ram', start: at, size: f.start - at });
    regions.push({ kind: 'flash', start: f.start, size: f.size, blockSize: f.blockSize });
    at = f.start + f.size;
  }
  if (at < 0x1_0000_0000) regions.push({ kind: 'ram', start: at, size: 0x1_0000_0000 - at });
  const hex = (n: number) => `0x${n.toString(16)}`;
  const lines = regions.map((r) =>
    r.kind === 'flash'
      ? `  <memory type="flash" start="${hex(r.start)}" length="${hex(r.size)}">\n    <property name="blocksize">${hex(r.blockSize!)}</property>\n  </memory>`
      : `  <memory type="ram" start="${hex(r.start)}" length="${hex(r.size)}"/>`,
  );
  return `<?xml version="1.0"?>\n<!DOCTYPE memory-map PUBLIC "+//IDN gnu.org//DTD GDB Memory Map V1.0//EN" "http://sourceware.org/gdb/gdb-memory-map.dtd">\n<memory-map>\n${lines.join('\n')}\n</memory-map>\n`;
}

/** Runs of equal-size contiguous sectors, as memory-map flash regions. */
export function flashRegions(sectors: readonly { address: number; size: number }[]): { start: number; size: number; blockSize: number }[] {
  const out: { start: number; size: number; blockSize: number }[] = [];
  for (const s of [...sectors].sort((a, b) => a.address - b.address)) {
    const last = out[out.length - 1];
    if (last && last.blockSize === s.size && last.start + last.size === s.address) last.size += s.size;
    else out.push({ start: s.address, size: s.size, blockSize: s.size });
  }
  return out;
}
