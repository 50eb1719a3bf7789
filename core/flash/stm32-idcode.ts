/**
 * STM32 DBGMCU_IDCODE: bits 11:0 are DEV_ID, the line of parts the die belongs to (bits 31:16 the
 * silicon revision). It sits at 0xE0042000 on Cortex-M3/M4/M7 STM32s and at 0x40015800 on the
 * Cortex-M0 ones. probe-rs's `chip_detection` has no form for it, so the DEV_IDs and the parts
 * each stands for are a table here: facts from ST's reference manuals as OpenOCD's STM32 flash
 * drivers (stm32f1x.c, stm32f2x.c) list them and ST's AN2606 (whose bootloader PIDs are the
 * DEV_IDs) for the F030/F070, matched to chip names as probe-rs and CMSIS-Packs
 * spell them (STM32F103C8Tx: line F103, pins C, flash size 8).
 */
export const DBGMCU_IDCODE_M0 = 0x40015800;
export const DBGMCU_IDCODE_M3_M4_M7 = 0xe0042000;

export interface Stm32Line {
  devId: number;
  /** What the reference manual calls the line. */
  line: string;
  chips: RegExp;
}

export const STM32_LINES: readonly Stm32Line[] = [
  // Cortex-M0 (DBGMCU at 0x40015800)
  // (The F030/F070 share their larger siblings' dies: ST's AN2606 bootloader PID table.)
  { devId: 0x444, line: 'STM32F030x4/x6, F031, F038', chips: /^STM32F03(0.[46]|[18])/i },
  { devId: 0x445, line: 'STM32F04x, F070x6', chips: /^STM32F04|^STM32F070.6/i },
  { devId: 0x440, line: 'STM32F05x, F030x8', chips: /^STM32F05|^STM32F030.8/i },
  { devId: 0x448, line: 'STM32F07x, F070xB', chips: /^STM32F07[128]|^STM32F070.B/i },
  { devId: 0x442, line: 'STM32F09x, F030xC', chips: /^STM32F09|^STM32F030.C/i },
  // Cortex-M3
  { devId: 0x412, line: 'STM32F10x low-density', chips: /^STM32F10[123].[46]/i },
  { devId: 0x410, line: 'STM32F10x medium-density', chips: /^STM32F10[123].[8B]/i },
  { devId: 0x414, line: 'STM32F10x high-density', chips: /^STM32F10[13].[CDE]/i },
  { devId: 0x430, line: 'STM32F10x XL-density', chips: /^STM32F10[13].[FG]/i },
  { devId: 0x418, line: 'STM32F105/F107 connectivity line', chips: /^STM32F10[57]/i },
  { devId: 0x420, line: 'STM32F100 low/medium-density value line', chips: /^STM32F100.[468B]/i },
  { devId: 0x428, line: 'STM32F100 high-density value line', chips: /^STM32F100.[CDE]/i },
  { devId: 0x411, line: 'STM32F2xx', chips: /^STM32F2/i },
  // Cortex-M4
  { devId: 0x422, line: 'STM32F302xB/C, F303xB/C', chips: /^STM32F30[23].[BC]/i },
  { devId: 0x446, line: 'STM32F303xD/E', chips: /^STM32F303.[DE]/i },
  { devId: 0x439, line: 'STM32F302x6/8', chips: /^STM32F302.[68]/i },
  { devId: 0x438, line: 'STM32F33x', chips: /^STM32F33/i },
  { devId: 0x432, line: 'STM32F37x', chips: /^STM32F37/i },
  { devId: 0x413, line: 'STM32F405/F407/F415/F417', chips: /^STM32F4[01][57]/i },
  { devId: 0x419, line: 'STM32F42x/F43x', chips: /^STM32F4[23][79]/i },
  { devId: 0x434, line: 'STM32F469/F479', chips: /^STM32F4[67]9/i },
  { devId: 0x423, line: 'STM32F401xB/C', chips: /^STM32F401.[BC]/i },
  { devId: 0x433, line: 'STM32F401xD/E', chips: /^STM32F401.[DE]/i },
  { devId: 0x458, line: 'STM32F410', chips: /^STM32F410/i },
  { devId: 0x431, line: 'STM32F411', chips: /^STM32F411/i },
  { devId: 0x441, line: 'STM32F412', chips: /^STM32F412/i },
  { devId: 0x463, line: 'STM32F413/F423', chips: /^STM32F4[12]3/i },
  { devId: 0x421, line: 'STM32F446', chips: /^STM32F446/i },
  // Cortex-M7
  { devId: 0x452, line: 'STM32F72x/F73x', chips: /^STM32F7[23]/i },
  { devId: 0x449, line: 'STM32F74x/F75x', chips: /^STM32F7[45]/i },
  { devId: 0x451, line: 'STM32F76x/F77x', chips: /^STM32F7[67]/i },
];

/** Where DBGMCU_IDCODE is for a core (CPUID part name), or undefined for cores no table line has. */
export function dbgmcuIdcodeAddress(coreName: string): number | undefined {
  if (/^Cortex-M0$/i.test(coreName)) return DBGMCU_IDCODE_M0;
  if (/^Cortex-M[347]$/i.test(coreName)) return DBGMCU_IDCODE_M3_M4_M7;
  return undefined;
}

/**
 * The line a DBGMCU_IDCODE value names. Revision A STM32F40x/41x report the F2's DEV_ID 0x411
 * (an erratum; OpenOCD corrects it the same way): on a Cortex-M4 that is 0x413.
 */
export function stm32Line(idcode: number, coreName: string): { devId: number; line?: Stm32Line } {
  let devId = idcode & 0xfff;
  if (devId === 0x411 && /^Cortex-M4$/i.test(coreName)) devId = 0x413;
  return { devId, line: STM32_LINES.find((l) => l.devId === devId) };
}
