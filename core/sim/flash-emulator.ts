/**
 * Emulates a flash algorithm on the in-process target: when the core resumes at one of the
 * algorithm's entry points (the blob really is in the model's RAM), the operation is applied to the
 * model's flash with NOR semantics (erase sets bytes to the erased value, programming can only clear
 * bits) and the call "returns" to LR after a modeled duration from the chip's datasheet timings.
 * If nothing breaks at the return address, the core just keeps running, as real silicon would.
 */
import type { FlashAlgorithm } from '../flash/algorithm';
import type { MemoryTarget } from './memory-target';

export interface FlashTiming {
  eraseSectorSeconds: number;
  programWordSeconds: number;
  /** CPU clock the algorithm's own loops run at. */
  cpuHz: number;
  /** Cycles per byte of each routine's inner loop, and fixed cycles per call (table setup). */
  crcCyclesPerByte: number;
  crcSetupCycles: number;
  /** The several-sector routine's own work per sector around each CRC. */
  crcSectorLoopCycles: number;
  verifyCyclesPerByte: number;
  blankCheckCyclesPerByte: number;
  callOverheadSeconds: number;
}

/**
 * nRF51 (nRF51822 PS v3.3, NVMC): page erase ≤ 22.3 ms, word write ≤ 46.3 µs. The routines' costs
 * are counted from the Cortex-M0 cycle table (ARM DDI 0432C: loads 2, taken branches 3, other ALU
 * 1; RAM and flash zero wait states at 16 MHz) over the inner loops of firmware-samples/flash-nrf51
 * as built: CRC-32 with the host's 256-entry table 32 cycles per aligned word (ldm 2, four lookups of
 * 6, loop 5); Verify 12 cycles/byte; BlankCheck 10 cycles per aligned word. Never faster than that code could
 * run: the bench must not flatter the host's choices.
 */
export const NRF51_TIMING: FlashTiming = {
  eraseSectorSeconds: 22.3e-3,
  programWordSeconds: 46.3e-6,
  cpuHz: 16e6,
  crcCyclesPerByte: 8,
  crcSetupCycles: 20,
  crcSectorLoopCycles: 25,
  verifyCyclesPerByte: 12,
  blankCheckCyclesPerByte: 2.5,
  callOverheadSeconds: 2e-6,
};

export function emulateFlashAlgorithm(target: MemoryTarget, algorithm: FlashAlgorithm, timing: FlashTiming = NRF51_TIMING): void {
  const flash = algorithm.flash;
  const entries: [keyof FlashAlgorithm, number | undefined][] = [
    ['pcInit', algorithm.pcInit],
    ['pcUninit', algorithm.pcUninit],
    ['pcEraseSector', algorithm.pcEraseSector],
    ['pcEraseAll', algorithm.pcEraseAll],
    ['pcProgramPage', algorithm.pcProgramPage],
    ['pcVerify', algorithm.pcVerify],
    ['pcBlankCheck', algorithm.pcBlankCheck],
    ['pcCrc32', algorithm.pcCrc32],
    ['pcCrc32Sectors', algorithm.pcCrc32Sectors],
  ];
  const ramStart = target.memoryMap.find((r) => r.kind === 'ram')!.start;
  const loadedAt = (base: number) => {
    const o = base - ramStart;
    if (o < 0 || o + algorithm.blob.length > target.ram.length) return false;
    for (let i = 0; i < algorithm.blob.length; i++) if (target.ram[o + i] !== algorithm.blob[i]) return false;
    return true;
  };
  const offsetIn = (address: number, length: number) => {
    const o = address - flash.start;
    if (o < 0 || o + length > target.flash.length) throw new RangeError('outside flash');
    return o;
  };

  /** The CRC table's offset in RAM (at `address`, with `extra` bytes after it), as the routines need it. */
  const tableIn = (address: number, extra: number) => {
    const o = address - ramStart;
    if (o < 0 || o + 1024 + extra > target.ram.length) throw new RangeError('CRC table outside RAM');
    return o;
  };
  /** CRC-32 of flash [address, address+size) by lookups in the table in RAM, as the routines do. */
  const tableCrc = (address: number, size: number, table: number) => {
    const o = offsetIn(address, size);
    const words = new DataView(target.ram.buffer, target.ram.byteOffset + table, 1024);
    let c = 0xffffffff;
    for (let i = 0; i < size; i++) c = (words.getUint32(((c ^ target.flash[o + i]) & 0xff) * 4, true) ^ (c >>> 8)) >>> 0;
    return ~c >>> 0;
  };

  target.onResume = ({ target: t, pc }) => {
    const hit = entries.find(([, entry]) => entry !== undefined && loadedAt(pc - entry));
    if (!hit) return undefined;
    const r = t.registers;
    const [a0, a1, a2] = [r[0], r[1], r[2]];
    let result = 0;
    let seconds = timing.callOverheadSeconds;
    try {
      switch (hit[0]) {
        case 'pcEraseSector': {
          const sector = flash.sectors.find((s) => s.address === a0);
          if (!sector) {
            result = 1;
            break;
          }
          target.flash.fill(flash.erasedValue, offsetIn(sector.address, sector.size), offsetIn(sector.address, sector.size) + sector.size);
          seconds += timing.eraseSectorSeconds;
          break;
        }
        case 'pcEraseAll':
          target.flash.fill(flash.erasedValue, 0, Math.min(flash.size, target.flash.length));
          seconds += timing.eraseSectorSeconds;
          break;
        case 'pcProgramPage': {
          const o = offsetIn(a0, a1);
          const buf = a2 - ramStart;
          for (let i = 0; i < a1; i++) target.flash[o + i] &= target.ram[buf + i]; // NOR: bits only clear
          seconds += (a1 / 4) * timing.programWordSeconds;
          break;
        }
        case 'pcVerify': {
          const o = offsetIn(a0, a1);
          const buf = a2 - ramStart;
          let i = 0;
          while (i < a1 && target.flash[o + i] === target.ram[buf + i]) i++;
          result = a0 + i;
          seconds += (i === a1 ? a1 : i + 1) * timing.verifyCyclesPerByte / timing.cpuHz;
          break;
        }
        case 'pcCrc32': {
          result = tableCrc(a0, a1, tableIn(a2, 0));
          seconds += (timing.crcSetupCycles + a1 * timing.crcCyclesPerByte) / timing.cpuHz;
          break;
        }
        case 'pcCrc32Sectors': {
          // (address, sectorSize, count, table): each sector's CRC into the words after the table.
          const [size, count] = [a1, a2];
          const table = tableIn(r[3], count * 4);
          const results = new DataView(target.ram.buffer, target.ram.byteOffset + table + 1024, count * 4);
          for (let k = 0; k < count; k++) results.setUint32(k * 4, tableCrc(a0 + k * size, size, table), true);
          seconds += (count * (timing.crcSetupCycles + timing.crcSectorLoopCycles + size * timing.crcCyclesPerByte)) / timing.cpuHz;
          break;
        }
        case 'pcBlankCheck': {
          const o = offsetIn(a0, a1);
          // Stops at the first byte that differs, as the routine does.
          let i = 0;
          while (i < a1 && target.flash[o + i] === (a2 & 0xff)) i++;
          result = i === a1 ? 0 : 1;
          seconds += (Math.min(a1, i + 4) * timing.blankCheckCyclesPerByte) / timing.cpuHz;
          break;
        }
        default:
          result = 0;
      }
    } catch {
      result = 1;
    }
    r[0] = result >>> 0;
    const returnTo = r[14] & ~1;
    r[15] = returnTo;
    // The core halts where a breakpoint covers the return address, or on a BKPT there with halting
    // debug enabled (how CMSIS hosts return); otherwise it runs on.
    if (t.breakpointAddresses.includes(returnTo)) return { seconds, halt: 'breakpoint' };
    if (t.haltingDebug && t.holdsBkpt(returnTo)) return { seconds, halt: 'bkpt' };
    return undefined;
  };
}
