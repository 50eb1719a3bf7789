/**
 * Chip detection on the in-process model: the ROM table's designer and part (the probe model
 * serves ARM's Cortex-M0 values, ROM table part 0x471 of JEP106 ARM 4:0x3b, from ARM's TRM),
 * the core filter, and no guess from the core type alone.
 */
import { describe, expect, it } from 'vitest';
import { DebugSession } from '../../../core/arm/session';
import { describeDetection, detectChip, romTableId, type DetectionCandidate } from '../../../core/flash/detect';
import { parseTargetYaml } from '../../../core/flash/target-file';
import { SimulatedProbe } from '../../../core/sim/cmsis-dap-probe';
import { MemoryTarget } from '../../../core/sim/memory-target';
import { stm32Line } from '../../../core/flash/stm32-idcode';

async function session(kind: 'cortex-m0' | 'cortex-m3', setup?: (target: MemoryTarget) => void) {
  const target = new MemoryTarget(kind);
  setup?.(target);
  const probe = new SimulatedProbe({ flavour: 'v2-bulk', target });
  return DebugSession.open(probe.transport, { responseTimeoutMs: 300 });
}

/** A 32-bit read-only register (byte reads, as the bus model asks), counting its reads. */
function register(target: MemoryTarget, address: number, value: number): { reads: number } {
  const seen = { reads: 0 };
  target.addPeripheral(address, 4, {
    read: (offset) => {
      seen.reads++;
      return (value >>> (8 * offset)) & 0xff;
    },
    write: () => undefined,
  });
  return seen;
}

/** STM32 chips as probe-rs names them (STMicroelectronics, JEP106 0:0x20), no part numbers. */
function stm32(chips: [string, string][]): DetectionCandidate[] {
  const yaml = 'name: STM32 test\nmanufacturer:\n  id: 0x20\n  cc: 0x0\nvariants:\n' + chips.map(([name, type]) => `- name: ${name}\n  cores:\n  - name: main\n    type: ${type}\n  memory_map: []\n`).join('');
  const target = parseTargetYaml(yaml, 'stm32.yaml');
  return target.chips.map((chip) => ({ chip, target }));
}

const STM32_CHIPS: [string, string][] = [
  ['STM32F103C8Tx', 'armv7m'],
  ['STM32F103RCTx', 'armv7m'],
  ['STM32F100RBTx', 'armv7m'],
  ['STM32F407VGTx', 'armv7em'],
  ['STM32F051R8Tx', 'armv6m'],
  ['STM32F030F4Px', 'armv6m'],
];

/** A family of chips, each `[name, core type, part]`, from ARM (JEP106 continuation 4, id 0x3b). */
function family(chips: [string, string, number | undefined][]): DetectionCandidate[] {
  const yaml =
    'name: Test\nmanufacturer:\n  id: 0x3b\n  cc: 0x4\nvariants:\n' +
    chips.map(([name, type, part]) => `- name: ${name}\n${part === undefined ? '' : `  part: ${part}\n`}  cores:\n  - name: main\n    type: ${type}\n  memory_map: []\n`).join('');
  const target = parseTargetYaml(yaml, 'test.yaml');
  return target.chips.map((chip) => ({ chip, target }));
}

describe('chip detection', () => {
  it('decodes a CoreSight peripheral ID (ADIv5: part in PIDR0/1, JEP106 in PIDR1/2/4)', () => {
    // ARM's Cortex-M0 ROM table: PIDR0 0x71, PIDR1 0xB4, PIDR2 0x0B, PIDR4 0x04.
    expect(romTableId([0x71, 0xb4, 0x0b, 0x00, 0x04])).toEqual({ part: 0x471, jep106: { id: 0x3b, cc: 4 } });
    expect(romTableId([0x71, 0xb4, 0x03, 0x00, 0x04]).jep106).toBeNull(); // JEDEC bit clear: legacy ID
  });

  it('picks the chip whose ROM-table part and manufacturer the target reports, among chips of its core type', async () => {
    const s = await session('cortex-m0');
    const r = await detectChip(s, family([['M0Part471', 'armv6m', 0x471], ['M0Other', 'armv6m', 0x123], ['M3Part471', 'armv7m', 0x471]]));
    expect(r.matches).toEqual(['M0Part471']);
    expect(describeDetection(r)).toBe('Cortex-M0 (armv6m); ROM table part 0x471 of JEP106 4:0x3b → M0Part471');
    await s.close();
  });

  it('lists every chip the evidence fits, and guesses nothing from the core type alone', async () => {
    const s = await session('cortex-m0');
    const twins = await detectChip(s, family([['TwinA', 'armv6m', 0x471], ['TwinB', 'armv6m', 0x471]]));
    expect(twins.matches).toEqual(['TwinA', 'TwinB']);
    const onlyCore = await detectChip(s, family([['LoneM0', 'armv6m', undefined]]));
    expect(onlyCore.matches).toEqual([]);
    await s.close();
    const m3 = await session('cortex-m3');
    expect((await detectChip(m3, family([['M0Part471', 'armv6m', 0x471]]))).matches).toEqual([]);
    await m3.close();
  });

  it('reads STM32 DBGMCU_IDCODE where the core puts it (0xE0042000 on a Cortex-M3, 0x40015800 on a Cortex-M0) and matches DEV_ID to the line', async () => {
    // STM32F103x8/xB (medium density): DEV_ID 0x410; revision field 0x2003 as on rev. X silicon.
    const m3 = await session('cortex-m3', (t) => register(t, 0xe0042000, 0x20036410));
    const r = await detectChip(m3, stm32(STM32_CHIPS));
    expect(r.matches).toEqual(['STM32F103C8Tx']);
    expect(describeDetection(r)).toBe('Cortex-M3 (armv7m); STM32 DBGMCU_IDCODE 0x20036410: DEV_ID 0x410 (STM32F10x medium-density) → STM32F103C8Tx');
    await m3.close();
    const high = await session('cortex-m3', (t) => register(t, 0xe0042000, 0x10016414));
    expect((await detectChip(high, stm32(STM32_CHIPS))).matches).toEqual(['STM32F103RCTx']);
    await high.close();
    // STM32F05x: DEV_ID 0x440 at the Cortex-M0 address; the M3 address is not looked at.
    let m3Address = { reads: 0 };
    const m0 = await session('cortex-m0', (t) => {
      register(t, 0x40015800, 0x20006440);
      m3Address = register(t, 0xe0042000, 0x20036410);
    });
    const f0 = await detectChip(m0, stm32(STM32_CHIPS));
    expect(f0.matches).toEqual(['STM32F051R8Tx']);
    expect(f0.evidence).toEqual([{ what: 'STM32 DBGMCU_IDCODE 0x20006440: DEV_ID 0x440 (STM32F05x, F030x8)', chips: ['STM32F051R8Tx'] }]);
    expect(m3Address.reads).toBe(0);
    await m0.close();
  });

  it('leaves DBGMCU alone when no STM32 of the core type is a candidate, and says when a DEV_ID matches no known chip', async () => {
    let idcode = { reads: 0 };
    const s = await session('cortex-m3', (t) => {
      idcode = register(t, 0xe0042000, 0x10006999);
    });
    await detectChip(s, family([['M3Part471', 'armv7m', 0x471]]));
    await detectChip(s, stm32([['STM32F051R8Tx', 'armv6m']])); // an STM32, but not of this core's type
    expect(idcode.reads).toBe(0);
    const unknown = await detectChip(s, stm32(STM32_CHIPS));
    expect(unknown.matches).toEqual([]);
    expect(describeDetection(unknown)).toBe('Cortex-M3 (armv7m); STM32 DBGMCU_IDCODE 0x10006999: DEV_ID 0x999 → no known chip');
    await s.close();
  });

  it('corrects the STM32F40x revision A erratum (DEV_ID 0x411 on a Cortex-M4 is an F4, as OpenOCD does)', () => {
    expect(stm32Line(0x10006411, 'Cortex-M4')).toMatchObject({ devId: 0x413, line: { line: 'STM32F405/F407/F415/F417' } });
    expect(stm32Line(0x10006411, 'Cortex-M3')).toMatchObject({ devId: 0x411, line: { line: 'STM32F2xx' } });
    expect(stm32Line(0x10076413, 'Cortex-M4').line!.chips.test('STM32F407VGTx')).toBe(true);
  });
});
