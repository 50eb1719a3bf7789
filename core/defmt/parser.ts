/**
 * defmt format strings (defmt-parser grammar):
 *   param := '{' [ index ] [ '=' type ] [ ':' hint ] '}'    literal braces are '{{' and '}}'
 *   type  := u8|u16|u32|u64|u128|usize|i8|…|isize|f32|f64|bool|str|istr|char|?|[u8]|[?]
 *            |[u8; N]|[?; N]|START..END (bitfield)|__internal_Debug|__internal_Display|__internal_FormatSequence
 *   hint  := ['#'] ['0' width] (x|X|b|o|a|us|ms|ts|tms|tus|iso8601ms|iso8601s|cbor|?|__internal_bitflags_…)
 * A parameter without a type is `?` (a nested Format); one without an index takes the next one.
 */

export type ParamType =
  | { kind: 'int'; signed: boolean; bytes: 1 | 2 | 4 | 8 | 16; name: string }
  | { kind: 'f32' | 'f64' | 'bool' | 'str' | 'istr' | 'char' | 'format' | 'formatSlice' | 'u8Slice' | 'debug' | 'display' | 'formatSequence' }
  | { kind: 'u8Array' | 'formatArray'; length: number }
  | { kind: 'bitfield'; start: number; end: number };

export type Hint =
  | { kind: 'none'; zeroPad: number }
  | { kind: 'hex'; upper: boolean; alternate: boolean; zeroPad: number }
  | { kind: 'binary' | 'octal'; alternate: boolean; zeroPad: number }
  | { kind: 'ascii' | 'debug' | 'cbor' }
  | { kind: 'seconds' | 'time' | 'iso8601'; precision: 'us' | 'ms' | 's' }
  | { kind: 'bitflags'; name: string; package: string; disambiguator: string; crateName?: string }
  | { kind: 'unknown'; text: string };

export interface Param {
  index: number;
  type: ParamType;
  hint?: Hint;
}

export type Fragment = string | Param;

export class FormatStringError extends Error {
  constructor(format: string, detail: string) {
    super(`malformed defmt format string ${JSON.stringify(format)}: ${detail}`);
    this.name = 'FormatStringError';
  }
}

const INTS: Record<string, [boolean, 1 | 2 | 4 | 8 | 16]> = {
  u8: [false, 1], u16: [false, 2], u32: [false, 4], u64: [false, 8], u128: [false, 16], usize: [false, 4],
  i8: [true, 1], i16: [true, 2], i32: [true, 4], i64: [true, 8], i128: [true, 16], isize: [true, 4],
};

function parseType(text: string, format: string): ParamType {
  const int = INTS[text];
  if (int) return { kind: 'int', signed: int[0], bytes: int[1], name: text };
  switch (text) {
    case 'f32':
    case 'f64':
    case 'bool':
    case 'str':
    case 'istr':
    case 'char':
      return { kind: text };
    case '?':
      return { kind: 'format' };
    case '[?]':
      return { kind: 'formatSlice' };
    case '[u8]':
      return { kind: 'u8Slice' };
    case '__internal_Debug':
      return { kind: 'debug' };
    case '__internal_Display':
      return { kind: 'display' };
    case '__internal_FormatSequence':
      return { kind: 'formatSequence' };
  }
  const array = /^\[(u8|\?)\s*;\s*(\d+)\]$/.exec(text);
  if (array) return { kind: array[1] === 'u8' ? 'u8Array' : 'formatArray', length: Number(array[2]) };
  const bits = /^(\d+)\.\.(\d+)$/.exec(text);
  if (bits) {
    const start = Number(bits[1]);
    const end = Number(bits[2]);
    if (end <= start || end > 128) throw new FormatStringError(format, `bitfield ${text} is empty or wider than 128 bits`);
    return { kind: 'bitfield', start, end };
  }
  throw new FormatStringError(format, `unknown type "${text}"`);
}

/**
 * Zero-pad widths beyond this are refused: no value renders wider than 130 characters (a u128 in
 * binary with its 0b), so a larger width only comes from a corrupt or hostile table — and a width
 * of 999999999 would build a gigabyte string per argument.
 */
export const MAX_ZERO_PAD = 255;

export function parseHint(text: string, format = text): Hint {
  let s = text;
  let alternate = false;
  if (s.startsWith('#')) {
    alternate = true;
    s = s.slice(1);
  }
  let zeroPad = 0;
  const pad = /^0(\d+)/.exec(s);
  if (pad) {
    zeroPad = Number(pad[1]);
    if (zeroPad > MAX_ZERO_PAD) throw new FormatStringError(format, `zero-pad width ${pad[1]} in display hint ":${text}" is larger than ${MAX_ZERO_PAD}`);
    s = s.slice(pad[0].length);
  }
  if (s.startsWith('__internal_bitflags_')) {
    const parts = s.slice('__internal_bitflags_'.length).split('@');
    if (parts.length < 3 || parts.length > 4) return { kind: 'unknown', text };
    return { kind: 'bitflags', name: parts[0], package: parts[1], disambiguator: parts[2], crateName: parts[3] };
  }
  switch (s) {
    case '':
      return { kind: 'none', zeroPad };
    case 'x':
    case 'X':
      return { kind: 'hex', upper: s === 'X', alternate, zeroPad };
    case 'b':
      return { kind: 'binary', alternate, zeroPad };
    case 'o':
      return { kind: 'octal', alternate, zeroPad };
    case 'a':
      return { kind: 'ascii' };
    case '?':
      return { kind: 'debug' };
    case 'cbor':
      return { kind: 'cbor' };
    case 'us':
      return { kind: 'seconds', precision: 'us' };
    case 'ms':
      return { kind: 'seconds', precision: 'ms' };
    case 'tus':
      return { kind: 'time', precision: 'us' };
    case 'tms':
      return { kind: 'time', precision: 'ms' };
    case 'ts':
      return { kind: 'time', precision: 's' };
    case 'iso8601ms':
      return { kind: 'iso8601', precision: 'ms' };
    case 'iso8601s':
      return { kind: 'iso8601', precision: 's' };
    default:
      return { kind: 'unknown', text };
  }
}

const cache = new Map<string, Fragment[]>();

/** Parse (and memoise: format strings come from a fixed table) a defmt format string. */
export function parseFormat(format: string): Fragment[] {
  const hit = cache.get(format);
  if (hit) return hit;
  const fragments: Fragment[] = [];
  let literal = '';
  let next = 0;
  let i = 0;
  while (i < format.length) {
    const c = format[i];
    if (c === '{' && format[i + 1] === '{') {
      literal += '{';
      i += 2;
      continue;
    }
    if (c === '}') {
      if (format[i + 1] === '}') {
        literal += '}';
        i += 2;
        continue;
      }
      throw new FormatStringError(format, `unmatched '}' at ${i}`);
    }
    if (c !== '{') {
      literal += c;
      i++;
      continue;
    }
    const close = format.indexOf('}', i);
    if (close < 0) throw new FormatStringError(format, `unclosed '{' at ${i}`);
    const body = format.slice(i + 1, close);
    if (literal) fragments.push(literal);
    literal = '';
    fragments.push(parseParam(body, format, () => next++));
    i = close + 1;
  }
  if (literal) fragments.push(literal);
  cache.set(format, fragments);
  return fragments;
}

function parseParam(body: string, format: string, nextIndex: () => number): Param {
  const m = /^(\d*)(?:=([^:]*))?(?::(.*))?$/.exec(body);
  if (!m) throw new FormatStringError(format, `malformed parameter {${body}}`);
  const index = m[1] ? Number(m[1]) : nextIndex();
  const type = m[2] === undefined || m[2] === '' ? ({ kind: 'format' } as ParamType) : parseType(m[2], format);
  const param: Param = { index, type };
  if (m[3] !== undefined) param.hint = parseHint(m[3], format);
  return param;
}

const wireCache = new Map<string, Param[]>();

/** The parameters in wire order: one per argument index, bitfields of one index merged (memoised). */
export function wireParams(format: string): Param[] {
  const hit = wireCache.get(format);
  if (hit) return hit;
  const params = computeWireParams(format);
  wireCache.set(format, params);
  return params;
}

function computeWireParams(format: string): Param[] {
  const byIndex = new Map<number, Param>();
  for (const f of parseFormat(format)) {
    if (typeof f === 'string') continue;
    const prev = byIndex.get(f.index);
    if (prev && prev.type.kind === 'bitfield' && f.type.kind === 'bitfield') {
      byIndex.set(f.index, { ...prev, type: { kind: 'bitfield', start: Math.min(prev.type.start, f.type.start), end: Math.max(prev.type.end, f.type.end) } });
    } else if (!prev) {
      byIndex.set(f.index, f);
    }
  }
  return [...byIndex.values()].sort((a, b) => a.index - b.index);
}
