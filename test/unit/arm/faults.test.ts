import { describe, expect, it } from 'vitest';
import { DebugSession, needsRecovery } from '../../../core/arm/session';
import { SimulatedProbe } from '../../../core/sim/cmsis-dap-probe';
import { MemoryTarget } from '../../../core/sim/memory-target';

const RAM = 0x20000000;

async function open() {
  const target = new MemoryTarget('cortex-m3');
  const probe = new SimulatedProbe({ flavour: 'v2-bulk', target });
  const session = await DebugSession.open(probe.transport, { responseTimeoutMs: 150 });
  await session.ap.writeMemory(RAM, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
  return { target, probe, session };
}

async function stillWorks(session: DebugSession) {
  await session.ap.write32(RAM + 0x100, 0xcafef00d);
  expect(await session.ap.read32(RAM + 0x100)).toBe(0xcafef00d);
  expect(Array.from(await session.ap.readMemory(RAM, 8))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
}

describe('injected faults give clear errors and leave a usable connection', () => {
  it('WAIT acks beyond the retry count', async () => {
    const { probe, session } = await open();
    probe.faults.waitOnNextApAccesses(1000);
    await expect(session.ap.read32(RAM)).rejects.toThrow(/^SWD WAIT ack (reading|writing) AP (CSW|TAR|DRW) while reading 32 bits at 0x20000000$/);
    await stillWorks(session);
  });

  it('a few WAIT acks are absorbed by the probe retry', async () => {
    const { probe, session } = await open();
    probe.faults.waitOnNextApAccesses(5);
    expect(await session.ap.read32(RAM)).toBe(0x04030201);
  });

  it('a FAULT ack sets STICKYERR, which is reported and cleared', async () => {
    const { probe, session } = await open();
    probe.faults.faultOnNextApAccess();
    await expect(session.ap.readMemory(RAM, 64)).rejects.toThrow(
      /^SWD FAULT ack (reading|writing) AP (DRW|CSW|TAR).* while reading 64 bytes at 0x20000000; CTRL\/STAT had STICKYERR, cleared$/,
    );
    await stillWorks(session);
  });

  it('a bus fault at an unmapped address names the address', async () => {
    const { session } = await open();
    await expect(session.ap.read32(0x30000000)).rejects.toThrow(/SWD FAULT ack reading AP DRW while reading 32 bits at 0x30000000; CTRL\/STAT had STICKYERR/);
    await expect(session.ap.writeMemory(0x3ffffffe, Uint8Array.of(1, 2, 3, 4))).rejects.toThrow(/FAULT.*writing 4 bytes at 0x3ffffffe/);
    await stillWorks(session);
  });

  it('a lost USB response times out, and recover() brings the link back', async () => {
    const { probe, session } = await open();
    probe.faults.dropNextResponse();
    const err = await session.ap.read32(RAM).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/no response from the probe to DAP_Transfer within 150 ms/);
    expect(needsRecovery(err)).toBe(true);
    // Until recovered, the broken link refuses work instead of mixing up responses.
    await expect(session.ap.read32(RAM)).rejects.toThrow(/no response/);
    await session.recover();
    await stillWorks(session);
  });

  it('unplug mid-transfer fails with "probe disconnected", and a replugged probe recovers', async () => {
    const { probe, session } = await open();
    const big = new Uint8Array(16 * 1024).fill(0x5a);
    probe.faults.unplugAfterPackets(5);
    const err = await session.ap.writeMemory(RAM + 0x1000, big).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/probe disconnected: NotFoundError: the device was disconnected/);
    expect(needsRecovery(err)).toBe(true);
    await expect(session.recover()).rejects.toThrow(/probe disconnected/);
    probe.faults.replug();
    await session.recover();
    await stillWorks(session);
  });

  it('a target reset mid-session shows as S_RESET_ST and the session carries on', async () => {
    const { probe, session, target } = await open();
    await session.core.halt();
    await session.core.status(); // clear sticky status bits
    await probe.faults.resetTarget();
    const status = await session.core.status();
    expect(status.resetSinceLastRead).toBe(true);
    expect(status.halted).toBe(false);
    expect((await session.core.status()).resetSinceLastRead).toBe(false);
    expect(target.resets).toBe(1);
    await stillWorks(session);
  });
});
