/**
 * The W25Q16JV model against its datasheet's command set and timings (typical tPP 0.4 ms, tSE
 * 45 ms, tBE2 150 ms), alone and behind the emulated Pico's SSI and IO_QSPI as the boot ROM's flash
 * functions drive them (RP2040 datasheet 4.10: DR0 exchanges a frame; 2.19 IO_QSPI
 * GPIO_QSPI_SS_CTRL.OUTOVER forces /CS), with XIP reads at 0x10000000 seeing the result.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { NorFlash, W25Q16JV_TIMING } from '../../../core/sim/qspi-flash';
import { DebugSession } from '../../../core/arm/session';
import { PicoEmulator } from '../../../core/sim/pico';
import { rp2040Probe } from '../../../core/sim/rp2040-bench';

function bench() {
  const array = new Uint8Array(2 * 1024 * 1024).fill(0xff);
  let t = 0;
  const flash = new NorFlash({ array: () => array, now: () => t });
  const cmd = (...bytes: number[]) => {
    flash.select(true);
    const out = bytes.map((b) => flash.exchange(b));
    flash.select(false);
    return out;
  };
  const status = () => cmd(0x05, 0)[1];
  return { array, flash, cmd, status, advance: (s: number) => (t += s) };
}

describe('W25Q16JV model', () => {
  it('answers JEDEC ID EF 40 15 and reads with 03h and 0Bh', () => {
    const { array, cmd } = bench();
    array.set([1, 2, 3], 0x1234);
    expect(cmd(0x9f, 0, 0, 0)).toEqual([0xff, 0xef, 0x40, 0x15]);
    expect(cmd(0x03, 0x00, 0x12, 0x34, 0, 0, 0).slice(4)).toEqual([1, 2, 3]);
    expect(cmd(0x0b, 0x00, 0x12, 0x34, 0xff, 0, 0, 0).slice(5)).toEqual([1, 2, 3]);
  });

  it('programs only after Write Enable, clears WEL when done, and only turns ones into zeros', () => {
    const { array, cmd, status, advance } = bench();
    cmd(0x02, 0, 0, 0x10, 0x00);
    expect(array[0x10]).toBe(0xff); // no WEL: ignored
    cmd(0x06);
    expect(status() & 2).toBe(2);
    cmd(0x02, 0, 0, 0x10, 0xf0);
    expect(array[0x10]).toBe(0xf0);
    advance(W25Q16JV_TIMING.pageProgramSeconds);
    expect(status()).toBe(0); // WEL cleared, not busy
    cmd(0x06);
    cmd(0x02, 0, 0, 0x10, 0x0f);
    expect(array[0x10]).toBe(0x00); // 0xF0 & 0x0F: a programmed 0 stays 0
  });

  it('wraps a page program at the end of its 256-byte page', () => {
    const { array, cmd } = bench();
    cmd(0x06);
    cmd(0x02, 0x00, 0x01, 0xfe, 1, 2, 3, 4);
    expect(Array.from(array.subarray(0x1fe, 0x200))).toEqual([1, 2]);
    expect(Array.from(array.subarray(0x100, 0x102))).toEqual([3, 4]);
    expect(array[0x200]).toBe(0xff);
  });

  it('is busy for the datasheet time and ignores everything but status reads meanwhile', () => {
    const { array, cmd, status, advance, flash } = bench();
    array.fill(0, 0, 0x20000);
    cmd(0x06);
    cmd(0x20, 0x00, 0x12, 0x34); // sector erase: 4 KiB at 0x1000
    expect(status() & 1).toBe(1);
    cmd(0x06);
    cmd(0x02, 0x00, 0x10, 0x00, 0x00); // ignored while busy
    advance(W25Q16JV_TIMING.sectorEraseSeconds * 0.99);
    expect(status() & 1).toBe(1);
    advance(W25Q16JV_TIMING.sectorEraseSeconds * 0.02);
    expect(status()).toBe(0);
    expect(array[0x0fff]).toBe(0);
    expect(array.subarray(0x1000, 0x2000).every((b) => b === 0xff)).toBe(true);
    expect(array[0x2000]).toBe(0);
    expect(array[0x1000]).toBe(0xff); // the program sent while busy did nothing
    cmd(0x06);
    cmd(0xd8, 0x01, 0x23, 0x45); // 64 KiB block erase at 0x10000
    expect(array[0xffff]).toBe(0);
    expect(array.subarray(0x10000, 0x20000).every((b) => b === 0xff)).toBe(true);
    expect(flash.operations.map((o) => [o.kind, o.address, o.seconds])).toEqual([
      ['erase-4k', 0x1000, 0.045],
      ['erase-64k', 0x10000, 0.15],
    ]);
  });
});

describe('the flash behind the emulated Pico SSI', () => {
  let close: (() => Promise<void>) | null = null;
  afterEach(async () => {
    await close?.();
    close = null;
  });

  it('takes commands through SSI DR0 with /CS forced by IO_QSPI, and XIP reads the result', async () => {
    const pico = new PicoEmulator();
    const probe = rp2040Probe(pico, { flavour: 'v2-bulk' });
    const session = await DebugSession.open(probe.transport, { responseTimeoutMs: 2000 });
    close = async () => {
      await session.close();
      pico.close();
    };
    const w32 = (a: number, v: number) => session.ap.writeMemory(a, Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24));
    const r32 = async (a: number) => {
      const b = await session.ap.readMemory(a, 4);
      return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
    };
    const SSI = 0x18000000;
    const SS_CTRL = 0x4001800c;
    // The boot ROM's set-up for single-bit SPI: SSI off, 8-bit frames, TX+RX, on; slave 0.
    await w32(SSI + 0x08, 0);
    await w32(SSI + 0x00, 7 << 16);
    await w32(SSI + 0x10, 1);
    await w32(SSI + 0x08, 1);
    const command = async (bytes: number[]) => {
      await w32(SS_CTRL, 2 << 8); // /CS low
      const got: number[] = [];
      for (const b of bytes) {
        await w32(SSI + 0x60, b);
        got.push(await r32(SSI + 0x60));
      }
      await w32(SS_CTRL, 3 << 8); // /CS high: the command ends
      return got;
    };
    expect((await command([0x9f, 0, 0, 0])).slice(1)).toEqual([0xef, 0x40, 0x15]);
    await command([0x06]);
    await command([0x02, 0x00, 0x40, 0x00, 0xde, 0xad, 0xbe, 0xef]);
    expect(pico.flash.operations.at(-1)).toMatchObject({ kind: 'program', address: 0x4000 });
    expect(Array.from(await session.ap.readMemory(0x10004000, 4))).toEqual([0xde, 0xad, 0xbe, 0xef]);
    // Busy time is the chip's emulated time: frozen while the core is halted, passing while it runs.
    await session.core.halt();
    await new Promise((r) => setTimeout(r, 5)); // the page program's 0.4 ms is long over
    await session.core.resume();
    await new Promise((r) => setTimeout(r, 5));
    await session.core.halt();
    expect((await command([0x05, 0]))[1]).toBe(0);
    await command([0x06]);
    await command([0x20, 0x00, 0x40, 0x00]);
    expect((await command([0x05, 0]))[1] & 1).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    expect((await command([0x05, 0]))[1] & 1).toBe(1); // halted: no time has passed for the chip
    expect(Array.from(await session.ap.readMemory(0x10004000, 4))).toEqual([0xff, 0xff, 0xff, 0xff]);
    await session.core.resume();
    await new Promise((r) => setTimeout(r, 80));
    expect((await command([0x05, 0]))[1]).toBe(0);
  });
});
