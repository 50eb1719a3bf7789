/**
 * A MEM-AP (the AHB-AP of a Cortex-M): sized single accesses and block transfers of any length and
 * alignment. Block transfers stream DRW with TAR auto-increment and rewrite TAR at every 1 KiB
 * boundary, because auto-increment is only defined inside a 1 KiB block (ADIv5.2 C2.2.2) — real
 * silicon wraps there.
 */
import { type TransferOp, hex32 } from '../dap/protocol';
import { DebugError } from '../dap/errors';
import type { TransferItem } from '../dap/transfer';
import type { DebugPort } from './dp';
import { CSW, MEM_AP, TAR_WRAP } from './registers';

export type AccessSize = 8 | 16 | 32;

const SIZE_BITS: Record<AccessSize, number> = { 8: CSW.SIZE_8, 16: CSW.SIZE_16, 32: CSW.SIZE_32 };
const LABEL: Record<number, string> = {
  [MEM_AP.CSW]: 'AP CSW', [MEM_AP.TAR]: 'AP TAR', [MEM_AP.DRW]: 'AP DRW',
  [MEM_AP.BD0]: 'AP BD0', [MEM_AP.BD1]: 'AP BD1', [MEM_AP.BD2]: 'AP BD2', [MEM_AP.BD3]: 'AP BD3',
  [MEM_AP.CFG]: 'AP CFG', [MEM_AP.BASE]: 'AP BASE', [MEM_AP.IDR]: 'AP IDR',
};

export interface ApIdentity {
  apsel: number;
  idr: number;
  cfg: number;
  base: number;
  /** IDR class 0b1000 = MEM-AP (ADIv5.2 C1.4.1). */
  isMemAp: boolean;
  description: string;
}

export class MemAp {
  private csw: number | null = null;

  constructor(
    readonly dp: DebugPort,
    readonly apsel = 0,
  ) {}

  /** Forget cached CSW (after errors or resets). */
  invalidate(): void {
    this.csw = null;
    this.dp.invalidate();
  }

  // ---- op builders (they update caches as if the ops will execute in order) ----

  apRead(offset: number, label = LABEL[offset]): TransferOp[] {
    return [...this.dp.selectFor(this.apsel, offset), { port: 'ap', read: true, reg: offset & 0xc, label }];
  }
  apWrite(offset: number, value: number, label = LABEL[offset]): TransferOp[] {
    return [...this.dp.selectFor(this.apsel, offset), { port: 'ap', read: false, reg: offset & 0xc, value: value >>> 0, label }];
  }
  /** A read that the probe repeats until (value & mask) === expected (DAP_TransferConfigure match retry). */
  apMatch(offset: number, mask: number, expected: number, label: string): TransferOp[] {
    return [
      ...this.dp.selectFor(this.apsel, offset),
      { port: 'ap', read: false, reg: 0, setMatchMask: true, value: mask >>> 0, label: 'match mask' },
      { port: 'ap', read: true, reg: offset & 0xc, match: true, value: expected >>> 0, label },
    ];
  }
  cswOps(size: AccessSize, increment: boolean): TransferOp[] {
    const value = (CSW.PROT_DEFAULT | SIZE_BITS[size] | (increment ? CSW.ADDRINC_SINGLE : CSW.ADDRINC_OFF)) >>> 0;
    if (this.csw === value) return [];
    this.csw = value;
    return this.apWrite(MEM_AP.CSW, value);
  }
  tarOps(address: number): TransferOp[] {
    return this.apWrite(MEM_AP.TAR, address);
  }

  // ---- identification ----

  async identify(): Promise<ApIdentity> {
    const [idr, cfg, base] = await this.dp.run(
      [...this.apRead(MEM_AP.IDR), ...this.apRead(MEM_AP.CFG), ...this.apRead(MEM_AP.BASE)],
      `reading AP #${this.apsel} identification`,
    );
    const apClass = (idr >>> 13) & 0xf;
    const type = idr & 0xf;
    const typeName = ['JTAG-AP', 'AHB-AP', 'APB-AP', '', 'AXI-AP', 'AHB5-AP', 'APB4-AP', 'AXI5-AP', 'AHB5-AP (enhanced HPROT)'][type] || `type ${type}`;
    return {
      apsel: this.apsel,
      idr,
      cfg,
      base,
      isMemAp: apClass === 0x8,
      description: idr === 0 ? 'not present' : `${apClass === 0x8 ? 'MEM-AP' : 'AP'} ${typeName} (IDR ${hex32(idr)})`,
    };
  }

  // ---- single accesses ----

  async read32(address: number): Promise<number> {
    this.checkAligned(address, 4);
    const [v] = await this.dp.run([...this.cswOps(32, false), ...this.tarOps(address), ...this.apRead(MEM_AP.DRW)], `reading 32 bits at ${hex32(address)}`);
    return v >>> 0;
  }
  async write32(address: number, value: number): Promise<void> {
    this.checkAligned(address, 4);
    await this.dp.run([...this.cswOps(32, false), ...this.tarOps(address), ...this.apWrite(MEM_AP.DRW, value)], `writing 32 bits at ${hex32(address)}`);
  }
  async read16(address: number): Promise<number> {
    this.checkAligned(address, 2);
    const [v] = await this.dp.run([...this.cswOps(16, false), ...this.tarOps(address), ...this.apRead(MEM_AP.DRW)], `reading 16 bits at ${hex32(address)}`);
    // Byte lanes: the halfword sits in DRW at bit 8*(address & 3) (ADIv5.2 C2.2.6).
    return (v >>> ((address & 2) * 8)) & 0xffff;
  }
  async write16(address: number, value: number): Promise<void> {
    this.checkAligned(address, 2);
    await this.dp.run(
      [...this.cswOps(16, false), ...this.tarOps(address), ...this.apWrite(MEM_AP.DRW, (value & 0xffff) << ((address & 2) * 8))],
      `writing 16 bits at ${hex32(address)}`,
    );
  }
  async read8(address: number): Promise<number> {
    const [v] = await this.dp.run([...this.cswOps(8, false), ...this.tarOps(address), ...this.apRead(MEM_AP.DRW)], `reading 8 bits at ${hex32(address)}`);
    return (v >>> ((address & 3) * 8)) & 0xff;
  }
  async write8(address: number, value: number): Promise<void> {
    await this.dp.run(
      [...this.cswOps(8, false), ...this.tarOps(address), ...this.apWrite(MEM_AP.DRW, (value & 0xff) << ((address & 3) * 8))],
      `writing 8 bits at ${hex32(address)}`,
    );
  }

  // ---- blocks ----

  /** Items that read `count` words from word-aligned `address`, TAR rewritten at each 1 KiB block. */
  readWordsItems(address: number, count: number): TransferItem[] {
    const items: TransferItem[] = [];
    let addr = address >>> 0;
    let left = count;
    while (left > 0) {
      const n = Math.min(left, (TAR_WRAP - (addr % TAR_WRAP)) / 4);
      items.push({ kind: 'ops', ops: [...this.cswOps(32, true), ...this.tarOps(addr), ...this.dp.selectFor(this.apsel, MEM_AP.DRW)] });
      items.push({ kind: 'block-read', op: { port: 'ap', reg: MEM_AP.DRW, label: 'AP DRW' }, count: n });
      addr = (addr + n * 4) >>> 0;
      left -= n;
    }
    return items;
  }

  writeWordsItems(address: number, words: Uint32Array): TransferItem[] {
    const items: TransferItem[] = [];
    let addr = address >>> 0;
    let done = 0;
    while (done < words.length) {
      const n = Math.min(words.length - done, (TAR_WRAP - (addr % TAR_WRAP)) / 4);
      items.push({ kind: 'ops', ops: [...this.cswOps(32, true), ...this.tarOps(addr), ...this.dp.selectFor(this.apsel, MEM_AP.DRW)] });
      items.push({ kind: 'block-write', op: { port: 'ap', reg: MEM_AP.DRW, label: 'AP DRW' }, words: words.subarray(done, done + n) });
      addr = (addr + n * 4) >>> 0;
      done += n;
    }
    return items;
  }

  async readWords(address: number, count: number): Promise<Uint32Array> {
    this.checkAligned(address, 4);
    if (count === 0) return new Uint32Array(0);
    const items = this.readWordsItems(address, count);
    const results = await this.dp.execute(items, `reading ${count * 4} bytes at ${hex32(address)}`);
    const out = new Uint32Array(count);
    let p = 0;
    for (const r of results) {
      if (r instanceof Uint32Array) {
        out.set(r, p);
        p += r.length;
      }
    }
    return out;
  }

  async writeWords(address: number, words: Uint32Array): Promise<void> {
    this.checkAligned(address, 4);
    if (words.length === 0) return;
    await this.dp.execute(this.writeWordsItems(address, words), `writing ${words.length * 4} bytes at ${hex32(address)}`);
  }

  /** Read any number of bytes at any alignment (whole words are read; the bytes asked for are returned). */
  async readMemory(address: number, length: number): Promise<Uint8Array> {
    checkRange(address, length, 'read');
    if (length === 0) return new Uint8Array(0);
    const start = (address & ~3) >>> 0; // unsigned: addresses above 0x80000000 (the PPB) stay positive
    const end = address + length;
    const words = Math.ceil((end - start) / 4);
    const data = await this.readWords(start >>> 0, words);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return bytes.slice(address - start, address - start + length);
  }

  /**
   * Write any number of bytes at any alignment. Unaligned head and tail bytes are written with 8-bit
   * accesses (not read-modify-write, which would race with a running core); the middle streams as words.
   * Everything goes out as one batch, so a small unaligned write is still a single packet.
   */
  async writeMemory(address: number, data: Uint8Array): Promise<void> {
    checkRange(address, data.length, 'write');
    if (data.length === 0) return;
    // Plain arithmetic, not 32-bit bit operations: `end` may be 2^32 (a write ending at 0xffffffff),
    // which `& ~3` would wrap to 0.
    const end = address + data.length;
    const alignedStart = Math.min(Math.ceil(address / 4) * 4, end);
    const alignedEnd = Math.max(Math.floor(end / 4) * 4, alignedStart);
    const items: TransferItem[] = [];
    const byteOps = (from: number, to: number) => {
      if (from >= to) return;
      const ops: TransferOp[] = [...this.cswOps(8, true), ...this.tarOps(from)];
      for (let a = from; a < to; a++) ops.push(...this.apWrite(MEM_AP.DRW, data[a - address] << ((a & 3) * 8)));
      items.push({ kind: 'ops', ops });
    };
    byteOps(address, alignedStart);
    if (alignedEnd > alignedStart) {
      // A fresh copy: `data` may be a Node Buffer, whose slice() is a view into a shared pool.
      const middle = new Uint8Array(data.subarray(alignedStart - address, alignedEnd - address));
      items.push(...this.writeWordsItems(alignedStart >>> 0, new Uint32Array(middle.buffer, 0, middle.length / 4)));
    }
    byteOps(alignedEnd, end);
    await this.dp.execute(items, `writing ${data.length} bytes at ${hex32(address)}`);
  }

  /**
   * Several reads (any alignment; whole words are read) and then several 32-bit word writes, as
   * one batch: one round trip when it fits the probe's packets. RTT polls use it to fetch every
   * channel's new bytes and publish every RdOff together.
   */
  async transact(reads: readonly { address: number; length: number }[], writes: readonly { address: number; value: number }[] = []): Promise<Uint8Array[]> {
    const items: TransferItem[] = [];
    const spans: { start: number; items: number }[] = [];
    for (const r of reads) {
      if (r.length === 0) {
        spans.push({ start: r.address, items: 0 });
        continue;
      }
      const start = (r.address & ~3) >>> 0;
      const words = Math.ceil((r.address + r.length - start) / 4);
      const readItems = this.readWordsItems(start >>> 0, words);
      spans.push({ start, items: readItems.length });
      items.push(...readItems);
    }
    for (const w of writes) {
      this.checkAligned(w.address, 4);
      items.push({ kind: 'ops', ops: [...this.cswOps(32, false), ...this.tarOps(w.address), ...this.apWrite(MEM_AP.DRW, w.value >>> 0)] });
    }
    if (items.length === 0) return reads.map(() => new Uint8Array(0));
    const results = await this.dp.execute(items, `batch of ${reads.length} reads and ${writes.length} writes`);
    const out: Uint8Array[] = [];
    let at = 0;
    reads.forEach((r, i) => {
      const chunks: Uint32Array[] = [];
      for (let k = 0; k < spans[i].items; k++) {
        const res = results[at + k];
        if (res instanceof Uint32Array) chunks.push(res);
      }
      at += spans[i].items;
      const total = chunks.reduce((n, c) => n + c.length, 0);
      const bytes = new Uint8Array(total * 4);
      let p = 0;
      for (const c of chunks) {
        bytes.set(new Uint8Array(c.buffer, c.byteOffset, c.byteLength), p);
        p += c.byteLength;
      }
      const skip = r.address - spans[i].start;
      out.push(bytes.slice(skip, skip + r.length));
    });
    return out;
  }

  private checkAligned(address: number, alignment: number): void {
    if (address % alignment !== 0) {
      throw new DebugError('ap', `${alignment * 8}-bit access at unaligned address ${hex32(address)}`);
    }
  }
}

/**
 * Transfers stay inside the 32-bit address space: a range that would run past 0xffffffff is a
 * caller's mistake (TAR would wrap to 0 on silicon), refused before anything is sent.
 */
function checkRange(address: number, length: number, what: string): void {
  if (!Number.isInteger(address) || address < 0 || address > 0xffffffff || !Number.isInteger(length) || length < 0 || address + length > 2 ** 32) {
    throw new DebugError('ap', `cannot ${what} ${length} bytes at ${Number.isInteger(address) && address >= 0 ? hex32(address) : String(address)}: the range runs outside the 32-bit address space`);
  }
}
