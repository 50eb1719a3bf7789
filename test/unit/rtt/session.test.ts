/** RTT session on the in-process model: batching, wrap-around, modes, down channel, resets. */
import { describe, expect, it } from 'vitest';
import { DebugSession } from '../../../core/arm/session';
import { SimulatedProbe } from '../../../core/sim/cmsis-dap-probe';
import { MemoryTarget } from '../../../core/sim/memory-target';
import { RttProducer, auditMessages } from '../../../core/sim/rtt-producer';
import { RttSession, RttNotFoundError, pollLoop, type PollResult, type UpData } from '../../../core/rtt/session';

async function bench(mode: 'block' | 'skip' | 'trim', rate = 50_000, bufferSize = 256) {
  const target = new MemoryTarget('cortex-m3');
  const probe = new SimulatedProbe({ flavour: 'v2-bulk', target });
  const session = await DebugSession.open(probe.transport, { clockHz: 4_000_000 });
  const producer = new RttProducer(target, { address: 0x20000000, bufferSize, rate, messageSize: 16, mode, downSize: 16 });
  const rtt = await RttSession.attach(session.ap, { address: 0x20000000 });
  return { target, probe, session, producer, rtt };
}

async function drain(rtt: RttSession, probe: SimulatedProbe, seconds: number): Promise<Uint8Array> {
  const parts: number[] = [];
  const start = probe.stats.modeledSeconds;
  while (probe.stats.modeledSeconds - start < seconds) {
    const r = await rtt.poll();
    if (r.kind !== 'data') throw new Error(r.reason);
    for (const c of r.chunks) parts.push(...c.data);
  }
  return Uint8Array.from(parts);
}

describe('RTT session', () => {
  it('reads every byte in order across buffer wrap-around, two batches per poll with data', async () => {
    const { rtt, probe, producer } = await bench('block', 200_000, 128);
    const trips = probe.stats.roundTrips;
    const polls = rtt.stats.polls;
    const data = await drain(rtt, probe, 0.05);
    producer.enabled = false;
    const rest = await drain(rtt, probe, 0.005);
    const all = Uint8Array.from([...data, ...rest]);
    const audit = auditMessages(all, 16);
    expect(audit).toMatchObject({ missing: 0, corrupt: 0 });
    expect(all.length).toBe(producer.stats.written);
    expect(producer.stats.dropped).toBe(0);
    expect(all.length).toBeGreaterThan(128 * 10); // wrapped many times
    // One round trip for the descriptors and one for data + RdOff, per poll: never one per channel or per piece.
    expect((probe.stats.roundTrips - trips) / (rtt.stats.polls - polls)).toBeLessThanOrEqual(2);
    expect(rtt.stats.batches).toBeLessThanOrEqual(2 * rtt.stats.polls);
  });

  it('in skip mode loses whole messages only, and the gaps match the firmware\'s drops', async () => {
    const { rtt, probe, producer } = await bench('skip', 400_000, 128);
    const data = await drain(rtt, probe, 0.05);
    const audit = auditMessages(data, 16);
    expect(audit.corrupt).toBe(0);
    expect(producer.stats.dropped).toBeGreaterThan(0);
    const visible = producer.droppedSequences.filter((q) => q < audit.lastSequence).length;
    expect(audit.missing).toBe(visible);
  });

  it('sets the channel mode from the host', async () => {
    const { target, session } = await bench('skip');
    const rtt = await RttSession.attach(session.ap, { address: 0x20000000, mode: 'block' });
    expect(new DataView(target.ram.buffer).getUint32(24 + 20, true) & 3).toBe(2);
    expect(rtt.block.up[0].flags & 3).toBe(2);
  });

  it('writes to a down channel, accepting only what fits and reporting it', async () => {
    const { rtt, target, producer } = await bench('block');
    producer.enabled = false;
    const n = await rtt.write(0, new TextEncoder().encode('0123456789abcdefXYZ'));
    expect(n).toBe(15); // 16-byte buffer: one slot stays empty
    expect(new TextDecoder().decode(target.ram.subarray(producer.downBuffer - 0x20000000, producer.downBuffer - 0x20000000 + 15))).toBe('0123456789abcde');
    expect(await rtt.write(0, Uint8Array.of(1))).toBe(0);
    await expect(rtt.write(3, Uint8Array.of(1))).rejects.toThrow(/down channel 3 does not exist/);
  });

  it('notices a re-initialised block and carries on after re-attaching', async () => {
    const { rtt, probe, producer, session } = await bench('block', 100_000);
    await drain(rtt, probe, 0.01);
    producer.install(); // the firmware restarted: offsets back to 0
    expect(await rtt.poll()).toMatchObject({ kind: 'reset' });
    const stop = new AbortController();
    let attaches = 0;
    let bytes = 0;
    await pollLoop(() => RttSession.attach(session.ap, { address: 0x20000000 }), {
      onAttach: () => {
        attaches++;
      },
      onData: (chunks) => {
        for (const c of chunks) bytes += c.data.length;
        if (bytes > 1000) stop.abort();
      },
    }, { signal: stop.signal });
    expect(attaches).toBe(1);
    expect(bytes).toBeGreaterThan(1000);
  });

  it('says where it looked when no block appears', async () => {
    const target = new MemoryTarget('cortex-m0');
    const probe = new SimulatedProbe({ flavour: 'v2-bulk', target });
    const session = await DebugSession.open(probe.transport);
    const err = await RttSession.attach(session.ap, { scan: [{ start: 0x20000000, size: 0x1000 }], timeoutMs: 50 }).catch((e) => e);
    expect(err).toBeInstanceOf(RttNotFoundError);
    expect(err.message).toMatch(/^no RTT control block found in 0x20000000\.\.0x20001000 after 0\.\d s: the "SEGGER RTT" ID never appeared/);
    const at = await RttSession.attach(session.ap, { address: 0x20000100, timeoutMs: 20 }).catch((e) => e);
    expect(at.message).toMatch(/at 0x20000100 \(the ELF's _SEGGER_RTT symbol\)/);
  });
});

describe('finding the block by scanning RAM', () => {
  const ID = new TextEncoder().encode('SEGGER RTT\0');
  /** The live block (a producer writing 2 kB/s to it, not yet full) at 0x20000800, and a session over the model. */
  async function scanBench() {
    const target = new MemoryTarget('cortex-m0');
    const probe = new SimulatedProbe({ flavour: 'v2-bulk', target });
    const session = await DebugSession.open(probe.transport);
    const producer = new RttProducer(target, { address: 0x20000800, bufferSize: 1024, rate: 2_000, messageSize: 16, mode: 'skip' });
    return { target, session, producer, scan: [{ start: 0x20000000, size: 0x4000 }] };
  }

  it('passes over stale copies of the ID below the live block: an unaligned one, and one followed by image bytes', async () => {
    const { target, session, scan } = await scanBench();
    // An unaligned copy (the old scan saw only the first ID of each 4 KiB chunk and gave up on it).
    target.ram.set(ID, 0x101);
    // A word-aligned copy followed by what a flash algorithm's page buffer holds: the rest of the image.
    target.ram.set(ID, 0x200);
    target.ram.set(new Uint8Array(32).fill(0x41), 0x210);
    const rtt = await RttSession.attach(session.ap, { scan, timeoutMs: 500 });
    expect(rtt.address).toBe(0x20000800);
  });

  it('among blocks that look equally good, takes the one the firmware is writing to', async () => {
    const { target, session, scan } = await scanBench();
    // A previous firmware's block, left in RAM: well formed, with data in it, never written again.
    const stale = new DataView(target.ram.buffer, target.ram.byteOffset);
    target.ram.set(ID, 0x100);
    stale.setUint32(0x110, 1, true);
    stale.setUint32(0x114, 0, true);
    stale.setUint32(0x118 + 4, 0x20000400, true);
    stale.setUint32(0x118 + 8, 128, true);
    stale.setUint32(0x118 + 12, 40, true);
    const rtt = await RttSession.attach(session.ap, { scan, timeoutMs: 2000 });
    expect(rtt.address).toBe(0x20000800);
  });

  it('names every candidate when none of them is being written to', async () => {
    const { target, session, scan, producer } = await scanBench();
    producer.enabled = false;
    target.ram.set(target.ram.slice(0x800, 0x900), 0x100); // a byte-for-byte copy of the quiet live block
    const err = await RttSession.attach(session.ap, { scan, timeoutMs: 100 }).catch((e) => e);
    expect(err).toBeInstanceOf(RttNotFoundError);
    expect(err.message).toMatch(/2 plausible control blocks \(0x20000100, 0x20000800\) and none of them is being written to; the firmware's ELF \(its _SEGGER_RTT symbol\) names the live one/);
  });
});

describe('poll loop pacing', () => {
  it('polls again at once while data flows, backs off 1, 2, 4… ms to the cap while idle, and re-attaches after a reset', async () => {
    const chunk = { channel: 0, data: Uint8Array.of(1) } as unknown as UpData;
    // What successive polls return, in order; the loop is stopped when the script runs out.
    const script: PollResult[] = [
      { kind: 'data', chunks: [chunk] },
      { kind: 'data', chunks: [chunk] },
      ...Array.from({ length: 7 }, (): PollResult => ({ kind: 'data', chunks: [] })),
      { kind: 'data', chunks: [chunk] },
      { kind: 'data', chunks: [] },
      { kind: 'reset', reason: 'block gone' },
      { kind: 'data', chunks: [] },
    ];
    const log: string[] = [];
    const stop = new AbortController();
    const session = {
      stats: { resets: 0 },
      async poll(): Promise<PollResult> {
        const next = script.shift()!;
        if (script.length === 0) stop.abort();
        return next;
      },
    } as unknown as RttSession;
    let attaches = 0;
    await pollLoop(
      async () => {
        attaches++;
        log.push('attach');
        return session;
      },
      { onData: () => void log.push('data'), onReset: (reason) => log.push(`reset: ${reason}`) },
      { signal: stop.signal, maxIdleMs: 20, sleep: async (ms) => void log.push(`sleep ${ms}`) },
    );
    expect(log).toEqual([
      'attach',
      'data',
      'data', // no sleep between polls that found data
      'sleep 1',
      'sleep 2',
      'sleep 4',
      'sleep 8',
      'sleep 16',
      'sleep 20', // capped
      'sleep 20',
      'data', // data again: back to polling at once…
      'sleep 1', // …and the next idle poll starts the backoff over
      'reset: block gone',
      'attach',
      'sleep 1',
    ]);
    expect(attaches).toBe(2);
    expect(session.stats.resets).toBe(1);
  });
});

describe('text channel lines', () => {
  it('keeps unfinished lines and UTF-8 characters cut between polls, per channel', async () => {
    const { LineSplitter } = await import('../../../core/rtt/lines');
    const s = new LineSplitter();
    const bytes = new TextEncoder().encode('tempé 21\nnext');
    expect(s.push(1, bytes.subarray(0, 5))).toEqual([]); // "temp" + the first byte of "é"
    expect(s.push(2, new TextEncoder().encode('other\n'))).toEqual(['other']);
    expect(s.push(1, bytes.subarray(5))).toEqual(['tempé 21']);
    expect(s.push(1, new TextEncoder().encode('\n'))).toEqual(['next']);
  });
});
