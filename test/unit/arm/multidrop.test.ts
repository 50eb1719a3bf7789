/**
 * The host side of multi-drop SWD against the RP2040 wire model: finding the part from a dormant
 * start, switching cores in one session, the rescue reset, and reconnecting to DPs already awake.
 * The model's own behaviour is pinned down by raw packets in test/unit/sim/multidrop.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { DebugSession } from '../../../core/arm/session';
import { Rp2040MemoryCores, rp2040Probe } from '../../../core/sim/rp2040-bench';

const SIO_CPUID = 0xd0000000;

async function open(options: { targetSel?: number } = {}) {
  const cores = new Rp2040MemoryCores();
  const probe = rp2040Probe(cores, { flavour: 'v2-bulk' });
  const session = await DebugSession.open(probe.transport, { responseTimeoutMs: 500, ...options });
  return { cores, probe, session };
}

const word = (b: Uint8Array) => (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;

describe('multi-drop SWD (RP2040)', () => {
  it('wakes the dormant DPs, finds the RP2040 by TARGETID and attaches to core 0', async () => {
    const { session } = await open();
    const s = session.summary!;
    expect(s.dp.dpidr).toBe(0x0bc12477);
    expect(s.dp.version).toBe(2);
    expect(s.dp.targetSel).toBe(0x01002927);
    expect(session.part?.name).toBe('RP2040');
    expect(s.core.name).toBe('Cortex-M0+');
    expect(word(await session.ap.readMemory(SIO_CPUID, 4))).toBe(0);
    await session.close();
  });

  it('switches between the cores within a session; each halts on its own', async () => {
    const { session, cores } = await open();
    await session.ap.writeMemory(0x20000100, Uint8Array.of(1, 2, 3, 4));
    await session.core.halt();
    const s1 = await session.selectCore(1);
    expect(s1.dp.targetSel).toBe(0x11002927);
    expect(word(await session.ap.readMemory(SIO_CPUID, 4))).toBe(1);
    expect(Array.from(await session.ap.readMemory(0x20000100, 4))).toEqual([1, 2, 3, 4]);
    expect((await session.core.status()).halted).toBe(false);
    expect(await cores.core0.isHalted()).toBe(true);
    await session.core.halt();
    expect(await cores.core1.isHalted()).toBe(true);
    await session.selectCore(0);
    expect(word(await session.ap.readMemory(SIO_CPUID, 4))).toBe(0);
    await session.core.resume();
    expect(await cores.core0.isHalted()).toBe(false);
    expect(await cores.core1.isHalted()).toBe(true);
    await expect(session.selectCore(2)).rejects.toThrow(/RP2040 has no core 2/);
    await session.close();
  });

  it('attaches to core 1 first when given its TARGETSEL', async () => {
    const { session } = await open({ targetSel: 0x11002927 });
    expect(word(await session.ap.readMemory(SIO_CPUID, 4))).toBe(1);
    await session.close();
  });

  it('says no DP answered a TARGETSEL that matches nothing on the wire', async () => {
    const cores = new Rp2040MemoryCores();
    const probe = rp2040Probe(cores, { flavour: 'v2-bulk' });
    await expect(DebugSession.open(probe.transport, { responseTimeoutMs: 500, targetSel: 0x21002927 })).rejects.toThrow(/no DP answered after TARGETSEL 0x21002927/);
  });

  it('rescue-resets the chip through the rescue DP and reattaches to core 0', async () => {
    const { session, cores } = await open();
    await session.selectCore(1);
    const s = await session.rescue();
    expect(cores.rescues).toBe(1);
    expect(cores.heldInReset).toBe(false);
    expect(s.dp.targetSel).toBe(0x01002927);
    expect(word(await session.ap.readMemory(SIO_CPUID, 4))).toBe(0);
    const status = await session.core.status();
    expect(status.halted).toBe(true);
    await session.close();
  });

  it('reconnects to DPs left awake by an earlier session without touching the rescue DP', async () => {
    const cores = new Rp2040MemoryCores();
    const probe = rp2040Probe(cores, { flavour: 'v2-bulk' });
    const first = await DebugSession.open(probe.transport, { responseTimeoutMs: 500 });
    await first.close();
    // The DPs are in the SWD state now: the JTAG-to-SWD switch's line reset reaches all three and
    // each answers DPIDR; the host must select core 0 before any CTRL/STAT write reaches the rescue DP.
    const second = await DebugSession.open(probe.transport, { responseTimeoutMs: 500 });
    expect(second.summary!.dp.targetSel).toBe(0x01002927);
    expect(cores.rescues).toBe(0);
    expect(cores.heldInReset).toBe(false);
    await second.close();
  });
});
