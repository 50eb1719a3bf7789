/** The emulated Pico in tests: sessions over the probe model that close after each test, and its boot check. */
import { afterEach, expect } from 'vitest';
import { DebugSession } from '../../core/arm/session';
import type { PicoEmulator } from '../../core/sim/pico';
import { rp2040Probe } from '../../core/sim/rp2040-bench';
import { defmtLinesUntil } from './rtt';

/** Call at a test file's top level: `open` gives a session to a Pico (v2 model), closed with the Pico after each test. */
export function picoSessions(): { open(pico: PicoEmulator, responseTimeoutMs?: number): Promise<DebugSession> } {
  let opened: { session: DebugSession; pico: PicoEmulator }[] = [];
  afterEach(async () => {
    for (const o of opened) {
      await o.session.close();
      o.pico.close();
    }
    opened = [];
  });
  return {
    async open(pico, responseTimeoutMs = 3000) {
      const session = await DebugSession.open(rp2040Probe(pico, { flavour: 'v2-bulk' }).transport, { responseTimeoutMs });
      opened.push({ session, pico });
      return session;
    },
  };
}

/**
 * The hello sample in the Pico's flash boots: after a reset the ROM checks and enters boot2, boot2
 * the firmware, whose decoded log starts with its greeting and reaches tick 1.
 */
export async function expectHelloBootsOnPico(session: DebugSession, elf: string): Promise<void> {
  await session.core.reset({ halt: false });
  const { code, lines } = await defmtLinesUntil(session.ap, elf, { start: 0x20000000, size: 0x42000 }, /tick 1$/);
  expect(code).toBe(0);
  expect(lines[0]).toMatch(/INFO +hello from dapdeck on rp2040/);
  expect(lines.some((l) => /INFO +tick 1$/.test(l))).toBe(true);
}
