/**
 * The transfer engine: turns a list of DP/AP register accesses and block transfers into as few
 * CMSIS-DAP packets as the probe's packet size allows, and keeps several in flight.
 *
 * Packing rules (CMSIS-DAP v2.1, DAP_Transfer / DAP_TransferBlock / DAP_ExecuteCommands):
 * - both the request and the response of every packet must fit the packet size;
 * - DAP_Transfer carries at most 255 accesses, DAP_TransferBlock at most 65535 words;
 * - where the probe supports DAP_ExecuteCommands, consecutive commands share a packet, so a
 *   TAR rewrite at a 1 KiB boundary costs 8 bytes of a packet rather than a packet of its own.
 * Items are split greedily into whatever room the current packet has left.
 */
import { DapProbe, checkResponseId } from './probe';
import { Command, Ack, TransferOp, ackName, opRequestBytes, opResponseBytes, readU32le, requestByte, u32le } from './protocol';
import { DebugError, SwdTransferError } from './errors';

export interface BlockOp {
  readonly port: 'dp' | 'ap';
  readonly reg: number;
  readonly label: string;
}

export type TransferItem =
  | { readonly kind: 'ops'; readonly ops: readonly TransferOp[] }
  | { readonly kind: 'block-read'; readonly op: BlockOp; readonly count: number }
  | { readonly kind: 'block-write'; readonly op: BlockOp; readonly words: Uint32Array };

/** Per item: read values (ops), the words read (block-read), or null (block-write). */
export type TransferResult = number[] | Uint32Array | null;

/** One command inside a packet, with where its results go. */
type Piece =
  | { kind: 'ops'; item: number; ops: TransferOp[]; readBase: number }
  | { kind: 'block-read'; item: number; op: BlockOp; count: number; wordBase: number }
  | { kind: 'block-write'; item: number; op: BlockOp; words: Uint32Array; wordBase: number };

interface Packet {
  pieces: Piece[];
  requestBytes: number;
  responseBytes: number;
}

const EXECUTE_OVERHEAD = 2; // [0x7F, command count] in request and response
const TRANSFER_REQ_HEADER = 3; // [0x05, index, count]
const TRANSFER_RESP_HEADER = 3; // [0x05, count, response]
const BLOCK_REQ_HEADER = 5; // [0x06, index, count lo, count hi, request]
const BLOCK_RESP_HEADER = 4; // [0x06, count lo, count hi, response]

export interface TransferStats {
  packets: number;
  items: number;
}

export class TransferEngine {
  readonly stats: TransferStats = { packets: 0, items: 0 };

  constructor(readonly probe: DapProbe) {}

  /** DAP_TransferConfigure: idle cycles after each transfer, WAIT retries, match retries. */
  async configure(idleCycles = 0, waitRetry = 128, matchRetry = 256): Promise<void> {
    await this.probe.commandOk(Command.TransferConfigure, [
      idleCycles,
      waitRetry & 0xff,
      waitRetry >> 8,
      matchRetry & 0xff,
      matchRetry >> 8,
    ]);
  }

  async run(ops: readonly TransferOp[]): Promise<number[]> {
    const [values] = await this.execute([{ kind: 'ops', ops }]);
    return values as number[];
  }

  /**
   * Execute items in order. All packets are sent before any response is awaited (up to the probe's
   * packet count in flight). If an access fails, every response is still drained so the link stays
   * in step, then the first failure is thrown as an SwdTransferError naming the access.
   */
  async execute(items: readonly TransferItem[]): Promise<TransferResult[]> {
    const packets = this.pack(items);
    this.stats.packets += packets.length;
    this.stats.items += items.length;
    const results: TransferResult[] = items.map((item) =>
      item.kind === 'ops' ? new Array<number>(item.ops.filter((op) => op.read && !op.match).length).fill(0)
      : item.kind === 'block-read' ? new Uint32Array(item.count)
      : null,
    );
    const sent = packets.map((packet) => this.probe.send(this.encode(packet)));
    const settled = await Promise.allSettled(sent);
    let firstError: Error | null = null;
    for (let i = 0; i < packets.length; i++) {
      const outcome = settled[i];
      if (outcome.status === 'rejected') {
        firstError ??= outcome.reason as Error;
        continue;
      }
      const err = this.decode(packets[i], outcome.value, results);
      firstError ??= err;
    }
    if (firstError) throw firstError;
    return results;
  }

  private get capacity(): number {
    return this.probe.packetSize;
  }

  private pack(items: readonly TransferItem[]): Packet[] {
    const size = this.capacity;
    const combine = this.probe.info.executeCommands;
    const packets: Packet[] = [];
    let current: Packet = { pieces: [], requestBytes: 0, responseBytes: 0 };
    const flush = () => {
      if (current.pieces.length) packets.push(current);
      current = { pieces: [], requestBytes: 0, responseBytes: 0 };
    };
    /** Room left for a new command in the current packet (request, response). */
    const room = (): [number, number] => {
      if (current.pieces.length === 0) return [size, size];
      if (!combine || current.pieces.length >= 255) return [0, 0];
      // A second command needs the ExecuteCommands wrapper; the first one was sized without it.
      const wrap = current.pieces.length === 1 ? EXECUTE_OVERHEAD : 0;
      return [size - current.requestBytes - wrap, size - current.responseBytes - wrap];
    };
    const add = (piece: Piece, req: number, resp: number) => {
      if (current.pieces.length === 1) {
        current.requestBytes += EXECUTE_OVERHEAD;
        current.responseBytes += EXECUTE_OVERHEAD;
      }
      current.pieces.push(piece);
      current.requestBytes += req;
      current.responseBytes += resp;
    };

    items.forEach((item, index) => {
      if (item.kind === 'ops') {
        let readBase = 0;
        let i = 0;
        while (i < item.ops.length) {
          let [reqRoom, respRoom] = room();
          if (reqRoom < TRANSFER_REQ_HEADER + 5 || respRoom < TRANSFER_RESP_HEADER + 4) {
            flush();
            [reqRoom, respRoom] = room();
          }
          let req = TRANSFER_REQ_HEADER;
          let resp = TRANSFER_RESP_HEADER;
          const ops: TransferOp[] = [];
          while (i < item.ops.length && ops.length < 255) {
            const op = item.ops[i];
            const r = opRequestBytes(op);
            const s = opResponseBytes(op);
            if (req + r > reqRoom || resp + s > respRoom) break;
            req += r;
            resp += s;
            ops.push(op);
            i++;
          }
          const piece: Piece = { kind: 'ops', item: index, ops, readBase };
          readBase += ops.filter((op) => op.read && !op.match).length;
          add(piece, req, resp);
        }
      } else {
        const total = item.kind === 'block-read' ? item.count : item.words.length;
        let done = 0;
        while (done < total) {
          let [reqRoom, respRoom] = room();
          const fit = () =>
            item.kind === 'block-read'
              ? Math.min(Math.floor((respRoom - BLOCK_RESP_HEADER) / 4), 0xffff)
              : Math.min(Math.floor((reqRoom - BLOCK_REQ_HEADER) / 4), 0xffff);
          let n = reqRoom >= BLOCK_REQ_HEADER && respRoom >= BLOCK_RESP_HEADER ? fit() : 0;
          // Don't start a tiny tail piece in a nearly full packet when the rest would fit in a new one
          // alone anyway: a fresh packet costs no more and keeps the ExecuteCommands wrapper out.
          if (n <= 0 || (n < 8 && total - done > n)) {
            flush();
            [reqRoom, respRoom] = room();
            n = fit();
          }
          n = Math.min(n, total - done);
          if (item.kind === 'block-read') {
            add({ kind: 'block-read', item: index, op: item.op, count: n, wordBase: done }, BLOCK_REQ_HEADER, BLOCK_RESP_HEADER + 4 * n);
          } else {
            add(
              { kind: 'block-write', item: index, op: item.op, words: item.words.subarray(done, done + n), wordBase: done },
              BLOCK_REQ_HEADER + 4 * n,
              BLOCK_RESP_HEADER,
            );
          }
          done += n;
        }
      }
    });
    flush();
    return packets;
  }

  private encode(packet: Packet): Uint8Array {
    const wrapped = packet.pieces.length > 1;
    const out = new Uint8Array(packet.requestBytes);
    let p = 0;
    if (wrapped) {
      out[p++] = Command.ExecuteCommands;
      out[p++] = packet.pieces.length;
    }
    for (const piece of packet.pieces) {
      if (piece.kind === 'ops') {
        out[p++] = Command.Transfer;
        out[p++] = 0; // DAP index: ignored for SWD
        out[p++] = piece.ops.length;
        for (const op of piece.ops) {
          out[p++] = requestByte(op);
          if (!op.read || op.match) {
            u32le(out, p, op.value ?? 0);
            p += 4;
          }
        }
      } else {
        const count = piece.kind === 'block-read' ? piece.count : piece.words.length;
        out[p++] = Command.TransferBlock;
        out[p++] = 0;
        out[p++] = count & 0xff;
        out[p++] = count >> 8;
        out[p++] = requestByte({ port: piece.op.port, reg: piece.op.reg, read: piece.kind === 'block-read', label: piece.op.label });
        if (piece.kind === 'block-write') {
          for (let i = 0; i < piece.words.length; i++, p += 4) u32le(out, p, piece.words[i]);
        }
      }
    }
    if (p !== out.length) throw new DebugError('probe', `internal: encoded ${p} bytes, planned ${out.length}`);
    return out;
  }

  /** Parse one packet's response into `results`; return the first failure in it, if any. */
  private decode(packet: Packet, response: Uint8Array, results: TransferResult[]): Error | null {
    let p = 0;
    const wrapped = packet.pieces.length > 1;
    const need = (n: number) => {
      if (p + n > response.length) throw new DebugError('probe', `probe response truncated (${response.length} bytes)`);
    };
    try {
      if (wrapped) {
        checkResponseId(Command.ExecuteCommands, response);
        need(2);
        p = 2;
      }
      let failure: Error | null = null;
      for (const piece of packet.pieces) {
        need(1);
        if (piece.kind === 'ops') {
          checkResponseId(Command.Transfer, response.subarray(p));
          need(3);
          const count = response[p + 1];
          const status = response[p + 2];
          p += 3;
          const values = results[piece.item] as number[];
          let r = piece.readBase;
          for (let i = 0; i < count && i < piece.ops.length; i++) {
            const op = piece.ops[i];
            if (op.read && !op.match) {
              need(4);
              values[r++] = readU32le(response, p);
              p += 4;
            }
          }
          if ((status & 7) !== Ack.Ok || status & 0x18 || count < piece.ops.length) {
            const op = piece.ops[Math.min(count, piece.ops.length - 1)];
            failure ??= new SwdTransferError(ackName(status), status, op.label, op.read, op.match ? `expected 0x${(op.value ?? 0).toString(16)}` : '');
          }
        } else {
          checkResponseId(Command.TransferBlock, response.subarray(p));
          need(4);
          const count = response[p + 1] | (response[p + 2] << 8);
          const status = response[p + 3];
          p += 4;
          const expected = piece.kind === 'block-read' ? piece.count : piece.words.length;
          if (piece.kind === 'block-read') {
            need(4 * count);
            const out = results[piece.item] as Uint32Array;
            for (let i = 0; i < count; i++, p += 4) out[piece.wordBase + i] = readU32le(response, p);
          }
          if ((status & 7) !== Ack.Ok || status & 0x18 || count < expected) {
            failure ??= new SwdTransferError(ackName(status), status, piece.op.label, piece.kind === 'block-read', `word ${piece.wordBase + count} of the block`);
          }
        }
      }
      return failure;
    } catch (err) {
      return err as Error;
    }
  }
}
