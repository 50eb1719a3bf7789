/**
 * The same jobs by Dapdeck, OpenOCD 0.12 and pyOCD 0.13 on the same virtual bench: a factory-fresh
 * emulated micro:bit (QEMU; flash work charged at the nRF51 datasheet times) behind the v1 HID probe
 * model — the only kind both peers speak here — at one SWD clock. Jobs: read 16 KiB of RAM; flash
 * the hello sample and verify; flash a 128 KiB image and verify. Every figure is the probe model's
 * (packets, bytes, round trips, modeled seconds), so the tools are compared on what they send, not
 * on this machine's speed.
 *
 * A peer's figures are its job run minus the same tool only connecting and halting (each on a fresh
 * board): the tools do not let us start counting after their connect. Dapdeck's count starts after
 * its session is open. pyOCD 0.13 does not verify after programming, so its flash job reads the
 * image back (test/peers/pyocd_job.py), as a user wanting a verified flash must.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DebugSession } from '../core/arm/session';
import { loadImage } from '../core/elf';
import { flashRegions } from '../core/flash/flasher';
import type { WireStats } from '../core/sim/wire-model';
import { QEMU_RESPONSE_TIMEOUT_MS, openProbe, type OpenedProbe } from '../main/probe/registry';
import { resolveChip } from '../main/targets';
import { firmwarePath } from '../test/support/firmware';
import { servePeerSocket } from '../test/support/peer-socket';
import { PEERS_DIR, buildHidapiStandin, openocd, pyocd, type ToolResult } from '../test/support/peer-tools';

const CLOCK_HZ = 4_000_000;
const RAM = 0x20000000;
const RAM_SIZE = 16 * 1024;
const CHIP = 'nRF51822_xxAA';

type Tool = 'dapdeck' | 'openocd' | 'pyocd';
type Job = 'read 16 KiB RAM' | 'flash hello + verify' | 'flash 128 KiB + verify';
type Counts = Pick<WireStats, 'packetsOut' | 'packetsIn' | 'bytesOut' | 'bytesIn' | 'roundTrips' | 'modeledSeconds'>;

function counts(probe: OpenedProbe): Counts {
  const s = probe.stats!();
  return { packetsOut: s.packetsOut, packetsIn: s.packetsIn, bytesOut: s.bytesOut, bytesIn: s.bytesIn, roundTrips: s.roundTrips, modeledSeconds: s.modeledSeconds };
}

function minus(a: Counts, b: Counts): Counts {
  return {
    packetsOut: a.packetsOut - b.packetsOut,
    packetsIn: a.packetsIn - b.packetsIn,
    bytesOut: a.bytesOut - b.bytesOut,
    bytesIn: a.bytesIn - b.bytesIn,
    roundTrips: a.roundTrips - b.roundTrips,
    modeledSeconds: a.modeledSeconds - b.modeledSeconds,
  };
}

async function freshBoard(): Promise<OpenedProbe> {
  return openProbe('emu:microbit', { flavour: 'v1-hid', blank: true, fresh: true });
}

/** Runs a peer on a fresh board; its whole traffic, and whether the job said it succeeded. */
async function peerRun(run: (socketPath: string) => Promise<ToolResult>, ok: (r: ToolResult) => boolean): Promise<{ counts: Counts; ok: boolean; out: string }> {
  const probe = await freshBoard();
  const socket = await servePeerSocket(probe.transport);
  try {
    const r = await run(socket.path);
    return { counts: counts(probe), ok: ok(r) && r.code === 0 && socket.errors.length === 0, out: r.out };
  } finally {
    await socket.close();
    await probe.close();
  }
}

async function dapdeckRun(job: Job, image?: string): Promise<{ counts: Counts; ok: boolean }> {
  const probe = await freshBoard();
  const session = await DebugSession.open(probe.transport, { clockHz: CLOCK_HZ, responseTimeoutMs: QEMU_RESPONSE_TIMEOUT_MS });
  try {
    await session.core.halt();
    const before = counts(probe);
    let ok: boolean;
    if (job === 'read 16 KiB RAM') {
      ok = (await session.ap.readMemory(RAM, RAM_SIZE)).length === RAM_SIZE;
    } else {
      const { regions, ram } = resolveChip(CHIP);
      const report = await flashRegions(session, regions, loadImage(readFileSync(image!), image!), { ram, verify: true });
      ok = report.verified;
    }
    return { counts: minus(counts(probe), before), ok };
  } finally {
    await session.close();
    await probe.close();
  }
}

function row(job: Job, tool: Tool, c: Counts, correct: boolean) {
  return {
    bench: 'peers',
    job,
    tool,
    flavour: 'v1-hid',
    clockHz: CLOCK_HZ,
    packetsOut: c.packetsOut,
    packetsIn: c.packetsIn,
    bytes: c.bytesOut + c.bytesIn,
    roundTrips: c.roundTrips,
    modeledSeconds: +c.modeledSeconds.toFixed(4),
    correct,
  };
}

export async function benchPeers(): Promise<object[]> {
  const work = mkdtempSync(join(tmpdir(), 'dapdeck-bench-peers-'));
  try {
    const libDir = buildHidapiStandin(work);
    const khz = CLOCK_HZ / 1000;
    const pyEnv = { DAPDECK_SWD_HZ: String(CLOCK_HZ) };
    const job = (name: string, ...args: string[]) => ['script', join(PEERS_DIR, 'pyocd_job.py'), name, ...args];
    const hello = join(work, 'hello-microbit.hex');
    execFileSync('objcopy', ['-O', 'ihex', firmwarePath('hello', 'microbit'), hello]);
    const big = join(work, 'image-128k.hex');
    writeFileSync(join(work, 'image-128k.bin'), Uint8Array.from({ length: 128 * 1024 }, (_, i) => (i * 13 + (i >> 10) * 7) & 0xff));
    execFileSync('objcopy', ['-I', 'binary', '-O', 'ihex', join(work, 'image-128k.bin'), big]);

    const ocdBase = await peerRun((s) => openocd(libDir, s, work, ['init', 'halt', 'shutdown'], khz), () => true);
    const pyBase = await peerRun((s) => pyocd(s, work, job('connect'), pyEnv), (r) => /^connected$/m.test(r.out));
    const rows: ReturnType<typeof row>[] = [];
    const dump = join(work, 'ram.bin');
    const jobs: [Job, string | undefined][] = [['read 16 KiB RAM', undefined], ['flash hello + verify', hello], ['flash 128 KiB + verify', big]];
    for (const [name, image] of jobs) {
      const ours = await dapdeckRun(name, image);
      rows.push(row(name, 'dapdeck', ours.counts, ours.ok));
      const ocdCommands = image ? ['init', 'halt', `program ${image} verify`, 'shutdown'] : ['init', 'halt', `dump_image ${dump} 0x${RAM.toString(16)} ${RAM_SIZE}`, 'shutdown'];
      const ocd = await peerRun((s) => openocd(libDir, s, work, ocdCommands, khz), (r) => (image ? r.out.includes('** Verified OK **') : r.out.includes('dumped 16384 bytes')));
      rows.push(row(name, 'openocd', minus(ocd.counts, ocdBase.counts), ocd.ok));
      const py = await peerRun((s) => pyocd(s, work, image ? job('flash', image) : job('read', dump), pyEnv), (r) => (image ? /^verified \d+ bytes$/m.test(r.out) : /^saved /m.test(r.out)));
      rows.push(row(name, 'pyocd', minus(py.counts, pyBase.counts), py.ok));
    }
    const summary = jobs.map(([name]) => {
      const these = rows.filter((r) => r.job === name);
      const fastest = these.reduce((a, b) => (b.modeledSeconds < a.modeledSeconds ? b : a));
      const dapdeck = these.find((r) => r.tool === 'dapdeck')!;
      const others = these.filter((r) => r.tool !== 'dapdeck');
      return {
        bench: 'peers-summary',
        job: name,
        fastest: fastest.tool,
        dapdeckFastest: fastest.tool === 'dapdeck',
        /** The next fastest tool's modeled time over Dapdeck's. */
        lead: +(Math.min(...others.map((r) => r.modeledSeconds)) / dapdeck.modeledSeconds).toFixed(2),
        allCorrect: these.every((r) => r.correct),
      };
    });
    return [{ bench: 'peers-baseline', note: 'connect + halt only, subtracted from each peer row', openocd: row('read 16 KiB RAM', 'openocd', ocdBase.counts, ocdBase.ok), pyocd: row('read 16 KiB RAM', 'pyocd', pyBase.counts, pyBase.ok) }, ...rows, ...summary];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
