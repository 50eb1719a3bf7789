/**
 * The Pico's QSPI NOR flash (a Winbond W25Q16JV: 2 MiB, 256-byte pages, 4 KiB sectors, 32/64 KiB
 * blocks) as the RP2040's SSI sees it over single-bit SPI, plus the two RP2040 blocks between the
 * core and it that rp2040js leaves as stubs: the SSI's data path (RP2040 datasheet 4.10, DW_apb_ssi:
 * a byte written to DR0 is clocked out while one is clocked in and queued for reading; SR reports
 * the FIFOs) and IO_QSPI's chip-select override (GPIO_QSPI_SS_CTRL.OUTOVER: 2 drives /CS low, 3
 * high), which is how the boot ROM's flash functions frame a command.
 *
 * Flash commands follow the W25Q datasheet: Write Enable 06h / Disable 04h, Read Status 05h/35h
 * (BUSY bit 0, WEL bit 1), Write Status 01h/31h, Read 03h, Fast Read 0Bh, JEDEC ID 9Fh, Unique ID
 * 4Bh, Page Program 02h (the address wraps inside its page; bits only go from 1 to 0), Sector
 * Erase 20h (4 KiB), Block Erase 52h (32 KiB) and D8h (64 KiB), Chip Erase C7h/60h, Release
 * Power-down ABh, Reset 66h+99h. A program or erase starts when /CS goes high, needs WEL (set by
 * 06h, cleared when the operation ends), and keeps BUSY set for its typical datasheet time while
 * every command but the status reads is ignored. The array is the emulator's flash, so XIP reads
 * see what was programmed.
 */
import { BasePeripheral, type RP2040 } from 'rp2040js';

/**
 * Typical program/erase times of the W25Q16JV (Winbond datasheet, AC electrical characteristics;
 * typical / maximum): tPP page program 0.4 / 3 ms, tSE 4 KiB sector erase 45 / 400 ms, tBE1 32 KiB
 * block erase 120 / 1600 ms, tBE2 64 KiB block erase 150 / 2000 ms, tCE chip erase 5 / 25 s, tW
 * write status register 10 / 15 ms. The model charges the typical figure: a chip at its maximum
 * would be ~8× slower, which the algorithm's timeouts (FlashDevice: 1 s a program call, 3 s a
 * sector erase) allow for. Checked against what could be read here (the datasheet's own table was
 * not retrievable): the W25Q16JV's tSE 45 typical / 400 ms maximum as two independent drivers for
 * this part quote it (an FTDI MPSSE W25Q driver; ST's B-M2MEM W25Q16JV header, "max 400 ms in
 * spec"), and tPP 0.4 / 3 ms, tSE 45 / 400 ms, tBE2 150 / 2000 ms in a W25Q-JV datasheet table of
 * the same family (W25Q128JV). tBE1 and tCE (not used by the ROM's sector and 64 KiB erases) and
 * tW are the figures this model had; they were not confirmed here.
 */
export const W25Q16JV_TIMING = {
  pageProgramSeconds: 0.4e-3,
  sectorEraseSeconds: 45e-3,
  block32EraseSeconds: 120e-3,
  block64EraseSeconds: 150e-3,
  chipEraseSeconds: 5,
  writeStatusSeconds: 10e-3,
} as const;

/** Winbond (EFh), W25Q16JV-IQ memory type 40h, capacity 15h (16 Mbit). */
const JEDEC_ID = [0xef, 0x40, 0x15];
const PAGE = 256;

export interface NorFlashOptions {
  /** The array (the emulator's flash, so XIP reads see it); its length is the device size. */
  array: () => Uint8Array;
  /** Emulated time in seconds, for BUSY. */
  now: () => number;
  size?: number;
  timing?: typeof W25Q16JV_TIMING;
}

export type FlashOperation = { kind: 'program' | 'erase-4k' | 'erase-32k' | 'erase-64k' | 'erase-chip' | 'write-status'; address: number; seconds: number };

export class NorFlash {
  private selected = false;
  private command: number[] = [];
  private wel = false;
  private busyUntil = 0;
  private sr2 = 0x02; // QE set, as on the Pico's flash once boot2 has run
  private resetEnabled = false;
  readonly size: number;
  readonly timing: typeof W25Q16JV_TIMING;
  /** Every program/erase the flash carried out, with its modeled duration (tests, benches). */
  readonly operations: FlashOperation[] = [];
  /**
   * Worn-out cells, by array offset: these bits stay 1 whatever a page program asks (erase still
   * sets them), as on a flash past its endurance. Tests use it to show a bad write is caught.
   */
  readonly stuckHigh = new Map<number, number>();

  constructor(private readonly options: NorFlashOptions) {
    this.size = options.size ?? 2 * 1024 * 1024;
    this.timing = options.timing ?? W25Q16JV_TIMING;
  }

  get busy(): boolean {
    return this.options.now() < this.busyUntil;
  }

  /** When the program or erase under way ends (emulated seconds). */
  get busyUntilSeconds(): number {
    return this.busyUntil;
  }

  /**
   * Whether a status read answered BUSY since the last call: code is waiting for the flash, so the
   * emulator may let emulated time pass to the end of the busy time instead of executing the wait.
   */
  takeBusyPoll(): boolean {
    const polled = this.busyPolled;
    this.busyPolled = false;
    return polled;
  }
  private busyPolled = false;

  get writeEnabled(): boolean {
    return this.wel && !this.busy;
  }

  /** /CS: falling edge starts a command, rising edge ends it (and starts a program or erase). */
  select(low: boolean): void {
    if (low === this.selected) return;
    this.selected = low;
    if (low) this.command = [];
    else this.finish();
  }

  /** One byte each way while /CS is low; with /CS high the data line floats (reads 0xFF). */
  exchange(out: number): number {
    if (!this.selected) return 0xff;
    const cmd = this.command;
    cmd.push(out & 0xff);
    const op = cmd[0];
    const index = cmd.length - 1; // position of the byte now being clocked
    if (this.busy && op !== 0x05 && op !== 0x35) return 0xff; // only status reads while busy
    switch (op) {
      case 0x05:
        return index === 0 ? 0xff : this.status1();
      case 0x35:
        return index === 0 ? 0xff : this.sr2;
      case 0x9f:
        return index >= 1 && index <= 3 ? JEDEC_ID[index - 1] : 0xff;
      case 0x4b:
        // 4 dummy bytes, then a 64-bit unique ID (made up here, fixed).
        return index >= 5 ? (0xd0 + index) & 0xff : 0xff;
      case 0x03:
        return index >= 4 ? this.readAt(this.address(cmd) + index - 4) : 0xff;
      case 0x0b:
        return index >= 5 ? this.readAt(this.address(cmd) + index - 5) : 0xff;
    }
    return 0xff;
  }

  private status1(): number {
    const busy = this.busy;
    if (busy) this.busyPolled = true;
    return (busy ? 1 : 0) | (this.wel ? 2 : 0);
  }

  private address(cmd: number[]): number {
    return ((cmd[1] << 16) | (cmd[2] << 8) | cmd[3]) % this.size;
  }

  private readAt(address: number): number {
    return this.options.array()[address % this.size];
  }

  private finish(): void {
    const cmd = this.command;
    this.command = [];
    if (cmd.length === 0 || this.busy) return;
    const op = cmd[0];
    switch (op) {
      case 0x06:
        if (cmd.length === 1) this.wel = true;
        return;
      case 0x04:
        this.wel = false;
        return;
      case 0x66:
        this.resetEnabled = cmd.length === 1;
        return;
      case 0x99:
        if (this.resetEnabled && cmd.length === 1) this.wel = false;
        this.resetEnabled = false;
        return;
      case 0x01:
      case 0x31:
        if (!this.wel || cmd.length < 2) return;
        if (op === 0x31) this.sr2 = cmd[1];
        else if (cmd.length >= 3) this.sr2 = cmd[2];
        this.start({ kind: 'write-status', address: 0, seconds: this.timing.writeStatusSeconds });
        return;
      case 0x02:
        if (!this.wel || cmd.length < 5) return;
        this.program(this.address(cmd), cmd.slice(4));
        return;
      case 0x20:
      case 0x52:
      case 0xd8: {
        if (!this.wel || cmd.length !== 4) return;
        const size = op === 0x20 ? 4096 : op === 0x52 ? 32768 : 65536;
        const start = this.address(cmd) & ~(size - 1);
        this.options.array().fill(0xff, start, start + size);
        const kind = op === 0x20 ? 'erase-4k' : op === 0x52 ? 'erase-32k' : 'erase-64k';
        const seconds = op === 0x20 ? this.timing.sectorEraseSeconds : op === 0x52 ? this.timing.block32EraseSeconds : this.timing.block64EraseSeconds;
        this.start({ kind, address: start, seconds });
        return;
      }
      case 0xc7:
      case 0x60:
        if (!this.wel || cmd.length !== 1) return;
        this.options.array().fill(0xff, 0, this.size);
        this.start({ kind: 'erase-chip', address: 0, seconds: this.timing.chipEraseSeconds });
        return;
    }
  }

  /** Page program: data past the end of the page wraps to its start; a 0 bit stays 0. */
  private program(address: number, data: number[]): void {
    const array = this.options.array();
    const page = address & ~(PAGE - 1);
    // More than 256 bytes: only the last 256 are kept (W25Q datasheet, Page Program).
    const bytes = data.length > PAGE ? data.slice(data.length - PAGE) : data;
    let offset = data.length > PAGE ? (address + data.length - PAGE) & (PAGE - 1) : address & (PAGE - 1);
    for (const b of bytes) {
      array[page + offset] &= b | (this.stuckHigh.get(page + offset) ?? 0);
      offset = (offset + 1) & (PAGE - 1);
    }
    this.start({ kind: 'program', address, seconds: this.timing.pageProgramSeconds });
  }

  private start(op: FlashOperation): void {
    this.operations.push(op);
    this.busyUntil = this.options.now() + op.seconds;
    // WEL clears when the operation completes; nothing can be issued meanwhile but status reads.
    this.wel = false;
  }
}

const SSI_CTRLR0 = 0x00;
const SSI_SSIENR = 0x08;
const SSI_SER = 0x10;
const SSI_TXFLR = 0x20;
const SSI_RXFLR = 0x24;
const SSI_SR = 0x28;
const SSI_DR0 = 0x60;
const SR_TFNF = 1 << 1;
const SR_TFE = 1 << 2;
const SR_RFNE = 1 << 3;
const FIFO_DEPTH = 16;

/**
 * The SSI's register file and data path in standard SPI mode. Transfers complete at once (the
 * FIFOs never hold a byte in flight), received bytes queue up to the 16-entry RX FIFO.
 */
export class SsiModel extends BasePeripheral {
  private readonly regs = new Map<number, number>();
  private readonly rx: number[] = [];

  constructor(
    rp2040: RP2040,
    private readonly qspi: QspiChipSelect,
  ) {
    super(rp2040, 'SSI');
  }

  get enabled(): boolean {
    return ((this.regs.get(SSI_SSIENR) ?? 0) & 1) === 1;
  }

  get slaveSelected(): boolean {
    return ((this.regs.get(SSI_SER) ?? 0) & 1) === 1;
  }

  override readUint32(offset: number): number {
    switch (offset) {
      case SSI_SR:
        return SR_TFE | SR_TFNF | (this.rx.length ? SR_RFNE : 0);
      case SSI_TXFLR:
        return 0;
      case SSI_RXFLR:
        return this.rx.length;
      case SSI_DR0:
        return this.rx.shift() ?? 0;
      case 0x58:
        return 0x51535049; // IDR
      case 0x5c:
        return 0x3430312a; // SSI_COMP_VERSION
    }
    return this.regs.get(offset) ?? 0;
  }

  override writeUint32(offset: number, value: number): void {
    if (offset === SSI_DR0) {
      if (!this.enabled) return;
      const frame = ((this.regs.get(SSI_CTRLR0) ?? 0) >>> 16) & 0x1f; // DFS_32: frame bits - 1
      const bytes = Math.max(1, Math.ceil((frame + 1) / 8));
      let got = 0;
      for (let i = bytes - 1; i >= 0; i--) got = (got << 8) | this.qspi.exchange((value >>> (8 * i)) & 0xff, this);
      if (this.rx.length < FIFO_DEPTH) this.rx.push(got >>> 0);
      return;
    }
    this.regs.set(offset, value >>> 0);
    if (offset === SSI_SSIENR && !(value & 1)) this.rx.length = 0; // disabling clears the FIFOs
    this.qspi.update(this);
  }
}

/** IO_QSPI: the pins' control registers; GPIO_QSPI_SS_CTRL.OUTOVER decides /CS. */
export class QspiChipSelect extends BasePeripheral {
  private readonly regs = new Map<number, number>();
  private ssi: SsiModel | null = null;

  constructor(
    rp2040: RP2040,
    private readonly flash: NorFlash,
  ) {
    super(rp2040, 'IO_QSPI');
  }

  override readUint32(offset: number): number {
    return this.regs.get(offset) ?? 0;
  }

  override writeUint32(offset: number, value: number): void {
    this.regs.set(offset, value >>> 0);
    if (this.ssi) this.update(this.ssi);
  }

  exchange(byte: number, ssi: SsiModel): number {
    this.update(ssi);
    return this.flash.exchange(byte);
  }

  /** /CS low when forced low (OUTOVER 2), or, with no override, while the SSI drives slave 0. */
  update(ssi: SsiModel): void {
    this.ssi = ssi;
    const outover = ((this.regs.get(0x0c) ?? 0) >>> 8) & 3;
    const low = outover === 2 || (outover === 0 && ssi.enabled && ssi.slaveSelected);
    this.flash.select(low);
  }
}

/** Put the flash behind rp2040js's SSI and IO_QSPI (their address-map slots) on `chip`. */
export function attachQspiFlash(chip: RP2040, flash: NorFlash): { ssi: SsiModel; io: QspiChipSelect } {
  const io = new QspiChipSelect(chip, flash);
  const ssi = new SsiModel(chip, io);
  const peripherals = chip.peripherals as Record<number, unknown>;
  peripherals[(0x18000000 >>> 14) << 2] = ssi;
  peripherals[(0x40018000 >>> 14) << 2] = io;
  return { ssi, io };
}
