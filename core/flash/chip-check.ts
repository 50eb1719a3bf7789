/**
 * Is the target the chip the user named? Before any algorithm runs, the core that CPUID reports
 * must be of the type the chip's description gives: a flash algorithm for another chip would poke
 * peripherals that are not there and end in a fault or a timeout that says nothing useful.
 */
import type { CoreIdentity } from '../arm/cortex-m';
import { AlgorithmError, type ChipDescription } from './algorithm';

/** probe-rs's core type for an architecture as CPUID names it. */
export function coreType(arch: string): string {
  if (arch === 'armv6-m') return 'armv6m';
  if (arch === 'armv7-m') return 'armv7m';
  if (arch === 'armv7e-m') return 'armv7em';
  if (arch.startsWith('armv8-m')) return 'armv8m';
  return arch;
}

export function checkChipCore(chip: Pick<ChipDescription, 'name' | 'cores'>, core: CoreIdentity): void {
  if (chip.cores.length === 0) return; // the description does not say: nothing to hold it to
  const found = coreType(core.arch);
  if (chip.cores.includes(found)) return;
  throw new AlgorithmError(
    `wrong chip? ${chip.name} has ${chip.cores.length === 1 ? `an ${chip.cores[0]} core` : `cores of type ${chip.cores.join(', ')}`}, but the target is a ${core.name} (${found}); check --chip and the probe`,
  );
}
