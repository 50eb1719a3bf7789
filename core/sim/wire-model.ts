/**
 * Modeled wire time for the virtual bench: deterministic, never read from a wall clock.
 *
 * USB (USB 2.0 spec ch. 5, 8):
 * - v1 HID probes are full-speed interrupt endpoints polled every 1 ms frame: one 64-byte report
 *   per direction per frame. A command waits for the next OUT slot, its response for the next IN slot.
 * - v2 bulk probes on high speed are scheduled by the host controller per 125 µs microframe: a
 *   submitted transfer goes out at the next microframe boundary; several 512-byte packets fit in
 *   one microframe (bulk bandwidth ≈ 13 × 512 B per microframe), so back-to-back packets only pay
 *   their bit time.
 * SWD (ADIv5.2 B4.2): a transfer is 8 request bits + turnaround + 3 ACK bits + turnaround + 32 data
 * bits + parity = 46 clocks, plus the idle cycles set by DAP_TransferConfigure; a WAIT ACK costs
 * the 13 clocks up to and including its turnaround before the retry.
 * Probe firmware: a fixed cost per command and per transfer (measured orders of magnitude on
 * DAPLink-class Cortex-M probes: a few µs per command, well under a µs per transfer).
 */

export type ProbeFlavour = 'v1-hid' | 'v2-bulk';

export interface WireConstants {
  /** USB scheduling slot: 1 ms frame (FS) or 125 µs microframe (HS). */
  slotSeconds: number;
  /** USB bit rate for the packet payload (12 or 480 Mbit/s). */
  usbBitsPerSecond: number;
  /** Packet framing overhead in bytes (sync, PID, CRC, handshake, inter-packet gaps). */
  usbPacketOverheadBytes: number;
  /** Whether each packet needs a slot of its own per direction (interrupt endpoints). */
  onePacketPerSlot: boolean;
  commandOverheadSeconds: number;
  transferOverheadSeconds: number;
}

export const WIRE_CONSTANTS: Record<ProbeFlavour, WireConstants> = {
  'v1-hid': {
    slotSeconds: 1e-3,
    usbBitsPerSecond: 12e6,
    usbPacketOverheadBytes: 13,
    onePacketPerSlot: true,
    commandOverheadSeconds: 5e-6,
    transferOverheadSeconds: 0.3e-6,
  },
  'v2-bulk': {
    slotSeconds: 125e-6,
    usbBitsPerSecond: 480e6,
    usbPacketOverheadBytes: 20,
    onePacketPerSlot: false,
    commandOverheadSeconds: 3e-6,
    transferOverheadSeconds: 0.2e-6,
  },
};

export const SWD_TRANSFER_CLOCKS = 46;
export const SWD_WAIT_CLOCKS = 13;

/**
 * The USB's own time to carry `bytes` of data to write, nothing else (the bound a flash over this
 * probe is held to): a v1 HID probe moves one 64-byte report per frame slot, 56 data bytes in a
 * DAP_TransferBlock report (5 header bytes, 14 words); v2 bulk moves them at its bit rate.
 */
export function usbSecondsFor(flavour: ProbeFlavour, bytes: number): number {
  const c = WIRE_CONSTANTS[flavour];
  return c.onePacketPerSlot ? Math.ceil(bytes / (Math.floor((64 - 5) / 4) * 4)) * c.slotSeconds : (bytes * 8) / c.usbBitsPerSecond;
}

export interface WireStats {
  commands: number;
  packetsOut: number;
  packetsIn: number;
  bytesOut: number;
  bytesIn: number;
  /**
   * Full round trips: the host waited for a response with no other command in flight, so the
   * probe had nothing queued behind it. A serial host pays one per command; a pipelining host
   * pays one per burst.
   */
  roundTrips: number;
  swdTransfers: number;
  /** Modeled time the host spent from the first command to the last response it read. */
  modeledSeconds: number;
  /** Of which: time the probe spent waiting on the target (e.g. a flash algorithm running). */
  targetSeconds: number;
}

export function emptyStats(): WireStats {
  return { commands: 0, packetsOut: 0, packetsIn: 0, bytesOut: 0, bytesIn: 0, roundTrips: 0, swdTransfers: 0, modeledSeconds: 0, targetSeconds: 0 };
}

/**
 * Host, bus and probe clocks. The host submits packets at `host` time (submission is free); the
 * probe executes them in order; the host's clock advances only when it reads a response that has
 * not arrived yet.
 */
export class WireModel {
  host = 0;
  private start = 0;
  private probeFree = 0;
  private outSlotFree = 0;
  private inSlotFree = 0;
  stats: WireStats = emptyStats();

  constructor(
    readonly constants: WireConstants,
    public swdClockHz = 1_000_000,
  ) {}

  reset(): void {
    this.stats = emptyStats();
    this.start = this.host;
  }

  private nextSlot(t: number, free: number): number {
    const slot = this.constants.slotSeconds;
    const earliest = Math.max(t, free);
    // Round up to the next slot boundary (a tiny epsilon absorbs float noise at exact boundaries).
    return Math.ceil(earliest / slot - 1e-9) * slot;
  }

  private packetSeconds(bytes: number): number {
    return ((bytes + this.constants.usbPacketOverheadBytes) * 8) / this.constants.usbBitsPerSecond;
  }

  /** A command packet of `bytes` leaves the host now; returns when the probe has it. */
  packetOut(bytes: number): number {
    const slot = this.nextSlot(this.host, this.outSlotFree);
    const arrival = slot + this.packetSeconds(bytes);
    this.outSlotFree = this.constants.onePacketPerSlot ? slot + this.constants.slotSeconds : arrival;
    this.stats.packetsOut++;
    this.stats.bytesOut += bytes;
    this.stats.commands++;
    return arrival;
  }

  /** When the probe starts executing a command that arrived at `arrival`. */
  startOf(arrival: number): number {
    return Math.max(arrival, this.probeFree);
  }

  /** Probe-side time `swdClocks` and `transfers` into a command that started at `start`. */
  timeInto(start: number, swdClocks: number, transfers: number): number {
    return start + this.constants.commandOverheadSeconds + transfers * this.constants.transferOverheadSeconds + swdClocks / this.swdClockHz;
  }

  /** The probe executes a command that arrived at `arrival`; returns when its response is ready. */
  execute(arrival: number, swdClocks: number, transfers: number, targetSeconds: number): number {
    const startAt = this.startOf(arrival);
    const busy =
      this.constants.commandOverheadSeconds + transfers * this.constants.transferOverheadSeconds + swdClocks / this.swdClockHz + targetSeconds;
    this.probeFree = startAt + busy;
    this.stats.targetSeconds += targetSeconds;
    return this.probeFree;
  }

  /** A response of `bytes` ready at `ready` travels to the host; returns its arrival time. */
  packetIn(ready: number, bytes: number): number {
    const slot = this.nextSlot(ready, this.inSlotFree);
    const arrival = slot + this.packetSeconds(bytes);
    this.inSlotFree = this.constants.onePacketPerSlot ? slot + this.constants.slotSeconds : arrival;
    this.stats.packetsIn++;
    this.stats.bytesIn += bytes;
    return arrival;
  }

  /** The host reads a response that arrives at `arrival`, with `inFlight` commands outstanding (this one included). */
  hostReads(arrival: number, inFlight: number): void {
    if (arrival > this.host) {
      this.host = arrival;
      if (inFlight <= 1) this.stats.roundTrips++;
    }
    this.stats.modeledSeconds = this.host - this.start;
  }
}
