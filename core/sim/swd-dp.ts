/**
 * SW-DP model (ADIv5.2 B2 registers, B4 SWD protocol): protocol selection by the JTAG-to-SWD
 * sequence, line reset, the DPIDR-first rule, power-up handshake, SELECT banking, sticky errors.
 */
import type { MemApModel } from './mem-ap';

export const ACK_OK = 1;
export const ACK_WAIT = 2;
export const ACK_FAULT = 4;
/** No target drove the ACK: the line floats high, the probe reads 0b111. */
export const ACK_NONE = 7;

export interface SwdResult {
  ack: number;
  value: number;
}

const STICKYORUN = 1 << 1;
const STICKYCMP = 1 << 4;
const STICKYERR = 1 << 5;
const WDATAERR = 1 << 7;
const CDBGPWRUPREQ = 1 << 28;
const CDBGPWRUPACK = 1 << 29;
const CSYSPWRUPREQ = 1 << 30;
const CSYSPWRUPACK = 1 << 31;

export class SwdDpModel {
  /** SWJ-DP comes up in JTAG; SWD is selected by the 0xE79E sequence after a line reset. */
  private swdSelected = false;
  /** After a line reset, only a DPIDR read is accepted (ADIv5.2 B4.3.4). */
  private awaitingIdRead = true;
  private ctrl = 0;
  private sticky = 0;
  private select = 0;
  private lastApRead = 0;
  /** Pending WAIT/FAULT injections for AP accesses. */
  injectWaits = 0;
  injectFaults = 0;

  constructor(
    readonly dpidr: number,
    readonly aps: ReadonlyMap<number, MemApModel>,
  ) {}

  get isSwd(): boolean {
    return this.swdSelected;
  }

  /** Feed SWJ_Sequence bits (LSB first, as sent on SWDIO/TMS). */
  sequence(bits: boolean[]): void {
    let ones = 0;
    let shift = 0;
    let shiftCount = 0;
    for (const bit of bits) {
      ones = bit ? ones + 1 : 0;
      if (ones >= 50) {
        this.lineReset();
        shift = 0;
        shiftCount = 0;
        continue;
      }
      shift = ((shift >>> 1) | (bit ? 0x8000 : 0)) & 0xffff;
      shiftCount++;
      if (shiftCount >= 16 && shift === 0xe79e) this.swdSelected = true;
      if (shiftCount >= 16 && shift === 0xe73c) this.swdSelected = false; // SWD-to-JTAG
    }
  }

  private lineReset(): void {
    this.awaitingIdRead = true;
  }

  /** One SWD transfer. `apnDp`, read/write, A[3:2]. */
  async transfer(apnDp: boolean, read: boolean, a32: number, value: number): Promise<SwdResult> {
    if (!this.swdSelected) return { ack: ACK_NONE, value: 0 };
    if (this.awaitingIdRead) {
      if (!apnDp && read && a32 === 0) {
        this.awaitingIdRead = false;
        return { ack: ACK_OK, value: this.dpidr };
      }
      return { ack: ACK_NONE, value: 0 };
    }
    return apnDp ? this.apTransfer(read, a32, value) : this.dpTransfer(read, a32, value);
  }

  private dpTransfer(read: boolean, a32: number, value: number): SwdResult {
    const bank = this.select & 0xf;
    switch (a32) {
      case 0x0:
        if (read) return ok(this.dpidr);
        // ABORT: STKCMPCLR, STKERRCLR, WDERRCLR, ORUNERRCLR; DAPABORT ends a stalled transfer.
        if (value & 2) this.sticky &= ~STICKYCMP;
        if (value & 4) this.sticky &= ~STICKYERR;
        if (value & 8) this.sticky &= ~WDATAERR;
        if (value & 16) this.sticky &= ~STICKYORUN;
        if (value & 1) this.injectWaits = 0;
        return ok(0);
      case 0x4:
        if (bank !== 0) return ok(0); // DLCR/TARGETID/… are not modelled: read as zero
        if (read) {
          let v = this.ctrl | this.sticky;
          // Power-up: the ACKs follow the requests (instantly on this model).
          if (this.ctrl & CDBGPWRUPREQ) v |= CDBGPWRUPACK;
          if (this.ctrl & CSYSPWRUPREQ) v |= CSYSPWRUPACK;
          return ok(v);
        }
        this.ctrl = value & (CDBGPWRUPREQ | CSYSPWRUPREQ | 0x0fff0f0d);
        return ok(0);
      case 0x8:
        if (read) return ok(this.lastApRead); // RESEND
        this.select = value >>> 0;
        return ok(0);
      default:
        if (read) return ok(this.lastApRead); // RDBUFF
        return ok(0);
    }
  }

  private async apTransfer(read: boolean, a32: number, value: number): Promise<SwdResult> {
    // With a sticky error set, every AP transfer is refused with FAULT until ABORT clears it.
    if (this.sticky & (STICKYERR | WDATAERR)) return { ack: ACK_FAULT, value: 0 };
    if (!(this.ctrl & CDBGPWRUPREQ)) {
      this.sticky |= STICKYERR;
      return { ack: ACK_FAULT, value: 0 };
    }
    if (this.injectWaits > 0) {
      this.injectWaits--;
      return { ack: ACK_WAIT, value: 0 };
    }
    if (this.injectFaults > 0) {
      this.injectFaults--;
      this.sticky |= STICKYERR;
      return { ack: ACK_FAULT, value: 0 };
    }
    const apsel = this.select >>> 24;
    const ap = this.aps.get(apsel);
    const offset = (this.select & 0xf0) | a32;
    if (!ap) {
      // No AP at this APSEL: reads as zero, as on parts with a sparse AP space.
      if (read) this.lastApRead = 0;
      return ok(0);
    }
    const result = read ? await ap.read(offset) : await ap.write(offset, value);
    if (!result.ok) {
      this.sticky |= STICKYERR;
      return { ack: ACK_FAULT, value: 0 };
    }
    if (read) this.lastApRead = result.value;
    return ok(result.value);
  }

  /** SELECT.APBANKSEL as an AP register offset (0x00, 0x10, …). */
  get apBank(): number {
    return this.select & 0xf0;
  }

  /** A target reset leaves the DP as it was (it is in the debug power domain). */
  get stickyFlags(): number {
    return this.sticky;
  }
}

function ok(value: number): SwdResult {
  return { ack: ACK_OK, value: value >>> 0 };
}
