/**
 * CMSIS-DAP command encoding (CMSIS-DAP v2.1 specification, "Commands" chapter).
 * Only numbers and byte layouts live here; sequencing lives in probe.ts and transfer.ts.
 */

export const Command = {
  Info: 0x00,
  HostStatus: 0x01,
  Connect: 0x02,
  Disconnect: 0x03,
  TransferConfigure: 0x04,
  Transfer: 0x05,
  TransferBlock: 0x06,
  TransferAbort: 0x07,
  WriteAbort: 0x08,
  Delay: 0x09,
  ResetTarget: 0x0a,
  SwjPins: 0x10,
  SwjClock: 0x11,
  SwjSequence: 0x12,
  SwdConfigure: 0x13,
  SwoTransport: 0x17,
  SwoMode: 0x18,
  SwoBaudrate: 0x19,
  SwoControl: 0x1a,
  SwoStatus: 0x1b,
  SwoData: 0x1c,
  SwdSequence: 0x1d,
  SwoExtendedStatus: 0x1e,
  QueueCommands: 0x7e,
  ExecuteCommands: 0x7f,
} as const;

export const CommandName: Record<number, string> = Object.fromEntries(
  Object.entries(Command).map(([name, id]) => [id, `DAP_${name}`]),
);

export const InfoId = {
  Vendor: 0x01,
  Product: 0x02,
  SerialNumber: 0x03,
  ProtocolVersion: 0x04,
  TargetDeviceVendor: 0x05,
  TargetDeviceName: 0x06,
  TargetBoardVendor: 0x07,
  TargetBoardName: 0x08,
  FirmwareVersion: 0x09,
  Capabilities: 0xf0,
  TestDomainTimer: 0xf1,
  SwoBufferSize: 0xfd,
  PacketCount: 0xfe,
  PacketSize: 0xff,
} as const;

/** DAP_Info capabilities byte 0 (spec: DAP_Info, ID 0xF0). */
export const Capability = {
  Swd: 1 << 0,
  Jtag: 1 << 1,
  SwoUart: 1 << 2,
  SwoManchester: 1 << 3,
  AtomicCommands: 1 << 4,
  TestDomainTimer: 1 << 5,
  SwoStreaming: 1 << 6,
  UartComPort: 1 << 7,
} as const;

export const DAP_OK = 0x00;
export const DAP_ERROR = 0xff;

/** Transfer request byte bits (DAP_Transfer / DAP_TransferBlock). */
export const Req = {
  APnDP: 1 << 0,
  RnW: 1 << 1,
  A2: 1 << 2,
  A3: 1 << 3,
  MatchValue: 1 << 4,
  MatchMask: 1 << 5,
  Timestamp: 1 << 7,
} as const;

/** Transfer response byte: bits 2:0 are the SWD ACK as the probe reports it. */
export const Ack = { Ok: 1, Wait: 2, Fault: 4, NoAck: 7 } as const;
export const RESPONSE_PROTOCOL_ERROR = 1 << 3;
export const RESPONSE_VALUE_MISMATCH = 1 << 4;

export function ackName(response: number): string {
  if (response & RESPONSE_VALUE_MISMATCH) return 'value mismatch';
  if (response & RESPONSE_PROTOCOL_ERROR) return 'protocol error';
  switch (response & 7) {
    case Ack.Ok:
      return 'OK';
    case Ack.Wait:
      return 'WAIT';
    case Ack.Fault:
      return 'FAULT';
    case Ack.NoAck:
      return 'no';
    default:
      return `invalid (0x${(response & 7).toString(16)})`;
  }
}

/** One DP or AP register access inside a DAP_Transfer. */
export interface TransferOp {
  readonly port: 'dp' | 'ap';
  readonly read: boolean;
  /** Register address within the 16-byte bank: 0x0, 0x4, 0x8 or 0xC. */
  readonly reg: number;
  /** Value to write, or the value to match for a match read. */
  readonly value?: number;
  /** Read: retry until (value & mask) === expected, as set by a preceding match-mask write. */
  readonly match?: boolean;
  /** Write the probe's match mask instead of a register. */
  readonly setMatchMask?: boolean;
  /** What the op touches, for error messages ("DP CTRL/STAT", "AP DRW"). */
  readonly label: string;
}

export function requestByte(op: TransferOp): number {
  let b = (op.port === 'ap' ? Req.APnDP : 0) | (op.reg & 0x0c);
  if (op.read) b |= Req.RnW;
  if (op.match) b |= Req.MatchValue;
  if (op.setMatchMask) b |= Req.MatchMask;
  return b;
}

/** Bytes an op adds to a DAP_Transfer request and to its response. */
export function opRequestBytes(op: TransferOp): number {
  return !op.read || op.match ? 5 : 1;
}
export function opResponseBytes(op: TransferOp): number {
  return op.read && !op.match ? 4 : 0;
}

export function u32le(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value & 0xff;
  out[offset + 1] = (value >>> 8) & 0xff;
  out[offset + 2] = (value >>> 16) & 0xff;
  out[offset + 3] = (value >>> 24) & 0xff;
}

export function readU32le(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) >>> 0;
}

export function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
}

/** The parts one after another in a fresh array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Classic 16-bytes-per-line hex dump with addresses and ASCII. */
export function hexDump(address: number, data: Uint8Array, bytesPerLine = 16): string {
  const lines: string[] = [];
  for (let off = 0; off < data.length; off += bytesPerLine) {
    const row = data.subarray(off, off + bytesPerLine);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${(address + off).toString(16).padStart(8, '0')}  ${hex.padEnd(bytesPerLine * 3 - 1)}  ${ascii}`);
  }
  return lines.join('\n');
}

/** SWD data parity: set when the 32-bit word has an odd number of ones (ADIv5.2 B4.2.2). */
export function parity32(v: number): boolean {
  let x = v >>> 0;
  x ^= x >>> 16;
  x ^= x >>> 8;
  x ^= x >>> 4;
  x ^= x >>> 2;
  x ^= x >>> 1;
  return (x & 1) === 1;
}
