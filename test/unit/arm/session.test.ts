import { describe, expect, it } from 'vitest';
import { DebugSession } from '../../../core/arm/session';
import { CoreReg } from '../../../core/arm/registers';
import { SimulatedProbe } from '../../../core/sim/cmsis-dap-probe';
import { MemoryTarget } from '../../../core/sim/memory-target';

async function open(flavour: 'v1-hid' | 'v2-bulk' = 'v2-bulk', preset: 'cortex-m0' | 'cortex-m3' = 'cortex-m3') {
  const target = new MemoryTarget(preset);
  const probe = new SimulatedProbe({ flavour, target });
  const session = await DebugSession.open(probe.transport, { responseTimeoutMs: 200 });
  return { target, probe, session };
}

describe('debug session on the in-process model', () => {
  it('keeps memory transfers inside the 32-bit address space', async () => {
    const { session } = await open();
    // Ending exactly at 2^32 is inside: two byte writes go out (nothing is mapped there: FAULT).
    await expect(session.ap.writeMemory(0xfffffffe, Uint8Array.of(1, 2))).rejects.toThrow(/FAULT.* while writing 2 bytes at 0xfffffffe/);
    // Past it, refused before anything is sent (it used to wrap to address 0 and loop 2^32 times).
    await expect(session.ap.writeMemory(0xfffffffe, Uint8Array.of(1, 2, 3, 4))).rejects.toThrow('cannot write 4 bytes at 0xfffffffe: the range runs outside the 32-bit address space');
    await expect(session.ap.readMemory(0x20000000, 2 ** 32)).rejects.toThrow('cannot read 4294967296 bytes at 0x20000000: the range runs outside the 32-bit address space');
    expect(Array.from(await session.ap.readMemory(0x20000000, 4))).toEqual([0, 0, 0, 0]);
  });

  it('refuses a simulated packet count DAP_Info could not report (one byte, 1..255)', () => {
    const target = new MemoryTarget('cortex-m3');
    expect(() => new SimulatedProbe({ flavour: 'v2-bulk', target, packetCount: 0 })).toThrow('simulated probe packet count 0 is outside 1..255 (DAP_Info reports it in one byte)');
    expect(() => new SimulatedProbe({ flavour: 'v2-bulk', target, packetCount: 256 })).toThrow(RangeError);
  });

  it('identifies probe, DP, AP and core', async () => {
    for (const [preset, core, dpidr] of [['cortex-m0', 'Cortex-M0', 0x0bb11477], ['cortex-m3', 'Cortex-M3', 0x1ba01477]] as const) {
      const { session } = await open('v2-bulk', preset);
      const s = session.summary!;
      expect(s.core.name).toBe(core);
      expect(s.dp.dpidr).toBe(dpidr);
      expect(s.ap.isMemAp).toBe(true);
      expect(s.probe.packetSize).toBe(512);
      expect(s.probe.executeCommands).toBe(true);
      await session.close();
    }
  });

  it('reads and writes blocks above 0x80000000 (the PPB) like any other address', async () => {
    const { session } = await open();
    // CPUID of the Cortex-M3 model, then the SCB words after it, as one unaligned block read.
    expect(Array.from(await session.ap.readMemory(0xe000ed00, 8))).toEqual([0x30, 0xc2, 0x2f, 0x41, 0, 0, 0, 0]);
    expect(Array.from(await session.ap.readMemory(0xe000ed01, 3))).toEqual([0xc2, 0x2f, 0x41]);
    await session.ap.writeMemory(0xe0001004, Uint8Array.of(1, 2, 3, 4, 5)); // DWT scratch words
    const [back] = await session.ap.transact([{ address: 0xe0001004, length: 4 }]);
    expect(back.length).toBe(4);
    await session.close();
  });

  it('writes the bytes of a Node Buffer that is a view into a shared pool', async () => {
    const { session, target } = await open();
    // Small Buffers share one pooled ArrayBuffer: this one starts past other bytes in the pool.
    Buffer.from('unrelated pool contents');
    const data = Buffer.concat([Buffer.from('ping'), Buffer.from('\n')]);
    expect(data.byteOffset).toBeGreaterThan(0);
    await session.ap.writeMemory(0x20000100, data);
    expect(Buffer.from(target.ram.subarray(0x100, 0x105)).toString()).toBe('ping\n');
    await session.close();
  });

  it('round-trips memory at every size and alignment, across 1 KiB boundaries', async () => {
    const { session, target } = await open('v1-hid');
    const base = 0x20000000;
    for (const start of [0x3f0, 0x3fd, 0x7ff, 0x401]) {
      for (const length of [1, 2, 3, 4, 5, 7, 64, 333, 1030]) {
        const data = Uint8Array.from({ length }, (_, i) => (i * 7 + start + length) & 0xff);
        await session.ap.writeMemory(base + start, data);
        expect(Buffer.from(target.ram.subarray(start, start + length))).toEqual(Buffer.from(data));
        expect(Buffer.from(await session.ap.readMemory(base + start, length))).toEqual(Buffer.from(data));
      }
    }
    await session.ap.write8(base + 3, 0xab);
    await session.ap.write16(base + 6, 0xbeef);
    await session.ap.write32(base + 8, 0x12345678);
    expect(await session.ap.read8(base + 3)).toBe(0xab);
    expect(await session.ap.read16(base + 6)).toBe(0xbeef);
    expect(await session.ap.read32(base + 8)).toBe(0x12345678);
    await session.close();
  });

  it('halts, steps, resumes and reads/writes core registers', async () => {
    const { session } = await open();
    await session.core.halt();
    expect(await session.core.isHalted()).toBe(true);
    await session.core.writeCoreRegisters([[CoreReg.r0, 0x11111111], [CoreReg.r7, 0x77777777], [CoreReg.pc, 0x00000100]]);
    expect(await session.core.readCoreRegisters([CoreReg.r0, CoreReg.r7, CoreReg.pc])).toEqual([0x11111111, 0x77777777, 0x100]);
    await session.core.step();
    expect(await session.core.readCoreRegister(CoreReg.pc)).toBe(0x102);
    await session.core.resume();
    expect(await session.core.isHalted()).toBe(false);
    await expect(session.core.readCoreRegister(CoreReg.r0)).rejects.toThrow(/is the core halted/);
    await session.close();
  });

  it('resets and halts at the reset vector', async () => {
    const { session, target } = await open();
    target.loadFlash(0, Uint8Array.of(0x00, 0x40, 0x00, 0x20, 0xc1, 0x00, 0x00, 0x00));
    await session.core.reset({ halt: true });
    expect(await session.core.isHalted()).toBe(true);
    expect(await session.core.readCoreRegisters([CoreReg.pc, CoreReg.sp])).toEqual([0xc0, 0x20004000]);
    await session.core.reset({ halt: false });
    expect(await session.core.isHalted()).toBe(false);
    expect(target.resets).toBe(2);
    await session.close();
  });
});
