/**
 * The SW-DP: line reset, identification, power-up, SELECT banking and sticky-error recovery
 * (ADIv5.2, chapter B4 for the SWD protocol, B2 for the DP registers).
 *
 * Access ops are built ahead of execution so that many of them can share a packet; SELECT is cached
 * at build time and the cache is dropped whenever a batch fails, because after a failure we cannot
 * know which of the queued writes reached the DP.
 */
import { Command, type TransferOp, hex32 } from '../dap/protocol';
import { DebugError, SwdTransferError, describeError } from '../dap/errors';
import type { TransferEngine, TransferItem, TransferResult } from '../dap/transfer';
import { ABORT, ABORT_CLEAR_ALL, CTRL_STAT, DP } from './registers';

const DP_LABEL: Record<number, [string, string]> = {
  0x0: ['DP DPIDR', 'DP ABORT'],
  0x4: ['DP CTRL/STAT', 'DP CTRL/STAT'],
  0x8: ['DP RESEND', 'DP SELECT'],
  0xc: ['DP RDBUFF', 'DP RDBUFF'],
};

/** JTAG-to-SWD switch (ADIv5.2 B5.2.2): ≥50 ones, 0xE79E LSB first, ≥50 ones, then idle. */
const SWD_SWITCH_SEQUENCE = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x9e, 0xe7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];

export interface DpIdentity {
  dpidr: number;
  version: number;
  designer: number;
  partNo: number;
  revision: number;
}

export class DebugPort {
  private select: number | null = null;
  identity: DpIdentity | null = null;

  constructor(readonly engine: TransferEngine) {}

  get probe() {
    return this.engine.probe;
  }

  /** Select SWD, switch the target's port from JTAG to SWD, read DPIDR, clear errors, power up. */
  async connect(clockHz = 4_000_000): Promise<DpIdentity> {
    const probe = this.probe;
    await probe.commandOk(Command.SwjClock, [clockHz & 0xff, (clockHz >>> 8) & 0xff, (clockHz >>> 16) & 0xff, clockHz >>> 24]);
    const connected = await probe.command(Command.Connect, [1]);
    if (connected[1] !== 1) throw new DebugError('probe', `probe could not start SWD (DAP_Connect answered port ${connected[1]})`);
    await this.engine.configure(0, 128, 256);
    await probe.commandOk(Command.SwdConfigure, [0]);
    await this.lineReset();
    return this.identity!;
  }

  /** Line reset + JTAG-to-SWD + DPIDR read: after a line reset the DP accepts nothing else first. */
  async lineReset(): Promise<DpIdentity> {
    this.select = null;
    await this.probe.commandOk(Command.SwjSequence, [SWD_SWITCH_SEQUENCE.length * 8, ...SWD_SWITCH_SEQUENCE]);
    const [dpidr] = await this.engine.run([this.read(DP.DPIDR)]);
    if (dpidr === 0 || dpidr === 0xffffffff) {
      throw new DebugError('swd', `no SW-DP answered (DPIDR ${hex32(dpidr)}): is the target powered and wired?`);
    }
    this.identity = {
      dpidr,
      version: (dpidr >>> 12) & 0xf,
      designer: (dpidr >>> 1) & 0x7ff,
      partNo: (dpidr >>> 20) & 0xff,
      revision: dpidr >>> 28,
    };
    await this.powerUp();
    return this.identity;
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

function withContext(err: DebugError, context: string, detail = ''): DebugError {
  const wrapped = new DebugError(err.layer, `${err.message} while ${context}${detail}`, { cause: err });
  wrapped.name = err.name;
  return wrapped;
}
