/**
 * A debug session on one probe and one Cortex-M target: the layers wired together, plus recovery.
 */
import type { DapTransport } from '../dap/transport';
import { DapProbe, type DapProbeOptions, type ProbeInfo } from '../dap/probe';
import { TransferEngine } from '../dap/transfer';
import { Command } from '../dap/protocol';
import { DebugError, ProbeDisconnectedError, ProbeTimeoutError } from '../dap/errors';
import { DebugPort, type DpIdentity } from './dp';
import { MemAp, type ApIdentity } from './mem-ap';
import { CortexM, type CoreIdentity } from './cortex-m';

export interface SessionOptions extends DapProbeOptions {
  /** SWD clock in Hz (DAP_SWJ_Clock). */
  clockHz?: number;
  haltTimeoutMs?: number;
}

export interface TargetSummary {
  probe: ProbeInfo;
  dp: DpIdentity;
  ap: ApIdentity;
  core: CoreIdentity;
}

export class DebugSession {
  readonly probe: DapProbe;
  readonly engine: TransferEngine;
  readonly dp: DebugPort;
  ap: MemAp;
  readonly core: CortexM;
  summary: TargetSummary | null = null;

  private constructor(
    transport: DapTransport,
    private readonly options: SessionOptions,
  ) {
    this.probe = new DapProbe(transport, options);
    this.engine = new TransferEngine(this.probe);
    this.dp = new DebugPort(this.engine);
    this.ap = new MemAp(this.dp, 0);
    this.core = new CortexM(this.ap, { haltTimeoutMs: options.haltTimeoutMs });
  }

  static async open(transport: DapTransport, options: SessionOptions = {}): Promise<DebugSession> {
    const session = new DebugSession(transport, options);
    try {
      await session.attach();
    } catch (err) {
      await session.probe.close();
      throw err;
    }
    return session;
  }

  private async attach(): Promise<TargetSummary> {
    const probeInfo = await this.probe.open();
    const dp = await this.dp.connect(this.options.clockHz ?? 4_000_000);
    const ap = await this.findMemAp();
    const core = await this.core.identify();
    this.summary = { probe: probeInfo, dp, ap, core };
    return this.summary;
  }

  /** The first MEM-AP (APSEL 0 on every Cortex-M part we know; others are scanned for odd parts). */
  private async findMemAp(): Promise<ApIdentity> {
    for (let apsel = 0; apsel < 8; apsel++) {
      const ap = apsel === this.ap.apsel ? this.ap : new MemAp(this.dp, apsel);
      const id = await ap.identify();
      if (id.isMemAp) {
        this.ap = ap;
        (this.core as { ap: MemAp }).ap = ap;
        return id;
      }
      if (id.idr === 0 && apsel > 0) break;
    }
    throw new DebugError('ap', 'no MEM-AP found on the debug port (APSEL 0..7)');
  }

  /**
   * Bring the link back after a lost response, an unplug/replug or a target reset that dropped the
   * debug port: reopen the probe if its link is broken, then reconnect SWD and re-identify.
   */
  async recover(): Promise<TargetSummary> {
    this.ap.invalidate();
    if (this.probe.broken) await this.probe.close();
    return this.attach();
  }

  async close(): Promise<void> {
    if (!this.probe.broken) {
      await this.probe.commandOk(Command.Disconnect).catch(() => undefined);
    }
    await this.probe.close();
  }
}

/** True for errors after which the link must be recovered (not just the failed access retried). */
export function needsRecovery(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof ProbeTimeoutError || e instanceof ProbeDisconnectedError) return true;
  }
  return false;
}
