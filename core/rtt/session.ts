/**
 * A live RTT connection: find the control block, poll every up channel with two batches per poll
 * (descriptors; then every channel's new bytes plus every RdOff), write down channels, and notice
 * when the target resets and re-initialises its block.
 *
 * Race-freedom: per up channel the host reads WrOff, then only bytes between RdOff and that WrOff
 * (the target never writes there), then publishes RdOff. The descriptor read of a poll is taken
 * before the data reads, and the RdOff writes come after them in the same batch, so the order holds
 * for every channel at once.
 */
import { DebugError } from '../dap/errors';
import { concatBytes, hex32, readU32le } from '../dap/protocol';
import { RTT_DESCRIPTOR_SIZE, RTT_HEADER_SIZE, findRttId, readControlBlock, scanForControlBlocks, type RttChannel, type RttControlBlock } from './control-block';

export interface RttBatchMemory {
  readMemory(address: number, length: number): Promise<Uint8Array>;
  writeMemory(address: number, data: Uint8Array): Promise<void>;
  /** Reads, then 32-bit writes, in one batch. */
  transact(reads: readonly { address: number; length: number }[], writes?: readonly { address: number; value: number }[]): Promise<Uint8Array[]>;
}

export interface MemoryRange {
  start: number;
  size: number;
}

/** Up-channel modes (Flags bits 0–1), SEGGER_RTT.h. */
export const RTT_MODES = { skip: 0, trim: 1, block: 2 } as const;
export type RttMode = keyof typeof RTT_MODES;

export interface RttAttachOptions {
  /** The control block's address when known (the ELF's `_SEGGER_RTT` symbol). */
  address?: number;
  /** Where to scan when the address is not known. */
  scan?: MemoryRange[];
  /** How long to wait for the firmware to initialise the block. */
  timeoutMs?: number;
  /** Set every up channel to this mode on attach. */
  mode?: RttMode;
  signal?: AbortSignal;
  sleep?: (ms: number) => Promise<void>;
  /**
   * A word read in the first batch of every poll, ahead of the descriptors (the core's DHCSR, to
   * notice a halted, locked-up or reset core at no extra round trip). Its value comes back in
   * every PollResult as `watched`.
   */
  watch?: number;
  /**
   * Called while no control block is there yet (every 10 ms of waiting), with the watched word:
   * 'stop' ends the wait (RttAttachStopped), 'active' says the firmware is doing something else
   * worth waiting for (a stream serving its semihosting calls), so the RTT timeout stops counting.
   */
  whileWaiting?: (watched: number) => Promise<'stop' | 'active' | 'idle'>;
}

/** The wait for a control block ended because `whileWaiting` said so (the core stopped for good). */
export class RttAttachStopped extends Error {
  constructor() {
    super('the wait for an RTT control block ended: the core stopped');
    this.name = 'RttAttachStopped';
  }
}

export interface UpData {
  channel: number;
  data: Uint8Array;
}

export type PollResult = ({ kind: 'data'; chunks: UpData[] } | { kind: 'reset'; reason: string }) & { watched?: number };

export class RttNotFoundError extends DebugError {
  constructor(message: string) {
    super('target', message);
    this.name = 'RttNotFoundError';
  }
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function describeRanges(ranges: readonly MemoryRange[]): string {
  return ranges.map((r) => `${hex32(r.start)}..${hex32(r.start + r.size)}`).join(', ');
}

/** Why a control block cannot be the firmware's (null when it can): offsets outside a buffer, or no up buffer yet. */
function blockProblem(block: RttControlBlock): string | null {
  const channels = block.up.concat(block.down);
  const bad = channels.find((c) => c.size > 0 && (c.writeOffset >= c.size || c.readOffset >= c.size || c.buffer + c.size > 2 ** 32));
  if (bad) return `channel ${bad.direction} ${bad.index} of the block at ${hex32(block.address)} has offsets outside its buffer`;
  if (!block.up.some((c) => c.size > 0)) return `no up channel of the block at ${hex32(block.address)} has a buffer yet`;
  return null;
}

export class RttSession {
  readonly stats = { polls: 0, batches: 0, bytes: 0, resets: 0 };
  /** RdOff as this host last published it, per up channel. */
  private readonly published: number[];

  private constructor(
    private readonly memory: RttBatchMemory,
    public block: RttControlBlock,
    private readonly watch?: number,
  ) {
    this.published = block.up.map((c) => c.readOffset);
  }

  get address(): number {
    return this.block.address;
  }

  /**
   * Find the block and wait until it is initialised (ID present, channel descriptors sane).
   * Throws RttNotFoundError naming where it looked when the time runs out.
   */
  static async attach(memory: RttBatchMemory, options: RttAttachOptions): Promise<RttSession> {
    const sleep = options.sleep ?? defaultSleep;
    const started = Date.now();
    let deadline = started + (options.timeoutMs ?? 5000);
    const where = options.address !== undefined ? `at ${hex32(options.address)} (the ELF's _SEGGER_RTT symbol)` : `in ${describeRanges(options.scan ?? [])}`;
    let lastProblem = 'the "SEGGER RTT" ID never appeared';
    // Scanning: each plausible candidate's up WrOffs at the previous look, to tell the live block
    // (the firmware writes to it) from stale copies that look just as good.
    let previous = new Map<number, number[]>();
    for (;;) {
      let block: RttControlBlock | null = null;
      if (options.address !== undefined) {
        const id = await memory.readMemory(options.address, 16);
        if (findRttId(id) === 0) {
          try {
            const candidate = await readControlBlock(memory, options.address);
            const problem = blockProblem(candidate);
            if (problem === null) block = candidate;
            else lastProblem = problem;
          } catch (err) {
            lastProblem = (err as Error).message;
          }
        }
      } else {
        const ranges = options.scan ?? [];
        const plausible: RttControlBlock[] = [];
        for (const r of ranges) {
          for (const address of await scanForControlBlocks(memory, r.start, r.size)) {
            try {
              const candidate = await readControlBlock(memory, address);
              const problem = blockProblem(candidate);
              if (problem === null) plausible.push(candidate);
              else lastProblem = problem;
            } catch (err) {
              lastProblem = (err as Error).message;
            }
          }
        }
        if (plausible.length === 1) block = plausible[0];
        else if (plausible.length > 1) {
          const live = plausible.filter((b) => {
            const before = previous.get(b.address);
            return before !== undefined && b.up.some((c, i) => c.writeOffset !== before[i]);
          });
          if (live.length === 1) block = live[0];
          else {
            const where = plausible.map((b) => hex32(b.address)).join(', ');
            lastProblem = `${plausible.length} plausible control blocks (${where}) and ${live.length === 0 ? 'none' : 'more than one'} of them is being written to; the firmware's ELF (its _SEGGER_RTT symbol) names the live one`;
          }
          previous = new Map(plausible.map((b) => [b.address, b.up.map((c) => c.writeOffset)]));
        }
      }
      if (block !== null) {
        const session = new RttSession(memory, block, options.watch);
        if (options.mode !== undefined) await session.setMode(options.mode);
        return session;
      }
      if (options.whileWaiting && options.watch !== undefined && !options.signal?.aborted) {
        const [word] = await memory.transact([{ address: options.watch, length: 4 }]);
        const verdict = await options.whileWaiting(readU32le(word, 0));
        if (verdict === 'stop') throw new RttAttachStopped();
        if (verdict === 'active') deadline = Infinity;
      }
      // Stopped from outside (Ctrl-C, --timeout) or out of time: either way, say where it looked.
      if (Date.now() >= deadline || options.signal?.aborted) {
        const waited = Math.min(Date.now(), deadline) - started;
        throw new RttNotFoundError(`no RTT control block found ${where} after ${(waited / 1000).toFixed(1)} s: ${lastProblem}. Does the firmware initialise RTT, and is it running?`);
      }
      await sleep(10);
    }
  }

  async setMode(mode: RttMode): Promise<void> {
    const writes = this.block.up.map((c) => ({ address: c.descriptor + 20, value: (c.flags & ~3) | RTT_MODES[mode] }));
    await this.memory.transact([], writes);
    this.block.up.forEach((c, i) => (c.flags = writes[i].value));
  }

  /**
   * One poll: every up channel's new bytes. A 'reset' result means the block went away or was
   * re-initialised (the target reset): attach again.
   */
  async poll(): Promise<PollResult> {
    this.stats.polls++;
    const { address, maxUp } = this.block;
    const header = { address, length: RTT_HEADER_SIZE + maxUp * RTT_DESCRIPTOR_SIZE };
    // The watched word first: a core that halts after it is read is seen by the next poll, and all
    // it wrote before halting is read by this one's data batch.
    const first = await this.memory.transact(this.watch === undefined ? [header] : [{ address: this.watch, length: 4 }, header]);
    const raw = first[first.length - 1];
    const watched = this.watch === undefined ? undefined : readU32le(first[0], 0);
    this.stats.batches++;
    const result = await this.readChannels(raw);
    return watched === undefined ? result : { ...result, watched };
  }

  private async readChannels(raw: Uint8Array): Promise<PollResult> {
    const { address } = this.block;
    if (findRttId(raw) !== 0) return { kind: 'reset', reason: `the RTT control block at ${hex32(address)} is gone (target reset?)` };
    const reads: { address: number; length: number }[] = [];
    const writes: { address: number; value: number }[] = [];
    const plan: { channel: number; pieces: number }[] = [];
    for (const c of this.block.up) {
      const o = RTT_HEADER_SIZE + c.index * RTT_DESCRIPTOR_SIZE;
      const buffer = readU32le(raw, o + 4);
      const size = readU32le(raw, o + 8);
      const write = readU32le(raw, o + 12);
      const read = readU32le(raw, o + 16);
      if (buffer !== c.buffer || size !== c.size || read !== this.published[c.index] || write >= size) {
        return { kind: 'reset', reason: `RTT up channel ${c.index} was re-initialised (target reset?)` };
      }
      if (write === read) continue;
      if (write > read) {
        reads.push({ address: buffer + read, length: write - read });
        plan.push({ channel: c.index, pieces: 1 });
      } else {
        reads.push({ address: buffer + read, length: size - read });
        if (write > 0) reads.push({ address: buffer, length: write });
        plan.push({ channel: c.index, pieces: write > 0 ? 2 : 1 });
      }
      writes.push({ address: c.descriptor + 16, value: write });
      this.published[c.index] = write;
      c.writeOffset = write;
      c.readOffset = write;
    }
    if (reads.length === 0) return { kind: 'data', chunks: [] };
    const results = await this.memory.transact(reads, writes);
    this.stats.batches++;
    const chunks: UpData[] = [];
    let at = 0;
    for (const p of plan) {
      const parts = results.slice(at, at + p.pieces);
      at += p.pieces;
      const data = parts.length === 1 ? parts[0] : concatBytes(parts);
      this.stats.bytes += data.length;
      chunks.push({ channel: p.channel, data });
    }
    return { kind: 'data', chunks };
  }

  /**
   * Write to a down channel: as many bytes as fit now (RTT never blocks the host). Returns how many
   * were accepted; the caller keeps the rest and tries again, nothing is dropped silently.
   */
  async write(channel: number, data: Uint8Array): Promise<number> {
    const c = this.block.down[channel];
    if (!c) throw new DebugError('target', `RTT down channel ${channel} does not exist (the block has ${this.block.maxDown})`);
    const [offsets] = await this.memory.transact([{ address: c.descriptor + 12, length: 8 }]);
    const write = readU32le(offsets, 0);
    const read = readU32le(offsets, 4);
    if (write >= c.size || read >= c.size) throw new DebugError('target', `RTT down channel ${channel} offsets out of range (WrOff ${write}, RdOff ${read}, size ${c.size})`);
    const free = read > write ? read - write - 1 : c.size - write + read - 1;
    const n = Math.min(free, data.length);
    if (n === 0) return 0;
    const first = Math.min(n, c.size - write);
    await this.memory.writeMemory(c.buffer + write, data.subarray(0, first));
    if (n > first) await this.memory.writeMemory(c.buffer, data.subarray(first, n));
    // Bytes first, then WrOff: the target never sees an offset ahead of its data.
    await this.memory.transact([], [{ address: c.descriptor + 12, value: (write + n) % c.size }]);
    return n;
  }

  /** Channel list for `rtt list`. */
  channels(): RttChannel[] {
    return [...this.block.up, ...this.block.down];
  }
}

/**
 * Polls until stopped: again at once while data flows, backing off (1 ms doubling to `maxIdleMs`)
 * while idle. On a target reset it waits for the block to come back and carries on.
 */
export async function pollLoop(
  attach: () => Promise<RttSession>,
  handlers: {
    onData(chunks: UpData[]): void | Promise<void>;
    onIdle?(): void | Promise<void>;
    onReset?(reason: string): void;
    onAttach?(session: RttSession): void | Promise<void>;
    /** The watched word of each poll, after that poll's data: return true to end the loop. */
    onWatched?(value: number): boolean | Promise<boolean>;
  },
  options: { signal: AbortSignal; maxIdleMs?: number; sleep?: (ms: number) => Promise<void> },
): Promise<RttSession | null> {
  const sleep = options.sleep ?? defaultSleep;
  const maxIdle = options.maxIdleMs ?? 20;
  let session = await attach();
  await handlers.onAttach?.(session);
  let idle = 0;
  while (!options.signal.aborted) {
    const result = await session.poll();
    if (result.watched !== undefined && result.kind === 'data' && result.chunks.length) await handlers.onData(result.chunks);
    if (result.watched !== undefined && (await handlers.onWatched?.(result.watched))) break;
    if (result.watched !== undefined && result.kind === 'data' && result.chunks.length) {
      idle = 0;
      continue;
    }
    if (result.kind === 'reset') {
      handlers.onReset?.(result.reason);
      session = await attach();
      await handlers.onAttach?.(session);
      session.stats.resets++;
      idle = 0; // firmware that just started usually talks at once: poll fast again
      continue;
    }
    if (result.chunks.length) {
      idle = 0;
      await handlers.onData(result.chunks);
    } else {
      await handlers.onIdle?.();
      idle = idle === 0 ? 1 : Math.min(idle * 2, maxIdle);
      await sleep(idle);
    }
  }
  return session;
}
