/** Sectors smaller than the algorithm's page go to ProgramPage together, never across a page window. */
import { describe, expect, it } from 'vitest';
import { coalescePages } from '../../../core/flash/flasher';

const piece = (address: number, size: number) => ({ address, data: new Uint8Array(size).fill(address >>> 10), sectors: [address] });

describe('coalescePages', () => {
  it('joins contiguous sectors of one page-aligned window, data in order', () => {
    const [page, ...rest] = coalescePages([piece(0x1000, 0x400), piece(0x1400, 0x400), piece(0x1800, 0x400), piece(0x1c00, 0x400)], 0x1000);
    expect(rest).toEqual([]);
    expect(page.address).toBe(0x1000);
    expect(page.sectors).toEqual([0x1000, 0x1400, 0x1800, 0x1c00]);
    expect([page.data[0], page.data[0x400], page.data[0x800], page.data[0xfff]]).toEqual([4, 5, 6, 7]);
  });

  it('starts a new call at a gap, at a window boundary, and when the page is full', () => {
    const pages = coalescePages([piece(0x0, 0x400), piece(0x800, 0x400), piece(0xc00, 0x400), piece(0x1000, 0x400)], 0x1000);
    expect(pages.map((p) => [p.address, p.data.length])).toEqual([
      [0x0, 0x400], // 0x400 is missing (blank or unchanged)
      [0x800, 0x800], // 0x800 + 0xc00
      [0x1000, 0x400], // next 4 KiB window, though contiguous
    ]);
  });

  it('leaves pieces alone where the page is the sector', () => {
    const pages = coalescePages([piece(0x0, 0x400), piece(0x400, 0x400)], 0x400);
    expect(pages.map((p) => p.address)).toEqual([0x0, 0x400]);
  });
});
