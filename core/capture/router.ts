/**
 * What an RTT stream carries, routed by channel: defmt frames to the decoder, SystemView packets
 * to the trace, everything else as text lines. The CLI and the app's device worker stream through
 * this one router; they differ only in where the results go (terminal and log file, or the UI).
 *
 * This is the layer above rtt/, defmt/ and trace/: it knows all three, they know nothing of it.
 */
import { DefmtStream, type DefmtTable, type StreamEvent, type StreamStats } from '../defmt';
import { LineSplitter } from '../rtt/lines';
import type { UpData } from '../rtt/session';

export interface ChannelSinks {
  /** Records and decode errors from the defmt channel, in order. */
  defmt(channel: number, events: StreamEvent[]): void;
  /** Whole lines (without '\n') completed on a text channel. */
  text(channel: number, lines: string[]): void;
  /** SystemView bytes from the trace channel, as they arrived. */
  trace?(channel: number, data: Uint8Array): void;
}

export interface RouterOptions {
  /** The ELF's defmt table; without one the defmt channel is shown as text. */
  table: DefmtTable | null;
  /** The up channel carrying defmt frames (defmt-rtt uses 0). */
  defmtChannel?: number;
  /** Channels to deliver (the trace channel always is); default: all. */
  channels?: number[];
}

export class ChannelRouter {
  /** The up channel with SystemView packets, once the caller has started a recording on it. */
  traceChannel = -1;
  readonly defmtChannel: number;
  private defmt: DefmtStream | null;
  private readonly lines = new LineSplitter();
  private readonly channels: Set<number> | null;
  private readonly table: DefmtTable | null;
  /** Decode statistics of the streams before the last restart, so totals survive resets. */
  private earlier: StreamStats = { frames: 0, malformed: 0, unknownIndex: 0, bytes: 0 };

  constructor(options: RouterOptions) {
    this.table = options.table;
    this.defmtChannel = options.defmtChannel ?? 0;
    this.channels = options.channels ? new Set(options.channels) : null;
    this.defmt = this.table ? new DefmtStream(this.table) : null;
  }

  route(chunks: UpData[], sinks: ChannelSinks): void {
    for (const { channel, data } of chunks) {
      if (channel === this.traceChannel) {
        sinks.trace?.(channel, data);
        continue;
      }
      if (this.channels && !this.channels.has(channel)) continue;
      if (channel === this.defmtChannel && this.defmt) {
        sinks.defmt(channel, this.defmt.push(data));
        continue;
      }
      const lines = this.lines.push(channel, data);
      if (lines.length) sinks.text(channel, lines);
    }
  }

  /**
   * After a target reset: a defmt frame or a text line cut by the reset must not be glued to what
   * the restarted firmware sends next. Unfinished text lines are delivered as they are (they were
   * received); a cut defmt frame cannot be decoded and is dropped.
   */
  restart(sinks?: ChannelSinks): void {
    for (const [channel, line] of this.lines.flush()) sinks?.text(channel, [line]);
    if (this.defmt) {
      this.earlier = sum(this.earlier, this.defmt.stats);
      this.defmt = new DefmtStream(this.table!);
    }
  }

  /** defmt decoding totals over the whole stream (null without a table). */
  get defmtStats(): StreamStats | null {
    return this.defmt ? sum(this.earlier, this.defmt.stats) : null;
  }
}

function sum(a: StreamStats, b: StreamStats): StreamStats {
  return { frames: a.frames + b.frames, malformed: a.malformed + b.malformed, unknownIndex: a.unknownIndex + b.unknownIndex, bytes: a.bytes + b.bytes, lastError: b.lastError ?? a.lastError };
}
