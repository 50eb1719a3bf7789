/**
 * Flashing a 128 KiB image on the in-process model with the nRF51 algorithm emulated at datasheet
 * timings (page erase 22.3 ms, word write 46.3 µs; the algorithm's own loops at their M0 cycle
 * counts): this project's flasher versus a naive path (dapjs writeBlock per page, one algorithm call
 * at a time, no double buffering, sector erases, read-back verify), on the same probe model. Ours
 * runs over a chip holding a previous build (sector erase forced, and auto), over a blank chip, and
 * again with the same image. All figures are modeled.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as dapjsModule from 'dapjs';
import { DebugSession } from '../core/arm/session';
import { parseTargetYaml, type FlashAlgorithm } from '../core/flash/algorithm';
import { flashImage, type FlashOptions } from '../core/flash/flasher';
import { AlgorithmRunner } from '../core/flash/runner';
import { FlashImage } from '../core/elf/image';
import { SimulatedProbe } from '../core/sim/cmsis-dap-probe';
import { emulateFlashAlgorithm } from '../core/sim/flash-emulator';
import { MemoryTarget } from '../core/sim/memory-target';
import { usbSecondsFor, type ProbeFlavour } from '../core/sim/wire-model';

const dapjs = ((dapjsModule as unknown as { default?: typeof dapjsModule }).default ?? dapjsModule) as typeof dapjsModule;

const TARGET_FILE = resolve(__dirname, '../core/flash/targets/nrf51.yaml');
const ALGORITHM: FlashAlgorithm = parseTargetYaml(readFileSync(TARGET_FILE, 'utf8'), TARGET_FILE).algorithms[0];
const RAM = { start: 0x20000000, size: 0x4000 };
const SIZE = 128 * 1024;
const CLOCK = 10_000_000;

function image(): FlashImage {
  const data = Uint8Array.from({ length: SIZE }, (_, i) => (i * 13 + (i >> 10) * 7) & 0xff);
  return new FlashImage('bench.bin', [{ address: 0, data, source: 'binary' }]);
}

async function setup(flavour: ProbeFlavour, maxPacketCount?: number) {
  const target = new MemoryTarget('cortex-m0');
  emulateFlashAlgorithm(target, ALGORITHM);
  const probe = new SimulatedProbe({ flavour, target, packetCount: 4 });
  const session = await DebugSession.open(probe.transport, { clockHz: CLOCK, maxPacketCount, haltTimeoutMs: 1000 });
  return { target, probe, session };
}

function row(path: string, flavour: ProbeFlavour, mode: string, probe: SimulatedProbe, target: MemoryTarget, busyBefore: number, correct: boolean, extra: object = {}) {
  const s = probe.stats;
  const algorithmSeconds = target.busySeconds - busyBefore;
  return {
    bench: 'flash',
    path,
    flavour,
    mode,
    bytes: SIZE,
    packets: s.packetsOut,
    modeledSeconds: +s.modeledSeconds.toFixed(4),
    kibPerSecond: +(SIZE / 1024 / s.modeledSeconds).toFixed(1),
    algorithmSeconds: +algorithmSeconds.toFixed(4),
    /** Share of the modeled time the target spent running algorithm code; the rest is USB/SWD the host waited on. */
    algorithmShare: +(algorithmSeconds / s.modeledSeconds).toFixed(3),
    ...usbLimit(flavour, s.modeledSeconds),
    correct,
    ...extra,
  };
}

/**
 * The image's own USB time is the bound a v1 HID flash is held to (v2 bulk is bound by the chip's
 * own program time instead: see algorithmShare).
 */
function usbLimit(flavour: ProbeFlavour, modeledSeconds: number): object {
  if (flavour !== 'v1-hid') return {};
  const seconds = usbSecondsFor(flavour, SIZE);
  return { usbLimitSeconds: +seconds.toFixed(3), overUsbLimit: +(modeledSeconds / seconds).toFixed(2) };
}

/** Flash as a previous build left it: different code in the same sectors, data further on. */
function previousFirmware(target: MemoryTarget): void {
  target.loadFlash(0, Uint8Array.from({ length: SIZE }, (_, i) => (i * 31 + 5) & 0xff));
}

async function ours(flavour: ProbeFlavour, chipErase: FlashOptions['chipErase'], chip: 'previous firmware' | 'blank') {
  const { target, probe, session } = await setup(flavour);
  if (chip === 'previous firmware') previousFirmware(target);
  const img = image();
  probe.resetStats();
  const busy = target.busySeconds;
  const report = await flashImage(session, ALGORITHM, img, { ram: RAM, chipErase });
  const correct = report.verified && Buffer.compare(Buffer.from(target.flash.subarray(0, SIZE)), Buffer.from(img.chunks[0].data)) === 0;
  const r = row('dapdeck', flavour, chipErase === false ? 'sector-erase' : 'auto-erase', probe, target, busy, correct, {
    chip,
    chipErase: report.chipErase,
    sectorsErased: report.sectorsErased,
    sectorsBlank: report.sectorsBlank,
    algorithmCalls: report.algorithmCalls,
  });
  if (chip === 'blank') {
    // The commonest flash of all: the same build again. Every sector's CRC matches on the target.
    probe.resetStats();
    const again = await flashImage(session, ALGORITHM, img, { ram: RAM, chipErase });
    await session.close();
    return [r, { bench: 'flash', path: 'dapdeck', flavour, mode: 'unchanged image again', bytes: SIZE, packets: probe.stats.packetsOut, modeledSeconds: +probe.stats.modeledSeconds.toFixed(4), sectorsSkipped: again.sectorsSkipped, verified: again.verified }] as const;
  }
  await session.close();
  return [r] as const;
}

/** Both hosts share one probe here: dapjs must not trust its SELECT/CSW cache after ours ran. */
function forgetDapjsCache(core: unknown): void {
  const c = core as { selectedAddress?: number; cswValue?: number };
  c.selectedAddress = undefined;
  c.cswValue = undefined;
}

/** The naive path: serial everything, dapjs's 64-byte writeBlock for page data, read-back verify. */
async function naive(flavour: ProbeFlavour) {
  const { target, probe, session } = await setup(flavour, 1);
  previousFirmware(target);
  const transport = { open: () => probe.transport.open(), close: () => probe.transport.close(), read: () => probe.transport.read(), write: (d: BufferSource) => probe.transport.write(d), packetSize: 64 };
  const core = new dapjs.CortexM(transport, 0, CLOCK);
  await core.connect();
  session.ap.invalidate();
  const img = image();
  probe.resetStats();
  const busy = target.busySeconds;
  await session.core.reset({ halt: true });
  // The naive path uses no CRC routine: its runner need not load the CRC table.
  const runner = new AlgorithmRunner(session, { ...ALGORITHM, pcCrc32: undefined, pcCrc32Sectors: undefined }, RAM);
  await runner.load();
  const flash = ALGORITHM.flash;
  // A page per sector (1 KiB), as dapjs's writeBlock cannot cross a 1 KiB TAR auto-increment block.
  const pageSize = flash.sectors[0].size;
  for (let address = 0; address < SIZE; address += pageSize) {
    if (address % flash.sectors[0].size === 0) await runner.call(ALGORITHM.pcEraseSector, [address], 'EraseSector', 1000);
    const page = img.chunks[0].data.subarray(address, address + pageSize);
    forgetDapjsCache(core);
    await core.writeBlock(runner.placement.buffers[0], new Uint32Array(page.slice().buffer));
    session.ap.invalidate(); // dapjs moved SELECT/CSW/TAR behind our back
    await runner.call(ALGORITHM.pcProgramPage, [address, pageSize, runner.placement.buffers[0]], 'ProgramPage', 1000);
  }
  let correct = true;
  forgetDapjsCache(core);
  for (let address = 0; address < SIZE; address += 1024) {
    const back = await core.readBlock(address, 256);
    if (Buffer.compare(Buffer.from(back.buffer, 0, 1024), Buffer.from(img.chunks[0].data.subarray(address, address + 1024))) !== 0) correct = false;
  }
  session.ap.invalidate();
  await runner.unload();
  const r = row('naive', flavour, 'sector-erase', probe, target, busy, correct, { chip: 'previous firmware' });
  await session.close();
  return r;
}

export async function benchFlash(): Promise<object[]> {
  const rows: object[] = [];
  for (const flavour of ['v1-hid', 'v2-bulk'] as const) {
    const [sectorErase] = await ours(flavour, false, 'previous firmware');
    const [auto] = await ours(flavour, 'auto', 'previous firmware');
    const [fresh, again] = await ours(flavour, 'auto', 'blank');
    const slow = await naive(flavour);
    rows.push(sectorErase, auto, fresh, again!, slow, {
      bench: 'flash-speedup',
      flavour,
      note: 'naive erases every sector whatever the chip holds; speedups are over it',
      sectorEraseOverNaive: +(slow.modeledSeconds / sectorErase.modeledSeconds).toFixed(2),
      autoEraseOverNaive: +(slow.modeledSeconds / auto.modeledSeconds).toFixed(2),
      blankChipOverNaive: +(slow.modeledSeconds / fresh.modeledSeconds).toFixed(2),
    });
  }
  return rows;
}
