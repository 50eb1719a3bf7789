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
import { targetSel, type MultidropPart } from './multidrop';

export interface SessionOptions extends DapProbeOptions {
  /** SWD clock in Hz (DAP_SWJ_Clock). */
  clockHz?: number;
  haltTimeoutMs?: number;
  /** Multi-drop SWD: the TARGETSEL of the DP to attach to (found by TARGETID when omitted). */
  targetSel?: number;
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
  core: CortexM;
  summary: TargetSummary | null = null;
  /** On a multi-drop part: the index of the core in use (its DP is the one selected). */
  coreIndex = 0;
  /** Each core's MEM-AP and core objects (they cache per-AP and per-core state), by core index. */
  private readonly perCore = new Map<number, { ap: MemAp; core: CortexM }>();

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
    const part = this.part;
    const sel = part ? targetSel(part.targetId, part.cores[this.coreIndex].instance) : this.options.targetSel;
    const dp = await this.dp.connect(this.options.clockHz ?? 4_000_000, sel);
    const ap = await this.findMemAp();
    const core = await this.core.identify();
    this.summary = { probe: probeInfo, dp, ap, core };
    if (dp.part && !this.perCore.has(this.coreIndex)) this.perCore.set(this.coreIndex, { ap: this.ap, core: this.core });
    return this.summary;
  }

  /** The multi-drop part the debug port belongs to (RP2040…), or undefined for a single DP. */
  get part(): MultidropPart | undefined {
    return this.summary?.dp.part;
  }

  /**
   * Switch to another core of a multi-drop part (line reset + TARGETSEL of that core's DP); the
   * session's `ap` and `core` then reach that core. Returns the new summary.
   */
  async selectCore(index: number): Promise<TargetSummary> {
    const part = this.part;
    if (!part) {
      if (index === 0) return this.summary!;
      throw new DebugError('swd', 'this target has one debug port: there is no other core to select');
    }
    const entry = part.cores[index];
    if (!entry) throw new DebugError('swd', `${part.name} has no core ${index} (cores: ${part.cores.map((c) => c.name).join(', ')})`);
    const dp = await this.dp.selectTarget(targetSel(part.targetId, entry.instance));
    let objects = this.perCore.get(index);
    if (!objects) {
      const ap = new MemAp(this.dp, 0);
      objects = { ap, core: new CortexM(ap, { haltTimeoutMs: this.options.haltTimeoutMs }) };
      this.perCore.set(index, objects);
    }
    objects.ap.invalidate();
    this.ap = objects.ap;
    this.core = objects.core;
    this.coreIndex = index;
    const apIdentity = await this.ap.identify();
    if (!apIdentity.isMemAp) throw new DebugError('ap', `${part.name} ${entry.name}: AP 0 is not a MEM-AP (IDR ${apIdentity.idr.toString(16)})`);
    const core = await this.core.identify();
    this.summary = { probe: this.summary!.probe, dp, ap: apIdentity, core };
    return this.summary;
  }

  /**
   * The rescue reset of a multi-drop part with a rescue DP (RP2040): the chip restarts with the
   * boot ROM parking the cores, whatever the firmware in flash does. Then reattach to core 0.
   */
  async rescue(): Promise<TargetSummary> {
    const part = this.part;
    if (!part || part.rescueInstance === undefined) throw new DebugError('swd', 'this target has no rescue debug port (an RP2040 has one)');
    await this.dp.rescueReset(part);
    this.ap.invalidate();
    this.coreIndex = 0;
    const core0 = this.perCore.get(0);
    if (core0) {
      this.ap = core0.ap;
      this.core = core0.core;
    }
    return this.attach();
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
