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

async function session(kind: 'cortex-m0' | 'cortex-m3') {
  const probe = new SimulatedProbe({ flavour: 'v2-bulk', target: new MemoryTarget(kind) });
  return DebugSession.open(probe.transport, { responseTimeoutMs: 300 });
}

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
});
