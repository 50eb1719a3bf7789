/**
 * SEGGER SystemView packets, as the target library (and `systemview-target`, which wraps it) writes
 * them to an RTT up channel named "SysView":
 *
 *   IDs 0–23:  <ID> <params…> <timestamp delta>           structure known, no length
 *   IDs ≥ 24:  <ID> <length> <payload…> <timestamp delta>  (ID and length as varints)
 *   NOP (0) is a single byte; ten of them in a row are the periodic sync mark.
 *
 * Integers are varints: 7 bits per byte, least significant group first, bit 7 = more follows.
 * Strings are a length byte and the bytes. Timestamps are deltas from the previous packet in units
 * of the system frequency announced by the INIT packet. Task IDs are shrunk by the target
 * ((address − RAM base) >> shift); they are kept as sent.
 *
 * Host → target commands (paired down channel): 1 start, 2 stop, 3 get systime, 4 get task list,
 * 5 get system description.
 */
import { concatBytes } from '../dap/protocol';

export const SV = {
  NOP: 0, OVERFLOW: 1, ISR_ENTER: 2, ISR_EXIT: 3, TASK_START_EXEC: 4, TASK_STOP_EXEC: 5, TASK_START_READY: 6,
  TASK_STOP_READY: 7, TASK_CREATE: 8, TASK_INFO: 9, TRACE_START: 10, TRACE_STOP: 11, SYSTIME_CYCLES: 12,
  SYSTIME_US: 13, SYSDESC: 14, MARK_START: 15, MARK_STOP: 16, IDLE: 17, ISR_TO_SCHEDULER: 18, TIMER_ENTER: 19,
  TIMER_EXIT: 20, STACK_INFO: 21, MODULEDESC: 22, DATA_SAMPLE: 23, INIT: 24, NAME_RESOURCE: 25,
  PRINT_FORMATTED: 26, NUMMODULES: 27, END_CALL: 28, TASK_TERMINATE: 29, EX: 31,
} as const;

export const SV_COMMAND = { start: 1, stop: 2, getSystime: 3, getTaskList: 4, getSysDesc: 5 } as const;

/** Parameter layout of the packets without a length field: u = varint, s = string. */
const LAYOUT: Record<number, string> = {
  [SV.OVERFLOW]: 'u',
  [SV.ISR_ENTER]: 'u',
  [SV.ISR_EXIT]: '',
  [SV.TASK_START_EXEC]: 'u',
  [SV.TASK_STOP_EXEC]: '',
  [SV.TASK_START_READY]: 'u',
  [SV.TASK_STOP_READY]: 'uu',
  [SV.TASK_CREATE]: 'u',
  [SV.TASK_INFO]: 'uus',
  [SV.TRACE_START]: '',
  [SV.TRACE_STOP]: '',
  [SV.SYSTIME_CYCLES]: 'u',
  [SV.SYSTIME_US]: 'uu',
  [SV.SYSDESC]: 's',
  [SV.MARK_START]: 'u',
  [SV.MARK_STOP]: 'u',
  [SV.IDLE]: '',
  [SV.ISR_TO_SCHEDULER]: '',
  [SV.TIMER_ENTER]: 'u',
  [SV.TIMER_EXIT]: '',
  [SV.STACK_INFO]: 'uuu',
  [SV.MODULEDESC]: 'uus',
};

export interface SvPacket {
  id: number;
  /** Absolute timestamp in system-frequency ticks (sum of deltas since the stream began). */
  time: number;
  params: number[];
  text?: string;
  /** Payload of length-carrying packets (IDs ≥ 24), raw. */
  payload?: Uint8Array;
}

export interface SvStats {
  packets: number;
  bytes: number;
  /** Bytes skipped while resynchronising after a malformed packet. */
  skippedBytes: number;
  malformed: number;
  /** Packets the target reported as dropped (OVERFLOW packets). */
  dropped: number;
  lastError?: string;
}

class Incomplete {}
const INCOMPLETE = new Incomplete();

class Malformed extends Error {}

/**
 * Streaming decoder: push bytes as they arrive; complete packets come out. A packet cut at the end
 * of a chunk waits for the next one. After a malformed packet it skips to the next sync mark (ten
 * zero bytes), counting what it skipped.
 */
export class SystemViewDecoder {
  readonly stats: SvStats = { packets: 0, bytes: 0, skippedBytes: 0, malformed: 0, dropped: 0 };
  /** From the INIT packet. */
  sysFreq = 0;
  cpuFreq = 0;
  ramBase = 0;
  idShift = 0;
  time = 0;
  private buffer = new Uint8Array(0);
  private synced = true;
  private o = 0;

  constructor(readonly maxPacketBytes = 4096) {}

  push(chunk: Uint8Array, out: SvPacket[] = []): SvPacket[] {
    this.stats.bytes += chunk.length;
    const data = this.buffer.length ? concatBytes([this.buffer, chunk]) : chunk;
    let at = 0;
    while (at < data.length) {
      if (!this.synced) {
        const sync = findSync(data, at);
        if (sync < 0) {
          // Keep the last 9 bytes: a sync mark may straddle the chunk boundary.
          const keep = Math.min(9, data.length - at);
          this.stats.skippedBytes += data.length - at - keep;
          at = data.length - keep;
          break;
        }
        this.stats.skippedBytes += sync - at;
        at = sync + 10;
        this.synced = true;
        continue;
      }
      let next: number | Incomplete;
      try {
        next = this.parse(data, at, out);
      } catch (err) {
        if (!(err instanceof Malformed)) throw err;
        this.stats.malformed++;
        this.stats.lastError = err.message;
        this.synced = false;
        at++;
        continue;
      }
      if (next === INCOMPLETE) break;
      at = next as number;
    }
    this.buffer = at < data.length ? data.slice(at) : new Uint8Array(0);
    if (this.buffer.length > this.maxPacketBytes * 2) {
      // A length field that never completes: give up on it and resync.
      this.stats.malformed++;
      this.stats.lastError = `no complete packet in ${this.buffer.length} bytes`;
      this.stats.skippedBytes += this.buffer.length;
      this.buffer = new Uint8Array(0);
      this.synced = false;
    }
    return out;
  }

  /** Parse one packet at `at`; returns the offset after it, or INCOMPLETE. */
  private parse(b: Uint8Array, at: number, out: SvPacket[]): number | Incomplete {
    this.o = at;
    const id = this.varint(b);
    if (id === null) return INCOMPLETE;
    if (id === SV.NOP) return this.o; // one byte, no timestamp
    let params: number[] = [];
    let text: string | undefined;
    let payload: Uint8Array | undefined;
    if (id < 24) {
      const layout = LAYOUT[id];
      if (layout === undefined) throw new Malformed(`SystemView event ${id} has no known layout`);
      for (let k = 0; k < layout.length; k++) {
        if (layout[k] === 'u') {
          const v = this.varint(b);
          if (v === null) return INCOMPLETE;
          params.push(v);
        } else {
          if (this.o >= b.length) return INCOMPLETE;
          const n = b[this.o++];
          if (this.o + n > b.length) return INCOMPLETE;
          text = latin1(b, this.o, this.o + n);
          this.o += n;
        }
      }
    } else {
      const length = this.varint(b);
      if (length === null) return INCOMPLETE;
      if (length > this.maxPacketBytes) throw new Malformed(`SystemView event ${id} claims ${length} payload bytes`);
      if (this.o + length > b.length) return INCOMPLETE;
      payload = b.slice(this.o, this.o + length);
      this.o += length;
      if (id === SV.INIT) params = varints(payload, 4);
      else if (id === SV.TASK_TERMINATE || id === SV.NUMMODULES || id === SV.END_CALL) params = varints(payload, 1);
      else if (id === SV.NAME_RESOURCE) {
        const p = varintsWithRest(payload, 1);
        params = p.values;
        text = p.rest.length ? latin1(p.rest, 1, 1 + Math.min(p.rest[0], p.rest.length - 1)) : '';
      }
    }
    const delta = this.varint(b);
    if (delta === null) return INCOMPLETE;
    this.time += delta;
    const packet: SvPacket = { id, time: this.time, params };
    if (text !== undefined) packet.text = text;
    if (payload) packet.payload = payload;
    if (id === SV.INIT && params.length === 4) [this.sysFreq, this.cpuFreq, this.ramBase, this.idShift] = params;
    if (id === SV.OVERFLOW) this.stats.dropped += params[0];
    this.stats.packets++;
    out.push(packet);
    return this.o;
  }

  /** A varint at this.o (≤ 5 bytes, 32 bits), or null if the data ends first. */
  private varint(b: Uint8Array): number | null {
    let v = 0;
    let shift = 0;
    for (let k = 0; k < 5; k++) {
      if (this.o >= b.length) return null;
      const byte = b[this.o++];
      v += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) {
        if (v > 0xffffffff) throw new Malformed('SystemView varint does not fit in 32 bits');
        return v;
      }
      shift += 7;
    }
    throw new Malformed('SystemView varint longer than 5 bytes');
  }
}

function varintsWithRest(b: Uint8Array, count: number): { values: number[]; rest: Uint8Array } {
  const values: number[] = [];
  let o = 0;
  for (let k = 0; k < count && o < b.length; k++) {
    let v = 0;
    let shift = 0;
    for (;;) {
      const byte = b[o++];
      v += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if ((byte & 0x80) === 0 || o >= b.length || shift > 28) break;
    }
    values.push(v);
  }
  return { values, rest: b.subarray(o) };
}

function varints(b: Uint8Array, count: number): number[] {
  return varintsWithRest(b, count).values;
}

function latin1(b: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** Index of the first run of ten zero bytes at or after `from`, or -1. */
function findSync(b: Uint8Array, from: number): number {
  let run = 0;
  for (let i = from; i < b.length; i++) {
    if (b[i] === 0) {
      if (++run === 10) return i - 9;
    } else run = 0;
  }
  return -1;
}

/** Encodes a varint (for the host's own tests and the firmware model). */
export function encodeVarint(v: number, out: number[] = []): number[] {
  let x = v >>> 0;
  while (x > 0x7f) {
    out.push((x & 0x7f) | 0x80);
    x >>>= 7;
  }
  out.push(x);
  return out;
}

/**
 * The system description string ("N=App,D=Device,O=OS,I#15=SysTick,I#24=TIMER0") as a map; the
 * `I#n=Name` items name interrupts.
 */
export function parseSysDesc(text: string, into: { items: Map<string, string>; isrNames: Map<number, string> }): void {
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    if (eq < 0) continue;
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    const isr = /^I#(\d+)$/.exec(key);
    if (isr) into.isrNames.set(Number(isr[1]), value);
    else into.items.set(key, value);
  }
}

/**
 * The RTT channels SystemView uses: the up channel named "SysView", and the down channel for host
 * commands — the one with the same index (as SEGGER's library pairs them), else one named "SysView".
 */
export function findSysViewChannels(block: { up: { index: number; name: string }[]; down: { index: number; name: string }[] }): { up: number; down: number } | null {
  const up = block.up.find((c) => c.name === 'SysView');
  if (!up) return null;
  const paired = block.down.find((c) => c.index === up.index);
  const named = block.down.find((c) => c.name === 'SysView');
  const down = paired && (paired.name === 'SysView' || !named) ? paired : named;
  return down ? { up: up.index, down: down.index } : null;
}

export interface SvMessage {
  level: 'log' | 'warning' | 'error';
  text: string;
}

/**
 * PRINT_FORMATTED (26): SEGGER_SYSVIEW_Print/Warn/Error and the printf-style host printing that
 * `systemview-target`'s `log` feature uses. Payload: the format (a count byte and the bytes), the
 * options varint (level in bits 0–1), the argument count, then each argument as a varint. The host
 * does the formatting: %d %i %u %x %X %o %c %p %% with optional zero-pad/width.
 */
/**
 * SEGGER_SYSVIEW_MAX_STRING_LEN's default (SEGGER_SYSVIEW_ConfDefaults.h): no message the target
 * sends is longer, so no field width needs to be wider. A wider one (`%0999999999d` from a corrupt
 * stream) is held to it rather than building a gigabyte string.
 */
export const SV_MAX_STRING_LEN = 128;

export function decodePrintFormatted(payload: Uint8Array): SvMessage | null {
  if (payload.length < 1) return null;
  const n = payload[0];
  if (1 + n > payload.length) return null;
  let format = '';
  for (let i = 1; i <= n; i++) format += String.fromCharCode(payload[i]);
  const rest = varintsAll(payload.subarray(1 + n));
  const options = rest[0] ?? 0;
  const count = rest[1] ?? 0;
  const args = rest.slice(2, 2 + count);
  let k = 0;
  const text = format.replace(/%(0?)(\d*)([diuxXocp%])/g, (_m, zero: string, width: string, conv: string) => {
    if (conv === '%') return '%';
    const v = args[k++];
    if (v === undefined) return '?';
    let s: string;
    switch (conv) {
      case 'd':
      case 'i':
        s = String(v | 0);
        break;
      case 'u':
        s = String(v >>> 0);
        break;
      case 'x':
        s = (v >>> 0).toString(16);
        break;
      case 'X':
        s = (v >>> 0).toString(16).toUpperCase();
        break;
      case 'o':
        s = (v >>> 0).toString(8);
        break;
      case 'c':
        s = String.fromCharCode(v & 0xff);
        break;
      default:
        s = `0x${(v >>> 0).toString(16).padStart(8, '0')}`;
    }
    return width ? s.padStart(Math.min(Number(width), SV_MAX_STRING_LEN), zero ? '0' : ' ') : s;
  });
  return { level: (['log', 'warning', 'error'] as const)[options & 3] ?? 'log', text };
}

function varintsAll(b: Uint8Array): number[] {
  const out: number[] = [];
  let v = 0;
  let shift = 0;
  for (const byte of b) {
    v += (byte & 0x7f) * 2 ** shift;
    if (byte & 0x80) shift += 7;
    else {
      out.push(v);
      v = 0;
      shift = 0;
    }
  }
  return out;
}
