/** Intel HEX through nrf-intel-hex (a maintained parser with no platform dependencies). */
import * as intelHexModule from 'nrf-intel-hex';
import { FlashImage, ImageError } from './image';

type MemoryMapClass = typeof intelHexModule.default;
const MemoryMap: MemoryMapClass =
  ((intelHexModule as unknown as { default?: MemoryMapClass }).default ?? (intelHexModule as unknown as MemoryMapClass));

export function imageFromHex(text: string, name: string): FlashImage {
  let blocks: Map<number, Uint8Array>;
  try {
    blocks = MemoryMap.fromHex(text) as unknown as Map<number, Uint8Array>;
  } catch (err) {
    const message = (err as Error).message;
    // The library counts records from 1; records are one per line, so that is the line number.
    const record = /record (\d+)/.exec(message);
    throw new ImageError(`${name}: invalid Intel HEX${record ? ` at line ${record[1]}` : ''}: ${message}`);
  }
  const chunks = [...blocks.entries()].map(([address, data]) => ({ address, data, source: `HEX data at 0x${address.toString(16)}` }));
  if (chunks.length === 0) throw new ImageError(`${name}: Intel HEX file has no data records`);
  return new FlashImage(name, chunks);
}
