/**
 * Framing and streaming: bytes arrive from RTT in arbitrary chunks; frames come out.
 *
 * rzCOBS (defmt-rtt's default, "reverse zero-compressed COBS"): each frame is encoded so it holds no
 * 0x00 and is terminated by 0x00. Decoding walks the encoded frame backwards: a byte 0x01–0x7F is a
 * bitmap for the next 7 bytes (a set bit, MSB first, stands for a zero byte; a clear bit takes a
 * literal byte), 0x80–0xFE is a zero followed by (x & 0x7F) + 7 literal bytes, 0xFF is 134 literal
 * bytes; the decoded bytes come out reversed.
 *
 * Raw encoding: frames back to back with no delimiter; a frame's length is only known by decoding
 * it. Corruption cannot be resynchronised exactly; the decoder skips one byte and tries again.
 */
import { DecodeError, FrameDecoder, type DefmtRecord } from './decoder';
import type { DefmtTable } from './table';

export function rzcobsDecode(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  let i = data.length - 1;
  const next = (): number => {
    if (i < 0) throw new DecodeError('malformed', 'rzCOBS frame ends early');
    return data[i--];
  };
  while (i >= 0) {
    const x = data[i--];
    if (x === 0) throw new DecodeError('malformed', 'zero byte inside an rzCOBS frame');
    if (x < 0x80) {
      for (let b = 0; b < 7; b++) out.push(x & (1 << (6 - b)) ? 0 : next());
    } else if (x < 0xff) {
      out.push(0);
      for (let n = (x & 0x7f) + 7; n > 0; n--) out.push(next());
    } else {
      for (let n = 0; n < 134; n++) out.push(next());
    }
  }
  out.reverse();
  return Uint8Array.from(out);
}

/**
 * rzCOBS encoder, forwards and streaming as defmt-rtt does it: bytes go into groups of up to 7; a
 * zero sets the group's bitmap bit (LSB = first slot) instead of being written, and a group with a
 * zero closes with its bitmap byte. A run of 7+ non-zero bytes continues as a long run, closed by
 * 0x80 | (run - 7) at the next zero, or by 0xFF after 134 bytes. At the end, an open group's
 * missing slots read as zeros: decoding yields the frame plus up to 7 trailing zero bytes, which
 * frame decoding ignores.
 */
export function rzcobsEncode(frame: Uint8Array): Uint8Array {
  const out: number[] = [];
  let run = 0;
  let zeros = 0;
  for (const byte of frame) {
    if (run < 7) {
      if (byte === 0) zeros |= 1 << run;
      else out.push(byte);
      run++;
      if (run === 7 && zeros !== 0) {
        out.push(zeros);
        run = 0;
        zeros = 0;
      }
    } else if (byte === 0) {
      out.push(0x80 | (run - 7));
      run = 0;
      zeros = 0;
    } else {
      out.push(byte);
      if (++run === 134) {
        out.push(0xff);
        run = 0;
        zeros = 0;
      }
    }
  }
  if (run > 0 && run < 7) out.push((zeros | (0xff << run)) & 0x7f);
  else if (run >= 7) out.push(0x80 | (run - 7));
  return Uint8Array.from(out);
}

export interface StreamStats {
  frames: number;
  malformed: number;
  unknownIndex: number;
  bytes: number;
  lastError?: string;
}

export type StreamEvent = { kind: 'record'; record: DefmtRecord } | { kind: 'error'; reason: string; bytes: Uint8Array; unknownIndex: boolean };

/** A streaming decoder for one RTT channel: push bytes, get records and error events. */
export class DefmtStream {
  readonly stats: StreamStats = { frames: 0, malformed: 0, unknownIndex: 0, bytes: 0 };
  private buffer = new Uint8Array(4096);
  private length = 0;
  private readonly decoder: FrameDecoder;

  constructor(
    readonly table: DefmtTable,
    /** Bounds memory on a stream with no delimiters (raw mode) or a runaway frame. */
    readonly maxFrame = 64 * 1024,
  ) {
    this.decoder = new FrameDecoder(table);
  }

  /** Bytes held back waiting for the rest of a frame. */
  get pendingBytes(): number {
    return this.length;
  }

  push(chunk: Uint8Array): StreamEvent[] {
    this.stats.bytes += chunk.length;
    this.append(chunk);
    return this.table.encoding === 'rzcobs' ? this.drainRzcobs() : this.drainRaw();
  }

  private append(chunk: Uint8Array): void {
    if (this.length + chunk.length > this.buffer.length) {
      const bigger = new Uint8Array(Math.max(this.buffer.length * 2, this.length + chunk.length));
      bigger.set(this.buffer.subarray(0, this.length));
      this.buffer = bigger;
    }
    this.buffer.set(chunk, this.length);
    this.length += chunk.length;
  }

  private consume(n: number): void {
    this.buffer.copyWithin(0, n, this.length);
    this.length -= n;
  }

  private drainRzcobs(): StreamEvent[] {
    const events: StreamEvent[] = [];
    let start = 0;
    for (;;) {
      const zero = this.buffer.subarray(start, this.length).indexOf(0);
      if (zero < 0) break;
      const end = start + zero;
      if (end > start) events.push(this.decodeFrame(() => rzcobsDecode(this.buffer.subarray(start, end)), this.buffer.slice(start, end)));
      start = end + 1;
    }
    this.consume(start);
    if (this.length > this.maxFrame) {
      events.push(this.error(`no frame delimiter in ${this.length} bytes`, this.buffer.slice(0, Math.min(this.length, 64)), false));
      this.length = 0;
    }
    return events;
  }

  private drainRaw(): StreamEvent[] {
    const events: StreamEvent[] = [];
    let start = 0;
    while (start < this.length) {
      const view = this.buffer.subarray(start, this.length);
      try {
        const { record, used } = this.decoder.decodePrefix(view);
        events.push({ kind: 'record', record });
        this.stats.frames++;
        start += used;
      } catch (err) {
        if (err instanceof DecodeError && err.kind === 'eof') break; // wait for more bytes
        events.push(this.error((err as Error).message, view.slice(0, Math.min(view.length, 16)), err instanceof DecodeError && err.kind === 'unknown-index'));
        start += 1; // resync: drop one byte and try again
      }
    }
    this.consume(start);
    return events;
  }

  private decodeFrame(unframe: () => Uint8Array, encoded: Uint8Array): StreamEvent {
    let frame: Uint8Array;
    try {
      frame = unframe();
    } catch (err) {
      return this.error((err as Error).message, encoded, false);
    }
    try {
      const record = this.decoder.decode(frame);
      this.stats.frames++;
      return { kind: 'record', record };
    } catch (err) {
      const unknown = err instanceof DecodeError && err.kind === 'unknown-index';
      return this.error((err as Error).message, frame, unknown);
    }
  }

  private error(reason: string, bytes: Uint8Array, unknownIndex: boolean): StreamEvent {
    if (unknownIndex) this.stats.unknownIndex++;
    else this.stats.malformed++;
    this.stats.lastError = reason;
    return { kind: 'error', reason, bytes, unknownIndex };
  }
}
