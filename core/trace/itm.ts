/**
 * ITM/DWT packets as they arrive over SWO (ARMv7-M Architecture Reference Manual, appendix D4
 * "Debug ITM and DWT Packet Protocol"):
 *
 *   00 00 00 00 00 80   synchronisation (≥ 47 zero bits, then a one)
 *   70                  overflow (the ITM dropped packets)
 *   0TTT0000            local timestamp 2: TTT (1–6) is the delta, no payload
 *   11TT0000 + 1–4 B    local timestamp 1: delta in 7-bit groups, bit 7 = more; TT = relation to data
 *   94 / B4 + bytes     global timestamp 1 / 2
 *   CEEE1S00 + bytes    extension (stimulus port page)
 *   AAAAA0SS + 1/2/4 B  instrumentation (software) packet: port A, SS = 01/10/11 → 1/2/4 bytes
 *   DDDDD1SS + 1/2/4 B  hardware source packet from the DWT, discriminator D:
 *                         0 event counter, 1 exception trace, 2 PC sample, 8–23 data trace
 *   exception trace payload: ExceptionNumber[8:0], Function[5:4] of the second byte —
 *   1 entered, 2 exited, 3 returned to.
 *
 * Local timestamps time the packets sent before them, so events are held until the next timestamp.
 */
import { concatBytes } from '../dap/protocol';

export type ItmPacket =
  | { kind: 'sync' }
  | { kind: 'overflow' }
  | { kind: 'timestamp'; delta: number; relation: number }
  | { kind: 'global-timestamp'; bytes: number }
  | { kind: 'extension'; value: number }
  | { kind: 'instrumentation'; port: number; value: number; size: number }
  | { kind: 'exception'; exception: number; fn: 'enter' | 'exit' | 'return' }
  | { kind: 'event-counter'; value: number }
  | { kind: 'pc-sample'; pc: number | null }
  | { kind: 'data-trace'; discriminator: number; value: number; size: number };

export interface ItmStats {
  packets: number;
  bytes: number;
  malformed: number;
  skippedBytes: number;
  overflows: number;
  lastError?: string;
}

const FN = [null, 'enter', 'exit', 'return'] as const;

/** Streaming ITM decoder. Events come out stamped with the accumulated local timestamp. */
export class ItmDecoder {
  readonly stats: ItmStats = { packets: 0, bytes: 0, malformed: 0, skippedBytes: 0, overflows: 0 };
  /** Accumulated local timestamp (timestamp-clock cycles). */
  time = 0;
  private pending = new Uint8Array(0);
  private synced = false;
  private zeros = 0;
  private held: ItmPacket[] = [];

  /**
   * Push bytes; returns packets with the time they happened (events wait for the local timestamp
   * that follows them). `requireSync`: ignore everything before the first sync packet.
   */
  push(chunk: Uint8Array, out: { time: number; packet: ItmPacket }[] = [], requireSync = true): { time: number; packet: ItmPacket }[] {
    this.stats.bytes += chunk.length;
    const data = this.pending.length ? concatBytes([this.pending, chunk]) : chunk;
    this.pending = new Uint8Array(0);
    let i = 0;
    while (i < data.length) {
      const b = data[i];
      // Sync detection works in any state: five zero bytes and a 0x80.
      if (b === 0) {
        this.zeros++;
        i++;
        continue;
      }
      if (b === 0x80 && this.zeros >= 5) {
        this.zeros = 0;
        this.synced = true;
        this.emit({ kind: 'sync' }, out);
        i++;
        continue;
      }
      if (this.zeros > 0 && this.synced) {
        // Stray zero bytes outside a sync packet are not a packet ITM sends.
        this.malformed(`${this.zeros} zero byte(s) outside a synchronisation packet`);
      }
      this.zeros = 0;
      if (!this.synced && requireSync) {
        this.stats.skippedBytes++;
        i++;
        continue;
      }
      const r = this.packet(data, i, out);
      if (r === -1) {
        this.pending = data.slice(i);
        break;
      }
      if (r === -2) {
        this.stats.skippedBytes++;
        i++;
        continue;
      }
      i = r;
    }
    return out;
  }

  private malformed(reason: string): void {
    this.stats.malformed++;
    this.stats.lastError = reason;
    this.synced = false; // wait for the next sync packet
    this.held = [];
  }

  /** Returns the index after the packet, -1 if it is incomplete, -2 if malformed. */
  private packet(d: Uint8Array, i: number, out: { time: number; packet: ItmPacket }[]): number {
    const h = d[i];
    if (h === 0x70) {
      this.stats.overflows++;
      this.emit({ kind: 'overflow' }, out);
      return i + 1;
    }
    if ((h & 0x0f) === 0) {
      if (h & 0x80) {
        // LTS1: continuation bytes
        let v = 0;
        let k = 0;
        for (;;) {
          if (i + 1 + k >= d.length) return -1;
          const c = d[i + 1 + k];
          v += (c & 0x7f) * 2 ** (7 * k);
          k++;
          if (!(c & 0x80)) break;
          if (k === 4) {
            this.malformed('local timestamp longer than 4 bytes');
            return -2;
          }
        }
        this.timestamp(v, (h >> 4) & 3, out);
        return i + 1 + k;
      }
      this.timestamp((h >> 4) & 7, 0, out);
      return i + 1;
    }
    if (h === 0x94 || h === 0xb4) {
      let k = 0;
      for (;;) {
        if (i + 1 + k >= d.length) return -1;
        const c = d[i + 1 + k++];
        if (!(c & 0x80)) break;
        if (k > 6) {
          this.malformed('global timestamp too long');
          return -2;
        }
      }
      this.emit({ kind: 'global-timestamp', bytes: k }, out);
      return i + 1 + k;
    }
    if ((h & 0x0b) === 0x08) {
      let v = (h >> 4) & 7;
      let k = 0;
      if (h & 0x80) {
        for (;;) {
          if (i + 1 + k >= d.length) return -1;
          const c = d[i + 1 + k];
          v += (c & 0x7f) * 2 ** (3 + 7 * k);
          k++;
          if (!(c & 0x80)) break;
          if (k === 4) {
            this.malformed('extension packet longer than 5 bytes');
            return -2;
          }
        }
      }
      this.emit({ kind: 'extension', value: v }, out);
      return i + 1 + k;
    }
    const ss = h & 3;
    if (ss === 0) {
      this.malformed(`reserved ITM header 0x${h.toString(16).padStart(2, '0')}`);
      return -2;
    }
    const size = ss === 3 ? 4 : ss;
    if (i + 1 + size > d.length) return -1;
    let value = 0;
    for (let k = 0; k < size; k++) value += d[i + 1 + k] * 2 ** (8 * k);
    const id = h >> 3;
    if (!(h & 4)) {
      this.emit({ kind: 'instrumentation', port: id, value, size }, out);
    } else if (id === 1) {
      if (size !== 2) {
        this.malformed(`exception trace packet with ${size} payload bytes (must be 2)`);
        return -2;
      }
      const fn = FN[(value >> 12) & 3];
      if (!fn) {
        this.malformed('exception trace packet with function 0');
        return -2;
      }
      this.emit({ kind: 'exception', exception: value & 0x1ff, fn }, out);
    } else if (id === 0) {
      this.emit({ kind: 'event-counter', value }, out);
    } else if (id === 2) {
      this.emit({ kind: 'pc-sample', pc: size === 4 ? value : null }, out);
    } else if (id >= 8 && id <= 23) {
      this.emit({ kind: 'data-trace', discriminator: id, value, size }, out);
    } else {
      this.malformed(`reserved hardware source discriminator ${id}`);
      return -2;
    }
    return i + 1 + size;
  }

  private emit(packet: ItmPacket, out: { time: number; packet: ItmPacket }[]): void {
    this.stats.packets++;
    // Events wait for the timestamp that follows them; sync/overflow/timestamps go out in order.
    if (packet.kind === 'exception' || packet.kind === 'instrumentation' || packet.kind === 'data-trace' || packet.kind === 'pc-sample' || packet.kind === 'event-counter') {
      this.held.push(packet);
      return;
    }
    if (packet.kind === 'overflow') this.flushHeld(out);
    out.push({ time: this.time, packet });
  }

  private timestamp(delta: number, relation: number, out: { time: number; packet: ItmPacket }[]): void {
    this.stats.packets++;
    this.time += delta;
    this.flushHeld(out);
    out.push({ time: this.time, packet: { kind: 'timestamp', delta, relation } });
  }

  private flushHeld(out: { time: number; packet: ItmPacket }[]): void {
    for (const p of this.held) out.push({ time: this.time, packet: p });
    this.held = [];
  }
}
