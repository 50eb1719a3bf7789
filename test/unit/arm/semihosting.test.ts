/**
 * Semihosting operations as ARM IHI 0053 defines them (numbers, parameter blocks, results in r0,
 * ":tt" modes, SYS_EXIT reason codes), served on the in-process model: each call's result lands in
 * r0 and the PC moves past the BKPT 0xAB; unsupported calls answer -1 and are named once.
 */
import { describe, expect, it } from 'vitest';
import { DebugSession } from '../../../core/arm/session';
import { CoreReg } from '../../../core/arm/registers';
import { ADP_STOPPED_APPLICATION_EXIT, SYS, SemihostingServer } from '../../../core/arm/semihosting';
import { SimulatedProbe } from '../../../core/sim/cmsis-dap-probe';
import { MemoryTarget } from '../../../core/sim/memory-target';

const RAM = 0x20000000;

async function setup(commandLine = 'fw.elf --fast') {
  const target = new MemoryTarget('cortex-m3');
  const probe = new SimulatedProbe({ flavour: 'v2-bulk', target });
  const session = await DebugSession.open(probe.transport, { responseTimeoutMs: 200 });
  await session.core.halt();
  const out: { stream: string; text: string }[] = [];
  const unsupported: string[] = [];
  let clock = 100;
  const server = new SemihostingServer(session.core, {
    output: (stream, bytes) => out.push({ stream, text: new TextDecoder().decode(bytes) }),
    commandLine,
    now: () => 1_700_000_000.7,
    monotonic: () => clock,
    unsupported: (name) => unsupported.push(name),
  });
  const words = (at: number, ...w: number[]) => target.writeMemory(at, new Uint8Array(new Uint32Array(w).buffer));
  const text = (at: number, s: string) => target.writeMemory(at, new TextEncoder().encode(s));
  const call = async (op: number, arg: number) => {
    const outcome = await server.serve(op, arg, 0x100);
    const [r0, pc] = await session.core.readCoreRegisters([CoreReg.r0, CoreReg.pc]);
    return { outcome, r0: r0 | 0, pc };
  };
  return { target, session, out, unsupported, call, words, text, tick: (s: number) => (clock += s) };
}

describe('semihosting server', () => {
  it('SYS_WRITEC, SYS_WRITE0 and SYS_WRITE to the ":tt" handles reach stdout/stderr; the PC moves past the BKPT', async () => {
    const h = await setup();
    await h.text(RAM + 0x10, 'A');
    expect((await h.call(SYS.WRITEC, RAM + 0x10)).pc).toBe(0x102);
    await h.text(RAM + 0x20, 'hello\n\0');
    await h.call(SYS.WRITE0, RAM + 0x20);
    await h.text(RAM + 0x40, ':tt\0');
    await h.words(RAM + 0x50, RAM + 0x40, 4, 3); // ":tt" opened for writing ("w"): stdout
    const stdout = (await h.call(SYS.OPEN, RAM + 0x50)).r0;
    await h.words(RAM + 0x50, RAM + 0x40, 8, 3); // append ("a"): stderr
    const stderr = (await h.call(SYS.OPEN, RAM + 0x50)).r0;
    expect(stdout).not.toBe(stderr);
    await h.text(RAM + 0x60, 'out!err!');
    await h.words(RAM + 0x70, stdout, RAM + 0x60, 4);
    expect((await h.call(SYS.WRITE, RAM + 0x70)).r0).toBe(0); // bytes not written
    await h.words(RAM + 0x70, stderr, RAM + 0x64, 4);
    await h.call(SYS.WRITE, RAM + 0x70);
    expect(h.out).toEqual([
      { stream: 'stdout', text: 'A' },
      { stream: 'stdout', text: 'hello\n' },
      { stream: 'stdout', text: 'out!' },
      { stream: 'stderr', text: 'err!' },
    ]);
    await h.text(RAM + 0x80, 'data.bin');
    await h.words(RAM + 0x90, RAM + 0x80, 0, 8);
    expect((await h.call(SYS.OPEN, RAM + 0x90)).r0).toBe(-1); // only the console exists
    expect((await h.call(SYS.ERRNO, 0)).r0).toBe(2); // ENOENT
  });

  it('SYS_GET_CMDLINE, SYS_CLOCK (centiseconds), SYS_TIME (seconds), SYS_HEAPINFO', async () => {
    const h = await setup();
    await h.words(RAM + 0x100, RAM + 0x200, 64);
    expect((await h.call(SYS.GET_CMDLINE, RAM + 0x100)).r0).toBe(0);
    expect(new TextDecoder().decode(await h.target.readMemory(RAM + 0x200, 14))).toBe('fw.elf --fast\0');
    expect(new Uint32Array((await h.target.readMemory(RAM + 0x104, 4)).buffer)[0]).toBe(13);
    await h.words(RAM + 0x100, RAM + 0x200, 4); // too small: -1
    expect((await h.call(SYS.GET_CMDLINE, RAM + 0x100)).r0).toBe(-1);
    h.tick(1.234);
    expect((await h.call(SYS.CLOCK, 0)).r0).toBe(123);
    expect((await h.call(SYS.TIME, 0)).r0).toBe(1_700_000_000);
    await h.words(RAM + 0x300, RAM + 0x310);
    await h.words(RAM + 0x310, 1, 2, 3, 4);
    expect((await h.call(SYS.HEAPINFO, RAM + 0x300)).r0).toBe(0);
    expect(Array.from(new Uint32Array((await h.target.readMemory(RAM + 0x310, 16)).slice().buffer))).toEqual([0, 0, 0, 0]);
  });

  it('SYS_EXIT and SYS_EXIT_EXTENDED end the program with the status; unsupported calls answer -1, named once', async () => {
    const h = await setup();
    expect((await h.call(SYS.EXIT, ADP_STOPPED_APPLICATION_EXIT)).outcome).toEqual({ exit: { code: 0, reason: 'SYS_EXIT (ApplicationExit)' } });
    expect((await h.call(SYS.EXIT, 0x20023)).outcome).toMatchObject({ exit: { code: 1 } });
    await h.words(RAM + 0x400, ADP_STOPPED_APPLICATION_EXIT, 3);
    expect((await h.call(SYS.EXIT_EXTENDED, RAM + 0x400)).outcome).toEqual({ exit: { code: 3, reason: 'SYS_EXIT_EXTENDED status 3' } });
    expect((await h.call(SYS.READ, RAM)).r0).toBe(-1);
    expect((await h.call(SYS.READ, RAM)).r0).toBe(-1);
    expect((await h.call(0x30, 0)).r0).toBe(-1);
    expect(h.unsupported).toEqual(['SYS_READ', 'semihosting operation 0x30']);
  });
});
