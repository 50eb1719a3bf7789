/**
 * Other people's debuggers on the virtual bench, unmodified: Debian's OpenOCD 0.12 (its CMSIS-DAP
 * driver over hidapi, with `interface/cmsis-dap.cfg` and `target/nrf51.cfg`) and pyOCD 0.13 (its own
 * session API) drive the v1 HID probe model in front of the emulated micro:bit. The only pieces
 * written here sit where the USB device would be: a hidapi stand-in library (test/peers/
 * hidapi-standin.c, built by gcc here and found first on LD_LIBRARY_PATH) and pyOCD's HID
 * interface class (test/peers/pyocd_dapdeck.py); both pass 64-byte reports to the model over a
 * unix socket. What each tool reads must be what Dapdeck reads.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DebugSession } from '../../core/arm/session';
import { loadDefmtTable } from '../../core/defmt';
import { loadImage } from '../../core/elf';
import { flashRegions } from '../../core/flash/flasher';
import { streamRtt } from '../../main/cli/stream';
import { resolveChip } from '../../main/targets';
import { openProbe, type OpenedProbe } from '../../main/probe/registry';
import { ensureSampleFirmware } from '../../main/firmware';
import { buildElf } from '../support/elf-builder';
import { firmwarePath } from '../support/firmware';
import { servePeerSocket, type PeerSocket } from '../support/peer-socket';
import { expectHelloBootsOnPico } from '../support/pico';
import { PEERS_DIR as PEERS, buildHidapiStandin, openocd, pyocd } from '../support/peer-tools';

const RAM = 0x20000000;
const RAM_SIZE = 16 * 1024;

let libDir: string;
let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'dapdeck-peers-'));
  libDir = buildHidapiStandin(work);
});

describe('OpenOCD and pyOCD drive the v1 HID probe model in front of emu:microbit', () => {
  let probe: OpenedProbe | undefined;
  let socket: PeerSocket | undefined;

  /** A micro:bit running hello behind a v1 HID probe model, reachable through the peer socket. */
  async function bench(): Promise<{ probe: OpenedProbe; socket: PeerSocket }> {
    probe = await openProbe('emu:microbit', { flavour: 'v1-hid', elf: firmwarePath('hello', 'microbit') });
    socket = await servePeerSocket(probe.transport);
    return { probe, socket };
  }

  /** Dapdeck's own read of the same RAM, through the same probe model, after the tool let go. */
  async function dapdeckReadsRam(p: OpenedProbe): Promise<Buffer> {
    await socket?.idle();
    const session = await DebugSession.open(p.transport);
    try {
      return Buffer.from(await session.ap.readMemory(RAM, RAM_SIZE));
    } finally {
      await session.close();
    }
  }

  /** A factory-fresh micro:bit (flash, UICR erased) behind a v1 HID probe model, for a peer to flash. */
  async function blankBench(): Promise<{ probe: OpenedProbe; socket: PeerSocket }> {
    probe = await openProbe('emu:microbit', { flavour: 'v1-hid', blank: true, fresh: true });
    socket = await servePeerSocket(probe.transport);
    return { probe, socket };
  }

  /**
   * After a peer flashed hello: Dapdeck's own read of flash equals the ELF's image, and after a
   * reset the firmware the peer wrote streams its defmt log through Dapdeck, line for line as the
   * golden file has it.
   */
  async function dapdeckFindsHelloFlashed(p: OpenedProbe): Promise<void> {
    const elf = firmwarePath('hello', 'microbit');
    const session = await DebugSession.open(p.transport);
    try {
      for (const chunk of loadImage(readFileSync(elf), elf).chunks) {
        expect(Buffer.from(await session.ap.readMemory(chunk.address, chunk.data.length))).toEqual(Buffer.from(chunk.data));
      }
      await session.core.reset({ halt: false });
      const lines: string[] = [];
      const stop = new AbortController();
      const code = await streamRtt(session.ap, {
        channels: [0],
        defmtChannel: 0,
        table: loadDefmtTable(readFileSync(elf), elf),
        address: undefined,
        scan: [{ start: RAM, size: RAM_SIZE }],
        location: false,
        timeout: 30,
        signal: stop.signal,
        out: (text) => {
          lines.push(text.trimEnd());
          if (text.includes('INFO  tick 1')) stop.abort();
        },
        warn: () => undefined,
      });
      expect(code).toBe(0);
      const golden = readFileSync(resolve(__dirname, '../golden/hello-microbit.txt'), 'utf8').split('\n').filter((l) => l && !l.startsWith('└─'));
      const upToTick1 = golden.slice(0, golden.findIndex((l) => l.includes('INFO  tick 1')) + 1);
      expect(lines.slice(0, upToTick1.length)).toEqual(upToTick1);
    } finally {
      await session.close();
    }
  }

  afterEach(async () => {
    await socket?.close();
    await probe?.close();
    socket = probe = undefined;
  });

  it('OpenOCD examines the Cortex-M0 and nRF51, halts, steps, resumes and reads 16 KiB of RAM as Dapdeck does', async () => {
    const { probe: p, socket: s } = await bench();
    const dump = join(work, 'openocd-ram.bin');
    const r = await openocd(libDir, s.path, work, ['init', 'halt', 'reg pc', 'step', 'reg pc', 'resume', 'halt', 'flash probe 0', `dump_image ${dump} 0x${RAM.toString(16)} ${RAM_SIZE}`, 'shutdown']);
    expect(s.errors.map(String)).toEqual([]);
    expect(r.out).toContain('CMSIS-DAP: FW Version = 1.3.0');
    expect(r.out).toContain('SWD DPIDR 0x0bb11477');
    expect(r.out).toContain('Cortex-M0 r0p0 processor detected');
    expect(r.out).toContain('target has 4 breakpoints');
    // Its nRF51 driver reads the FICR: a 256 KiB / 16 KiB nRF51822-QFAA, no protected region.
    expect(r.out).toMatch(/nRF51822-QFAA\(build code: H0\) 256kB Flash, 16kB RAM/);
    expect(r.out).toContain('halted due to single-step');
    const pcs = [...r.out.matchAll(/pc \(\/32\): 0x([0-9a-f]{8})/g)].map((m) => parseInt(m[1], 16));
    expect(pcs).toHaveLength(2);
    expect(pcs[1] - pcs[0]).not.toBe(0); // the step moved the PC
    expect(r.code).toBe(0);
    expect(readFileSync(dump)).toEqual(await dapdeckReadsRam(p));
  }, 120_000);

  it('pyOCD finds the core through the ROM table, halts, steps, resumes and reads 16 KiB of RAM as Dapdeck does', async () => {
    const { probe: p, socket: s } = await bench();
    const dump = join(work, 'pyocd-ram.bin');
    const r = await pyocd(s.path, work, ['script', join(PEERS, 'pyocd_session.py'), dump]);
    expect(s.errors.map(String)).toEqual([]);
    expect(r.out).toContain('ROM table #0 @ 0xe00ff000 (designer=43b part=471)');
    expect(r.out).toMatch(/<e000e000:SCS-M0\+ class=14 designer=43b part=008>/);
    expect(r.out).toMatch(/<e0001000:DWT-M0\+ class=14 designer=43b part=00a>/);
    expect(r.out).toMatch(/<e0002000:BPU class=14 designer=43b part=00b>/);
    expect(r.out).toContain('CPU core is Cortex-M0 r0p0');
    expect(r.out).toMatch(/^core CortexM 0x410cc200$/m);
    const step = /^step 0x([0-9a-f]+) 0x([0-9a-f]+)$/m.exec(r.out);
    expect(step).not.toBeNull();
    expect(step![1]).not.toBe(step![2]);
    expect(r.out).toMatch(/^running True$/m);
    expect(r.out.match(/^halted True$/gm)).toHaveLength(2);
    expect(r.code).toBe(0);
    expect(readFileSync(dump)).toEqual(await dapdeckReadsRam(p));
  }, 120_000);

  it('OpenOCD flashes hello into a factory-fresh nRF51 with its own nrf5 driver and verifies; Dapdeck then streams it', async () => {
    // OpenOCD's nRF51 loader runs on the blank chip's stack pointer (0xfffffffc) and ends in a BKPT
    // with the vector table erased: only a core that halts on BKPT as silicon does gets through.
    const { probe: p, socket: s } = await blankBench();
    const elf = firmwarePath('hello', 'microbit');
    const r = await openocd(libDir, s.path, work, ['init', 'halt', `program ${elf} verify`, 'shutdown']);
    expect(s.errors.map(String)).toEqual([]);
    expect(r.out).toContain('** Programming Finished **');
    expect(r.out).toContain('** Verified OK **');
    expect(r.code).toBe(0);
    await s.close();
    socket = undefined;
    await dapdeckFindsHelloFlashed(p);
  }, 180_000);

  it('pyOCD flashes hello (an objcopy HEX) with its own nRF51 algorithm and reads it back; Dapdeck then streams it', async () => {
    const { probe: p, socket: s } = await blankBench();
    const hex = join(work, 'hello-microbit.hex');
    execFileSync('objcopy', ['-O', 'ihex', firmwarePath('hello', 'microbit'), hex]); // binutils: a HEX nobody here wrote
    const flash = await pyocd(s.path, work, ['flashtool', '-t', 'nrf51', hex]);
    expect(s.errors.map(String)).toEqual([]);
    expect(flash.out).not.toMatch(/Traceback|ERROR/);
    expect(flash.code).toBe(0);
    const verify = await pyocd(s.path, work, ['script', join(PEERS, 'pyocd_job.py'), 'verify', hex]);
    expect(verify.out).toMatch(/^verified \d+ bytes$/m);
    expect(verify.code).toBe(0);
    await s.close();
    socket = undefined;
    await dapdeckFindsHelloFlashed(p);
  }, 180_000);

  it('pyOCD reads back exactly what Dapdeck flashed (its own flash and verify checked by a tool nobody here wrote)', async () => {
    const { probe: p, socket: s } = await blankBench();
    const elf = firmwarePath('hello', 'microbit');
    const session = await DebugSession.open(p.transport);
    try {
      const { regions, ram } = resolveChip('nRF51822_xxAA');
      expect((await flashRegions(session, regions, loadImage(readFileSync(elf), elf), { ram, verify: true })).verified).toBe(true);
    } finally {
      await session.close();
    }
    const hex = join(work, 'hello-dapdeck.hex');
    execFileSync('objcopy', ['-O', 'ihex', elf, hex]);
    const verify = await pyocd(s.path, work, ['script', join(PEERS, 'pyocd_job.py'), 'verify', hex]);
    expect(s.errors.map(String)).toEqual([]);
    expect(verify.out).toMatch(/^verified \d+ bytes$/m);
    expect(verify.code).toBe(0);
  }, 180_000);
});


/**
 * OpenOCD 0.12's own RP2040 support (target/rp2040.cfg: both cores on the multi-drop wire, and its
 * rp2040_flash driver, which finds the boot ROM's functions by their two-letter codes and calls
 * them through the ROM's debug trampoline, reads the flash's JEDEC ID over the SSI itself and
 * erases 64 KiB blocks) on emu:pico, whose ROM and flash are Dapdeck's own. Each side reads back
 * what the other flashed.
 */
describe('OpenOCD flashes emu:pico through the boot ROM as Dapdeck does', () => {
  const XIP = 0x10000000;
  let probe: OpenedProbe | undefined;
  let socket: PeerSocket | undefined;

  /** Firmware-like bytes in two blocks of the flash (one piece across a 4 KiB sector boundary). */
  function image(salt: number): { elf: string; chunks: { address: number; data: Uint8Array }[] } {
    const chunks = [
      { address: XIP, data: Uint8Array.from({ length: 0x2a00 }, (_, i) => (i * 131 + salt) & 0xff) },
      { address: XIP + 0x10f00, data: Uint8Array.from({ length: 0x300 }, (_, i) => (i * 7 + salt * 3) & 0xff) },
    ];
    const elf = join(work, `pico-${salt}.elf`);
    const segments = chunks.map((c) => ({ vaddr: c.address, paddr: c.address, data: c.data }));
    writeFileSync(elf, buildElf({ entry: XIP + 0x101, segments, sections: segments.map((g, i) => ({ name: `.text${i}`, address: g.vaddr, data: g.data, flags: 6 })) }));
    return { elf, chunks };
  }

  async function picoBench(): Promise<{ probe: OpenedProbe; socket: PeerSocket }> {
    ensureSampleFirmware('bootrom', 'rp2040');
    ensureSampleFirmware('flash-rp2040', 'rp2040');
    probe = await openProbe('emu:pico', { flavour: 'v1-hid' });
    socket = await servePeerSocket(probe.transport);
    return { probe, socket };
  }

  afterEach(async () => {
    await socket?.close();
    await probe?.close();
    socket = probe = undefined;
  });

  it('OpenOCD programs and verifies with its rp2040_flash driver; Dapdeck reads the same bytes back and finds every sector up to date', async () => {
    const { probe: p, socket: s } = await picoBench();
    const { elf, chunks } = image(1);
    const r = await openocd(libDir, s.path, work, ['init', 'halt', `program ${elf} verify`, 'shutdown'], undefined, 'target/rp2040.cfg');
    expect(s.errors.map(String)).toEqual([]);
    expect(r.out).toContain('SWD DPIDR 0x0bc12477, DLPIDR 0x00000001'); // core 0's DP, then core 1's
    expect(r.out).toContain('SWD DPIDR 0x0bc12477, DLPIDR 0x10000001');
    expect(r.out).toContain("Found flash device 'win w25q16jv' (ID 0x001540ef)"); // JEDEC ID read over the SSI model
    expect(r.out).toContain('RP2040 B0 Flash Probe: 2097152 bytes @0x10000000, in 32 sectors');
    expect(r.out).toContain('** Programming Finished **');
    expect(r.out).toContain('** Verified OK **');
    expect(r.code).toBe(0);
    await s.close();
    socket = undefined;
    const session = await DebugSession.open(p.transport);
    try {
      for (const c of chunks) expect(Buffer.from(await session.ap.readMemory(c.address, c.data.length))).toEqual(Buffer.from(c.data));
      // Dapdeck's own flasher (its algorithm, CRCs on the core) agrees: nothing to erase or write.
      const { regions, ram } = resolveChip('RP2040');
      const report = await flashRegions(session, regions, loadImage(readFileSync(elf), elf), { ram, verify: true });
      expect(report).toMatchObject({ verified: true, sectorsTouched: 5, sectorsSkipped: 5, sectorsErased: 0, pagesProgrammed: 0 });
    } finally {
      await session.close();
    }
  }, 180_000);

  it('OpenOCD programs the hello sample into a blank Pico; after a reset it boots through the ROM and boot2 and Dapdeck streams its log', async () => {
    const { probe: p, socket: s } = await picoBench();
    const elf = firmwarePath('hello', 'rp2040');
    const r = await openocd(libDir, s.path, work, ['init', 'halt', `program ${elf} verify`, 'shutdown'], undefined, 'target/rp2040.cfg');
    expect(s.errors.map(String)).toEqual([]);
    expect(r.out).toContain('** Verified OK **');
    expect(r.code).toBe(0);
    await s.close();
    socket = undefined;
    const session = await DebugSession.open(p.transport);
    try {
      for (const c of loadImage(readFileSync(elf), elf).chunks) expect(Buffer.from(await session.ap.readMemory(c.address, c.data.length))).toEqual(Buffer.from(c.data));
      await expectHelloBootsOnPico(session, elf);
    } finally {
      await session.close();
    }
  }, 180_000);

  it('Dapdeck flashes over an image OpenOCD wrote; OpenOCD verify_image and dump_image find exactly the new image', async () => {
    const { probe: p, socket: s } = await picoBench();
    const before = image(2);
    const first = await openocd(libDir, s.path, work, ['init', 'halt', `program ${before.elf}`, 'shutdown'], undefined, 'target/rp2040.cfg');
    expect(first.out).toContain('** Programming Finished **');
    await s.idle(); // OpenOCD's session must have let go of the probe before Dapdeck opens it
    const { elf, chunks } = image(3);
    const session = await DebugSession.open(p.transport);
    try {
      const { regions, ram } = resolveChip('RP2040');
      const report = await flashRegions(session, regions, loadImage(readFileSync(elf), elf), { ram, verify: true });
      expect(report).toMatchObject({ verified: true, sectorsTouched: 5, sectorsErased: 5 });
    } finally {
      await session.close();
    }
    const dump = join(work, 'pico-flash.bin');
    const size = chunks[1].address + chunks[1].data.length - XIP;
    const r = await openocd(libDir, s.path, work, ['init', 'halt', `verify_image ${elf}`, `dump_image ${dump} 0x${XIP.toString(16)} ${size}`, 'shutdown'], undefined, 'target/rp2040.cfg');
    expect(s.errors.map(String)).toEqual([]);
    expect(r.out).toMatch(/verified 11520 bytes/);
    expect(r.code).toBe(0);
    const flash = readFileSync(dump);
    for (const c of chunks) expect(flash.subarray(c.address - XIP, c.address - XIP + c.data.length)).toEqual(Buffer.from(c.data));
    // Between the pieces: erased by Dapdeck's sector erases (OpenOCD's earlier bytes are gone).
    expect(flash.subarray(0x2a00, 0x3000).every((b) => b === 0xff)).toBe(true);
  }, 180_000);
});
