/** Argument parsing helpers shared by CLI commands. Every refusal is a UsageError (exit 2). */

/** The 32-bit address space: an address plus a length may reach this, never pass it. */
export const ADDRESS_SPACE = 2 ** 32;

export interface NumberRange {
  min?: number;
  max?: number;
}

/** 0x-hex, plain decimal, or with a K/M suffix (binary units): "0x20000000", "4096", "64K". */
export function parseNumber(text: string, what: string, range: NumberRange = {}): number {
  const m = /^(0x[0-9a-f_]+|\d[\d_]*)([km])?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${what} must be a number (decimal, 0x-hex, optional K/M suffix), got "${text}"`);
  let value = Number(m[1].replace(/_/g, ''));
  if (m[2]) value *= m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024;
  const min = range.min ?? 0;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${what} out of range: "${text}" (allowed: ${min}..${max === Number.MAX_SAFE_INTEGER ? '' : max})`);
  }
  return value;
}

export function parseAddress(text: string, what = 'address'): number {
  const value = parseNumber(text, what);
  if (value > 0xffffffff) throw new UsageError(`${what} ${text} does not fit in 32 bits`);
  return value;
}

/** A byte count that, starting at `address`, stays inside the 4 GiB address space. */
export function parseLength(text: string, address: number, what = 'length'): number {
  const value = parseNumber(text, what);
  checkInsideAddressSpace(address, value, what);
  return value;
}

export function checkInsideAddressSpace(address: number, length: number, what: string): void {
  if (address + length > ADDRESS_SPACE) {
    throw new UsageError(`${what}: ${length} bytes at 0x${address.toString(16)} run past 0xffffffff, the end of the 32-bit address space`);
  }
}

/** START..END (END exclusive, both 32-bit addresses): a non-empty range inside the address space. */
export function parseRange(text: string, what: string): { start: number; size: number } {
  const m = /^(.+)\.\.(.+)$/.exec(text);
  if (!m) throw new UsageError(`${what} must be START..END, got "${text}"`);
  const start = parseAddress(m[1], `${what} start`);
  const endValue = parseNumber(m[2], `${what} end`);
  if (endValue > ADDRESS_SPACE) throw new UsageError(`${what} end ${m[2]} is past the end of the 32-bit address space (0x100000000)`);
  if (endValue <= start) throw new UsageError(`${what} range is empty: ${text}`);
  return { start, size: endValue - start };
}

/**
 * Seconds for --duration/--timeout: a positive, finite number. Any size is fine (timers longer
 * than Node's 2^31 ms limit are re-armed, see setLongTimeout).
 */
export function parseSeconds(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!(v > 0) || !Number.isFinite(v) || text.trim() === '') throw new UsageError(`${what} must be a positive number of seconds, got "${text}"`);
  return v;
}

/** "de ad be ef", "deadbeef", "0xdeadbeef" → bytes in the order written. */
export function parseHexBytes(text: string): Uint8Array {
  const clean = text.replace(/^0x/i, '').replace(/[\s:_-]/g, '');
  if (!/^([0-9a-f]{2})+$/i.test(clean)) throw new UsageError(`data must be hex bytes (e.g. "deadbeef"), got "${text}"`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
