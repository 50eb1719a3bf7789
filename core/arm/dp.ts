/**
 * The SW-DP: line reset, identification, power-up, SELECT banking and sticky-error recovery
 * (ADIv5.2, chapter B4 for the SWD protocol, B2 for the DP registers).
 *
 * Access ops are built ahead of execution so that many of them can share a packet; SELECT is cached
 * at build time and the cache is dropped whenever a batch fails, because after a failure we cannot
 * know which of the queued writes reached the DP.
 */
import { Command, type TransferOp, hex32, parity32 } from '../dap/protocol';
import { DebugError, SwdTransferError, describeError } from '../dap/errors';
import type { TransferEngine, TransferItem, TransferResult } from '../dap/transfer';
import { ABORT, ABORT_CLEAR_ALL, CTRL_STAT, DP } from './registers';
import { findMultidropPart, targetSel as makeTargetSel, type MultidropPart } from './multidrop';

const DP_LABEL: Record<number, [string, string]> = {
  0x0: ['DP DPIDR', 'DP ABORT'],
  0x4: ['DP CTRL/STAT', 'DP CTRL/STAT'],
  0x8: ['DP RESEND', 'DP SELECT'],
  0xc: ['DP RDBUFF', 'DP RDBUFF'],
};

/** JTAG-to-SWD switch (ADIv5.2 B5.2.2): ≥50 ones, 0xE79E LSB first, ≥50 ones, then idle. */
const SWD_SWITCH_SEQUENCE = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x9e, 0xe7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];

/** Line reset (ADIv5.2 B4.3.3): ≥50 cycles high, then at least two idle cycles (56 high, 8 low). */
const LINE_RESET = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];

/** Packs bit runs (LSB first on the wire) into DAP_SWJ_Sequence bytes. */
function swjBits(runs: readonly (readonly [value: number, bits: number])[]): number[] {
  const bits: number[] = [];
  for (const [value, count] of runs) {
    for (let i = 0; i < count; i++) bits.push(count > 32 ? value & 1 : (value >>> i) & 1);
  }
  const bytes = new Array<number>(Math.ceil(bits.length / 8)).fill(0);
  bits.forEach((b, i) => (bytes[i >> 3] |= b << (i & 7)));
  return [bits.length & 0xff, ...bytes];
}
const ONES = 0xffffffff;
const ZEROS = 0;

/**
 * JTAG-to-dormant (ADIv5.2 B5.3.2): ≥5 TMS high (9 here), then the 31-bit select 0x33BBBBBA. An
 * SWJ-DP left in JTAG goes dormant; an SWD-only DP sees a malformed packet and the wake-up's line
 * reset below brings it back.
 */
const JTAG_TO_DORMANT = swjBits([[ONES, 9], [0x33bbbbba, 31]]);

/**
 * Dormant-to-SWD (ADIv5.2 B5.3.4): ≥8 cycles high, the 128-bit selection alert
 * 0x19BC0EA2_E3DDAFE9_86852D95_6209F392 (LSB first), 4 cycles low, the SWD activation code 0x1A,
 * then a line reset. 224 bits, under DAP_SWJ_Sequence's 256.
 */
const DORMANT_TO_SWD = swjBits([
  [ONES, 8],
  [0x6209f392, 32], [0x86852d95, 32], [0xe3ddafe9, 32], [0x19bc0ea2, 32],
  [ZEROS, 4], [0x1a, 8],
  [ONES, 8 + 56], [ZEROS, 8],
]);

/** TARGETSEL write header: start, DP, write, A[3:2] = 0b11, parity 0, stop, park (0x99). */
const TARGETSEL_HEADER = 0x99;
/** DPv2 banked registers at DP 0x4 (SELECT.DPBANKSEL): TARGETID in bank 2, DLPIDR in bank 3. */
const BANK_TARGETID = 2;
const BANK_DLPIDR = 3;

export interface DpIdentity {
  dpidr: number;
  version: number;
  designer: number;
  partNo: number;
  revision: number;
  /** DPv2: TARGETID, and on a multi-drop wire the TARGETSEL value that selected this DP. */
  targetId?: number;
  targetSel?: number;
  /** The multi-drop part this DP belongs to (RP2040…). */
  part?: MultidropPart;
}

export class DebugPort {
  private select: number | null = null;
  identity: DpIdentity | null = null;
  /** On a multi-drop wire: the TARGETSEL of the DP in use, written after every line reset. */
  private targetSel: number | null = null;

  constructor(readonly engine: TransferEngine) {}

  get probe() {
    return this.engine.probe;
  }

  /**
   * Select SWD, switch the target's port from JTAG to SWD, read DPIDR, clear errors, power up.
   * With `targetSel`, or when the DP turns out to be one of several on a multi-drop wire (its
   * TARGETID names a known part) or nothing answers until the dormant wake-up, the DP is selected
   * by TARGETSEL first (ADIv5.2 B4.3.4).
   */
  async connect(clockHz = 4_000_000, targetSel?: number): Promise<DpIdentity> {
    const probe = this.probe;
    await probe.commandOk(Command.SwjClock, [clockHz & 0xff, (clockHz >>> 8) & 0xff, (clockHz >>> 16) & 0xff, clockHz >>> 24]);
    const connected = await probe.command(Command.Connect, [1]);
    if (connected[1] !== 1) throw new DebugError('probe', `probe could not start SWD (DAP_Connect answered port ${connected[1]})`);
    await this.engine.configure(0, 128, 256);
    await probe.commandOk(Command.SwdConfigure, [0]);
    this.targetSel = null;
    if (targetSel !== undefined) return this.selectTarget(targetSel, { wake: true });
    try {
      return await this.lineReset();
    } catch (err) {
      if (!(err instanceof DebugError && err.layer === 'swd')) throw err;
      // Nothing answered the JTAG-to-SWD switch. SWD-only DPs of multi-drop parts (the RP2040's)
      // sleep in the dormant state until the selection alert: wake them and look again.
      await this.wake();
      const dpidr = await this.engine.run([this.read(DP.DPIDR)]).then(([v]) => v, () => 0);
      if (dpidr === 0 || dpidr === 0xffffffff) throw err;
      return this.identify(dpidr);
    }
  }

  /** Line reset + JTAG-to-SWD + DPIDR read: after a line reset the DP accepts nothing else first. */
  async lineReset(): Promise<DpIdentity> {
    this.select = null;
    if (this.targetSel !== null) return this.selectTarget(this.targetSel);
    await this.probe.commandOk(Command.SwjSequence, [SWD_SWITCH_SEQUENCE.length * 8, ...SWD_SWITCH_SEQUENCE]);
    const [dpidr] = await this.engine.run([this.read(DP.DPIDR)]);
    if (dpidr === 0 || dpidr === 0xffffffff) {
      throw new DebugError('swd', `no SW-DP answered (DPIDR ${hex32(dpidr)}): is the target powered and wired?`);
    }
    return this.identify(dpidr);
  }

  /**
   * After a DPIDR read without TARGETSEL. A DPv2 may be one of several DPs on the wire (all of them
   * answer a DPIDR read right after a line reset): if its TARGETID names a multi-drop part, select
   * the part's first core by TARGETSEL before writing anything that every DP would obey (the
   * RP2040's rescue DP resets the chip on a power-up request).
   */
  private async identify(dpidr: number): Promise<DpIdentity> {
    this.identity = decodeDpidr(dpidr);
    if (this.identity.version >= 2) {
      const targetId = await this.readBanked(BANK_TARGETID);
      const part = findMultidropPart(targetId);
      if (part) return this.selectTarget(makeTargetSel(part.targetId, part.cores[0].instance));
      this.identity.targetId = targetId;
    }
    await this.powerUp();
    return this.identity;
  }

  private async readBanked(bank: number): Promise<number> {
    const [value] = await this.engine.run([this.write(DP.SELECT, bank), this.read(DP.CTRL_STAT), this.write(DP.SELECT, 0)]);
    this.select = 0;
    return value;
  }

  /** JTAG-to-dormant, then dormant-to-SWD (which ends in a line reset). */
  private async wake(): Promise<void> {
    this.select = null;
    await this.probe.commandOk(Command.SwjSequence, JTAG_TO_DORMANT);
    await this.probe.commandOk(Command.SwjSequence, DORMANT_TO_SWD);
  }

  /**
   * Select one DP on a multi-drop wire: line reset (or the whole dormant wake-up), the TARGETSEL
   * write, which no DP acknowledges, so it goes out with DAP_SWD_Sequence (8 header bits, 5 cycles
   * released for turnaround/ACK/turnaround, 32 data bits and parity); then DPIDR, which only the
   * selected DP answers, and a check of TARGETID and DLPIDR.TINSTANCE against what was selected.
   * Also how to switch cores within a session.
   */
  async selectTarget(targetSel: number, options: { wake?: boolean; powerUp?: boolean } = {}): Promise<DpIdentity> {
    const sel = targetSel >>> 0;
    this.select = null;
    this.targetSel = sel;
    if (options.wake) await this.wake();
    else await this.probe.commandOk(Command.SwjSequence, [LINE_RESET.length * 8, ...LINE_RESET]);
    const response = await this.probe.command(Command.SwdSequence, [3, 8, TARGETSEL_HEADER, 0x80 | 5, 33, sel & 0xff, (sel >>> 8) & 0xff, (sel >>> 16) & 0xff, sel >>> 24, parity32(sel) ? 1 : 0]);
    if (response[1] !== 0) throw new DebugError('probe', `probe refused DAP_SWD_Sequence for the TARGETSEL write (status 0x${response[1].toString(16)})`);
    let dpidr: number;
    try {
      [dpidr] = await this.engine.run([this.read(DP.DPIDR)]);
    } catch (err) {
      throw new DebugError('swd', `no DP answered after TARGETSEL ${hex32(sel)}: no DP with that TARGETID and instance on the wire (${describeError(err)})`, { cause: err });
    }
    const identity = decodeDpidr(dpidr);
    if (identity.version < 2) throw new DebugError('swd', `DP selected by TARGETSEL ${hex32(sel)} reports DPIDR ${hex32(dpidr)} (DPv${identity.version}): multi-drop needs DPv2`);
    const [targetId, dlpidr] = await this.engine.run([
      this.write(DP.ABORT, ABORT_CLEAR_ALL),
      this.write(DP.SELECT, BANK_TARGETID),
      this.read(DP.CTRL_STAT),
      this.write(DP.SELECT, BANK_DLPIDR),
      this.read(DP.CTRL_STAT),
      this.write(DP.SELECT, 0),
    ]);
    this.select = 0;
    if (((targetId ^ sel) & 0x0fffffff) !== 0 || dlpidr >>> 28 !== sel >>> 28) {
      throw new DebugError('swd', `TARGETSEL ${hex32(sel)} answered by a DP with TARGETID ${hex32(targetId)}, DLPIDR ${hex32(dlpidr)}`);
    }
    this.identity = { ...identity, targetId, targetSel: sel, part: findMultidropPart(targetId) };
    if (options.powerUp !== false) await this.powerUp();
    return this.identity;
  }

  /**
   * The RP2040 rescue reset: select the rescue DP, set CTRL/STAT.CDBGPWRUPREQ (the chip is held in
   * reset while it is set; the rescue DP never acknowledges the system power request), clear it
   * again (the chip restarts and its boot ROM parks the cores instead of running the firmware) and
   * read CTRL/STAT back to check the request dropped. The caller reconnects to a core afterwards.
   */
  async rescueReset(part: MultidropPart): Promise<void> {
    if (part.rescueInstance === undefined) throw new DebugError('swd', `${part.name} has no rescue DP`);
    await this.selectTarget(makeTargetSel(part.targetId, part.rescueInstance), { wake: true, powerUp: false });
    await this.engine.run([
      this.write(DP.CTRL_STAT, CTRL_STAT.CDBGPWRUPREQ),
      { port: 'dp', read: false, reg: 0, setMatchMask: true, value: CTRL_STAT.CDBGPWRUPACK, label: 'match mask' },
      { port: 'dp', read: true, reg: DP.CTRL_STAT, match: true, value: CTRL_STAT.CDBGPWRUPACK, label: 'DP CTRL/STAT (rescue power-up ACK)' },
      this.write(DP.CTRL_STAT, 0),
    ]);
    const [status] = await this.engine.run([this.read(DP.CTRL_STAT)]);
    if ((status & 0xf0000000) !== 0) throw new DebugError('swd', `rescue DP still requests power after the reset (CTRL/STAT ${hex32(status)})`);
    this.targetSel = null;
  }

  /** Clear sticky flags, then request debug and system power and wait (probe-side) for both ACKs. */
  async powerUp(): Promise<void> {
    const acks = (CTRL_STAT.CSYSPWRUPACK | CTRL_STAT.CDBGPWRUPACK) >>> 0;
    try {
      await this.engine.run([
        this.write(DP.ABORT, ABORT_CLEAR_ALL),
        this.write(DP.SELECT, 0),
        this.write(DP.CTRL_STAT, CTRL_STAT.CSYSPWRUPREQ | CTRL_STAT.CDBGPWRUPREQ),
        { port: 'dp', read: false, reg: 0, setMatchMask: true, value: acks, label: 'match mask' },
        { port: 'dp', read: true, reg: DP.CTRL_STAT, match: true, value: acks, label: 'DP CTRL/STAT (power-up ACKs)' },
      ]);
      this.select = 0;
    } catch (err) {
      this.select = null;
      if (err instanceof SwdTransferError && err.ack === 'value mismatch') {
        throw new DebugError('swd', 'debug power-up was not acknowledged (CTRL/STAT CDBGPWRUPACK/CSYSPWRUPACK stayed low)');
      }
      throw err;
    }
  }

  read(reg: number): TransferOp {
    return { port: 'dp', read: true, reg, label: DP_LABEL[reg][0] };
  }
  write(reg: number, value: number): TransferOp {
    return { port: 'dp', read: false, reg, value: value >>> 0, label: DP_LABEL[reg][1] };
  }

  /** The SELECT write needed before accessing `apsel`'s register at `offset`, or nothing if cached. */
  selectFor(apsel: number, offset: number): TransferOp[] {
    const value = ((apsel & 0xff) << 24) | (offset & 0xf0);
    if (this.select === value) return [];
    this.select = value;
    return [this.write(DP.SELECT, value)];
  }

  /** Forget cached DP/AP state (after an error, a reset, or a reconnect). */
  invalidate(): void {
    this.select = null;
  }

  /**
   * Run items; on any SWD error, put the DP back in a usable state (abort a stalled transaction,
   * clear sticky flags), then rethrow with `context` appended so the message says what we were doing.
   */
  async execute(items: readonly TransferItem[], context: string): Promise<TransferResult[]> {
    try {
      return await this.engine.execute(items);
    } catch (err) {
      this.invalidate();
      // A value mismatch is the probe's own comparison saying "not yet" (polling for a halt): the
      // read succeeded and nothing on the target is sticky, so there is nothing to recover from,
      // and doing so would cost a round trip on every poll.
      if (err instanceof SwdTransferError && err.ack === 'value mismatch') throw withContext(err, context);
      throw await this.recoverFrom(err, context);
    }
  }

  async run(ops: readonly TransferOp[], context: string): Promise<number[]> {
    const [values] = await this.execute([{ kind: 'ops', ops }], context);
    return values as number[];
  }

  private async recoverFrom(err: unknown, context: string): Promise<Error> {
    if (!(err instanceof SwdTransferError)) {
      return err instanceof DebugError ? withContext(err, context) : new DebugError('probe', `${describeError(err)} while ${context}`, { cause: err });
    }
    let detail = '';
    try {
      if (err.ack === 'WAIT') {
        // A transaction is still stalled inside the AP: only DAPABORT ends it (ADIv5.2 B2.2.1).
        await this.engine.run([this.write(DP.ABORT, ABORT.DAPABORT | ABORT_CLEAR_ALL)]);
      } else {
        const [status] = await this.engine.run([this.read(DP.CTRL_STAT)]);
        const flags = [
          status & CTRL_STAT.STICKYERR ? 'STICKYERR' : '',
          status & CTRL_STAT.WDATAERR ? 'WDATAERR' : '',
          status & CTRL_STAT.STICKYORUN ? 'STICKYORUN' : '',
          status & CTRL_STAT.STICKYCMP ? 'STICKYCMP' : '',
        ].filter(Boolean);
        if (flags.length) detail = `; CTRL/STAT had ${flags.join(', ')}, cleared`;
        await this.engine.run([this.write(DP.ABORT, ABORT_CLEAR_ALL)]);
      }
    } catch (cleanupErr) {
      // The wire itself is unhappy (protocol error, no ACK): a line reset resynchronises it.
      try {
        await this.lineReset();
        detail = '; line reset done';
      } catch {
        detail = `; recovery failed: ${describeError(cleanupErr)}`;
      }
    }
    return withContext(err, context, detail);
  }
}

function decodeDpidr(dpidr: number): DpIdentity {
  return { dpidr, version: (dpidr >>> 12) & 0xf, designer: (dpidr >>> 1) & 0x7ff, partNo: (dpidr >>> 20) & 0xff, revision: dpidr >>> 28 };
}

function withContext(err: DebugError, context: string, detail = ''): DebugError {
  const wrapped = new DebugError(err.layer, `${err.message} while ${context}${detail}`, { cause: err });
  wrapped.name = err.name;
  return wrapped;
}
