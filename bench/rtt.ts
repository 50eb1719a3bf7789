/**
 * RTT sustained throughput on the modeled v2 probe: an in-process firmware model produces messages
 * into a 1 KiB up channel (defmt-rtt's default size) at increasing rates of modeled time while the
 * host polls as fast as it can (the poll loop's behaviour while data flows). Block mode must lose
 * nothing; in skip mode the host's count of missing bytes must equal the firmware's own count.
 */
import { DebugSession } from '../core/arm/session';
import { SimulatedProbe } from '../core/sim/cmsis-dap-probe';
import { MemoryTarget } from '../core/sim/memory-target';
import { RttProducer, auditMessages } from '../core/sim/rtt-producer';
import { RttSession } from '../core/rtt/session';
import { SCS } from '../core/arm/registers';

const RATES_KB = [100, 200, 400, 800, 1600];
const MESSAGE = 32;
const BUFFER = 1024;
const RUN_SECONDS = 0.25;

async function run(mode: 'block' | 'skip', rateKB: number, clockHz: number, watchCore = false) {
  const target = new MemoryTarget('cortex-m3');
  const probe = new SimulatedProbe({ flavour: 'v2-bulk', target });
  const session = await DebugSession.open(probe.transport, { clockHz });
  const producer = new RttProducer(target, { address: 0x20000000, bufferSize: BUFFER, rate: rateKB * 1000, messageSize: MESSAGE, mode });
  // watchCore: DHCSR read in each poll's first batch, as `run`/`attach` do to notice a stopped core.
  const rtt = await RttSession.attach(session.ap, { address: 0x20000000, watch: watchCore ? SCS.DHCSR : undefined });
  const start = probe.stats.modeledSeconds;
  const startTrips = probe.stats.roundTrips;
  const chunks: Uint8Array[] = [];
  let received = 0;
  let polls = 0;
  while (probe.stats.modeledSeconds - start < RUN_SECONDS) {
    const r = await rtt.poll();
    polls++;
    if (r.kind !== 'data') throw new Error(`bench: unexpected ${r.reason}`);
    for (const c of r.chunks) {
      chunks.push(c.data);
      received += c.data.length;
    }
  }
  // Drain what is left, with the producer stopped, so the books balance exactly.
  producer.enabled = false;
  for (;;) {
    const r = await rtt.poll();
    if (r.kind !== 'data' || r.chunks.length === 0) break;
    for (const c of r.chunks) {
      chunks.push(c.data);
      received += c.data.length;
    }
  }
  const seconds = probe.stats.modeledSeconds - start;
  const all = new Uint8Array(received);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  const audit = auditMessages(all, MESSAGE);
  await session.close();
  return {
    bench: 'rtt',
    probe: 'v2-bulk (512-byte packets)',
    watchCore,
    swdClockHz: clockHz,
    mode,
    bufferBytes: BUFFER,
    messageBytes: MESSAGE,
    producerKBps: rateKB,
    modeledSeconds: +seconds.toFixed(4),
    polls,
    roundTripsPerPoll: +((probe.stats.roundTrips - startTrips) / polls).toFixed(2),
    receivedKBps: +(received / 1000 / seconds).toFixed(1),
    firmwareProduced: producer.stats.produced,
    firmwareDropped: producer.stats.dropped,
    hostReceived: received,
    hostCountedMissingBytes: audit.missing * MESSAGE,
    corruptMessages: audit.corrupt,
    /** Drops the host can see: those before the last message it received (later ones leave no gap). */
    firmwareDroppedBeforeLastReceived: producer.droppedSequences.filter((q) => q < audit.lastSequence).length * MESSAGE,
    lossAccountedExactly:
      audit.corrupt === 0 &&
      received === producer.stats.written &&
      audit.missing * MESSAGE === producer.droppedSequences.filter((q) => q < audit.lastSequence).length * MESSAGE,
    firmwareStalledSeconds: +producer.stats.stalledSeconds.toFixed(4),
  };
}

export async function benchRtt(): Promise<object[]> {
  const rows: object[] = [];
  for (const clockHz of [4_000_000, 10_000_000]) {
    for (const mode of ['block', 'skip'] as const) {
      for (const rate of RATES_KB) rows.push(await run(mode, rate, clockHz));
    }
  }
  // The core watch (DHCSR in the same batch as the descriptors) costs no round trip per poll.
  for (const rate of [100, 1600]) {
    rows.push(await run('block', rate, 4_000_000, false));
    rows.push(await run('block', rate, 4_000_000, true));
  }
  return rows;
}
