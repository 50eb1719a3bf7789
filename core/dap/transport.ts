/**
 * The byte pipe to a CMSIS-DAP probe. Structurally identical to dapjs's `Transport`, so dapjs's
 * WebUSB/USB/HID transports, the virtual bench's probe model and any remote bridge are
 * interchangeable.
 *
 * Contract (as on a real probe): every `write` is one command packet of at most `packetSize` bytes;
 * every `read` returns the response to the oldest unanswered command, in order. A host may write
 * several commands before reading (pipelining) up to the probe's packet count (DAP_Info 0xFF); a
 * write beyond that does not complete until a response has been read, as a USB OUT endpoint NAKs.
 */
export interface DapTransport {
  readonly packetSize: number;
  open(): Promise<void>;
  close(): Promise<void>;
  read(): Promise<DataView>;
  write(data: BufferSource): Promise<void>;
}
