/**
 * The GDB server on the in-process Cortex-M0/M3 models behind the strict probe model: what it tells
 * GDB (target description, memory map), how breakpoints are chosen (BKPT in RAM, FPB in flash, FPB
 * v1's 0x20000000 limit), DWT watchpoints with their size/alignment limits and running out of
 * comparators (ARMv6-M/ARMv7-M C1.8 encodings checked on the DWT registers), flash writes refused
 * over the bus, and GDB's load through the emulated nRF51 algorithm with the flasher's skip.
 * The end-to-end proof with a real GDB is test/integration/gdb.test.ts.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DebugSession } from '../../../core/arm/session';
import { parseTargetYaml } from '../../../core/flash/algorithm';
import { GdbServerSession, type StopReason } from '../../../core/gdb/server';
import { SessionTarget } from '../../../core/gdb/session-target';
import { checksum, fromLatin1, latin1, RspFramer, toHex } from '../../../core/gdb/packets';
import { SimulatedProbe } from '../../../core/sim/cmsis-dap-probe';
import { emulateFlashAlgorithm } from '../../../core/sim/flash-emulator';
import { MemoryTarget, type MemoryTargetPreset } from '../../../core/sim/memory-target';

const TARGET_FILE = resolve(__dirname, '../../../core/flash/targets/nrf51.yaml');
const ALGORITHM = parseTargetYaml(readFileSync(TARGET_FILE, 'utf8'), TARGET_FILE).algorithms[0];
const FLASH = [{ start: 0, size: 0x40000 }];

async function connect(preset: MemoryTargetPreset, withAlgorithm = false) {
  const model = new MemoryTarget(preset);
  if (withAlgorithm) emulateFlashAlgorithm(model, ALGORITHM);
  const probe = new SimulatedProbe({ flavour: 'v2-bulk', target: model });
  const session = await DebugSession.open(probe.transport, { responseTimeoutMs: 300 });
  const target = await SessionTarget.create(session, { flash: FLASH, algorithm: withAlgorithm ? { regions: [{ region: FLASH[0], algorithm: ALGORITHM }], ram: { start: 0x20000000, size: 0x4000 } } : undefined });
  const replies: string[] = [];
  const log: string[] = [];
  const stops: StopReason[] = [];
  const framer = new RspFramer();
  const server = new GdbServerSession(target, { write: (b) => framer.push(b).forEach((e) => e.kind === 'packet' && replies.push(fromLatin1(e.payload))), close: () => undefined }, { log: (l) => log.push(l), onHalted: (r) => void stops.push(r) });
  await server.start();
  const ask = async (payload: string | Uint8Array): Promise<string> => {
    const before = replies.length;
    server.receive(frame(typeof payload === 'string' ? latin1(payload) : payload));
    for (let i = 0; i < 2000 && replies.length === before; i++) await new Promise((r) => setTimeout(r, 1));
    return replies[replies.length - 1];
  };
  await ask('QStartNoAckMode');
  /** Send without waiting for a reply (continue) or a raw byte (Ctrl-C); `next` waits for the next packet. */
  const send = (payload: string | Uint8Array) => server.receive(typeof payload === 'string' ? frame(latin1(payload)) : payload);
  const next = async (): Promise<string> => {
    const before = replies.length;
    for (let i = 0; i < 2000 && replies.length === before; i++) await new Promise((r) => setTimeout(r, 1));
    return replies[replies.length - 1];
  };
  return { model, session, ask, send, next, log, stops };
}

describe('GDB server on the in-process models', () => {
  it('describes the M-profile registers for each core and serves the description in pieces', async () => {
    const m0 = await connect('cortex-m0');
    const piece = await m0.ask('qXfer:features:read:target.xml:0,40');
    expect(piece.startsWith('m<?xml')).toBe(true);
    const xml = (await m0.ask('qXfer:features:read:target.xml:0,4000')).slice(1);
    expect(xml).toContain('<feature name="org.gnu.gdb.arm.m-profile">');
    expect(xml).toContain('<reg name="xpsr" bitsize="32" type="int"/>');
    expect(xml).toContain('<reg name="msp" bitsize="32" type="data_ptr" group="system"/>');
    expect(xml).not.toContain('basepri'); // ARMv6-M has none
    const m3 = await connect('cortex-m3');
    expect(await m3.ask('qXfer:features:read:target.xml:0,4000')).toContain('<reg name="basepri"');
    // g: r0–r15, xpsr, msp, psp, primask, control for ARMv6-M, 8 hex digits each.
    expect((await m0.ask('g')).length).toBe(21 * 8);
    expect(await m0.ask('P0=78563412')).toBe('OK');
    expect(await m0.ask('p0')).toBe('78563412');
  });

  it('offers a memory map only with a flash algorithm: flash in erase blocks, the rest reachable as RAM', async () => {
    const plain = await connect('cortex-m0');
    expect(await plain.ask('qSupported:swbreak+;hwbreak+')).not.toContain('memory-map');
    const chip = await connect('cortex-m0', true);
    expect(await chip.ask('qSupported:swbreak+;hwbreak+')).toContain('qXfer:memory-map:read+');
    const map = (await chip.ask('qXfer:memory-map:read::0,1000')).slice(1);
    expect(map).toContain('<memory type="flash" start="0x0" length="0x40000">\n    <property name="blocksize">0x400</property>');
    expect(map).toContain('<memory type="ram" start="0x40000" length="0xfffc0000"/>');
  });

  it('puts BKPT into RAM code, an FPB comparator on flash code, and refuses FPB v1 above 0x20000000', async () => {
    const { ask, session, log } = await connect('cortex-m0');
    await session.ap.writeMemory(0x20000100, Uint8Array.of(0x01, 0x30));
    expect(await ask('Z0,20000100,2')).toBe('OK');
    expect([...(await session.ap.readMemory(0x20000100, 2))]).toEqual([0x00, 0xbe]);
    expect(await ask('z0,20000100,2')).toBe('OK');
    expect([...(await session.ap.readMemory(0x20000100, 2))]).toEqual([0x01, 0x30]);
    expect(await ask('Z0,1000,2')).toBe('OK');
    // FPB v1 comparator 0: COMP[28:2] = 0x1000, REPLACE = 01 (lower halfword), ENABLE.
    expect(await session.ap.read32(0xe0002008)).toBe(0x40001001);
    expect(await ask('z0,1000,2')).toBe('OK');
    expect(await session.ap.read32(0xe0002008)).toBe(0);
    expect(await ask('Z1,20000100,2')).toBe('E01');
    expect(log.join('\n')).toMatch(/FPB v1 cannot break at 0x20000100 \(only code below 0x20000000\)/);
  });

  it('arms DWT comparators for Z2–Z4 within their limits and says why when it cannot', async () => {
    const { ask, session, log } = await connect('cortex-m0');
    expect(await ask('Z2,20000010,4')).toBe('OK');
    // DWT comparator 0: the address, MASK = log2(4), FUNCTION 0b0110 (data write).
    expect(await session.ap.read32(0xe0001020)).toBe(0x20000010);
    expect(await session.ap.read32(0xe0001024)).toBe(2);
    expect(await session.ap.read32(0xe0001028)).toBe(0b0110);
    expect(await ask('Z3,20000020,1')).toBe('OK');
    expect(await session.ap.read32(0xe0001038)).toBe(0b0101);
    expect(await ask('Z4,20000040,8')).toBe('E01'); // the Cortex-M0 has two comparators
    expect(log.pop()).toMatch(/no free DWT comparator for a watchpoint at 0x20000040: all 2 are in use \(write 0x20000010\/4, read 0x20000020\/1\)/);
    expect(await ask('z3,20000020,1')).toBe('OK');
    expect(await session.ap.read32(0xe0001038)).toBe(0);
    expect(await ask('Z4,20000041,4')).toBe('E01');
    expect(log.pop()).toMatch(/a DWT range must be aligned to its size \(0x20000040 would be\)/);
    expect(await ask('Z2,20000040,3')).toBe('E01');
    expect(log.pop()).toMatch(/covers a power-of-two number of bytes/);
  });

  it('stops on Ctrl-C (SIGINT), on a firmware BKPT (SIGTRAP, no breakpoint of GDB\'s) and on a caught fault (SIGSEGV, fault status named)', async () => {
    const { ask, send, next, model, log, stops } = await connect('cortex-m3');
    expect(await ask('qSupported:swbreak+;hwbreak+')).toContain('swbreak+');
    // Vector table and a BKPT at 0x44 (as in test/unit/sim/stops.test.ts).
    model.loadFlash(0, Uint8Array.from([0x20004000, 0x41, 0x4b, 0x4d, 0x4d, 0x4d, 0x4d].flatMap((w) => [w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24])));
    model.loadFlash(0x40, Uint8Array.of(0x01, 0x20, 0x02, 0x21, 0x12, 0xbe, 0xfe, 0xe7));
    expect(await ask('P0f=40000000')).toBe('OK');
    send('vCont;c');
    await new Promise((r) => setTimeout(r, 20));
    send(Uint8Array.of(0x03));
    expect(await next()).toMatch(/^T02/);
    expect(await ask('P0f=44000000')).toBe('OK');
    send('vCont;c');
    expect(await next()).toMatch(/^T050d:[0-9a-f]{8};0f:44000000;thread:1;$/);
    expect(await ask('P0f=40000000')).toBe('OK');
    expect(await ask('P0d=00400020')).toBe('OK'); // sp 0x20004000: room for the exception frame
    send('c');
    await new Promise((r) => setTimeout(r, 20));
    await model.takeException(5, { cfsr: (1 << 9) | (1 << 15), bfar: 0x30000000 }); // PRECISERR | BFARVALID
    expect(await next()).toMatch(/^T0b0d:e03f0020;0f:4c000000;/); // 8 words stacked below 0x20004000
    expect(stops.at(-1)).toEqual({ kind: 'fault', exception: 'HardFault', details: ['escalated to HardFault (HFSR.FORCED)', 'precise bus error at 0x30000000 (PRECISERR)'] });
    expect(log.join('\n')).not.toMatch(/gdb: /); // nothing refused on the way
    // A lockup (a fault in HardFault) is halted and reported the same way.
    send('c');
    await new Promise((r) => setTimeout(r, 20));
    await model.takeException(3);
    expect(await next()).toMatch(/^T0b/);
    expect(stops.at(-1)).toMatchObject({ kind: 'fault', exception: 'lockup' });
  });

  it('refuses memory writes that would change flash, naming the way to program it', async () => {
    const { ask, log, model } = await connect('cortex-m0');
    model.loadFlash(0x100, Uint8Array.of(1, 2, 3, 4));
    expect(await ask('M100,4:01020304')).toBe('OK'); // already holds it: nothing to change
    expect(await ask('M100,4:01020305')).toBe('E01');
    expect(log.pop()).toMatch(/0x00000103 is flash, which memory writes cannot change \(reads 0x04, GDB wrote 0x05\): start dapdeck gdb with --chip/);
    expect(await ask(latin1(`X20000000,4:${'\x7d\x03\x7d\x04ab'}`))).toBe('OK'); // escaped '#' and '$'
    expect(await ask('m20000000,4')).toBe(toHex(Uint8Array.of(0x23, 0x24, 0x61, 0x62)));
  });

  it('loads flash through the algorithm (vFlash), verified, and skips it all the second time', async () => {
    const { ask, log, model } = await connect('cortex-m0', true);
    const data = Uint8Array.from({ length: 0x500 }, (_, i) => (i * 13 + 1) & 0xff);
    const load = async () => {
      expect(await ask('vFlashErase:0,800')).toBe('OK');
      const packet = new Uint8Array([...latin1('vFlashWrite:0:'), ...escape(data)]);
      expect(await ask(packet)).toBe('OK');
      expect(await ask('vFlashDone')).toBe('OK');
    };
    await load();
    expect(Buffer.from(model.flash.subarray(0, 0x500)).equals(Buffer.from(data))).toBe(true);
    expect(model.flash.subarray(0x500, 0x800).every((b) => b === 0xff)).toBe(true);
    expect(log.pop()).toMatch(/load: 2 sectors in the image, .*verified \(crc\)/);
    await load();
    expect(log.pop()).toMatch(/load: 2 sectors in the image, 2 unchanged \(skipped\)/);
  });
});

/** A request as GDB frames it: the payload as given (already escaped where it carries binary). */
function frame(payload: Uint8Array): Uint8Array {
  return new Uint8Array([...latin1('$'), ...payload, ...latin1(`#${checksum(payload).toString(16).padStart(2, '0')}`)]);
}

/** GDB's binary escape for X/vFlashWrite data. */
function escape(data: Uint8Array): number[] {
  const out: number[] = [];
  for (const b of data) {
    if (b === 0x23 || b === 0x24 || b === 0x7d || b === 0x2a) out.push(0x7d, b ^ 0x20);
    else out.push(b);
  }
  return out;
}
