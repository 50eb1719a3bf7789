/**
 * The probe model driven with raw CMSIS-DAP packets built here from the spec's byte layouts
 * (CMSIS-DAP v2.1 "Commands"), not through the project's own transfer engine.
 */
import { describe, expect, it } from 'vitest';
import { ProbeProtocolError, SimulatedProbe } from '../../../core/sim/cmsis-dap-probe';
import { MemoryTarget } from '../../../core/sim/memory-target';
import { WIRE_CONSTANTS } from '../../../core/sim/wire-model';

const le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const rd = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;

// Transfer request bytes: bit0 APnDP, bit1 RnW, bits 2-3 A[3:2].
const DP_READ_IDCODE = 0x02;
const DP_WRITE_ABORT = 0x00;
const DP_WRITE_CTRL = 0x04;
const DP_READ_CTRL = 0x06;
const DP_WRITE_SELECT = 0x08;
const AP_WRITE_CSW = 0x01;
const AP_WRITE_TAR = 0x05;
const AP_WRITE_DRW = 0x0d;
const AP_READ_DRW = 0x0f;

const LINE_RESET_AND_SWITCH = [0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x9e, 0xe7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];

async function setup(flavour: 'v1-hid' | 'v2-bulk' = 'v2-bulk', packetCount = 4, preset: 'cortex-m0' | 'cortex-m3' = 'cortex-m3') {
  const target = new MemoryTarget(preset);
  const probe = new SimulatedProbe({ flavour, target, packetCount });
  await probe.transport.open();
  const send = async (...bytes: number[]) => {
    await probe.transport.write(Uint8Array.from(bytes));
    const v = await probe.transport.read();
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  };
  return { target, probe, send };
}

async function connected(preset: 'cortex-m0' | 'cortex-m3' = 'cortex-m3') {
  const s = await setup('v2-bulk', 4, preset);
  expect(Array.from((await s.send(0x02, 0x01)).subarray(0, 2))).toEqual([0x02, 0x01]); // DAP_Connect SWD
  expect(Array.from((await s.send(0x12, ...LINE_RESET_AND_SWITCH)).subarray(0, 2))).toEqual([0x12, 0x00]);
  const id = await s.send(0x05, 0, 1, DP_READ_IDCODE);
  expect(Array.from(id.subarray(0, 3))).toEqual([0x05, 1, 0x01]);
  expect(rd(id, 3)).toBe(preset === 'cortex-m3' ? 0x1ba01477 : 0x0bb11477);
  return s;
}

/** Connected, powered up, AP 0 bank 0 selected; `word(address)` reads one 32-bit word through the AP. */
async function poweredAp(preset: 'cortex-m0' | 'cortex-m3') {
  const s = await connected(preset);
  await s.send(0x05, 0, 3, DP_WRITE_CTRL, ...le(0x50000000), DP_WRITE_SELECT, ...le(0), AP_WRITE_CSW, ...le(0x23000002));
  const word = async (address: number) => {
    const r = await s.send(0x05, 0, 2, AP_WRITE_TAR, ...le(address), AP_READ_DRW);
    expect(Array.from(r.subarray(0, 3))).toEqual([0x05, 2, 0x01]);
    return rd(r, 3);
  };
  return { ...s, word };
}

describe('CMSIS-DAP probe model: commands', () => {
  it('answers DAP_Info per the spec', async () => {
    const { send } = await setup('v2-bulk', 6);
    expect(Array.from(await send(0x00, 0xff))).toEqual([0x00, 2, 0x00, 0x02]); // packet size 512
    expect(Array.from(await send(0x00, 0xfe))).toEqual([0x00, 1, 6]); // packet count
    expect(Array.from(await send(0x00, 0xf0))).toEqual([0x00, 1, 0x01]); // capabilities: SWD
    const version = await send(0x00, 0x04);
    expect(new TextDecoder().decode(version.subarray(2, 2 + version[1] - 1))).toBe('2.1.0');
  });

  it('pads v1 HID reports to 64 bytes', async () => {
    const { send } = await setup('v1-hid');
    const r = await send(0x00, 0xff);
    expect(r.length).toBe(64);
    expect(Array.from(r.subarray(0, 4))).toEqual([0x00, 2, 64, 0]);
  });

  it('answers an unknown command with 0xFF and refuses SWO until it exists', async () => {
    const { send } = await setup();
    expect(Array.from(await send(0x55))).toEqual([0xff]);
    expect(Array.from(await send(0x17, 1))).toEqual([0x17, 0xff]); // DAP_SWO_Transport: DAP_ERROR
  });

  it('refuses JTAG on an SWD-only probe', async () => {
    const { send } = await setup();
    expect(Array.from(await send(0x02, 0x02))).toEqual([0x02, 0x00]);
  });

  it('rejects a packet longer than the packet size', async () => {
    const { probe } = await setup('v1-hid');
    await expect(probe.transport.write(new Uint8Array(65))).rejects.toThrow(/packet of 65 bytes exceeds the probe's 64-byte packet size/);
  });

  it('fails loudly when a response would overflow the packet', async () => {
    const { probe } = await connected();
    // 200 DP IDCODE reads: 203 request bytes fit a 512-byte packet, the 803-byte response does not.
    await probe.transport.write(Uint8Array.from([0x05, 0, 200, ...new Array(200).fill(DP_READ_IDCODE)]));
    await expect(probe.transport.read()).rejects.toThrow(ProbeProtocolError);
  });

  it('runs several commands in one DAP_ExecuteCommands packet', async () => {
    const { send } = await connected();
    const r = await send(0x7f, 2, 0x00, 0xfe, 0x05, 0, 1, DP_READ_IDCODE);
    expect(Array.from(r.subarray(0, 5))).toEqual([0x7f, 2, 0x00, 1, 4]);
    expect(Array.from(r.subarray(5, 8))).toEqual([0x05, 1, 0x01]);
    expect(rd(r, 8)).toBe(0x1ba01477);
  });
});

describe('SW-DP model', () => {
  it('gives no ACK before the JTAG-to-SWD switch', async () => {
    const { send } = await setup();
    await send(0x02, 0x01);
    expect(Array.from((await send(0x05, 0, 1, DP_READ_IDCODE)).subarray(0, 3))).toEqual([0x05, 0, 0x07]);
  });

  it('requires a DPIDR read after a line reset', async () => {
    const { send } = await setup();
    await send(0x02, 0x01);
    await send(0x12, ...LINE_RESET_AND_SWITCH);
    expect(Array.from((await send(0x05, 0, 1, DP_READ_CTRL)).subarray(0, 3))).toEqual([0x05, 0, 0x07]);
    expect(Array.from((await send(0x05, 0, 1, DP_READ_IDCODE)).subarray(0, 3))).toEqual([0x05, 1, 0x01]);
    expect(Array.from((await send(0x05, 0, 1, DP_READ_CTRL)).subarray(0, 3))).toEqual([0x05, 1, 0x01]);
  });

  it('faults AP accesses until powered, keeps STICKYERR until ABORT clears it', async () => {
    const { send } = await connected();
    expect(Array.from((await send(0x05, 0, 1, AP_WRITE_TAR, ...le(0x20000000))).subarray(0, 3))).toEqual([0x05, 0, 0x04]);
    // Power up: CSYSPWRUPREQ | CDBGPWRUPREQ, then CTRL/STAT shows both ACKs and STICKYERR.
    await send(0x05, 0, 1, DP_WRITE_CTRL, ...le(0x50000000));
    const ctrl = rd(await send(0x05, 0, 1, DP_READ_CTRL), 3);
    expect((ctrl & 0xa0000000) >>> 0).toBe(0xa0000000);
    expect(ctrl & 0x20).toBe(0x20);
    expect((await send(0x05, 0, 1, AP_WRITE_TAR, ...le(0x20000000)))[2]).toBe(0x04); // still FAULT: sticky
    expect(Array.from(await send(0x08, 0, ...le(0x04)))).toEqual([0x08, 0x00]); // DAP_WriteABORT STKERRCLR
    expect((await send(0x05, 0, 1, AP_WRITE_TAR, ...le(0x20000000)))[2]).toBe(0x01);
  });

  it('wraps TAR auto-increment inside the 1 KiB block, as silicon does', async () => {
    const { send, target } = await connected();
    await send(0x05, 0, 2, DP_WRITE_CTRL, ...le(0x50000000), DP_WRITE_SELECT, ...le(0));
    // CSW: 32-bit, single increment; TAR = last word of a 1 KiB block; two DRW writes.
    const r = await send(0x05, 0, 4, AP_WRITE_CSW, ...le(0x23000012), AP_WRITE_TAR, ...le(0x200003fc), AP_WRITE_DRW, ...le(0x11111111), AP_WRITE_DRW, ...le(0x22222222));
    expect(Array.from(r.subarray(0, 3))).toEqual([0x05, 4, 0x01]);
    expect(rd(target.ram, 0x3fc)).toBe(0x11111111);
    expect(rd(target.ram, 0x000)).toBe(0x22222222); // wrapped to the block start, not 0x20000400
    expect(rd(target.ram, 0x400)).toBe(0);
  });

  it('places byte and halfword accesses on their byte lanes', async () => {
    const { send, target } = await connected();
    await send(0x05, 0, 2, DP_WRITE_CTRL, ...le(0x50000000), DP_WRITE_SELECT, ...le(0));
    await send(0x05, 0, 3, AP_WRITE_CSW, ...le(0x23000000), AP_WRITE_TAR, ...le(0x20000003), AP_WRITE_DRW, ...le(0xab000000));
    expect(target.ram[3]).toBe(0xab);
    const r = await send(0x05, 0, 3, AP_WRITE_CSW, ...le(0x23000001), AP_WRITE_TAR, ...le(0x20000002), AP_READ_DRW);
    expect(rd(r, 3)).toBe(0xab000000); // halfword at offset 2 sits in DRW[31:16]
  });

  it('ignores DHCSR writes without DBGKEY', async () => {
    const { send, target } = await connected();
    await send(0x05, 0, 2, DP_WRITE_CTRL, ...le(0x50000000), DP_WRITE_SELECT, ...le(0));
    await send(0x05, 0, 3, AP_WRITE_CSW, ...le(0x23000002), AP_WRITE_TAR, ...le(0xe000edf0), AP_WRITE_DRW, ...le(0x00000003));
    expect(await target.isHalted()).toBe(false);
    await send(0x05, 0, 1, AP_WRITE_DRW, ...le(0xa05f0003));
    expect(await target.isHalted()).toBe(true);
  });

  it('clears sticky errors with DP ABORT through DAP_Transfer too', async () => {
    const { send } = await connected();
    await send(0x05, 0, 2, DP_WRITE_CTRL, ...le(0x50000000), DP_WRITE_SELECT, ...le(0));
    // An unmapped address: FAULT ack and STICKYERR.
    const f = await send(0x05, 0, 3, AP_WRITE_CSW, ...le(0x23000002), AP_WRITE_TAR, ...le(0x30000000), AP_READ_DRW);
    expect(Array.from(f.subarray(0, 3))).toEqual([0x05, 2, 0x04]);
    expect((await send(0x05, 0, 1, DP_WRITE_ABORT, ...le(0x1e)))[2]).toBe(0x01);
    expect(rd(await send(0x05, 0, 1, DP_READ_CTRL), 3) & 0x20).toBe(0);
  });
});

describe('MEM-AP CSW: packed transfers', () => {
  const AP_READ_CSW = 0x03;
  // CSW with Size = byte, AddrInc = packed (0b10 in [5:4]).
  const CSW_BYTE_PACKED = 0x23000020;

  it('on the Cortex-M0 AP (no packed transfers) AddrInc 0b10 does not latch, so a debugger reading CSW back sees it', async () => {
    const { send } = await poweredAp('cortex-m0');
    const r = await send(0x05, 0, 2, AP_WRITE_CSW, ...le(CSW_BYTE_PACKED), AP_READ_CSW);
    expect(r[2]).toBe(0x01);
    expect((rd(r, 3) >>> 4) & 3).toBe(0); // AddrInc[1] is RAZ/WI
    expect(rd(r, 3) & 7).toBe(0); // the size still latched
  });

  it('on the Cortex-M3 AP packs four byte accesses into one DRW word and moves TAR by 4', async () => {
    const { send, target } = await poweredAp('cortex-m3');
    const csw = await send(0x05, 0, 2, AP_WRITE_CSW, ...le(CSW_BYTE_PACKED), AP_READ_CSW);
    expect((rd(csw, 3) >>> 4) & 3).toBe(2);
    target.ram.set([1, 2, 3, 4, 5, 6, 7, 8], 0x100);
    const r = await send(0x05, 0, 3, AP_WRITE_TAR, ...le(0x20000100), AP_READ_DRW, AP_READ_DRW);
    expect(Array.from(r.subarray(0, 3))).toEqual([0x05, 3, 0x01]);
    expect(rd(r, 3)).toBe(0x04030201);
    expect(rd(r, 7)).toBe(0x08070605);
    // Halfword packing on writes: two halfwords per DRW write.
    await send(0x05, 0, 4, AP_WRITE_CSW, ...le(0x23000021), AP_WRITE_TAR, ...le(0x20000200), AP_WRITE_DRW, ...le(0xbbbbaaaa), AP_WRITE_DRW, ...le(0xddddcccc));
    expect(Array.from(target.ram.subarray(0x200, 0x208))).toEqual([0xaa, 0xaa, 0xbb, 0xbb, 0xcc, 0xcc, 0xdd, 0xdd]);
    const tar = await send(0x05, 0, 1, 0x07); // AP read TAR
    expect(rd(tar, 3)).toBe(0x20000208);
  });
});

describe('CoreSight ROM table walk (IDs from the Cortex-M0 and Cortex-M3 TRMs)', () => {
  /** Walks the ROM table as a debugger does (ADIv5.2 D3.4): entries until a zero word, then each component's IDs. */
  async function walk(preset: 'cortex-m0' | 'cortex-m3') {
    const { word } = await poweredAp(preset);
    const ids = async (base: number) => {
      const byte = async (offset: number) => (await word(base + offset)) & 0xff;
      const cidr = [0xff0, 0xff4, 0xff8, 0xffc];
      const pidr = [0xfe0, 0xfe4, 0xfe8, 0xfec, 0xfd0];
      const c = await Promise.all(cidr.map(byte));
      const p = await Promise.all(pidr.map(byte));
      return {
        preamble: ((c[0] | (c[1] << 8) | (c[2] << 16) | (c[3] << 24)) & 0xffff0fff) >>> 0,
        componentClass: c[1] >> 4,
        part: p[0] | ((p[1] & 0xf) << 8),
        designer: ((p[4] & 0xf) << 8) | ((p[1] >> 4) | ((p[2] & 7) << 4)),
        jedec: (p[2] & 8) !== 0,
        devtype: (await word(base + 0xfcc)) & 0xff,
      };
    };
    const rom = 0xe00ff000;
    const table = await ids(rom);
    const components = [];
    for (let offset = 0; ; offset += 4) {
      const entry = await word(rom + offset);
      if (entry === 0) break;
      if (!(entry & 1)) continue;
      const base = (rom + (entry & 0xfffff000)) >>> 0;
      components.push({ base, ...(await ids(base)) });
    }
    return { table, components };
  }

  it('Cortex-M0: ROM table 0x471 lists SCS 0x008, DWT 0x00A, BPU 0x00B, all ARM (JEP106 0x43B)', async () => {
    const { table, components } = await walk('cortex-m0');
    expect(table).toMatchObject({ preamble: 0xb105000d, componentClass: 0x1, part: 0x471, designer: 0x43b, jedec: true });
    expect(components.map((c) => [c.base.toString(16), c.componentClass, c.part, c.designer, (c.preamble >>> 0).toString(16)])).toEqual([
      ['e000e000', 0xe, 0x008, 0x43b, 'b105000d'],
      ['e0001000', 0xe, 0x00a, 0x43b, 'b105000d'],
      ['e0002000', 0xe, 0x00b, 0x43b, 'b105000d'],
    ]);
  });

  it('Cortex-M3: ROM table 0x4C3 lists SCS 0x000, DWT 0x002, FPB 0x003, ITM 0x001 and the TPIU 0x923 (CoreSight, DEVTYPE 0x11)', async () => {
    const { table, components } = await walk('cortex-m3');
    expect(table).toMatchObject({ componentClass: 0x1, part: 0x4c3, designer: 0x43b });
    expect(components.map((c) => [c.base.toString(16), c.componentClass, c.part, c.devtype])).toEqual([
      ['e000e000', 0xe, 0x000, 0],
      ['e0001000', 0xe, 0x002, 0],
      ['e0002000', 0xe, 0x003, 0],
      ['e0000000', 0xe, 0x001, 0],
      ['e0040000', 0x9, 0x923, 0x11],
    ]);
  });
});

describe('pipelining and wire time', () => {
  it('counts every v1 HID report at its full 64 bytes on the wire, whatever the command length', async () => {
    const { probe, send } = await setup('v1-hid');
    probe.resetStats();
    await send(0x00, 0xfe);
    expect(probe.stats).toMatchObject({ packetsOut: 1, packetsIn: 1, bytesOut: 64, bytesIn: 64 });
  });

  it('holds a write beyond the packet count until a response is read', async () => {
    const { probe } = await setup('v2-bulk', 2);
    const info = Uint8Array.of(0x00, 0xfe);
    await probe.transport.write(info);
    await probe.transport.write(info);
    let third = false;
    const pending = probe.transport.write(info).then(() => (third = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(third).toBe(false);
    await probe.transport.read();
    await pending;
    expect(third).toBe(true);
    await probe.transport.read();
    await probe.transport.read();
  });

  it('models one v2 command as USB slot + bits + probe overhead + next slot', async () => {
    const { probe, send } = await setup('v2-bulk');
    probe.resetStats();
    await send(0x00, 0xfe);
    const c = WIRE_CONSTANTS['v2-bulk'];
    // Host at t=0: OUT goes at slot 0 and takes its bits; the probe answers after its overhead;
    // the 3-byte response waits for the next 125 µs microframe and takes its bits.
    const outArrives = ((2 + c.usbPacketOverheadBytes) * 8) / c.usbBitsPerSecond;
    const ready = outArrives + c.commandOverheadSeconds;
    const inSlot = Math.ceil(ready / c.slotSeconds) * c.slotSeconds;
    const expected = inSlot + ((3 + c.usbPacketOverheadBytes) * 8) / c.usbBitsPerSecond;
    expect(probe.stats.modeledSeconds).toBeCloseTo(expected, 12);
    expect(probe.stats).toMatchObject({ packetsOut: 1, packetsIn: 1, bytesOut: 2, bytesIn: 3, roundTrips: 1 });
  });
});
