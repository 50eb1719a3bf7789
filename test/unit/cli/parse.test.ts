/** CLI argument parsing: numbers in range, addresses and ranges inside 4 GiB, long timers. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UsageError, parseLength, parseNumber, parseRange, parseSeconds } from '../../../main/cli/parse';
import { setLongTimeout } from '../../../main/cli/stream';

describe('CLI number parsing', () => {
  it('refuses numbers outside the allowed range as usage errors', () => {
    expect(parseNumber('4', '--packet-count', { min: 1, max: 255 })).toBe(4);
    expect(() => parseNumber('0', '--packet-count', { min: 1, max: 255 })).toThrow(new UsageError('--packet-count out of range: "0" (allowed: 1..255)'));
    expect(() => parseNumber('0x100', '--packet-count', { min: 1, max: 255 })).toThrow(UsageError);
    expect(parseNumber('64K', 'length')).toBe(65536);
  });

  it('keeps lengths and ranges inside the 32-bit address space (ending at 2^32 is fine)', () => {
    expect(parseLength('2', 0xfffffffe)).toBe(2);
    expect(() => parseLength('3', 0xfffffffe)).toThrow('length: 3 bytes at 0xfffffffe run past 0xffffffff, the end of the 32-bit address space');
    expect(parseRange('0xfffff000..0x100000000', '--range')).toEqual({ start: 0xfffff000, size: 0x1000 });
    expect(() => parseRange('0x100..0x100', '--range')).toThrow('--range range is empty: 0x100..0x100');
    expect(() => parseRange('0x100000000..0x100000010', '--range')).toThrow('--range start 0x100000000 does not fit in 32 bits');
  });

  it('takes any positive finite number of seconds', () => {
    expect(parseSeconds('2200000', '--duration')).toBe(2_200_000);
    expect(parseSeconds(undefined, '--duration')).toBeUndefined();
    for (const bad of ['0', '-1', 'Infinity', 'NaN', '', 'soon']) expect(() => parseSeconds(bad, '--timeout')).toThrow(UsageError);
  });
});

describe('setLongTimeout', () => {
  afterEach(() => vi.useRealTimers());

  it('fires after a delay past 2^31 ms, not after 1 ms as setTimeout does', () => {
    // The fake clock reproduces Node's overflow: a plain setTimeout past 2^31 - 1 ms fires after 1 ms.
    vi.useFakeTimers();
    const plain = vi.fn();
    setTimeout(plain, 2 ** 31 + 5000);
    vi.advanceTimersByTime(2);
    expect(plain).toHaveBeenCalled();
    const fired = vi.fn();
    setLongTimeout(fired, 2 ** 31 + 5000);
    vi.advanceTimersByTime(2 ** 31 - 1);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(5000);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(2);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('can be cancelled before it fires, in any of its steps', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    const timer = setLongTimeout(fired, 2 ** 32);
    vi.advanceTimersByTime(2 ** 31);
    timer.clear();
    vi.advanceTimersByTime(2 ** 32);
    expect(fired).not.toHaveBeenCalled();
  });
});
