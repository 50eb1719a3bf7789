/// <reference lib="webworker" />
/**
 * Benchmark worker: the emulated Pico as the device worker runs it (core/sim/pico.ts's scheduler,
 * paced to wall time, in a browser worker), on a loop that never sleeps — `adds r0, #1;
 * str r0, [r1]; b.n` in flash — for the given seconds: how many of the RP2040's 125 MHz clock
 * cycles it emulates per wall second (capped at 125: the emulator never runs ahead of wall time).
 */
import { PICO_CYCLE_NANOS, PicoEmulator } from '../../core/sim/pico';

declare const self: DedicatedWorkerGlobalScope;

const CODE = 0x10000400;
const COUNTER = 0x20000200;
const LOOP = Uint8Array.from([0x3001, 0x6008, 0xe7fc].flatMap((h) => [h & 0xff, h >> 8]));

self.onmessage = async (e: MessageEvent<{ seconds: number }>) => {
  const pico = new PicoEmulator();
  const core = pico.core0;
  await core.halt();
  pico.loadFlash(CODE, LOOP);
  await core.writeRegister(0, 0);
  await core.writeRegister(1, COUNTER);
  await core.writeRegister(15, CODE);
  await core.writeRegister(16, 0x01000000);
  const nanos0 = pico.clock.nanos;
  const instructions0 = core.instructions;
  const t0 = performance.now();
  await core.resume();
  await new Promise((r) => setTimeout(r, e.data.seconds * 1000));
  await core.halt();
  const wall = (performance.now() - t0) / 1000;
  const counter = new DataView((await core.readMemory(COUNTER, 4)).buffer).getUint32(0, true);
  pico.close();
  self.postMessage({ wallSeconds: wall, emulatedMHz: (pico.clock.nanos - nanos0) / PICO_CYCLE_NANOS / 1e6 / wall, mips: (core.instructions - instructions0) / 1e6 / wall, loops: counter });
};
