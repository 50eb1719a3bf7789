/**
 * Decoding defmt frames (wire format versions 3 and 4, as defmt-decoder reads them):
 *   frame := index:u16le [timestamp args] args
 * Integers are little-endian at their width (usize/isize as 32 bits); bool is one byte (0/1);
 * str and [u8] carry a u32le length; [u8; N] is N bytes; char is a u32le code point; istr is a
 * u16le index; `?` is a u16le index of a nested format (enum formats "A|B(..)" are followed by a
 * discriminant as wide as needed for their variant count) then its args; [?] is a u32le count, one
 * format index, then the elements; FormatSequence is nested formats until index 0; Debug/Display
 * are UTF-8 bytes ended by 0xFF; bitfields carry only the bytes their bit range covers.
 */
import { ByteReader } from '../elf/bytes';
import { DefmtTable, type Level, type Location } from './table';
import { type Hint, type Param, parseFormat, wireParams } from './parser';

export type Arg =
  | { t: 'u'; v: bigint | number }
  | { t: 'i'; v: bigint | number; bytes: number }
  | { t: 'f'; v: number; f32: boolean }
  | { t: 'bool'; v: boolean }
  | { t: 'str'; v: string }
  | { t: 'char'; v: string }
  | { t: 'bytes'; v: Uint8Array }
  | { t: 'format'; format: string; args: Arg[] }
  | { t: 'slice'; elements: { format: string; args: Arg[] }[] }
  | { t: 'seq'; items: { format: string; args: Arg[] }[] };

export interface DefmtRecord {
  index: number;
  level?: Level;
  timestamp?: string;
  message: string;
  args: Arg[];
  location?: Location;
}

/**
 * A decoded record. Its text (message, timestamp) is rendered on first use: filters, counters and
 * a console that only draws visible lines never pay for formatting records nobody reads.
 */
class Record implements DefmtRecord {
  location?: Location;
  private text?: string;
  private ts?: string;
  constructor(
    readonly index: number,
    readonly level: Level | undefined,
    private readonly format: string,
    readonly args: Arg[],
    private readonly tsFormat: string | null,
    private readonly tsArgs: Arg[] | null,
  ) {}
  get message(): string {
    return (this.text ??= render(this.format, this.args));
  }
  get timestamp(): string | undefined {
    if (this.tsFormat === null) return undefined;
    return (this.ts ??= render(this.tsFormat, this.tsArgs!));
  }
  toJSON() {
    return { index: this.index, level: this.level, timestamp: this.timestamp, message: this.message, args: this.args, location: this.location };
  }
}

export class DecodeError extends Error {
  constructor(
    readonly kind: 'eof' | 'malformed' | 'unknown-index',
    message: string,
  ) {
    super(message);
    this.name = 'DecodeError';
  }
}

const MAX_DEPTH = 32;
const FLOAT_BYTES = new Uint8Array(8);
const FLOAT_VIEW = new DataView(FLOAT_BYTES.buffer);

class Reader extends ByteReader {
  /** The frame is b[start, end): readers work on a region of a larger buffer without a view. */
  start = 0;
  /**
   * Elements decoded so far. Zero-sized elements (unit structs) and self-referencing nested formats
   * in a corrupt frame could otherwise multiply into an effectively endless loop; a real frame never
   * holds more elements than a few per byte.
   */
  work = 0;
  workLimit: number;
  constructor(b: Uint8Array) {
    super(b);
    this.workLimit = b.length * 8 + 256;
  }
  /** Reuse for the next frame (one reader per decoder: no allocation per frame). */
  reset(b: Uint8Array, start: number, end: number): this {
    this.b = b;
    this.o = this.start = start;
    this.end = end;
    this.work = 0;
    this.workLimit = (end - start) * 8 + 256;
    return this;
  }
  get length(): number {
    return this.end - this.start;
  }
  spend(): void {
    if (++this.work > this.workLimit) throw new DecodeError('malformed', `frame of ${this.length} bytes claims more than ${this.workLimit} elements`);
  }
  protected overrun(n: number): never {
    throw new DecodeError('eof', `frame ends after ${this.length} bytes, needed ${this.o - this.start + n}`);
  }
  /** Little-endian unsigned of `n` bytes: a number up to 32 bits, a bigint above. */
  uint(n: number): bigint | number {
    if (n === 1) return this.u8();
    if (n === 2) return this.u16();
    if (n === 4) return this.u32();
    if (n === 8) {
      // Most u64s (timestamps) fit in a double exactly: keep them numbers, not bigints.
      const lo = this.u32();
      const hi = this.u32();
      return hi < 0x200000 ? hi * 0x100000000 + lo : (BigInt(hi) << 32n) | BigInt(lo);
    }
    this.need(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.b[this.o + i]);
    this.o += n;
    return v;
  }
  /** Floats go through one shared 8-byte buffer: no view or copy allocated per value. */
  f32(): number {
    this.need(4);
    for (let i = 0; i < 4; i++) FLOAT_BYTES[i] = this.b[this.o++];
    return FLOAT_VIEW.getFloat32(0, true);
  }
  f64(): number {
    this.need(8);
    for (let i = 0; i < 8; i++) FLOAT_BYTES[i] = this.b[this.o++];
    return FLOAT_VIEW.getFloat64(0, true);
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return out;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class FrameDecoder {
  private readonly reader = new Reader(new Uint8Array(0));
  /** Bytes the last decodePrefix() consumed. */
  lastUsed = 0;
  private tsParams?: Param[];
  constructor(readonly table: DefmtTable) {}

  /** Decode one complete frame (as framing delivered it). */
  decode(frame: Uint8Array): DefmtRecord {
    return this.decodeRange(frame, 0, frame.length);
  }

  /** decode() of the frame bytes[start, end). */
  decodeRange(bytes: Uint8Array, start: number, end: number): DefmtRecord {
    const record = this.decodeAt(bytes, start, end);
    const used = start + this.lastUsed;
    // rzCOBS decoding may leave up to 7 zero bytes of padding after the frame; anything else left
    // over means the frame does not match its format string.
    for (let i = used; i < end; i++) {
      if (bytes[i] !== 0 || end - used > 7) throw new DecodeError('malformed', `frame has ${end - used} bytes left over after its arguments`);
    }
    return record;
  }

  /**
   * Decode the frame at the start of `bytes` and say how many bytes it took: raw framing has no
   * delimiters, so a frame's length is what its format consumed. Throws 'eof' if `bytes` ends first.
   */
  decodePrefix(bytes: Uint8Array): { record: DefmtRecord; used: number } {
    const record = this.decodeAt(bytes);
    return { record, used: this.lastUsed };
  }

  /** decodePrefix without the result object; the length is left in `lastUsed`. */
  decodeAt(bytes: Uint8Array, start = 0, end = bytes.length): DefmtRecord {
    const r = this.reader.reset(bytes, start, end);
    const index = r.u16();
    const entry = this.table.entries.get(index);
    if (!entry) throw new DecodeError('unknown-index', `unknown defmt string index ${index}`);
    const tsFormat = this.table.timestamp;
    const tsArgs = tsFormat !== null ? this.decodeArgs(tsFormat, r, 0, (this.tsParams ??= wireParams(tsFormat))) : null;
    const args = this.decodeArgs(entry.format, r, 0, (entry.params ??= wireParams(entry.format)));
    const record = new Record(index, entry.level, entry.format, args, tsFormat, tsArgs);
    const location = this.table.locations.get(index);
    if (location) record.location = location;
    this.lastUsed = r.o - start;
    return record;
  }

  private format(index: number): string {
    const entry = this.table.entries.get(index);
    if (!entry) throw new DecodeError('malformed', `nested format refers to unknown string index ${index}`);
    return entry.format;
  }

  private variant(format: string, r: Reader): string {
    const variants = format.split('|');
    const n = variants.length - 1; // the number of '|' decides the discriminant width
    const d = n < 256 ? r.u8() : n < 65536 ? r.u16() : r.u32();
    if (d >= variants.length) throw new DecodeError('malformed', `enum discriminant ${d} out of range for ${JSON.stringify(format)}`);
    return variants[d];
  }

  private nested(r: Reader, depth: number): { format: string; args: Arg[] } {
    let format = this.format(r.u16());
    if (format.includes('|')) format = this.variant(format, r);
    return { format, args: this.decodeArgs(format, r, depth + 1) };
  }

  decodeArgs(format: string, r: Reader, depth: number, params = wireParams(format)): Arg[] {
    r.spend();
    if (depth > MAX_DEPTH) throw new DecodeError('malformed', `nested formats deeper than ${MAX_DEPTH}`);
    const args: Arg[] = [];
    for (let k = 0; k < params.length; k++) {
      const p = params[k];
      // Indices are usually 0, 1, 2…: push keeps the array packed.
      if (p.index === args.length) args.push(this.decodeParam(p, r, depth));
      else args[p.index] = this.decodeParam(p, r, depth);
    }
    return args;
  }

  private decodeParam(p: Param, r: Reader, depth: number): Arg {
    const t = p.type;
    switch (t.kind) {
      case 'int':
        if (t.signed) return { t: 'i', v: toSigned(r.uint(t.bytes), t.bytes), bytes: t.bytes };
        return { t: 'u', v: r.uint(t.bytes) };
      case 'f32':
        return { t: 'f', v: r.f32(), f32: true };
      case 'f64':
        return { t: 'f', v: r.f64(), f32: false };
      case 'bool': {
        const b = r.u8();
        if (b > 1) throw new DecodeError('malformed', `bool byte ${b} is neither 0 nor 1`);
        return { t: 'bool', v: b === 1 };
      }
      case 'str':
        return { t: 'str', v: decodeUtf8(r.bytes(r.u32())) };
      case 'istr':
        return { t: 'str', v: this.format(r.u16()) };
      case 'char': {
        const c = r.u32();
        if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) throw new DecodeError('malformed', `char ${c} is not a Unicode scalar value`);
        return { t: 'char', v: String.fromCodePoint(c) };
      }
      // Copies: the frame may live in a scratch buffer the next frame reuses.
      case 'u8Slice':
        return { t: 'bytes', v: r.bytes(r.u32()).slice() };
      case 'u8Array':
        return { t: 'bytes', v: r.bytes(t.length).slice() };
      case 'format': {
        const n = this.nested(r, depth);
        return { t: 'format', format: n.format, args: n.args };
      }
      case 'formatSlice':
      case 'formatArray': {
        const count = t.kind === 'formatSlice' ? r.u32() : (t as { length: number }).length;
        if (count === 0 && t.kind === 'formatSlice') return { t: 'slice', elements: [] };
        // Bound by what the frame can hold: every element needs at least its data (≥ 0 bytes);
        // an absurd count from a corrupt frame must not allocate or loop for long.
        if (count > r.length * 8 + 1) throw new DecodeError('malformed', `format slice claims ${count} elements in a ${r.length}-byte frame`);
        const base = this.format(r.u16());
        const isEnum = base.includes('|');
        const elements: { format: string; args: Arg[] }[] = [];
        for (let i = 0; i < count; i++) {
          const format = isEnum ? this.variant(base, r) : base;
          elements.push({ format, args: this.decodeArgs(format, r, depth + 1) });
        }
        return { t: 'slice', elements };
      }
      case 'debug':
      case 'display': {
        const end = r.b.indexOf(0xff, r.o);
        if (end < 0 || end >= r.end) throw new DecodeError('eof', 'preformatted text is not terminated by 0xFF');
        const text = decodeUtf8(r.b.subarray(r.o, end));
        r.o = end + 1;
        return { t: 'str', v: text };
      }
      case 'formatSequence': {
        const items: { format: string; args: Arg[] }[] = [];
        for (;;) {
          const index = r.u16();
          if (index === 0) break;
          const format = this.format(index);
          items.push({ format, args: this.decodeArgs(format, r, depth + 1) });
        }
        return { t: 'seq', items };
      }
      case 'bitfield': {
        const low = Math.floor(t.start / 8);
        const high = Math.floor((t.end - 1) / 8);
        const size = high - low + 1;
        const width = size === 1 ? 1 : size === 2 ? 2 : size <= 4 ? 4 : size <= 8 ? 8 : 16;
        const raw = BigInt(r.uint(width));
        return { t: 'u', v: raw << BigInt(low * 8) };
      }
    }
  }
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new DecodeError('malformed', 'string is not valid UTF-8');
  }
}

function toSigned(v: bigint | number, bytes: number): bigint | number {
  if (typeof v === 'number') {
    const bits = bytes * 8;
    return bits === 32 ? v | 0 : v >= 2 ** (bits - 1) ? v - 2 ** bits : v;
  }
  return BigInt.asIntN(bytes * 8, v);
}

// ---------------------------------------------------------------- rendering (defmt-decoder's rules)

export function render(format: string, args: Arg[], parentHint?: Hint): string {
  let out = '';
  const fragments = parseFormat(format);
  for (let k = 0; k < fragments.length; k++) {
    const f = fragments[k];
    if (typeof f === 'string') {
      out += f;
      continue;
    }
    const arg = args[f.index];
    if (!arg) {
      out += '?';
      continue;
    }
    const hint = f.hint ?? parentHint;
    // Fast path for the commonest case: a plain integer.
    if (hint === undefined && (arg.t === 'u' || arg.t === 'i') && f.type.kind === 'int') out += arg.v;
    else out += renderArg(f, arg, hint, parentHint);
  }
  return out;
}

function renderArg(p: Param, arg: Arg, hint: Hint | undefined, parentHint: Hint | undefined): string {
  switch (arg.t) {
    case 'bool':
      return arg.v ? 'true' : 'false';
    case 'f':
      return formatFloat(arg.v, arg.f32);
    case 'u': {
      if (p.type.kind === 'bitfield') {
        const { start, end } = p.type;
        const value = (BigInt(arg.v) >> BigInt(start)) & ((1n << BigInt(end - start)) - 1n);
        if (hint?.kind === 'ascii') {
          const bytes: number[] = [];
          for (let v = value, n = Math.ceil((end - start) / 8); n > 0; n--, v >>= 8n) bytes.unshift(Number(v & 0xffn));
          return formatBytes(Uint8Array.from(bytes), hint);
        }
        return formatUnsigned(value, hint);
      }
      if (hint?.kind === 'iso8601') return formatIso8601(Number(arg.v), hint.precision);
      if (hint?.kind === 'debug') return formatUnsigned(arg.v, parentHint);
      return formatUnsigned(arg.v, hint);
    }
    case 'i':
      return formatSigned(arg.v, arg.bytes, hint);
    case 'str':
      return hint?.kind === 'debug' ? JSON.stringify(arg.v) : arg.v;
    case 'char':
      return arg.v;
    case 'bytes':
      return formatBytes(arg.v, hint);
    case 'format':
      return render(arg.format, arg.args, parentHint?.kind === 'ascii' ? parentHint : hint);
    case 'seq':
      return arg.items.map((i) => render(i.format, i.args, hint)).join('');
    case 'slice': {
      if (hint?.kind === 'ascii' && arg.elements.some((e) => e.format === '{=u8}')) {
        return formatBytes(Uint8Array.from(arg.elements.map((e) => Number((e.args[0] as { v: number }).v))), hint);
      }
      return `[${arg.elements.map((e) => render(e.format, e.args, hint)).join(', ')}]`;
    }
  }
}

function pad(s: string, width: number, prefix = ''): string {
  const body = width > prefix.length ? s.padStart(width - prefix.length, '0') : s;
  return prefix + body;
}

export function formatUnsigned(v: bigint | number, hint: Hint | undefined): string {
  switch (hint?.kind) {
    case 'hex': {
      const s = v.toString(16);
      return pad(hint.upper ? s.toUpperCase() : s, hint.zeroPad, hint.alternate ? '0x' : '');
    }
    case 'binary':
      return pad(v.toString(2), hint.zeroPad, hint.alternate ? '0b' : '');
    case 'octal':
      return pad(v.toString(8), hint.zeroPad, hint.alternate ? '0o' : '');
    case 'none':
      return pad(v.toString(), hint.zeroPad);
    case 'seconds': {
      if (typeof v === 'number') {
        const div = hint.precision === 'us' ? 1_000_000 : 1_000;
        const whole = Math.floor(v / div);
        return `${whole}.${String(v - whole * div).padStart(hint.precision === 'us' ? 6 : 3, '0')}`;
      }
      const big = BigInt(v);
      const div = hint.precision === 'us' ? 1_000_000n : 1_000n;
      return `${big / div}.${(big % div).toString().padStart(hint.precision === 'us' ? 6 : 3, '0')}`;
    }
    case 'time':
      return formatTime(BigInt(v), hint.precision);
    default:
      return v.toString();
  }
}

function formatSigned(v: bigint | number, bytes: number, hint: Hint | undefined): string {
  switch (hint?.kind) {
    case 'hex':
    case 'binary':
    case 'octal': {
      // Like Rust: negative values print as their two's complement at the type's width.
      const unsigned = BigInt.asUintN(bytes * 8, BigInt(v));
      return formatUnsigned(unsigned, hint);
    }
    case 'none': {
      const neg = BigInt(v) < 0n;
      const mag = (neg ? -BigInt(v) : BigInt(v)).toString();
      return neg ? '-' + pad(mag, hint.zeroPad - 1) : pad(mag, hint.zeroPad);
    }
    default:
      return v.toString();
  }
}

function formatTime(t: bigint, precision: 'us' | 'ms' | 's'): string {
  let decimals = 0n;
  if (precision === 'us') [t, decimals] = [t / 1_000_000n, t % 1_000_000n];
  else if (precision === 'ms') [t, decimals] = [t / 1_000n, t % 1_000n];
  const seconds = t % 60n;
  t /= 60n;
  const minutes = t % 60n;
  t /= 60n;
  const hours = t % 24n;
  const days = t / 24n;
  const two = (n: bigint) => n.toString().padStart(2, '0');
  const frac = precision === 'us' ? `.${decimals.toString().padStart(6, '0')}` : precision === 'ms' ? `.${decimals.toString().padStart(3, '0')}` : '';
  return `${days > 0n ? `${days}:` : ''}${two(hours)}:${two(minutes)}:${two(seconds)}${frac}`;
}

function formatIso8601(t: number, precision: 'us' | 'ms' | 's'): string {
  const ms = precision === 'ms' ? t : precision === 's' ? t * 1000 : t / 1000;
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return precision === 's' ? iso.replace(/\.\d{3}Z$/, 'Z') : iso;
}

const HEX_LOWER = Array.from({ length: 256 }, (_, b) => b.toString(16));
const HEX_UPPER = HEX_LOWER.map((h) => h.toUpperCase());

export function formatBytes(bytes: Uint8Array, hint: Hint | undefined): string {
  if (hint?.kind === 'ascii') {
    let s = 'b"';
    for (const b of bytes) {
      if (b === 0x09) s += '\\t';
      else if (b === 0x0a) s += '\\n';
      else if (b === 0x0d) s += '\\r';
      else if (b === 0x22) s += '\\"';
      else if (b === 0x5c) s += '\\\\';
      else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
      else s += `\\x${b.toString(16).padStart(2, '0')}`;
    }
    return s + '"';
  }
  if (hint?.kind === 'hex' && !hint.alternate && hint.zeroPad === 0) {
    const table = hint.upper ? HEX_UPPER : HEX_LOWER;
    let out = '[';
    for (let i = 0; i < bytes.length; i++) out += (i ? ', ' : '') + table[bytes[i]];
    return out + ']';
  }
  if (hint?.kind === 'hex' || hint?.kind === 'binary' || hint?.kind === 'octal') {
    return `[${Array.from(bytes, (b) => formatUnsigned(b, hint)).join(', ')}]`;
  }
  let out = '[';
  for (let i = 0; i < bytes.length; i++) out += (i ? ', ' : '') + bytes[i];
  return out + ']';
}

/**
 * Floats as Rust's defmt-decoder prints them (the ryu crate's shortest round-trip form): "1.0",
 * "0.1", "1e20", "1.5e-7" — decimal notation for exponents up to 16 (f64) / 13 (f32) digits.
 */
export function formatFloat(v: number, f32: boolean): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const shortest = (x: number): string => {
    if (!f32) return x.toExponential();
    // The fewest significant digits that read back as the same f32 (1–9 always suffice). Whether
    // p digits round-trip is monotonic in p, so a binary search finds it in ≤ 4 tries.
    let lo = 1;
    let hi = 9;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (Math.fround(Number(x.toExponential(mid - 1))) === x) hi = mid;
      else lo = mid + 1;
    }
    return x.toExponential(lo - 1);
  };
  const sign = v < 0 ? '-' : '';
  const e = shortest(Math.abs(v));
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(e)!;
  // value = 0.d1d2… × 10^exp  (exp = position of the decimal point)
  const digits = (m[1] + (m[2] ?? '')).replace(/0+$/, '') || '0';
  const exp = Number(m[3]) + 1;
  const limit = f32 ? 13 : 16;
  const len = digits.length;
  const k = exp - len;
  if (k >= 0 && exp <= limit) return `${sign}${digits}${'0'.repeat(k)}.0`;
  if (exp > 0 && exp <= limit) return `${sign}${digits.slice(0, exp)}.${digits.slice(exp)}`;
  if (exp > -5 && exp <= 0) return `${sign}0.${'0'.repeat(-exp)}${digits}`;
  if (len === 1) return `${sign}${digits}e${exp - 1}`;
  return `${sign}${digits[0]}.${digits.slice(1)}e${exp - 1}`;
}
