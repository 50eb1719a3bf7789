/**
 * MEM-AP (AHB-AP) model (ADIv5.2 C2). TAR auto-increment only changes TAR[9:0]: streaming past a
 * 1 KiB boundary without rewriting TAR wraps to the start of the same block, as on silicon.
 */
import { BusFault } from './target';
import type { CortexMDebugModel } from './cortex-m-debug';

export type ApResult = { ok: true; value: number } | { ok: false };

const CSW_SIZE_MASK = 0x7;
const CSW_ADDRINC_SHIFT = 4;
const CSW_DEVICE_EN = 1 << 6;
/** Bits a debugger may write (Size, AddrInc, Mode, Prot, DbgSwEnable); DeviceEn and TrInProg are RO. */
const CSW_WRITABLE = 0xff000f37;
const ADDRINC_PACKED = 2;

export class MemApModel {
  private csw = 0x03000000 | 0x2; // reset: word size, no increment
  private tar = 0;

  /**
   * `packed`: whether this AP implements packed transfers (ADIv5.2 C2.2.6). The Cortex-M3/M4
   * AHB-AP does; the Cortex-M0's reduced AHB-AP does not, and its AddrInc[1] is RAZ/WI there, so a
   * debugger that writes 0b10 and reads CSW back (as OpenOCD does) sees that packing is absent.
   */
  constructor(
    readonly bus: CortexMDebugModel,
    readonly idr: number,
    readonly base = 0xe00ff003,
    readonly packed = false,
  ) {}

  reset(): void {
    this.csw = 0x03000000 | 0x2;
    this.tar = 0;
  }

  /**
   * The bytes `count` DRW reads would touch from the current TAR, if this is a word-sized,
   * auto-incrementing stream on the DRW of the selected bank (bounded by the 1 KiB wrap).
   */
  burstRange(count: number): { address: number; length: number } | null {
    if ((this.csw & CSW_SIZE_MASK) !== 2 || ((this.csw >>> CSW_ADDRINC_SHIFT) & 3) !== 1 || this.tar & 3) return null;
    const toWrap = 0x400 - (this.tar & 0x3ff);
    return { address: this.tar >>> 0, length: Math.min(count * 4, toWrap) };
  }

  get tarValue(): number {
    return this.tar >>> 0;
  }

  async read(offset: number): Promise<ApResult> {
    switch (offset) {
      case 0x00:
        return ok(this.csw | CSW_DEVICE_EN);
      case 0x04:
        return ok(this.tar);
      case 0x0c:
        return this.drw(true, 0);
      case 0x10:
      case 0x14:
      case 0x18:
      case 0x1c:
        return this.banked(offset, true, 0);
      case 0xf4:
        return ok(0); // CFG: little-endian, no large address/data
      case 0xf8:
        return ok(this.base);
      case 0xfc:
        return ok(this.idr);
      default:
        return ok(0); // reserved registers read as zero
    }
  }

  async write(offset: number, value: number): Promise<ApResult> {
    value >>>= 0;
    switch (offset) {
      case 0x00:
        this.csw = (value & CSW_WRITABLE & (this.packed ? ~0 : ~(ADDRINC_PACKED << CSW_ADDRINC_SHIFT))) >>> 0;
        return ok(0);
      case 0x04:
        this.tar = value;
        return ok(0);
      case 0x0c:
        return this.drw(false, value);
      case 0x10:
      case 0x14:
      case 0x18:
      case 0x1c:
        return this.banked(offset, false, value);
      default:
        return ok(0); // read-only or reserved: ignored
    }
  }

  private async drw(isRead: boolean, value: number): Promise<ApResult> {
    const sizeCode = this.csw & CSW_SIZE_MASK;
    const increment = (this.csw >>> CSW_ADDRINC_SHIFT) & 3;
    // The AHB-AP of Cortex-M supports 8/16/32-bit accesses only; AddrInc 0b11 is reserved.
    if (sizeCode > 2 || increment === 3) return { ok: false };
    const size = 1 << sizeCode;
    const address = this.tar >>> 0;
    if (address % size !== 0) return { ok: false }; // unaligned AHB access faults
    // A packed transfer of bytes or halfwords is 4/size accesses at successive addresses, each on its
    // own byte lane of the one 32-bit DRW value; TAR then moves by 4 (ADIv5.2 C2.2.7).
    const accesses = increment === ADDRINC_PACKED && size < 4 ? 4 / size : 1;
    let result = 0;
    try {
      for (let k = 0; k < accesses; k++) {
        const at = (((address & ~0x3ff) | ((address + k * size) & 0x3ff)) >>> 0);
        if (size === 4) {
          if (isRead) result = await this.bus.read32(at);
          else await this.bus.write32(at, value);
          continue;
        }
        const lane = (at & 3) * 8;
        const mask = size === 1 ? 0xff : 0xffff;
        if (isRead) result |= (await this.bus.readSized(at, size as 1 | 2)) << lane;
        else await this.bus.writeSized(at, size as 1 | 2, (value >>> lane) & mask);
      }
    } catch (err) {
      if (err instanceof BusFault) return { ok: false };
      throw err;
    }
    if (increment !== 0) this.tar = ((this.tar & ~0x3ff) | ((this.tar + size * accesses) & 0x3ff)) >>> 0;
    return ok(isRead ? result : 0);
  }

  /** BD0–BD3 address the word at (TAR & ~0xF) + n*4; no auto-increment (ADIv5.2 C2.6.1). */
  private async banked(offset: number, isRead: boolean, value: number): Promise<ApResult> {
    const address = ((this.tar & ~0xf) + (offset - 0x10)) >>> 0;
    try {
      if (isRead) return ok(await this.bus.read32(address));
      await this.bus.write32(address, value);
      return ok(0);
    } catch (err) {
      if (err instanceof BusFault) return { ok: false };
      throw err;
    }
  }
}

function ok(value: number): ApResult {
  return { ok: true, value: value >>> 0 };
}
