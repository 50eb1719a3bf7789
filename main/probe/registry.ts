/**
 * Probe selectors, as every CLI command and the app accept them:
 *   emu:microbit | emu:lm3s6965evb   QEMU running firmware, behind the strict probe model
 *   sim:cortex-m0 | sim:cortex-m3    the in-process target model, behind the strict probe model
 *   VID:PID[:SERIAL]                 a real CMSIS-DAP probe on USB
 * Simulated probes take `flavour` (v1 HID 64-byte packets or v2 bulk 512-byte packets).
 */
import type { DapTransport } from '../../core/dap/transport';
import { SimulatedProbe, type ProbeStats } from '../../core/sim/cmsis-dap-probe';
import { MemoryTarget } from '../../core/sim/memory-target';
import { Rp2040MemoryCores, rp2040Probe } from '../../core/sim/rp2040-bench';
import { PicoEmulator } from '../../core/sim/pico';
import { picoRomImage } from '../../core/sim/pico-rom-image';
import { loadImage } from '../../core/elf';
import { existsSync, readFileSync } from 'node:fs';
import { sampleFirmwarePath } from '../firmware';
import type { SimTarget } from '../../core/sim/target';
import type { SwoTargetOptions } from '../../core/sim/swo';
import { QemuTarget, boardStateFile, type QemuBoard } from '../emu/qemu-target';
import { openUsbProbe, scanUsb } from './usb';

export const EMULATED_BOARDS: readonly QemuBoard[] = ['microbit', 'lm3s6965evb'];
export const SIM_TARGETS = ['cortex-m0', 'cortex-m3', 'rp2040'] as const;

export interface ProbeListing {
  selector: string;
  description: string;
  kind: 'emulated' | 'simulated' | 'usb';
  /** Why this probe cannot be used as it is (e.g. no permission to open it). */
  problem?: string;
}

export interface OpenProbeOptions {
  /** Firmware QEMU boots (emu:); defaults to the hello sample for the board. */
  elf?: string;
  /**
   * emu: boards keep their flash (and UICR) between commands in a state file per board. `blank`
   * (flash/erase/run, where the firmware arrives by flashing): never boot the default sample; start
   * from the saved state, else factory-fresh.
   */
  blank?: boolean;
  /** emu: start from a factory-fresh chip, whatever was flashed before. */
  fresh?: boolean;
  flavour?: 'v1-hid' | 'v2-bulk';
  packetCount?: number;
  /** Called to build the default firmware for emu: when no --elf is given. */
  defaultElf?: (board: QemuBoard) => Promise<string> | string;
  /** Abandons opening (an emulated board still starting is stopped at once). */
  signal?: AbortSignal;
}

export interface OpenedProbe {
  selector: string;
  description: string;
  transport: DapTransport;
  /** Present for emulated and simulated probes: packet/byte counts and modeled wire time. */
  stats?: () => ProbeStats;
  simulated?: SimulatedProbe;
  target?: SimTarget;
  /** The firmware an emu: board booted (its ELF decodes what the firmware sends). */
  elf?: string;
  /** emu: boards: Dapdeck flashed this ELF (verified; undefined for a HEX/BIN); later commands decode the board's output with it. */
  recordFirmware?: (file: string | undefined) => void;
  /** How long to wait for a response before calling the probe dead (default: the probe layer's 1 s). */
  responseTimeoutMs?: number;
  close(): Promise<void>;
}

/**
 * A QEMU board answers at the pace of a process on this machine, not of probe firmware: on a busy
 * host (a CI runner, several emulators) a flash algorithm call can take seconds of wall time while
 * its modeled time is milliseconds. A dead QEMU is noticed by its exit, not by this timeout.
 */
export const QEMU_RESPONSE_TIMEOUT_MS = 8000;

export async function listProbes(): Promise<ProbeListing[]> {
  const list: ProbeListing[] = [
    ...EMULATED_BOARDS.map((board) => ({
      selector: `emu:${board}`,
      description: board === 'microbit' ? 'QEMU micro:bit (nRF51822, Cortex-M0) behind the CMSIS-DAP model' : 'QEMU LM3S6965EVB (Cortex-M3) behind the CMSIS-DAP model',
      kind: 'emulated' as const,
    })),
    { selector: 'emu:pico', description: 'rp2040js Raspberry Pi Pico (RP2040) in process, both cores and the rescue DP on a multi-drop SWD wire', kind: 'emulated' as const },
    ...SIM_TARGETS.map((t) => ({ selector: `sim:${t}`, description: `in-process ${t} model behind the CMSIS-DAP model`, kind: 'simulated' as const })),
  ];
  const usb = await scanUsb();
  for (const p of usb.probes) list.push({ selector: p.selector, description: `${p.product} (${p.kind})`, kind: 'usb' });
  for (const u of usb.unopened) {
    list.push({ selector: u.selector, description: `a debug-probe maker's device dapdeck may not open (${u.reason}): add a udev rule, see the README`, kind: 'usb', problem: u.reason });
  }
  return list;
}

export async function openProbe(selector: string, options: OpenProbeOptions = {}): Promise<OpenedProbe> {
  const [scheme, name] = selector.split(':', 2);
  const flavour = options.flavour ?? 'v2-bulk';
  if (selector === 'emu:pico') {
    // In process: the emulator starts with erased flash (the core waits in the ROM) and boots the
    // firmware when there is one.
    const pico = new PicoEmulator({ bootrom: picoBootRom() });
    const elf = options.blank ? undefined : options.elf;
    if (elf) {
      const image = loadImage(readFileSync(elf), elf);
      for (const chunk of image.chunks) pico.loadFlash(chunk.address, chunk.data);
      await pico.core0.reset({ halt: false });
    }
    const simulated = rp2040Probe(pico, { flavour, packetCount: options.packetCount, serial: selector });
    const opened = openedSimulated(selector, 'rp2040js Raspberry Pi Pico (RP2040), in process', simulated, pico.core0);
    return { ...opened, elf, close: async () => { await opened.close(); pico.close(); } };
  }
  if (scheme === 'emu') {
    if (!EMULATED_BOARDS.includes(name as QemuBoard)) {
      throw new Error(`unknown emulated board "${name}" (known: ${EMULATED_BOARDS.join(', ')})`);
    }
    const board = name as QemuBoard;
    const stateFile = boardStateFile(board);
    // Without --elf the board runs what it holds, as a real one would; a board never flashed
    // before comes with the hello sample (unless the command is about to flash it).
    const flashed = !options.fresh && existsSync(stateFile);
    // --blank wins over --elf: the command is about to flash, and the board must start without it.
    const boot = options.blank ? undefined : (options.elf ?? (options.fresh || flashed ? undefined : await options.defaultElf?.(board)));
    if (!boot && !options.blank && !options.fresh && !flashed) throw new Error(`${selector} needs firmware to boot: pass --elf FILE`);
    const target = await QemuTarget.start({ board, elf: boot, stateFile, fresh: options.fresh, signal: options.signal });
    // What decodes the board's output: the firmware booted, else what Dapdeck last flashed into it
    // if flash still holds that image.
    const elf = boot ?? (options.blank ? undefined : await target.firmware().catch(() => undefined));
    return {
      ...wrapSimulated(selector, target.description, target, flavour, options.packetCount),
      elf,
      recordFirmware: (file) => target.recordFirmware(file),
      responseTimeoutMs: QEMU_RESPONSE_TIMEOUT_MS,
    };
  }
  if (scheme === 'sim') {
    if (!(SIM_TARGETS as readonly string[]).includes(name)) {
      throw new Error(`unknown simulated target "${name}" (known: ${SIM_TARGETS.join(', ')})`);
    }
    if (name === 'rp2040') {
      // Two cores and the rescue DP on one multi-drop SWD wire.
      const cores = new Rp2040MemoryCores();
      const simulated = rp2040Probe(cores, { flavour, packetCount: options.packetCount, serial: selector });
      return openedSimulated(selector, 'in-process RP2040 model (cores 0 and 1 and the rescue DP on a multi-drop SWD wire)', simulated, cores.core0);
    }
    const target = new MemoryTarget(name as 'cortex-m0' | 'cortex-m3');
    // The Cortex-M3 model runs a demo interrupt schedule that ITM exception trace (SWO) can show.
    const swo = name === 'cortex-m3' ? DEMO_SWO : undefined;
    return wrapSimulated(selector, target.description, target, flavour, options.packetCount, swo);
  }
  if (/^[0-9a-f]{4}:[0-9a-f]{4}(:.+)?$/i.test(selector)) {
    const { transport, entry } = await openUsbProbe(selector);
    return { selector, description: entry.product, transport, close: () => transport.close() };
  }
  throw new Error(`unknown probe selector "${selector}" (use emu:BOARD, sim:TARGET or VID:PID[:SERIAL]; see "dapdeck list")`);
}

/**
 * Dapdeck's RP2040 boot ROM (firmware-samples/bootrom), built by scripts/build-firmware.sh; without
 * it the emulated Pico has no ROM functions (only an idle loop where the ROM would be).
 */
export function picoBootRom(): Uint8Array | undefined {
  const path = sampleFirmwarePath('bootrom', 'rp2040');
  if (!existsSync(path)) return undefined;
  return picoRomImage(readFileSync(path), path);
}

/** sim:cortex-m3's interrupt schedule at a 48 MHz trace clock: SysTick 1 kHz, two IRQs, one nesting. */
export const DEMO_SWO: SwoTargetOptions = {
  traceClockHz: 48_000_000,
  sources: [
    { exception: 15, period: 1e-3, duration: 12e-6 },
    { exception: 21, period: 4e-3, duration: 90e-6, offset: 0.25e-3 },
    { exception: 27, period: 10e-3, duration: 35e-6, offset: 0.27e-3 },
  ],
};

function wrapSimulated(selector: string, description: string, target: SimTarget, flavour: 'v1-hid' | 'v2-bulk', packetCount?: number, swo?: SwoTargetOptions): OpenedProbe {
  return openedSimulated(selector, description, new SimulatedProbe({ flavour, target, packetCount, serial: selector, swo }), target);
}

function openedSimulated(selector: string, description: string, simulated: SimulatedProbe, target: SimTarget): OpenedProbe {
  return {
    selector,
    description,
    transport: simulated.transport,
    stats: () => simulated.stats,
    simulated,
    target,
    close: async () => {
      await simulated.transport.close().catch(() => undefined);
      await target.close();
    },
  };
}
