/**
 * GDB Remote Serial Protocol framing, the server side (GDB manual, appendix E.1 "Overview" and
 * E.11 "Interrupts"): `$payload#ck` packets with a modulo-256 checksum, `+`/`-` acknowledgements
 * until QStartNoAckMode, the out-of-band interrupt byte 0x03, and the binary escape (`}` then the
 * byte XOR 0x20) used by X and vFlashWrite. Bytes are handled as latin1 code units 0–255.
 */

export type RspEvent = { kind: 'packet'; payload: Uint8Array } | { kind: 'interrupt' } | { kind: 'ack' } | { kind: 'nack' } | { kind: 'bad-checksum'; payload: Uint8Array };

const DOLLAR = 0x24;
const HASH = 0x23;
const ESCAPE = 0x7d;

export class RspFramer {
  private pending: number[] = [];
  private inPacket = false;
  private checksumDigits = -1;
  private checksumText = '';

  /** Feed bytes from the client; returns what they complete, in order. */
  push(bytes: Uint8Array): RspEvent[] {
    const events: RspEvent[] = [];
    for (const b of bytes) {
      if (this.checksumDigits >= 0) {
        this.checksumText += String.fromCharCode(b);
        if (++this.checksumDigits === 2) {
          const payload = Uint8Array.from(this.pending);
          const expected = parseInt(this.checksumText, 16);
          events.push(expected === checksum(payload) ? { kind: 'packet', payload } : { kind: 'bad-checksum', payload });
          this.pending = [];
          this.inPacket = false;
          this.checksumDigits = -1;
          this.checksumText = '';
        }
        continue;
      }
      if (this.inPacket) {
        if (b === HASH) this.checksumDigits = 0;
        else this.pending.push(b);
        continue;
      }
      if (b === DOLLAR) {
        this.inPacket = true;
        this.pending = [];
      } else if (b === 0x03) events.push({ kind: 'interrupt' });
      else if (b === 0x2b) events.push({ kind: 'ack' });
      else if (b === 0x2d) events.push({ kind: 'nack' });
      // Anything else between packets is line noise: ignored, as GDB's own stubs do.
    }
    return events;
  }
}

export function checksum(payload: Uint8Array): number {
  let sum = 0;
  for (const b of payload) sum = (sum + b) & 0xff;
  return sum;
}

/** A reply packet; `#`, `$`, `}` and `*` in the payload are escaped so GDB reads them back as given. */
export function framePacket(payload: string | Uint8Array): Uint8Array {
  const raw = typeof payload === 'string' ? latin1(payload) : payload;
  const body: number[] = [];
  for (const b of raw) {
    if (b === DOLLAR || b === HASH || b === ESCAPE || b === 0x2a) body.push(ESCAPE, b ^ 0x20);
    else body.push(b);
  }
  const bytes = Uint8Array.from(body);
  const ck = checksum(bytes).toString(16).padStart(2, '0');
  const out = new Uint8Array(bytes.length + 4);
  out[0] = DOLLAR;
  out.set(bytes, 1);
  out[bytes.length + 1] = HASH;
  out[bytes.length + 2] = ck.charCodeAt(0);
  out[bytes.length + 3] = ck.charCodeAt(1);
  return out;
}

/** Undo the binary escape of X / vFlashWrite data. */
export function unescapeBinary(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    if (data[i] === ESCAPE && i + 1 < data.length) out.push(data[++i] ^ 0x20);
    else out.push(data[i]);
  }
  return Uint8Array.from(out);
}

export function latin1(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

export function fromLatin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new RangeError(`not hex bytes: "${hex.slice(0, 24)}"`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

/** A 32-bit register value as GDB sends it: target (little-endian) byte order. */
export function leWord(value: number): string {
  return toHex(Uint8Array.of(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff));
}

export function parseLeWord(hex: string): number {
  const b = fromHex(hex);
  if (b.length !== 4) throw new RangeError(`a 32-bit register needs 8 hex digits, got "${hex}"`);
  return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
}
