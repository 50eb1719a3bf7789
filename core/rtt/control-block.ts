/**
 * The SEGGER RTT control block as the target lays it out in RAM (SEGGER_RTT.h):
 *   char acID[16] = "SEGGER RTT"; i32 MaxNumUpBuffers; i32 MaxNumDownBuffers;
 *   then MaxNumUpBuffers up descriptors and MaxNumDownBuffers down descriptors, each
 *   { u32 sName; u32 pBuffer; u32 SizeOfBuffer; u32 WrOff; u32 RdOff; u32 Flags } (24 bytes).
 * Up channels: the target writes WrOff, the host writes RdOff. Down channels: the reverse.
 */
import { DebugError } from '../dap/errors';
import { hex32, readU32le } from '../dap/protocol';

export const RTT_ID = 'SEGGER RTT';
export const RTT_HEADER_SIZE = 24;
export const RTT_DESCRIPTOR_SIZE = 24;
/** Sanity bound: SEGGER's default is 3/3; more than this is a corrupt or half-written block. */
const MAX_CHANNELS = 32;

export interface RttChannel {
  direction: 'up' | 'down';
  index: number;
  /** Address of this channel's descriptor. */
  descriptor: number;
  name: string;
  buffer: number;
  size: number;
  writeOffset: number;
  readOffset: number;
  flags: number;
}

export interface RttControlBlock {
  address: number;
  maxUp: number;
  maxDown: number;
  up: RttChannel[];
  down: RttChannel[];
}

/** What the RTT layer needs from the debug layer. */
export interface RttMemory {
  readMemory(address: number, length: number): Promise<Uint8Array>;
  writeMemory(address: number, data: Uint8Array): Promise<void>;
}

const ID_BYTES = Array.from(RTT_ID, (c) => c.charCodeAt(0));

/** Offset of the first "SEGGER RTT\0" in `bytes` at or after `from`, or -1. */
export function findRttId(bytes: Uint8Array, from = 0): number {
  outer: for (let i = from; i + ID_BYTES.length < bytes.length; i++) {
    for (let j = 0; j < ID_BYTES.length; j++) if (bytes[i + j] !== ID_BYTES[j]) continue outer;
    if (bytes[i + ID_BYTES.length] !== 0) continue;
    return i;
  }
  return -1;
}

/**
 * Every word-aligned "SEGGER RTT\0" in [start, start+size) (RAM must be readable), lowest first.
 * All of them, not the first: RAM can hold stale copies of the ID (a previous firmware's block, the
 * image's bytes in a flash algorithm's page buffers) below the live block.
 */
export async function scanForControlBlocks(memory: RttMemory, start: number, size: number): Promise<number[]> {
  const chunk = 4096;
  const found: number[] = [];
  for (let offset = 0; offset < size; offset += chunk) {
    // Overlap chunks by the ID length so an ID straddling two chunks is still found (once).
    const length = Math.min(chunk + 16, size - offset);
    const bytes = await memory.readMemory(start + offset, length);
    for (let at = findRttId(bytes); at >= 0; at = findRttId(bytes, at + 1)) {
      const address = start + offset + at;
      if (address % 4 === 0 && !found.includes(address)) found.push(address);
    }
  }
  return found;
}

export async function readControlBlock(memory: RttMemory, address: number): Promise<RttControlBlock> {
  const header = await memory.readMemory(address, RTT_HEADER_SIZE);
  if (findRttId(header) !== 0) {
    throw new DebugError('target', `no RTT control block at ${hex32(address)} (ID is not "${RTT_ID}": not initialised yet?)`);
  }
  const maxUp = readU32le(header, 16);
  const maxDown = readU32le(header, 20);
  if (maxUp > MAX_CHANNELS || maxDown > MAX_CHANNELS) {
    throw new DebugError('target', `RTT control block at ${hex32(address)} claims ${maxUp} up / ${maxDown} down channels: corrupt`);
  }
  const descriptors = await memory.readMemory(address + RTT_HEADER_SIZE, (maxUp + maxDown) * RTT_DESCRIPTOR_SIZE);
  const channels: RttChannel[] = [];
  for (let i = 0; i < maxUp + maxDown; i++) {
    const o = i * RTT_DESCRIPTOR_SIZE;
    const up = i < maxUp;
    channels.push({
      direction: up ? 'up' : 'down',
      index: up ? i : i - maxUp,
      descriptor: address + RTT_HEADER_SIZE + o,
      name: '',
      buffer: readU32le(descriptors, o + 4),
      size: readU32le(descriptors, o + 8),
      writeOffset: readU32le(descriptors, o + 12),
      readOffset: readU32le(descriptors, o + 16),
      flags: readU32le(descriptors, o + 20),
    });
    channels[i].name = await readCString(memory, readU32le(descriptors, o));
  }
  return { address, maxUp, maxDown, up: channels.filter((c) => c.direction === 'up'), down: channels.filter((c) => c.direction === 'down') };
}

async function readCString(memory: RttMemory, address: number, max = 32): Promise<string> {
  if (address === 0) return '';
  try {
    const bytes = await memory.readMemory(address, max);
    const end = bytes.indexOf(0);
    return String.fromCharCode(...bytes.subarray(0, end < 0 ? max : end));
  } catch {
    return '';
  }
}
