/** Argument parsing helpers shared by CLI commands. */

/** 0x-hex, plain decimal, or with a K/M suffix (binary units): "0x20000000", "4096", "64K". */
export function parseNumber(text: string, what: string): number {
  const m = /^(0x[0-9a-f_]+|\d[\d_]*)([km])?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${what} must be a number (decimal, 0x-hex, optional K/M suffix), got "${text}"`);
  let value = Number(m[1].replace(/_/g, ''));
  if (m[2]) value *= m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024;
  if (!Number.isSafeInteger(value) || value < 0) throw new UsageError(`${what} out of range: "${text}"`);
  return value;
}

export function parseAddress(text: string): number {
  const value = parseNumber(text, 'address');
  if (value > 0xffffffff) throw new UsageError(`address ${text} does not fit in 32 bits`);
  return value;
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
