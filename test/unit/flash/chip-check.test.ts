/** Holding the target to the chip the user named, by its core. */
import { describe, expect, it } from 'vitest';
import { checkChipCore, coreType } from '../../../core/flash/chip-check';
import type { ChipDescription } from '../../../core/flash/algorithm';

const chip = (cores: string[]): ChipDescription => ({ name: 'nRF51822_xxAA', family: 'nRF51 Series', cores, coreList: [], memoryMap: [], flash: [], ram: [], algorithms: [] });
const core = (name: string, arch: string) => ({ cpuid: 0, name, arch, revision: 'r0p0' });

describe('chip check', () => {
  it('names the core types as probe-rs target files do', () => {
    expect(['armv6-m', 'armv7-m', 'armv7e-m', 'armv8-m.base', 'armv8-m.main'].map(coreType)).toEqual(['armv6m', 'armv7m', 'armv7em', 'armv8m', 'armv8m']);
  });

  it('accepts the named core, refuses another with both named, and trusts a file that does not say', () => {
    expect(() => checkChipCore(chip(['armv6m']), core('Cortex-M0+', 'armv6-m'))).not.toThrow();
    expect(() => checkChipCore(chip(['armv6m']), core('Cortex-M4', 'armv7e-m'))).toThrow('wrong chip? nRF51822_xxAA has an armv6m core, but the target is a Cortex-M4 (armv7em); check --chip and the probe');
    expect(() => checkChipCore(chip([]), core('Cortex-M4', 'armv7e-m'))).not.toThrow();
  });
});
