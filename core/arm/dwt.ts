/**
 * DWT data watchpoints (ARMv7-M ARM C1.8, ARMv6-M ARM C1.8): comparator n is DWT_COMPn/MASKn/
 * FUNCTIONn at 0xE0001020 + 16n. A comparator matches an address range of 2^MASK bytes aligned to
 * its size; FUNCTION 0b0101/0b0110/0b0111 watch reads/writes/both and halt the core (DFSR.DWTTRAP)
 * when halting debug is on. MATCHED (FUNCTION bit 24) says which comparator fired and clears on read.
 * The DWT only works while DEMCR.TRCENA (DWTENA on ARMv6-M) is set.
 */
import { DebugError } from '../dap/errors';
import { hex32 } from '../dap/protocol';
import type { MemAp } from './mem-ap';
import { DEMCR, SCS } from './registers';

export const DWT = { CTRL: 0xe0001000, COMP0: 0xe0001020, MASK0: 0xe0001024, FUNCTION0: 0xe0001028, STRIDE: 16 } as const;
export const DWT_FUNCTION = { DISABLED: 0, READ: 0b0101, WRITE: 0b0110, ACCESS: 0b0111, MATCHED: 1 << 24 } as const;

export type WatchKind = 'write' | 'read' | 'access';

export interface Watchpoint {
  address: number;
  length: number;
  kind: WatchKind;
}

const FUNCTION_OF: Record<WatchKind, number> = { read: DWT_FUNCTION.READ, write: DWT_FUNCTION.WRITE, access: DWT_FUNCTION.ACCESS };

export class DwtWatchpoints {
  private info: { comparators: number; maxMaskBits: number; used: (Watchpoint | null)[] } | null = null;

  constructor(private readonly ap: MemAp) {}

  /** NUMCOMP from DWT_CTRL[31:28]; the largest MASK the part takes (write all ones, read back, C1.8.7). */
  async capabilities(): Promise<{ comparators: number; maxMaskBits: number }> {
    if (!this.info) {
      const demcr = await this.ap.read32(SCS.DEMCR);
      if (!(demcr & DEMCR.TRCENA)) await this.ap.write32(SCS.DEMCR, demcr | DEMCR.TRCENA);
      const comparators = (await this.ap.read32(DWT.CTRL)) >>> 28;
      let maxMaskBits = 0;
      if (comparators > 0) {
        await this.ap.write32(DWT.MASK0, 0x1f);
        maxMaskBits = (await this.ap.read32(DWT.MASK0)) & 0x1f;
        await this.ap.write32(DWT.MASK0, 0);
      }
      this.info = { comparators, maxMaskBits, used: new Array(comparators).fill(null) };
    }
    return { comparators: this.info.comparators, maxMaskBits: this.info.maxMaskBits };
  }

  /**
   * Watch [address, address+length) for `kind` accesses. The DWT matches power-of-two sized,
   * size-aligned ranges only; anything else is refused with the reason (never widened silently,
   * which would stop on neighbours' accesses).
   */
  async set(wp: Watchpoint): Promise<void> {
    const caps = await this.capabilities();
    const info = this.info!;
    if (info.used.some((u) => u && u.address === wp.address && u.length === wp.length && u.kind === wp.kind)) return;
    const maskBits = Math.log2(wp.length);
    if (!Number.isInteger(maskBits) || wp.length < 1) {
      throw new DebugError('core', `cannot watch ${wp.length} bytes at ${hex32(wp.address)}: a DWT comparator covers a power-of-two number of bytes (1, 2, 4, 8, …)`);
    }
    if (wp.address % wp.length !== 0) {
      throw new DebugError('core', `cannot watch ${wp.length} bytes at ${hex32(wp.address)}: a DWT range must be aligned to its size (${hex32(wp.address - (wp.address % wp.length))} would be)`);
    }
    if (maskBits > caps.maxMaskBits) {
      throw new DebugError('core', `cannot watch ${wp.length} bytes at ${hex32(wp.address)}: this DWT covers at most ${2 ** caps.maxMaskBits} bytes per comparator`);
    }
    const slot = info.used.indexOf(null);
    if (slot < 0) {
      const busy = info.used.map((u) => `${u!.kind} ${hex32(u!.address)}/${u!.length}`).join(', ');
      throw new DebugError('core', caps.comparators === 0 ? 'this core has no DWT comparators: no hardware watchpoints' : `no free DWT comparator for a watchpoint at ${hex32(wp.address)}: all ${caps.comparators} are in use (${busy})`);
    }
    const base = DWT.COMP0 + DWT.STRIDE * slot;
    await this.ap.write32(base + 8, 0);
    await this.ap.write32(base, wp.address >>> 0);
    await this.ap.write32(base + 4, maskBits);
    await this.ap.write32(base + 8, FUNCTION_OF[wp.kind]);
    info.used[slot] = { ...wp };
  }

  async clear(wp: Watchpoint): Promise<void> {
    if (!this.info) return;
    const slot = this.info.used.findIndex((u) => u && u.address === wp.address && u.length === wp.length && u.kind === wp.kind);
    if (slot < 0) return;
    await this.ap.write32(DWT.FUNCTION0 + DWT.STRIDE * slot, 0);
    this.info.used[slot] = null;
  }

  async clearAll(): Promise<void> {
    for (const wp of this.info?.used ?? []) if (wp) await this.clear(wp);
  }

  /** The watchpoint whose comparator fired (MATCHED set), reading every armed FUNCTION once (which clears MATCHED). */
  async matched(): Promise<Watchpoint | null> {
    let hit: Watchpoint | null = null;
    for (const [slot, wp] of (this.info?.used ?? []).entries()) {
      if (!wp) continue;
      const fn = await this.ap.read32(DWT.FUNCTION0 + DWT.STRIDE * slot);
      if (fn & DWT_FUNCTION.MATCHED && !hit) hit = wp;
    }
    return hit;
  }

  /** The armed watchpoints. */
  get active(): Watchpoint[] {
    return (this.info?.used ?? []).filter((u): u is Watchpoint => u !== null);
  }
}
