/**
 * UF2 files for tests, written by the `uf2` npm package (wokwi/uf2, an encoder nobody here wrote)
 * from a flash image: 256-byte payloads as Microsoft's uf2conv writes them, the family ID flag
 * from that package's own constants.
 */
import { encodeBlock, UF2Flags } from 'uf2';
import type { FlashImage } from '../../core/elf/image';

export function uf2FromImage(image: FlashImage, family?: number): Uint8Array {
  const pieces: { address: number; payload: Uint8Array }[] = [];
  for (const c of image.chunks) {
    for (let o = 0; o < c.data.length; o += 256) pieces.push({ address: c.address + o, payload: c.data.subarray(o, o + 256) });
  }
  const out = new Uint8Array(pieces.length * 512);
  pieces.forEach((p, i) =>
    encodeBlock(
      { flags: family === undefined ? 0 : UF2Flags.familyIDPresent, flashAddress: p.address, payload: p.payload, blockNumber: i, totalBlocks: pieces.length, boardFamily: family ?? 0 },
      out,
      i * 512,
    ),
  );
  return out;
}

/** The image as runs of contiguous bytes, to compare images chunked differently. */
export function contiguous(image: FlashImage): { address: number; data: Buffer }[] {
  const runs: { address: number; parts: Uint8Array[]; end: number }[] = [];
  for (const c of image.chunks) {
    const last = runs[runs.length - 1];
    if (last && last.end === c.address) {
      last.parts.push(c.data);
      last.end += c.data.length;
    } else runs.push({ address: c.address, parts: [c.data], end: c.address + c.data.length });
  }
  return runs.map((r) => ({ address: r.address, data: Buffer.concat(r.parts) }));
}
