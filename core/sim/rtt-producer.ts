/**
 * Firmware-side RTT for the in-process target model: a control block in RAM and a producer that
 * writes messages into up channel 0 at a fixed rate of *modeled* time, honouring the channel's
 * mode as SEGGER's code does — block (wait for room: nothing lost), skip (a message that does not
 * fit is dropped whole), trim (as much as fits). It keeps exact counts of what it produced, wrote
 * and dropped, so a benchmark or test can check the host against the firmware's own books.
 *
 * Each message is `size` bytes: a u32le sequence number, then bytes derived from it, so a reader
 * can tell exactly which messages arrived.
 */
import type { MemoryTarget } from './memory-target';

export interface RttProducerOptions {
  /** Control block address (word aligned, in RAM). */
  address: number;
  bufferSize: number;
  /** Bytes per second of modeled time. */
  rate: number;
  messageSize: number;
  mode: 'skip' | 'trim' | 'block';
  /** Down channel 0 buffer size (0 for none). */
  downSize?: number;
}

const MODE_BITS = { skip: 0, trim: 1, block: 2 } as const;

export class RttProducer {
  readonly stats = { produced: 0, written: 0, dropped: 0, stalledSeconds: 0, messages: 0 };
  readonly upBuffer: number;
  readonly downBuffer: number;
  /** Sequence numbers of messages dropped (wholly or partly): a reader can only see gaps before its last message. */
  readonly droppedSequences: number[] = [];
  private nextAt = 0;
  private sequence = 0;
  private stalledSince: number | null = null;
  enabled = true;

  constructor(
    private readonly target: MemoryTarget,
    readonly options: RttProducerOptions,
  ) {
    this.upBuffer = options.address + 24 + 2 * 24 + 16;
    this.downBuffer = this.upBuffer + options.bufferSize;
    this.install();
    target.onAccess = (now) => this.catchUp(now);
  }

  /** Lay out the block as firmware does at start-up (ID written last). */
  install(): void {
    const o = this.options;
    const ram = this.view();
    const at = o.address - 0x20000000;
    ram.setUint32(at + 16, 1, true); // MaxNumUpBuffers
    ram.setUint32(at + 20, 1, true); // MaxNumDownBuffers
    const name = o.address + 24 + 48; // "Bench\0" right after the descriptors
    this.writeDescriptor(at + 24, name, this.upBuffer, o.bufferSize, MODE_BITS[o.mode]);
    this.writeDescriptor(at + 48, name, this.downBuffer, o.downSize ?? 16, 0);
    this.target.ram.set(new TextEncoder().encode('Bench\0'), name - 0x20000000);
    this.target.ram.set(new TextEncoder().encode('SEGGER RTT\0\0\0\0\0\0'), at);
  }

  private writeDescriptor(at: number, name: number, buffer: number, size: number, flags: number): void {
    const v = this.view();
    v.setUint32(at, name, true);
    v.setUint32(at + 4, buffer, true);
    v.setUint32(at + 8, size, true);
    v.setUint32(at + 12, 0, true);
    v.setUint32(at + 16, 0, true);
    v.setUint32(at + 20, flags, true);
  }

  private view(): DataView {
    return new DataView(this.target.ram.buffer, this.target.ram.byteOffset, this.target.ram.byteLength);
  }

  /** Produce every message due by `now` (modeled seconds). */
  catchUp(now: number): void {
    if (!this.enabled) return;
    const o = this.options;
    const v = this.view();
    const desc = o.address - 0x20000000 + 24;
    const flags = v.getUint32(desc + 20, true) & 3; // the host may change the mode
    while (this.nextAt <= now) {
      const write = v.getUint32(desc + 12, true);
      const read = v.getUint32(desc + 16, true);
      const free = read > write ? read - write - 1 : o.bufferSize - write + read - 1;
      const message = this.message();
      if (free < message.length && flags === MODE_BITS.block) {
        // Blocked: the firmware waits in its write call; time passes, nothing is lost.
        if (this.stalledSince === null) this.stalledSince = this.nextAt;
        this.nextAt = now + 1e-6;
        return;
      }
      if (this.stalledSince !== null) {
        this.stats.stalledSeconds += this.nextAt - this.stalledSince;
        this.stalledSince = null;
      }
      let n = message.length;
      if (free < n) n = flags === MODE_BITS.trim ? free : 0;
      for (let i = 0, w = write; i < n; i++) {
        this.target.ram[this.upBuffer - 0x20000000 + w] = message[i];
        w = w + 1 === o.bufferSize ? 0 : w + 1;
      }
      v.setUint32(desc + 12, (write + n) % o.bufferSize, true);
      this.stats.produced += message.length;
      this.stats.written += n;
      this.stats.dropped += message.length - n;
      if (n < message.length) this.droppedSequences.push(this.sequence);
      this.stats.messages++;
      this.sequence++;
      this.nextAt += message.length / o.rate;
    }
  }

  private message(): Uint8Array {
    const m = new Uint8Array(this.options.messageSize);
    new DataView(m.buffer).setUint32(0, this.sequence, true);
    for (let i = 4; i < m.length; i++) m[i] = (this.sequence * 31 + i) & 0xff;
    return m;
  }
}

/** Check a received stream of whole messages: how many arrived in order, and how many are missing. */
export function auditMessages(data: Uint8Array, messageSize: number): { received: number; missing: number; corrupt: number; lastSequence: number } {
  let received = 0;
  let missing = 0;
  let corrupt = 0;
  let expect = 0;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let o = 0; o + messageSize <= data.length; o += messageSize) {
    const seq = v.getUint32(o, true);
    let ok = seq >= expect;
    for (let i = 4; ok && i < messageSize; i++) if (data[o + i] !== ((seq * 31 + i) & 0xff)) ok = false;
    if (!ok) {
      corrupt++;
      continue;
    }
    missing += seq - expect;
    expect = seq + 1;
    received++;
  }
  return { received, missing, corrupt, lastSequence: expect - 1 };
}
