/**
 * SW-DP model (ADIv5.2 B2 registers, B4 SWD protocol): protocol selection by the JTAG-to-SWD
 * sequence, line reset, the DPIDR-first rule, power-up handshake, SELECT banking, sticky errors.
 *
 * A multi-drop DP (SWD protocol version 2, ADIv5.2 B4.3.4 and B5.3) is a different animal: it is
 * dormant until the selection alert and the SWD activation code, ignores the JTAG-to-SWD switch,
 * and after a line reset it accepts only a DPIDR read or a TARGETSEL write. TARGETSEL is never
 * acknowledged; a DP whose TARGETID/TINSTANCE do not match (or that sees a parity error) drops into
 * lockout and drives nothing until the next line reset. Link states as in Luke Wren's OpenDAP
 * SW-DP (dormant, reset, active, lockout), which its testbench checks against the spec.
 */
import { parity32 } from '../dap/protocol';
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

/** A DP on a multi-drop wire: what TARGETSEL must match, and what its power request does. */
export interface MultidropConfig {
  /** TARGETID (DP bank 2): TREVISION[31:28] TPARTNO[27:12] TDESIGNER[11:1] 1. */
  targetId: number;
  /** DLPIDR.TINSTANCE[31:28]. */
  instance: number;
  /** Whether CSYSPWRUPACK follows CSYSPWRUPREQ (RP2040's rescue DP leaves it low). */
  systemPowerAck?: boolean;
  /** Called when CTRL/STAT.CDBGPWRUPREQ changes (RP2040's rescue DP holds the chip in reset with it). */
  onDebugPowerRequest?: (on: boolean) => Promise<void>;
}

export type LinkState = 'dormant' | 'reset' | 'active' | 'lockout';

/**
 * The 128-bit selection alert (ADIv5.2 B5.3.1), as sent LSB first: 0x19BC0EA2_E3DDAFE9_86852D95_6209F392.
 * Then 4 cycles low and the 8-bit SWD activation code 0x1A (LSB first).
 */
const SELECTION_ALERT = bitsOf([0x92, 0xf3, 0x09, 0x62, 0x95, 0x2d, 0x85, 0x86, 0xe9, 0xaf, 0xdd, 0xe3, 0xa2, 0x0e, 0xbc, 0x19], 128);
const SWD_ACTIVATION = bitsOf([0x1a], 8);
/** SWD-to-dormant select sequence 0xE3BC (LSB first); its first two bits are the line reset's idle cycles. */
const SWD_TO_DORMANT = bitsOf([0xbc, 0xe3], 16);

function bitsOf(bytes: number[], count: number): boolean[] {
  const out: boolean[] = [];
  for (let i = 0; i < count; i++) out.push(((bytes[i >> 3] >> (i & 7)) & 1) === 1);
  return out;
}


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

  /** Multi-drop link state (single-drop DPs use swdSelected/awaitingIdRead instead). */
  private link: LinkState = 'dormant';
  /** Line-level watcher state for multi-drop DPs, kept across sequences. */
  private ones = 0;
  /** Bits of the dormant-exit sequence seen so far (selection alert, 4 idle, activation code). */
  private history: boolean[] = [];
  /** Bits after ≥50 ones (the line reset's idle cycles and a possible SWD-to-dormant select). */
  private afterOnes: boolean[] | null = null;
  /** A packet header started during a sequence and no line reset followed: the DP locks out. */
  private disturbed = false;

  constructor(
    readonly dpidr: number,
    readonly aps: ReadonlyMap<number, MemApModel>,
    readonly multidrop: MultidropConfig | null = null,
  ) {}

  get isSwd(): boolean {
    return this.multidrop ? this.link !== 'dormant' : this.swdSelected;
  }

  get linkState(): LinkState {
    return this.link;
  }

  /** Feed SWJ_Sequence bits (LSB first, as sent on SWDIO/TMS). */
  sequence(bits: boolean[]): void {
    if (this.multidrop) {
      for (const bit of bits) this.multidropBit(bit);
      if (this.disturbed && (this.link === 'reset' || this.link === 'active')) this.link = 'lockout';
      this.disturbed = false;
      return;
    }
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

  /**
   * One bit on SWDIO as a multi-drop DP watches it. A line reset is ≥50 cycles high then two idle
   * cycles (ADIv5.2 B4.3.3); from dormant only the selection alert + activation code wake the DP.
   */
  private multidropBit(bit: boolean): void {
    if (this.link === 'dormant') {
      this.history.push(bit);
      if (this.history.length > 140) this.history.shift();
      if (this.history.length === 140 && matches(this.history, SELECTION_ALERT, 0) && matches(this.history, SWD_ACTIVATION, 132)) {
        this.link = 'reset';
        this.history = [];
        this.ones = 0;
      }
      return;
    }
    if (this.afterOnes) {
      const i = this.afterOnes.length;
      if (i < SWD_TO_DORMANT.length && bit === SWD_TO_DORMANT[i]) {
        this.afterOnes.push(bit);
        if (i === 1) {
          // Two idle cycles after ≥50 high: a line reset. Whatever state the link was in, it is in
          // the reset state now (a lockout ends here too).
          this.link = 'reset';
          this.disturbed = false;
        }
        if (this.afterOnes.length === SWD_TO_DORMANT.length) {
          this.link = 'dormant';
          this.afterOnes = null;
          this.history = [];
        }
        return;
      }
      if (i < 2) this.disturbed = true; // high, then one idle cycle, then high again: not a reset
      this.afterOnes = null;
    }
    if (bit) {
      this.ones++;
      // In the reset or active state a 1 starts a packet header: a sequence that does not end in a
      // line reset has sent the DP a malformed packet.
      this.disturbed = true;
    } else {
      if (this.ones >= 50) this.afterOnes = [false];
      this.ones = 0;
    }
  }

  /**
   * A TARGETSEL write (ADIv5.2 B2.2.11): only legal right after a line reset. No DP drives the ACK.
   * The DP stays selected (reset state, waiting for the DPIDR read) if TINSTANCE and TARGETID[27:0]
   * match and the parity is right; otherwise it locks out until the next line reset.
   */
  targetSelect(value: number, parityBit: boolean): void {
    if (!this.multidrop) return;
    if (this.link !== 'reset') {
      if (this.link === 'active') this.link = 'lockout';
      return;
    }
    const expected = (((this.multidrop.instance & 0xf) << 28) | (this.multidrop.targetId & 0x0fffffff)) >>> 0;
    if ((value >>> 0) !== expected || parityBit !== parity32(value)) this.link = 'lockout';
  }

  /** One SWD transfer. `apnDp`, read/write, A[3:2]. */
  async transfer(apnDp: boolean, read: boolean, a32: number, value: number): Promise<SwdResult> {
    if (this.multidrop) return this.multidropTransfer(apnDp, read, a32, value);
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

  private async multidropTransfer(apnDp: boolean, read: boolean, a32: number, value: number): Promise<SwdResult> {
    if (this.link === 'dormant' || this.link === 'lockout') return { ack: ACK_NONE, value: 0 };
    const targetSel = !apnDp && !read && a32 === 0xc;
    if (targetSel) {
      // Through DAP_Transfer the probe sees no ACK and skips the data phase with SWDIO released:
      // the pull-up makes the DP read 0xFFFFFFFF with a parity bit of 1, which is not its ID.
      this.targetSelect(0xffffffff, true);
      return { ack: ACK_NONE, value: 0 };
    }
    if (this.link === 'reset') {
      if (!apnDp && read && a32 === 0) {
        this.link = 'active';
        return ok(this.dpidr);
      }
      this.link = 'lockout'; // anything else first after a line reset is a protocol error
      return { ack: ACK_NONE, value: 0 };
    }
    if (apnDp) return this.apTransfer(read, a32, value);
    const before = this.ctrl & CDBGPWRUPREQ;
    const result = this.dpTransfer(read, a32, value);
    const after = this.ctrl & CDBGPWRUPREQ;
    if (before !== after) await this.multidrop!.onDebugPowerRequest?.(after !== 0);
    return result;
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
        if (bank !== 0) {
          if (!read || !this.multidrop) return ok(0); // DLCR and the rest are not modelled: read as zero
          // DPv2 banked identification: TARGETID (bank 2), DLPIDR (bank 3: TINSTANCE, PROTVSN = 1).
          if (bank === 2) return ok(this.multidrop.targetId);
          if (bank === 3) return ok(((this.multidrop.instance & 0xf) << 28) | 1);
          return ok(0);
        }
        if (read) {
          let v = this.ctrl | this.sticky;
          // Power-up: the ACKs follow the requests (instantly on this model).
          if (this.ctrl & CDBGPWRUPREQ) v |= CDBGPWRUPACK;
          if (this.ctrl & CSYSPWRUPREQ && this.multidrop?.systemPowerAck !== false) v |= CSYSPWRUPACK;
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

function matches(bits: boolean[], pattern: boolean[], at: number): boolean {
  for (let i = 0; i < pattern.length; i++) if (bits[at + i] !== pattern[i]) return false;
  return true;
}

function ok(value: number): SwdResult {
  return { ack: ACK_OK, value: value >>> 0 };
}
