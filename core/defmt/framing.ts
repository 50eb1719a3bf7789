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
 * it. Corruption cannot be resynchronised exactly; the decoder skips one byte and tries again. A
 * frame still incomplete after `maxFrame` bytes (a corrupt length or a string missing its 0xFF) is
 * malformed too, so one bad frame cannot hold back the rest of the stream.
 */
import { DecodeError, FrameDecoder, type DefmtRecord } from './decoder';
import type { DefmtTable } from './table';

/** Decodes one rzCOBS frame (without its 0x00 terminator) into a fresh array. */
export function rzcobsDecode(data: Uint8Array): Uint8Array {
  return rzcobsDecodeInto(data, new Uint8Array(data.length * 7 + 8)).slice();
}

/**
 * Decodes into `scratch` (at least 7 × input + 8 bytes) and returns a view of it. Walking the input
 * backwards yields the frame back to front, so bytes are placed from the end of `scratch` down.
 */
export function rzcobsDecodeInto(data: Uint8Array, scratch: Uint8Array): Uint8Array {
  return scratch.subarray(rzcobsDecodeRange(data, 0, data.length, scratch));
}

/** Decodes data[start, end) into the tail of `scratch`; returns where the frame starts in it. */
export function rzcobsDecodeRange(data: Uint8Array, start: number, end: number, scratch: Uint8Array): number {
  let i = end - 1;
  let o = scratch.length;
  while (i >= start) {
    const x = data[i--];
    if (x === 0) throw new DecodeError('malformed', 'zero byte inside an rzCOBS frame');
    if (x < 0x80) {
      for (let b = 0; b < 7; b++) {
        if (x & (1 << (6 - b))) scratch[--o] = 0;
        else {
          if (i < start) throw new DecodeError('malformed', 'rzCOBS frame ends early');
          scratch[--o] = data[i--];
        }
      }
    } else {
      const n = x < 0xff ? (x & 0x7f) + 7 : 134;
      if (x < 0xff) scratch[--o] = 0;
      if (i + 1 - start < n) throw new DecodeError('malformed', 'rzCOBS frame ends early');
      for (let k = 0; k < n; k++) scratch[--o] = data[i--];
    }
  }
  return o;
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

  private scratch = new Uint8Array(1024);

  private drainRzcobs(): StreamEvent[] {
    const events: StreamEvent[] = [];
    let start = 0;
    const buffer = this.buffer;
    const length = this.length;
    for (;;) {
      const end = buffer.indexOf(0, start);
      if (end < 0 || end >= length) break;
      if (end > start) {
        if (this.scratch.length < (end - start) * 7 + 8) this.scratch = new Uint8Array((end - start) * 7 + 8);
        events.push(this.decodeFrame(buffer, start, end));
      }
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
        if (err instanceof DecodeError && err.kind === 'eof') {
          if (view.length <= this.maxFrame) break; // wait for more bytes
          // No defmt frame is this long: its length or 0xFF terminator is corrupt. Bounded like an
          // rzCOBS frame with no delimiter: counted as malformed, then resynchronised below.
          events.push(this.error(`no complete frame in ${view.length} bytes (${err.message})`, view.slice(0, 16), false));
          start += 1;
          continue;
        }
        events.push(this.error((err as Error).message, view.slice(0, Math.min(view.length, 16)), err instanceof DecodeError && err.kind === 'unknown-index'));
        start += 1; // resync: drop one byte and try again
      }
    }
    this.consume(start);
    return events;
  }

  private decodeFrame(buffer: Uint8Array, start: number, end: number): StreamEvent {
    const scratch = this.scratch;
    let at: number;
    try {
      at = rzcobsDecodeRange(buffer, start, end, scratch);
    } catch (err) {
      return this.error((err as Error).message, buffer.slice(start, end), false);
    }
    try {
      const record = this.decoder.decodeRange(scratch, at, scratch.length);
      this.stats.frames++;
      return { kind: 'record', record };
    } catch (err) {
      const unknown = err instanceof DecodeError && err.kind === 'unknown-index';
      return this.error((err as Error).message, scratch.slice(at), unknown);
    }
  }

  private error(reason: string, bytes: Uint8Array, unknownIndex: boolean): StreamEvent {
    if (unknownIndex) this.stats.unknownIndex++;
    else this.stats.malformed++;
    this.stats.lastError = reason;
    return { kind: 'error', reason, bytes, unknownIndex };
  }
}
