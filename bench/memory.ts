/**
 * Target RAM throughput on the strict probe model: this project's transfer engine versus dapjs's own
 * CortexM.writeBlock/readBlock path, on the same model. All figures are modeled (deterministic).
 */
import * as dapjsModule from 'dapjs';
import { DebugSession } from '../core/arm/session';
import { SimulatedProbe } from '../core/sim/cmsis-dap-probe';
import { MemoryTarget } from '../core/sim/memory-target';
import { SWD_TRANSFER_CLOCKS, WIRE_CONSTANTS, type ProbeFlavour } from '../core/sim/wire-model';

const dapjs = ((dapjsModule as unknown as { default?: typeof dapjsModule }).default ?? dapjsModule) as typeof dapjsModule;

const RAM = 0x20000000;
/**
 * Both paths run SWD at the same clock, so only the host side differs. dapjs defaults to 10 MHz;
 * faster probes (debugprobe, MCU-Link) run 20–50 MHz. At 10 MHz a 64 KiB block is close to
 * SWD-bound (46 clocks per word), which caps any host-side gain; the sweep shows where USB, not the
 * wire, is the limit.
 */
const CLOCKS = [4_000_000, 10_000_000, 25_000_000];
const SIZE = 64 * 1024;

function pattern(seed: number): Uint8Array {
  return Uint8Array.from({ length: SIZE }, (_, i) => (i * 31 + seed + (i >> 8)) & 0xff);
}

/** Fewest packets that can carry SIZE bytes of DAP_TransferBlock data (5-byte command header). */
function minimumPackets(packetSize: number, direction: 'write' | 'read'): number {
  const header = direction === 'write' ? 5 : 4;
  return Math.ceil(SIZE / (Math.floor((packetSize - header) / 4) * 4));
}

function swdSeconds(clockHz: number): number {
  return ((SIZE / 4) * SWD_TRANSFER_CLOCKS) / clockHz;
}

function probeSeconds(flavour: ProbeFlavour, clockHz: number, commands: number): number {
  const c = WIRE_CONSTANTS[flavour];
  return swdSeconds(clockHz) + commands * c.commandOverheadSeconds + (SIZE / 4) * c.transferOverheadSeconds;
}

function row(path: string, flavour: ProbeFlavour, packetCount: number, clockHz: number, op: 'write' | 'read', probe: SimulatedProbe, correct: boolean) {
  const s = probe.stats;
  const min = minimumPackets(probe.packetSize, op);
  return {
    bench: 'memory',
    path,
    flavour,
    packetSize: probe.packetSize,
    packetCount,
    swdClockHz: clockHz,
    op,
    bytes: SIZE,
    packets: s.packetsOut,
    minimumPackets: min,
    packetsVsMinimum: +(s.packetsOut / min).toFixed(3),
    roundTrips: s.roundTrips,
    modeledSeconds: +s.modeledSeconds.toFixed(6),
    kibPerSecond: +(SIZE / 1024 / s.modeledSeconds).toFixed(1),
    /** What the SWD wire alone allows: 46 clocks per 32-bit word. */
    swdLimitKibPerSecond: +(SIZE / 1024 / swdSeconds(clockHz)).toFixed(1),
    shareOfSwdLimit: +(swdSeconds(clockHz) / s.modeledSeconds).toFixed(3),
    /**
     * The wire plus what the probe's firmware itself spends (per command, per transfer; the model's
     * constants) for the fewest commands: no host can go below it. At 25 MHz the firmware's share
     * is ~10 % of the wire time, so the wire alone is out of any host's reach there.
     */
    probeLimitKibPerSecond: +(SIZE / 1024 / probeSeconds(flavour, clockHz, min)).toFixed(1),
    shareOfProbeLimit: +(probeSeconds(flavour, clockHz, min) / s.modeledSeconds).toFixed(3),
    correct,
  };
}

async function ours(flavour: ProbeFlavour, packetCount: number, clockHz: number) {
  const target = new MemoryTarget('cortex-m3');
  const probe = new SimulatedProbe({ flavour, target, packetCount });
  const session = await DebugSession.open(probe.transport, { clockHz });
  const data = pattern(1);
  probe.resetStats();
  await session.ap.writeMemory(RAM, data);
  const write = row('dapdeck', flavour, packetCount, clockHz, 'write', probe, Buffer.compare(Buffer.from(target.ram.subarray(0, SIZE)), Buffer.from(data)) === 0);
  target.ram.set(pattern(2).subarray(0, SIZE));
  probe.resetStats();
  const back = await session.ap.readMemory(RAM, SIZE);
  const read = row('dapdeck', flavour, packetCount, clockHz, 'read', probe, Buffer.compare(Buffer.from(back), Buffer.from(pattern(2))) === 0);
  await session.close();
  return [write, read];
}

async function viaDapjs(flavour: ProbeFlavour, packetCount: number, clockHz: number) {
  const target = new MemoryTarget('cortex-m3');
  const probe = new SimulatedProbe({ flavour, target, packetCount });
  // dapjs's own transports (WebUSB, USB, HID) all report packetSize = 64 whatever the probe
  // supports; this is what its path looks like on a v2 probe.
  const transport = { open: () => probe.transport.open(), close: () => probe.transport.close(), read: () => probe.transport.read(), write: (d: BufferSource) => probe.transport.write(d), packetSize: 64 };
  const core = new dapjs.CortexM(transport, 0, clockHz);
  await core.connect();
  const data = pattern(1);
  probe.resetStats();
  await core.writeBlock(RAM, new Uint32Array(data.buffer));
  // dapjs streams across 1 KiB boundaries without rewriting TAR, so on silicon (and on this model)
  // the data wraps inside each 1 KiB block: `correct` says whether RAM holds what was written.
  const write = row('dapjs', flavour, packetCount, clockHz, 'write', probe, Buffer.compare(Buffer.from(target.ram.subarray(0, SIZE)), Buffer.from(data)) === 0);
  target.ram.set(pattern(2).subarray(0, SIZE));
  probe.resetStats();
  const back = await core.readBlock(RAM, SIZE / 4);
  const read = row('dapjs', flavour, packetCount, clockHz, 'read', probe, Buffer.compare(Buffer.from(new Uint8Array(back.buffer, 0, SIZE)), Buffer.from(pattern(2))) === 0);
  await core.disconnect().catch(() => undefined);
  return [write, read];
}

export async function benchMemory(): Promise<object[]> {
  const rows: object[] = [];
  const packetCount = 4;
  for (const [flavour, clocks] of [['v1-hid', [4_000_000]], ['v2-bulk', CLOCKS]] as const) {
    for (const clockHz of clocks) {
      const mine = await ours(flavour, packetCount, clockHz);
      const theirs = await viaDapjs(flavour, packetCount, clockHz);
      rows.push(...mine, ...theirs);
      for (let i = 0; i < 2; i++) {
        const a = mine[i];
        const b = theirs[i];
        rows.push({ bench: 'memory-speedup', flavour, packetCount, swdClockHz: clockHz, op: a.op, dapdeckOverDapjs: +(b.modeledSeconds / a.modeledSeconds).toFixed(2) });
      }
    }
  }
  return rows;
}
