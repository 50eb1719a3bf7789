/**
 * The RP2040's three DPs on one multi-drop SWD wire, driven with raw CMSIS-DAP packets laid out here
 * from the specs, not by the project's host code: ADIv5.2 B5.3 (selection alert 0x19BC0EA2_E3DDAFE9_
 * 86852D95_6209F392, activation code 0x1A), B4.3.4 (TARGETSEL), the CMSIS-DAP DAP_SWD_Sequence
 * layout, and the behaviour Luke Wren's OpenDAP SW-DP testbench asserts (targetsel_bad_id,
 * targetsel_bad_parity, fail_reset_state_bad_register, dormant_ignores_access). The wake-up bytes are
 * OpenOCD 0.12's swd_seq_dormant_to_swd layout; the IDs are the RP2040 datasheet's / OpenOCD's
 * target/rp2040.cfg (TARGETID 0x01002927, instances 0, 1 and 0xF).
 */
import { describe, expect, it } from 'vitest';
import { Rp2040MemoryCores, rp2040Probe } from '../../../core/sim/rp2040-bench';
import { ProbeProtocolError } from '../../../core/sim/cmsis-dap-probe';

const le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const rd = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
const parity = (v: number) => {
  let p = 0;
  for (let i = 0; i < 32; i++) p ^= (v >>> i) & 1;
  return p;
};

const DP_READ_IDCODE = 0x02;
const DP_WRITE_ABORT = 0x00;
const DP_WRITE_CTRL = 0x04;
const DP_READ_CTRL = 0x06;
const DP_WRITE_SELECT = 0x08;
const DP_WRITE_TARGETSEL = 0x0c;
const AP_WRITE_CSW = 0x01;
const AP_WRITE_TAR = 0x05;
const AP_WRITE_DRW = 0x0d;
const AP_READ_DRW = 0x0f;

const CORE0 = 0x01002927;
const CORE1 = 0x11002927;
const RESCUE = 0xf1002927;
const RP2040_DPIDR = 0x0bc12477;

// ≥8 high, the selection alert, 4 low + activation code 0x1A + high, then a line reset (224 bits).
const DORMANT_TO_SWD = [
  0xff,
  0x92, 0xf3, 0x09, 0x62, 0x95, 0x2d, 0x85, 0x86, 0xe9, 0xaf, 0xdd, 0xe3, 0xa2, 0x0e, 0xbc, 0x19,
  0xa0, 0xf1, 0xff,
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
];
const LINE_RESET = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];
const JTAG_TO_SWD = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x9e, 0xe7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];

async function bench() {
  const cores = new Rp2040MemoryCores();
  const probe = rp2040Probe(cores, { flavour: 'v2-bulk' });
  await probe.transport.open();
  const send = async (...bytes: number[]) => {
    await probe.transport.write(Uint8Array.from(bytes));
    const v = await probe.transport.read();
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  };
  const swj = (bytes: number[]) => send(0x12, (bytes.length * 8) & 0xff, ...bytes);
  /** TARGETSEL as OpenOCD's cmsis_dap_metacmd_targetsel sends it: out 8 (0x99), in 5, out 33. */
  const targetsel = (value: number, parityBit = parity(value)) => send(0x1d, 3, 8, 0x99, 0x80 | 5, 33, ...le(value), parityBit);
  const transfer = (...reqs: number[]) => send(0x05, 0, countRequests(reqs), ...reqs);
  /** [count done, ACK] of a DAP_Transfer response. */
  const status = (r: Uint8Array) => [r[1], r[2]];
  expect(Array.from(await send(0x02, 0x01))).toEqual([0x02, 0x01]);
  return { cores, probe, send, swj, targetsel, transfer, status };
}

/** Number of transfer requests in a DAP_Transfer payload (writes carry 4 data bytes). */
function countRequests(reqs: number[]): number {
  let n = 0;
  for (let i = 0; i < reqs.length; n++) i += reqs[i] & 0x02 ? 1 : 5;
  return n;
}

async function selected(sel = CORE0) {
  const b = await bench();
  await b.swj(DORMANT_TO_SWD);
  expect(Array.from(await b.targetsel(sel))).toEqual([0x1d, 0x00, 0x1f]); // in5: all released, reads 1s
  const id = await b.transfer(DP_READ_IDCODE);
  expect(b.status(id)).toEqual([1, 0x01]);
  expect(rd(id, 3)).toBe(RP2040_DPIDR);
  return b;
}

/** Power up the selected core's DP and set a 32-bit CSW on its AHB-AP. */
async function powered(b: Awaited<ReturnType<typeof bench>>) {
  const r = await b.transfer(DP_WRITE_ABORT, ...le(0x1e), DP_WRITE_SELECT, ...le(0), DP_WRITE_CTRL, ...le(0x50000000), DP_READ_CTRL, AP_WRITE_CSW, ...le(0x23000002));
  expect(b.status(r)).toEqual([5, 0x01]);
  expect(rd(r, 3) >>> 28).toBe(0xf); // both power requests acknowledged
}

async function readWord(b: Awaited<ReturnType<typeof bench>>, address: number) {
  const r = await b.transfer(AP_WRITE_TAR, ...le(address), AP_READ_DRW);
  expect(b.status(r)).toEqual([2, 0x01]);
  return rd(r, 3);
}

describe('RP2040 multi-drop SWD wire (probe model)', () => {
  it('is dormant at power-up: the JTAG-to-SWD switch wakes no DP', async () => {
    const b = await bench();
    await b.swj(JTAG_TO_SWD);
    expect(b.status(await b.transfer(DP_READ_IDCODE))).toEqual([0, 0x07]);
  });

  it('answers the DPIDR read only after the dormant wake-up, and TARGETSEL picks one DP (TARGETID, DLPIDR)', async () => {
    const b = await selected(CORE0);
    const r = await b.transfer(DP_WRITE_SELECT, ...le(2), DP_READ_CTRL, DP_WRITE_SELECT, ...le(3), DP_READ_CTRL, DP_WRITE_SELECT, ...le(0));
    expect(b.status(r)).toEqual([5, 0x01]);
    expect(rd(r, 3)).toBe(0x01002927); // TARGETID
    expect(rd(r, 7)).toBe(0x00000001); // DLPIDR: TINSTANCE 0, PROTVSN 1 (OpenOCD logs the same)
  });

  it('stays silent after a TARGETSEL no DP matches, until a line reset', async () => {
    const b = await bench();
    await b.swj(DORMANT_TO_SWD);
    await b.targetsel(0x21002927); // instance 2: nobody
    expect(b.status(await b.transfer(DP_READ_IDCODE))).toEqual([0, 0x07]);
    expect(b.status(await b.transfer(DP_READ_IDCODE))).toEqual([0, 0x07]);
    await b.swj(LINE_RESET);
    await b.targetsel(CORE1);
    const id = await b.transfer(DP_READ_IDCODE);
    expect(b.status(id)).toEqual([1, 0x01]);
  });

  it('treats a TARGETSEL with a parity error as a mismatch', async () => {
    const b = await bench();
    await b.swj(DORMANT_TO_SWD);
    await b.targetsel(CORE0, parity(CORE0) ^ 1);
    expect(b.status(await b.transfer(DP_READ_IDCODE))).toEqual([0, 0x07]);
  });

  it('never acknowledges TARGETSEL: through DAP_Transfer the probe sees no ACK and every DP locks out', async () => {
    const b = await bench();
    await b.swj(DORMANT_TO_SWD);
    expect(b.status(await b.transfer(DP_WRITE_TARGETSEL, ...le(CORE0)))).toEqual([0, 0x07]);
    expect(b.status(await b.transfer(DP_READ_IDCODE))).toEqual([0, 0x07]);
  });

  it('locks out on anything but a DPIDR read or TARGETSEL first after a line reset', async () => {
    const b = await selected(CORE0);
    await b.swj(LINE_RESET);
    await b.targetsel(CORE0);
    expect(b.status(await b.transfer(DP_READ_CTRL))).toEqual([0, 0x07]);
    expect(b.status(await b.transfer(DP_READ_IDCODE))).toEqual([0, 0x07]);
  });

  it('needs the two idle cycles that end a line reset', async () => {
    const b = await selected(CORE0);
    await b.swj([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]); // 56 high, no idle
    await b.targetsel(CORE1);
    expect(b.status(await b.transfer(DP_READ_IDCODE))).toEqual([0, 0x07]);
  });

  it('refuses a TARGETSEL once the DP is active (it is only legal right after a line reset)', async () => {
    const b = await selected(CORE0);
    await b.targetsel(CORE0);
    expect(b.status(await b.transfer(DP_READ_IDCODE))).toEqual([0, 0x07]);
  });

  it('switches cores within a session: each DP reaches its own core (SIO CPUID) and shared SRAM', async () => {
    const b = await selected(CORE0);
    await powered(b);
    expect(await readWord(b, 0xd0000000)).toBe(0); // SIO CPUID on core 0
    expect(b.status(await b.transfer(AP_WRITE_TAR, ...le(0x20001000), AP_WRITE_DRW, ...le(0xc0ffee01)))).toEqual([2, 0x01]);
    // Halt core 0 through its DHCSR.
    expect(b.status(await b.transfer(AP_WRITE_TAR, ...le(0xe000edf0), AP_WRITE_DRW, ...le(0xa05f0003)))).toEqual([2, 0x01]);

    await b.swj(LINE_RESET);
    await b.targetsel(CORE1);
    expect(rd(await b.transfer(DP_READ_IDCODE), 3)).toBe(RP2040_DPIDR);
    const dl = await b.transfer(DP_WRITE_SELECT, ...le(3), DP_READ_CTRL, DP_WRITE_SELECT, ...le(0));
    expect(rd(dl, 3)).toBe(0x10000001); // DLPIDR: TINSTANCE 1
    await powered(b);
    expect(await readWord(b, 0xd0000000)).toBe(1); // SIO CPUID on core 1
    expect(await readWord(b, 0x20001000)).toBe(0xc0ffee01); // the SRAM core 0 wrote
    expect((await readWord(b, 0xe000edf0)) & 0x20000).toBe(0); // core 1 is not halted
    expect(await b.cores.core0.isHalted()).toBe(true);
    expect(await b.cores.core1.isHalted()).toBe(false);

    await b.swj(LINE_RESET);
    await b.targetsel(CORE0);
    await b.transfer(DP_READ_IDCODE);
    expect((await readWord(b, 0xe000edf0)) & 0x20000).toBe(0x20000); // S_HALT on core 0
  });

  it('resets the chip from the rescue DP: held while CDBGPWRUPREQ is set, restarted parked when it clears', async () => {
    const b = await selected(RESCUE);
    const r = await b.transfer(DP_WRITE_ABORT, ...le(0x1e), DP_WRITE_CTRL, ...le(0x50000000), DP_READ_CTRL);
    expect(b.status(r)).toEqual([3, 0x01]);
    expect(rd(r, 3) >>> 28).toBe(0x7); // CDBGPWRUPACK, but never CSYSPWRUPACK (OpenOCD: -ignore-syspwrupack)
    expect(b.cores.heldInReset).toBe(true);
    expect(b.cores.rescues).toBe(0);
    const c = await b.transfer(DP_WRITE_CTRL, ...le(0), DP_READ_CTRL);
    expect(rd(c, 3) >>> 28).toBe(0); // OpenOCD's rescue checks CTRL/STAT[31:28] == 0
    expect(b.cores.heldInReset).toBe(false);
    expect(b.cores.rescues).toBe(1);
    expect(await b.cores.core0.isHalted()).toBe(true);
  });

  it('lets several DPs answer a DPIDR read at once when nothing was selected (they drive the same bits)', async () => {
    const b = await bench();
    await b.swj(DORMANT_TO_SWD);
    expect(rd(await b.transfer(DP_READ_IDCODE), 3)).toBe(RP2040_DPIDR);
    // Their DLPIDRs differ: three DPs driving different bits garble the response.
    const r = await b.transfer(DP_WRITE_SELECT, ...le(3), DP_READ_CTRL);
    expect(b.status(r)).toEqual([1, 0x07]);
  });

  it('refuses bit-banged transfers it does not model', async () => {
    const b = await selected(CORE0);
    await b.probe.transport.write(Uint8Array.from([0x1d, 2, 8, 0xa5, 0x80 | 38]));
    await expect(b.probe.transport.read()).rejects.toThrow(ProbeProtocolError);
  });
});
