/**
 * The GDB server under a real client: gdb-multiarch 13.1 debugs the hello sample on the emulated
 * micro:bit behind the probe model (v2 bulk and v1 HID), with RTT streaming as `dapdeck gdb` does.
 * Two rows per probe flavour, in probe packets and modeled wire time (the emulator's own run time
 * is not modeled):
 * - breakpoint hit → stop reply: from the last poll that found the core running to the stop reply
 *   GDB receives (the poll that sees the halt, the halt cause, the expedited registers);
 * - `next` over a line: everything between two `monitor rtt` markers around GDB's `next` — its
 *   steps, the breakpoint it puts after a call, the continue, the RTT polls meanwhile, and GDB's
 *   reads for printing the new line.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { DebugSession } from '../core/arm/session';
import { defmtTableFromElf } from '../core/defmt';
import { ElfFile } from '../core/elf/elf';
import { SessionTarget } from '../core/gdb/session-target';
import type { ProbeStats } from '../core/sim/cmsis-dap-probe';
import { listenGdb } from '../main/gdb/listener';
import { RttPump } from '../main/gdb/rtt-pump';
import { openProbe } from '../main/probe/registry';
import { ensureSampleFirmware } from '../main/firmware';

interface Mark {
  stats: ProbeStats;
  gdbPackets: number;
}

function delta(from: Mark, to: Mark) {
  return {
    probePackets: to.stats.packetsOut - from.stats.packetsOut,
    roundTrips: to.stats.roundTrips - from.stats.roundTrips,
    /** GDB packets both ways (requests and replies). */
    gdbPackets: to.gdbPackets - from.gdbPackets,
    modeledMs: +((to.stats.modeledSeconds - from.stats.modeledSeconds) * 1000).toFixed(3),
  };
}

async function run(flavour: 'v2-bulk' | 'v1-hid'): Promise<object[]> {
  const elf = ensureSampleFirmware('hello', 'microbit');
  const probe = await openProbe('emu:microbit', { elf, flavour });
  const session = await DebugSession.open(probe.transport, { responseTimeoutMs: 3000, haltTimeoutMs: 1000 });
  const stats = () => ({ ...probe.stats!() });
  const file = new ElfFile(readFileSync(elf), elf);
  const target = await SessionTarget.create(session, { flash: probe.target!.memoryMap.filter((r) => r.kind === 'flash') });
  const pump = new RttPump({ memory: session.ap, address: file.symbol('_SEGGER_RTT')?.value, scan: [], table: defmtTableFromElf(file), defmtChannel: 0, channels: [0], out: () => undefined, warn: () => undefined });
  let gdbPackets = 0;
  let lastRunning: Mark | null = null;
  const stopCosts: ReturnType<typeof delta>[] = [];
  const markers: Mark[] = [];
  const mark = (): Mark => ({ stats: stats(), gdbPackets });
  const listener = await listenGdb({
    target,
    host: '127.0.0.1',
    port: 0,
    log: () => undefined,
    hooks: {
      whileRunning: async () => {
        const busy = await pump.poll();
        lastRunning = mark();
        return busy;
      },
      onResumed: () => (lastRunning = mark()),
      onHalted: () => pump.drain(),
      monitor: async (command) => (command === 'rtt' ? pump.status() : null),
      onPacket: (direction, payload) => {
        gdbPackets++;
        if (direction === 'in' && payload.startsWith('qRcmd,')) markers.push(mark());
        if (direction === 'out' && /^T05.*hwbreak/.test(payload) && lastRunning) stopCosts.push(delta(lastRunning, mark()));
      },
    },
  });
  const commands = ['break hello::log_showcase', 'continue', 'monitor rtt', 'next', 'monitor rtt', 'detach'];
  const out = await new Promise<string>((done, fail) =>
    execFile('gdb-multiarch', ['-nx', '-batch', '-ex', `target extended-remote 127.0.0.1:${listener.port}`, ...commands.flatMap((c) => ['-ex', c]), elf], { timeout: 120_000 }, (err, stdout, stderr) =>
      err ? fail(new Error(`gdb-multiarch: ${err.message}\n${stderr}`)) : done(stdout + stderr),
    ),
  );
  await listener.close();
  await pump.close();
  await session.close();
  await probe.close();
  const nextLine = /\n95\t {4}trace!/.test(out);
  if (stopCosts.length < 1 || markers.length < 2 || !nextLine) throw new Error(`bench gdb: the session did not go as planned:\n${out}`);
  return [
    { bench: 'gdb', case: 'breakpoint hit to stop reply', board: 'emu:microbit', flavour, ...stopCosts[0] },
    { bench: 'gdb', case: 'next over a line (main.rs:94 -> 95, over the defmt call)', board: 'emu:microbit', flavour, ...delta(markers[0], markers[1]), correct: nextLine },
  ];
}

export async function benchGdb(): Promise<object[]> {
  return [...(await run('v2-bulk')), ...(await run('v1-hid'))];
}
