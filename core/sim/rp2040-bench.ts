/**
 * An RP2040 on the virtual bench's SWD wire: three DPs in multi-drop (core 0, core 1, rescue), as
 * the chip has them (datasheet 2.3.4). The cores here are the in-process memory model; the
 * emulated Pico puts rp2040js behind the same wire.
 *
 * The rescue DP's CTRL/STAT.CDBGPWRUPREQ holds the whole chip in reset; when the debugger clears it
 * again the chip restarts with a flag the boot ROM checks, and the boot ROM then parks the cores
 * instead of starting the firmware (OpenOCD's rp2040.cfg rescue mode relies on this).
 */
import { findMultidropPartByName } from '../arm/multidrop';
import { SimulatedProbe, type SimulatedProbeOptions } from './cmsis-dap-probe';
import { MemoryTarget } from './memory-target';
import type { SimTarget } from './target';

export const RP2040 = findMultidropPartByName('RP2040')!;
/** RP2040's DPs report DPIDR 0x0BC12477 (DPv2, designer Arm, MINDP). */
export const RP2040_DPIDR = 0x0bc12477;

export interface Rp2040Cores {
  core0: SimTarget;
  core1: SimTarget;
  /** The chip held in reset (rescue DP power request set), then released into the boot ROM's safe state. */
  rescue(phase: 'hold' | 'release'): Promise<void>;
}

/** Both cores as the in-process memory model: shared flash and SRAM, a register file each. */
export class Rp2040MemoryCores implements Rp2040Cores {
  readonly core0 = new MemoryTarget('rp2040', { core: 0 });
  readonly core1 = new MemoryTarget('rp2040', { core: 1, shareMemoryWith: this.core0 });
  /** The rescue DP's power request is set: the chip is held in reset. */
  heldInReset = false;
  /** Completed rescue resets. */
  rescues = 0;

  async rescue(phase: 'hold' | 'release'): Promise<void> {
    if (phase === 'hold') {
      this.heldInReset = true;
      return;
    }
    if (!this.heldInReset) return;
    this.heldInReset = false;
    this.rescues++;
    // No firmware runs: the boot ROM sees the rescue flag and parks both cores (this model has no
    // ROM to run, so they stay halted at reset).
    await this.core0.reset({ halt: true });
    await this.core1.reset({ halt: true });
  }
}

/** The probe model in front of an RP2040's three DPs. */
export function rp2040Probe(cores: Rp2040Cores, options: Omit<SimulatedProbeOptions, 'target' | 'multidrop'>): SimulatedProbe {
  const probe: SimulatedProbe = new SimulatedProbe({
    ...options,
    target: cores.core0,
    multidrop: {
      dpidr: RP2040_DPIDR,
      targetId: RP2040.targetId,
      dps: [
        { instance: RP2040.cores[0].instance, target: cores.core0 },
        { instance: RP2040.cores[1].instance, target: cores.core1 },
        // The rescue DP has no AP and never acknowledges the system power request.
        {
          instance: RP2040.rescueInstance!,
          target: null,
          systemPowerAck: false,
          onDebugPowerRequest: async (on) => {
            await cores.rescue(on ? 'hold' : 'release');
            // The cores' debug logic saw the chip reset (DHCSR.S_RESET_ST).
            if (!on) for (const d of probe.dps) d.debug?.noteExternalReset();
          },
        },
      ],
    },
  });
  return probe;
}
