/**
 * SWO capture through a CMSIS-DAP probe (DAP_SWO_* commands, UART/NRZ mode, data read with
 * DAP_SWO_Data): configure, start, drain, stop. The probe's buffer overrun and stream-error status
 * bits are surfaced, never hidden: lost trace bytes must show as gaps, not as a quiet timeline.
 */
import { DebugError } from './errors';
import type { DapProbe } from './probe';
import { Capability, Command, InfoId, concatBytes, readU32le, u32le } from './protocol';

export const SWO_TRACE_STATUS = { active: 1 << 0, streamError: 1 << 6, overrun: 1 << 7 } as const;

export interface SwoStatus {
  active: boolean;
  streamError: boolean;
  overrun: boolean;
  count: number;
}

export class SwoReader {
  /** Sticky: set once the probe reported an overrun or a stream error. */
  readonly problems = { overrun: 0, streamError: 0 };
  bufferSize = 0;

  constructor(private readonly probe: DapProbe) {}

  /** Configure UART mode at `baud` (the probe may run a nearby rate: returned) and start capturing. */
  async start(baud: number): Promise<number> {
    const info = await this.probe.command(Command.Info, [InfoId.Capabilities]);
    const caps = info[1] > 0 ? info[2] : 0;
    if (!(caps & Capability.SwoUart)) throw new DebugError('probe', 'this probe has no SWO UART capture (DAP_Info capabilities)');
    const size = await this.probe.command(Command.Info, [InfoId.SwoBufferSize]);
    this.bufferSize = size[1] === 4 ? readU32le(size, 2) : 0;
    await this.probe.command(Command.SwoControl, [0]); // stop a capture left running
    await this.probe.commandOk(Command.SwoTransport, [1]); // read with DAP_SWO_Data
    await this.probe.commandOk(Command.SwoMode, [1]); // UART (NRZ)
    const rate = new Uint8Array(4);
    u32le(rate, 0, baud);
    const r = await this.probe.command(Command.SwoBaudrate, rate);
    const actual = readU32le(r, 1);
    if (actual === 0) throw new DebugError('probe', `the probe cannot capture SWO at ${baud} baud`);
    if (Math.abs(actual - baud) / baud > 0.03) {
      throw new DebugError('probe', `the probe's nearest SWO rate is ${actual} baud, more than 3% from ${baud}: pick a rate both sides can run`);
    }
    await this.probe.commandOk(Command.SwoControl, [1]);
    return actual;
  }

  async status(): Promise<SwoStatus> {
    const r = await this.probe.command(Command.SwoStatus);
    return this.note(r[1], readU32le(r, 2));
  }

  /** Everything the probe has buffered (several DAP_SWO_Data calls if needed). */
  async read(): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    const max = this.probe.packetSize - 4;
    for (let round = 0; round < 64; round++) {
      const r = await this.probe.command(Command.SwoData, [max & 0xff, max >> 8]);
      this.note(r[1], 0);
      const n = r[2] | (r[3] << 8);
      if (n === 0) break;
      chunks.push(r.slice(4, 4 + n));
      if (n < max) break;
    }
    return concatBytes(chunks);
  }

  async stop(): Promise<void> {
    await this.probe.command(Command.SwoControl, [0]);
  }

  private note(status: number, count: number): SwoStatus {
    if (status === 0xff) throw new DebugError('probe', 'the probe refused an SWO command (is capture configured?)');
    const s = { active: !!(status & SWO_TRACE_STATUS.active), streamError: !!(status & SWO_TRACE_STATUS.streamError), overrun: !!(status & SWO_TRACE_STATUS.overrun), count };
    if (s.overrun) this.problems.overrun++;
    if (s.streamError) this.problems.streamError++;
    return s;
  }
}
