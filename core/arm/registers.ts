/**
 * Register addresses and bits of ADIv5 (DP, MEM-AP) and the ARMv6-M/ARMv7-M/ARMv8-M debug
 * architecture (SCS debug registers, FPB). Sources: ARM IHI 0031 (ADIv5.2) B2/C2, ARM DDI 0403
 * (ARMv7-M ARM) C1, ARM DDI 0419 (ARMv6-M ARM) C1.
 */

/** DP registers by A[3:2] (bank 0 for CTRL/STAT). */
export const DP = { DPIDR: 0x0, ABORT: 0x0, CTRL_STAT: 0x4, SELECT: 0x8, RESEND: 0x8, RDBUFF: 0xc } as const;

export const ABORT = { DAPABORT: 1 << 0, STKCMPCLR: 1 << 1, STKERRCLR: 1 << 2, WDERRCLR: 1 << 3, ORUNERRCLR: 1 << 4 } as const;
export const ABORT_CLEAR_ALL = ABORT.STKCMPCLR | ABORT.STKERRCLR | ABORT.WDERRCLR | ABORT.ORUNERRCLR;

export const CTRL_STAT = {
  ORUNDETECT: 1 << 0,
  STICKYORUN: 1 << 1,
  STICKYCMP: 1 << 4,
  STICKYERR: 1 << 5,
  READOK: 1 << 6,
  WDATAERR: 1 << 7,
  CDBGPWRUPREQ: 1 << 28,
  CDBGPWRUPACK: 1 << 29,
  CSYSPWRUPREQ: 1 << 30,
  CSYSPWRUPACK: 1 << 31,
} as const;

/** MEM-AP register offsets (APBANKSEL = offset[7:4], A[3:2] = offset[3:2]). */
export const MEM_AP = { CSW: 0x00, TAR: 0x04, DRW: 0x0c, BD0: 0x10, BD1: 0x14, BD2: 0x18, BD3: 0x1c, CFG: 0xf4, BASE: 0xf8, IDR: 0xfc } as const;

export const CSW = {
  SIZE_8: 0,
  SIZE_16: 1,
  SIZE_32: 2,
  ADDRINC_OFF: 0 << 4,
  ADDRINC_SINGLE: 1 << 4,
  DEVICE_EN: 1 << 6,
  /** HPROT: privileged data access, plus MasterType = debug (as pyOCD/OpenOCD use for Cortex-M). */
  PROT_DEFAULT: 0x23000000,
} as const;

/** TAR auto-increment is only guaranteed within a 1 KiB block (ADIv5.2 C2.2.2). */
export const TAR_WRAP = 0x400;

/** System Control Space debug registers. */
export const SCS = {
  CPUID: 0xe000ed00,
  AIRCR: 0xe000ed0c,
  DFSR: 0xe000ed30,
  DHCSR: 0xe000edf0,
  DCRSR: 0xe000edf4,
  DCRDR: 0xe000edf8,
  DEMCR: 0xe000edfc,
} as const;

export const DHCSR = {
  DBGKEY: 0xa05f0000,
  C_DEBUGEN: 1 << 0,
  C_HALT: 1 << 1,
  C_STEP: 1 << 2,
  C_MASKINTS: 1 << 3,
  S_REGRDY: 1 << 16,
  S_HALT: 1 << 17,
  S_SLEEP: 1 << 18,
  S_LOCKUP: 1 << 19,
  S_RETIRE_ST: 1 << 24,
  S_RESET_ST: 1 << 25,
} as const;

export const DCRSR_REGWNR = 1 << 16;

/**
 * DEMCR (ARMv7-M C1.6.5): the vector catch bits and TRCENA. ARMv6-M implements only VC_CORERESET
 * and VC_HARDERR (and DWTENA in place of TRCENA).
 */
export const DEMCR = {
  VC_CORERESET: 1 << 0,
  VC_MMERR: 1 << 4,
  VC_NOCPERR: 1 << 5,
  VC_CHKERR: 1 << 6,
  VC_STATERR: 1 << 7,
  VC_BUSERR: 1 << 8,
  VC_INTERR: 1 << 9,
  VC_HARDERR: 1 << 10,
  TRCENA: 1 << 24,
} as const;

/** SCB fault status and address registers (ARMv7-M B3.2.15–B3.2.18). */
export const SCB = {
  ICSR: 0xe000ed04,
  VTOR: 0xe000ed08,
  SHCSR: 0xe000ed24,
  CFSR: 0xe000ed28,
  HFSR: 0xe000ed2c,
  MMFAR: 0xe000ed34,
  BFAR: 0xe000ed38,
} as const;
export const AIRCR = { VECTKEY: 0x05fa0000, VECTRESET: 1 << 0, SYSRESETREQ: 1 << 2 } as const;
export const DFSR = { HALTED: 1 << 0, BKPT: 1 << 1, DWTTRAP: 1 << 2, VCATCH: 1 << 3, EXTERNAL: 1 << 4 } as const;

/** DCRSR.REGSEL numbers. */
export const CoreReg = {
  r0: 0, r1: 1, r2: 2, r3: 3, r4: 4, r5: 5, r6: 6, r7: 7, r8: 8, r9: 9, r10: 10, r11: 11, r12: 12,
  sp: 13, lr: 14, pc: 15, xpsr: 16, msp: 17, psp: 18,
  /** CONTROL[31:24] FAULTMASK[23:16] BASEPRI[15:8] PRIMASK[7:0]. */
  special: 20,
} as const;
export type CoreRegName = keyof typeof CoreReg;

export const CORE_REGISTER_NAMES: readonly CoreRegName[] = [
  'r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9', 'r10', 'r11', 'r12', 'sp', 'lr', 'pc', 'xpsr', 'msp', 'psp', 'special',
];

/** CPUID.PARTNO → core name (ARM implementer 0x41). */
export const CORE_PARTS: Record<number, { name: string; arch: 'armv6-m' | 'armv7-m' | 'armv7e-m' | 'armv8-m.base' | 'armv8-m.main' }> = {
  0xc20: { name: 'Cortex-M0', arch: 'armv6-m' },
  0xc60: { name: 'Cortex-M0+', arch: 'armv6-m' },
  0xc21: { name: 'Cortex-M1', arch: 'armv6-m' },
  0xc23: { name: 'Cortex-M3', arch: 'armv7-m' },
  0xc24: { name: 'Cortex-M4', arch: 'armv7e-m' },
  0xc27: { name: 'Cortex-M7', arch: 'armv7e-m' },
  0xd20: { name: 'Cortex-M23', arch: 'armv8-m.base' },
  0xd21: { name: 'Cortex-M33', arch: 'armv8-m.main' },
  0xd22: { name: 'Cortex-M55', arch: 'armv8-m.main' },
};
