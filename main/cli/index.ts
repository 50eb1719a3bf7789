/**
 * `dapdeck`: the headless command line. Every command prints plain text (or JSON with --json) and
 * exits non-zero with one line naming the problem on any error.
 */
import { Command, Option, CommanderError } from 'commander';
import { DebugSession, type TargetSummary } from '../../core/arm/session';
import type { CoreStatus } from '../../core/arm/cortex-m';
import { CORE_REGISTER_NAMES, CoreReg } from '../../core/arm/registers';
import { hex32, hexDump } from '../../core/dap/protocol';
import { listProbes, openProbe, type OpenedProbe } from '../probe/registry';
import { ensureSampleFirmware } from '../firmware';
import { runOnProbes } from './fanout';
import { UsageError, checkInsideAddressSpace, parseAddress, parseHexBytes, parseLength, parseNumber, parseRange, parseSeconds } from './parse';
import { RttSession } from '../../core/rtt/session';
import { DefmtTableError, defmtTableFromElf, type DefmtTable } from '../../core/defmt';
import { ElfFile } from '../../core/elf/elf';
import { checkOutputOptions, streamRtt } from './stream';
import { runGdbServer, type GdbCliOptions } from './gdb';
import { setFaultCatch, watchCore, type BacktraceMode, type StopWatchOptions } from './stops';
import { registerTest } from './test';
import { ProgramInfo } from '../../core/elf/backtrace';
import { decodeInput } from './decode';
import { readFileSync, writeFileSync } from 'node:fs';
import { ItmTrace, SystemViewTrace, formatStatsTable, statsRows, toChromeTrace } from '../../core/trace/session';
import { enableExceptionTrace } from '../../core/arm/trace-setup';
import { SwoReader } from '../../core/dap/swo';
import { registerServe } from './serve';
import { registerChips } from './chips';
import { registerPack } from './pack';
import { SingleBar } from 'cli-progress';
import { detectImageFormat, FORMAT_NAME, loadImage, uf2FamiliesOfChip, type ImageFormat } from '../../core/elf';
import { describeReport, eraseFlash, flashRegions, type FlashPhase, type FlashReport } from '../../core/flash/flasher';
import { chooseChip } from './chip-choice';

export interface ProbeOptions {
  /** Every --probe given (only `run` takes more than one). */
  probe?: string[];
  blank?: boolean;
  fresh?: boolean;
  elf?: string;
  flavour: 'v1-hid' | 'v2-bulk';
  packetCount?: string;
  clock?: string;
  stats?: boolean;
  /** Core of a multi-drop part (RP2040: 0 or 1). */
  core?: string;
}

const program = new Command('dapdeck')
  .description('Flash microcontroller boards over CMSIS-DAP and watch them run')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

function probeOptions(cmd: Command): Command {
  return cmd
    .option(
      '-p, --probe <selector>',
      'probe: emu:microbit, emu:lm3s6965evb, sim:cortex-m3, or VID:PID[:SERIAL] (default: $DAPDECK_PROBE, else the only USB probe connected); run and attach: repeat it to work on several probes at once',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option('--elf <file>', 'emu: probes: program the board with this firmware and boot it (default: what the board holds from earlier commands, else the hello sample)')
    .option('--fresh', 'emu: probes: start from a factory-fresh chip (erased flash and UICR), forgetting what earlier commands flashed')
    .addOption(new Option('--flavour <kind>', 'simulated probe flavour').choices(['v1-hid', 'v2-bulk']).default('v2-bulk'))
    .option('--packet-count <n>', 'simulated probe packet count (pipelining depth)')
    .option('--clock <hz>', 'SWD clock in Hz', '4000000')
    .option('--core <n>', 'core of a multi-drop part to work on, each behind its own debug port (RP2040: 0 or 1)', '0')
    .option('--stats', 'print USB packet counts and modeled wire time (simulated probes)');
}

/** The probe to use: --probe, else $DAPDECK_PROBE, else the only CMSIS-DAP probe on USB. */
async function chooseProbe(selectors: string[] | undefined): Promise<string> {
  if (selectors && selectors.length > 1) throw new UsageError(`this command works on one probe (${selectors.length} given); only run and attach take several --probe`);
  const selector = selectors?.[0];
  if (selector) return selector;
  if (process.env.DAPDECK_PROBE) return process.env.DAPDECK_PROBE;
  const seen = (await listProbes()).filter((p) => p.kind === 'usb');
  const usb = seen.filter((p) => !p.problem);
  if (usb.length === 1) return usb[0].selector;
  if (usb.length === 0 && seen.length) {
    throw new UsageError(`no usable CMSIS-DAP probe: ${seen.map((p) => `${p.selector} cannot be opened (${p.problem})`).join('; ')}; add a udev rule (see the README) or pass --probe`);
  }
  throw new UsageError(
    usb.length === 0
      ? 'no CMSIS-DAP probe found on USB: pass --probe (e.g. emu:microbit) or set DAPDECK_PROBE'
      : `several probes connected (${usb.map((p) => p.selector).join(', ')}): pick one with --probe`,
  );
}

async function withSession<T>(opts: ProbeOptions, body: (session: DebugSession, probe: OpenedProbe) => Promise<T>): Promise<T> {
  // Options are checked before a probe opens (or QEMU starts). DAP_Info reports the packet count
  // in one byte (1..255); DAP_SWJ_Clock takes a 32-bit clock in Hz.
  const packetCount = opts.packetCount !== undefined ? parseNumber(opts.packetCount, '--packet-count', { min: 1, max: 255 }) : undefined;
  const clockHz = parseNumber(opts.clock ?? '4000000', '--clock', { min: 1, max: 0xffffffff });
  const core = parseNumber(opts.core ?? '0', '--core', { min: 0, max: 15 });
  const probe = await openProbe(await chooseProbe(opts.probe), {
    elf: opts.elf,
    blank: opts.blank && !opts.elf,
    fresh: opts.fresh,
    flavour: opts.flavour,
    packetCount,
    defaultElf: (board) => ensureSampleFirmware('hello', board),
  });
  let session: DebugSession | undefined;
  try {
    session = await DebugSession.open(probe.transport, { clockHz, responseTimeoutMs: probe.responseTimeoutMs });
    if (core !== 0) await session.selectCore(core);
    const result = await body(session, probe);
    if (opts.stats && probe.stats) printStats(probe);
    return result;
  } finally {
    await session?.close().catch(() => undefined);
    await probe.close();
  }
}

function printStats(probe: OpenedProbe): void {
  const s = probe.stats!();
  process.stderr.write(
    `probe stats: ${s.packetsOut} packets out, ${s.packetsIn} in, ${s.bytesOut + s.bytesIn} bytes, ` +
      `${s.roundTrips} round trips, ${(s.modeledSeconds * 1000).toFixed(3)} ms modeled wire time\n`,
  );
}

program
  .command('list')
  .description('list probes: emulated boards, simulated targets and USB CMSIS-DAP probes')
  .option('--json', 'machine-readable output')
  .action(async (opts: { json?: boolean }) => {
    const probes = await listProbes();
    if (opts.json) {
      console.log(JSON.stringify(probes));
      return;
    }
    for (const p of probes) console.log(`${p.selector.padEnd(24)} ${p.description}`);
  });

probeOptions(program.command('info').description('identify the probe, debug port, access port and core (every core of a multi-drop part)'))
  .option('--json', 'machine-readable output')
  .action(async (opts: ProbeOptions & { json?: boolean }) => {
    await withSession(opts, async (session, probe) => {
      const s = session.summary!;
      const part = session.part;
      // A multi-drop part (RP2040): every core's DP in turn, each by its own TARGETSEL.
      const cores: { name: string; summary: TargetSummary; status: CoreStatus }[] = [];
      for (let i = 0; i < (part?.cores.length ?? 1); i++) {
        const summary = i === 0 ? s : await session.selectCore(i);
        cores.push({ name: part?.cores[i].name ?? 'core', summary, status: await session.core.status() });
      }
      if (part) await session.selectCore(0);
      if (opts.json) {
        console.log(JSON.stringify({ selector: probe.selector, target: probe.description, ...s, ...(part ? { part: part.name, cores: cores.map((c) => ({ name: c.name, dp: c.summary.dp, ap: c.summary.ap, core: c.summary.core, halted: c.status.halted })) } : {}) }));
        return;
      }
      console.log(`probe:    ${s.probe.product || probe.description} (${s.probe.vendor}), serial ${s.probe.serial}, CMSIS-DAP ${s.probe.protocolVersion}`);
      console.log(`          packet size ${s.probe.packetSize} B, packet count ${s.probe.packetCount}${s.probe.executeCommands ? ', DAP_ExecuteCommands' : ''}`);
      console.log(`target:   ${probe.description}`);
      if (part) console.log(`part:     ${part.name}, multi-drop SWD (TARGETID ${hex32(s.dp.targetId ?? 0)}), ${part.cores.length} cores${part.rescueInstance !== undefined ? ', rescue DP' : ''}`);
      for (const c of cores) {
        const d = c.summary;
        if (part) console.log(`${c.name}:`);
        const pad = part ? '  ' : '';
        console.log(`${pad}SW-DP:    IDCODE ${hex32(d.dp.dpidr)} (DPv${d.dp.version}, designer 0x${d.dp.designer.toString(16)}, rev ${d.dp.revision})${d.dp.targetSel !== undefined ? `, TARGETSEL ${hex32(d.dp.targetSel)}` : ''}`);
        console.log(`${pad}AP #${d.ap.apsel}:    ${d.ap.description}, ROM table at ${hex32(d.ap.base & ~0xfff)}`);
        console.log(`${pad}core:     ${d.core.name} ${d.core.revision} (${d.core.arch}), CPUID ${hex32(d.core.cpuid)}`);
        console.log(`${pad}state:    ${c.status.halted ? 'halted' : c.status.sleeping ? 'sleeping' : 'running'}${c.status.lockup ? ' (LOCKUP)' : ''}`);
      }
    });
  });

probeOptions(program.command('read').description('read target memory').argument('<address>').argument('<length>'))
  .option('--width <bits>', 'access width for a single access: 8, 16 or 32')
  .action(async (address: string, length: string, opts: ProbeOptions & { width?: string }) => {
    const addr = parseAddress(address);
    const len = parseLength(length, addr);
    await withSession(opts, async (session) => {
      if (opts.width) {
        const width = Number(opts.width);
        const read = width === 8 ? session.ap.read8(addr) : width === 16 ? session.ap.read16(addr) : width === 32 ? session.ap.read32(addr) : null;
        if (!read) throw new UsageError('--width must be 8, 16 or 32');
        console.log(`${hex32(addr)}: 0x${(await read).toString(16).padStart(width / 4, '0')}`);
        return;
      }
      console.log(hexDump(addr, await session.ap.readMemory(addr, len)));
    });
  });

probeOptions(program.command('write').description('write bytes (hex) to target memory').argument('<address>').argument('<hex>'))
  .action(async (address: string, hex: string, opts: ProbeOptions) => {
    const addr = parseAddress(address);
    const data = parseHexBytes(hex);
    checkInsideAddressSpace(addr, data.length, 'data');
    await withSession(opts, async (session) => {
      await session.ap.writeMemory(addr, data);
      const back = await session.ap.readMemory(addr, data.length);
      const same = back.every((b, i) => b === data[i]);
      console.log(`wrote ${data.length} bytes at ${hex32(addr)}${same ? '' : ' (read-back differs: not RAM?)'}`);
    });
  });

probeOptions(program.command('reset').description('system reset (AIRCR.SYSRESETREQ)'))
  .option('--halt', 'halt at the reset vector (DEMCR.VC_CORERESET)')
  .action(async (opts: ProbeOptions & { halt?: boolean }) => {
    await withSession(opts, async (session) => {
      await session.core.reset({ halt: !!opts.halt });
      if (opts.halt) {
        const [pc, sp] = await session.core.readCoreRegisters([CoreReg.pc, CoreReg.sp]);
        console.log(`reset, halted at pc ${hex32(pc)} sp ${hex32(sp)}`);
      } else console.log('reset, running');
    });
  });

probeOptions(program.command('halt').description('halt the core')).action(async (opts: ProbeOptions) => {
  await withSession(opts, async (session) => {
    await session.core.halt();
    const pc = await session.core.readCoreRegister(CoreReg.pc);
    console.log(`halted at pc ${hex32(pc)}`);
  });
});

probeOptions(program.command('resume').description('resume the core')).action(async (opts: ProbeOptions) => {
  await withSession(opts, async (session) => {
    await session.core.resume();
    console.log('running');
  });
});

probeOptions(program.command('step').description('execute one instruction')).action(async (opts: ProbeOptions) => {
  await withSession(opts, async (session) => {
    if (!(await session.core.isHalted())) await session.core.halt();
    const before = await session.core.readCoreRegister(CoreReg.pc);
    await session.core.step();
    const after = await session.core.readCoreRegister(CoreReg.pc);
    console.log(`stepped ${hex32(before)} -> ${hex32(after)}`);
  });
});

probeOptions(program.command('regs').description('read core registers (halts the core if running, then resumes it)'))
  .option('--json', 'machine-readable output')
  .action(async (opts: ProbeOptions & { json?: boolean }) => {
    await withSession(opts, async (session) => {
      const wasHalted = await session.core.isHalted();
      if (!wasHalted) await session.core.halt();
      const values = await session.core.readCoreRegisters(CORE_REGISTER_NAMES.map((n) => CoreReg[n]));
      if (!wasHalted) await session.core.resume();
      if (opts.json) {
        console.log(JSON.stringify(Object.fromEntries(CORE_REGISTER_NAMES.map((n, i) => [n, values[i]]))));
        return;
      }
      CORE_REGISTER_NAMES.forEach((name, i) => console.log(`${name.padEnd(8)} ${hex32(values[i])}`));
    });
  });

export interface FlashCliOptions extends ProbeOptions {
  chip?: string;
  algo?: string;
  targetFile?: string[];
  verify: boolean;
  chipErase?: boolean;
  skip: boolean;
  base?: string;
  format?: ImageFormat;
}

function flashOptions(cmd: Command): Command {
  return probeOptions(cmd)
    .option('-c, --chip <name>', 'target chip, e.g. nRF51822_xxAA (see dapdeck chips; default: detected from what the target and probe report)')
    .option('--algo <file.flm>', 'use this CMSIS-Pack flash algorithm (.FLM) instead of the chip\'s')
    .option('--target-file <file.yaml>', 'add a probe-rs target description (repeatable)', (v: string, prev: string[] = []) => [...prev, v]);
}

const PHASE_LABEL: Record<FlashPhase, string> = { plan: 'Checking', erase: 'Erasing ', program: 'Writing ', verify: 'Verifying' };

/** Flash `file` with a progress bar on a terminal, plain phase lines otherwise; Ctrl-C cancels cleanly. */
async function flashFile(session: DebugSession, file: string, opts: FlashCliOptions, probe?: OpenedProbe): Promise<FlashReport & { chip: string; seconds: number }> {
  const { chip, regions, ram } = await chooseChip(opts, session, probe);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const base = opts.base !== undefined ? parseAddress(opts.base, '--base') : undefined;
  const format = opts.format ?? detectImageFormat(bytes, file);
  if (base !== undefined && format !== 'bin') throw new UsageError(`--base applies only to raw .bin images; ${file} is ${FORMAT_NAME[format]} file, which carries its own load addresses`);
  const image = loadImage(bytes, file, { format, base, chip: { name: chip.name, families: uf2FamiliesOfChip(chip.name) } });
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  const tty = process.stderr.isTTY;
  let bar: SingleBar | null = null;
  let phase: FlashPhase | null = null;
  const started = Date.now();
  try {
    const report = await flashRegions(session, regions, image, {
      ram,
      verify: opts.verify,
      chipErase: opts.chipErase,
      skipUnchanged: opts.skip,
      signal: abort.signal,
      onProgress: (p) => {
        if (p.phase !== phase) {
          bar?.stop();
          phase = p.phase;
          if (tty) {
            const unit = p.phase === 'program' ? 'bytes' : 'sectors';
            bar = new SingleBar({ format: `${PHASE_LABEL[p.phase]} [{bar}] {percentage}% {value}/{total} ${unit} {rate}`, stream: process.stderr, hideCursor: true }, undefined);
            bar.start(p.total, p.done, { rate: '' });
          } else process.stderr.write(`${PHASE_LABEL[p.phase].trim()} ${p.total}${p.phase === 'program' ? ' bytes' : p.phase === 'erase' ? ' sectors' : ' sectors'}\n`);
        }
        bar?.update(p.done, { rate: p.phase === 'program' && p.rate > 0 ? `${(p.rate / 1024).toFixed(1)} KiB/s` : '' });
      },
    });
    (bar as SingleBar | null)?.stop();
    const seconds = (Date.now() - started) / 1000;
    process.stderr.write(`${chip.name}: ${describeReport(report)} in ${seconds.toFixed(2)} s${report.sectorsSkipped === report.sectorsTouched ? ' — flash already up to date' : ''}\n`);
    // Only an ELF can decode what the firmware sends; a HEX or BIN replaces whatever ELF was there.
    if (report.verified) probe?.recordFirmware?.(format === 'elf' ? file : undefined);
    return { chip: chip.name, seconds, ...report };
  } finally {
    (bar as SingleBar | null)?.stop();
    process.removeListener('SIGINT', onSigint);
  }
}

flashOptions(program.command('flash').description('program an ELF, Intel HEX, UF2 or BIN image into flash and verify it').argument('<file>'))
  .option('--no-verify', 'skip verification (the result is then reported as NOT verified)')
  .option('--chip-erase', 'erase the whole chip first')
  .option('--no-chip-erase', 'never erase the whole chip, only the sectors that need it (default: a chip erase when that loses nothing)')
  .option('--no-skip', 'reprogram sectors even when their contents already match')
  .option('--base <addr>', 'load address for a raw .bin image')
  .addOption(new Option('--format <format>', 'image format').choices(['elf', 'hex', 'uf2', 'bin']))
  .option('--json', 'print the flash report as JSON on stdout (per region too)')
  .action(async (file: string, opts: FlashCliOptions & { json?: boolean }) => {
    await withSession({ ...opts, blank: true }, async (session, probe) => {
      const report = await flashFile(session, file, opts, probe);
      if (opts.json) console.log(JSON.stringify({ file, ...report }));
      if (!report.verified) process.exitCode = 3;
    });
  });

flashOptions(program.command('erase').description('erase the whole flash (or --range START..END)'))
  .option('--range <range>', 'erase only the sectors covering START..END')
  .option('--json', 'print what was erased as JSON on stdout')
  .action(async (opts: FlashCliOptions & { range?: string; json?: boolean }) => {
    await withSession({ ...opts, blank: true }, async (session, probe) => {
      const { regions, ram, chip } = await chooseChip(opts, session, probe);
      const range = opts.range ? parseRange(opts.range, '--range') : undefined;
      let sectors = 0;
      const erased: { region: string; start: number; size: number; sectors: number }[] = [];
      for (const r of regions) {
        if (range && (range.start >= r.region.start + r.region.size || range.start + range.size <= r.region.start)) continue;
        const n = await eraseFlash(session, r.algorithm, { ram, range });
        erased.push({ region: r.region.name ?? r.algorithm.name, start: r.region.start, size: r.region.size, sectors: n });
        sectors += n;
      }
      if (opts.json) console.log(JSON.stringify({ chip: chip.name, sectors, regions: erased }));
      else console.log(`${chip.name}: erased ${sectors} sector${sectors === 1 ? '' : 's'}`);
    });
  });

/** Options every streaming command shares (run, attach, rtt read, decode). */
function outputOptions(cmd: Command): Command {
  return cmd
    .hook('preAction', (_command, action) => {
      // Before a probe opens or a flash starts: a typo in these fails at once, as a usage error.
      const opts = action.opts<StreamCliOptions>();
      checkOutputOptions(opts);
      parseSeconds(opts.duration, '--duration');
      parseSeconds(opts.timeout, '--timeout');
      if (opts.backtraceLimit !== undefined) parseNumber(opts.backtraceLimit, '--backtrace-limit', { min: 1, max: 10000 });
    })
    .option('--json', 'one JSON record per line (level, timestamp, message, args, location, channel)')
    .option('--log-format <template>', 'line template: {t} {L} {s} {m} {F} {f} {l} (timestamp, level, message, module, file path, file name, line)')
    .option('--no-location', 'leave out the "└─ module @ file:line" line')
    .option('--no-timestamps', 'leave out timestamps')
    .option('--filter <spec>', 'show only what passes an env_logger-style filter, e.g. "info,hello::net=trace"')
    .option('--grep <text>', 'show only lines containing TEXT')
    .option('--log-file <path>', 'append every record to PATH as it arrives (JSON lines if PATH ends in .jsonl)')
    .option('--until <regex>', 'stop with exit 0 when a line matches: every decoded record and text line is tried as it arrives, shown or not (--filter and --grep only choose what is displayed)')
    .option('--no-color', 'no ANSI colours');
}

function streamOptions(cmd: Command): Command {
  return outputOptions(cmd)
    .option('--channels <list>', 'up channels to show, e.g. "0,1" (default: the defmt channel, else 0)')
    .option('--defmt-channel <n>', 'up channel carrying defmt frames', '0')
    .option('--duration <seconds>', 'stop after this long (exit 0)')
    .option('--timeout <seconds>', 'give up after this long (exit 4 unless --until matched)')
    .option('--rtt-scan <range>', 'RAM range to search for the control block, START..END (default: the ELF\'s _SEGGER_RTT, else all RAM)')
    .addOption(new Option('--rtt-mode <mode>', 'set every up channel\'s mode from the host').choices(['block', 'skip', 'trim']))
    .option('--stdin', 'send what arrives on stdin to down channel 0')
    .option('--trace', 'record SystemView task/ISR events (RTT channel "SysView"): a live load table, statistics at the end')
    .option('--trace-out <file>', 'with --trace: save the raw SystemView stream (for trace stats / trace export)')
    .option('--no-catch-hardfault', 'let the firmware\'s own fault handlers run (default: halt on entry to any fault handler and report it)')
    .addOption(new Option('--backtrace <when>', 'print a backtrace when the core stops: auto (on a fault or a failing exit), always, never').choices(['auto', 'always', 'never']).default('auto'))
    .option('--backtrace-limit <n>', 'frames a backtrace shows at most (inlined ones count)', '50');
}

export interface StreamCliOptions {
  json?: boolean;
  logFormat?: string;
  location: boolean;
  timestamps: boolean;
  filter?: string;
  grep?: string;
  logFile?: string;
  until?: string;
  color: boolean;
  channels?: string;
  defmtChannel: string;
  duration?: string;
  timeout?: string;
  rttScan?: string;
  rttMode?: 'block' | 'skip' | 'trim';
  stdin?: boolean;
  trace?: boolean;
  traceOut?: string;
  catchHardfault?: boolean;
  backtrace?: BacktraceMode;
  backtraceLimit?: string;
}

function outputSettings(opts: StreamCliOptions) {
  return {
    json: opts.json,
    logFormat: opts.logFormat,
    location: opts.location,
    timestamps: opts.timestamps,
    filter: opts.filter,
    grep: opts.grep,
    logFile: opts.logFile,
    until: opts.until,
    colour: opts.color === false ? false : undefined,
  };
}

/** The defmt table and RTT address an ELF offers (either may be missing). */
function elfFacts(file: string | undefined): { table?: DefmtTable; address?: number; elf?: ElfFile } {
  if (!file) return {};
  const bytes = readFileSync(file);
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45) return {};
  const elf = new ElfFile(bytes, file);
  let table: DefmtTable | undefined;
  try {
    table = defmtTableFromElf(elf);
  } catch (err) {
    if (!(err instanceof DefmtTableError) || !/no defmt table/.test(err.message)) throw err;
  }
  return { table, address: elf.symbol('_SEGGER_RTT')?.value, elf };
}

/** What `dapdeck test` watches in a stream: every line the firmware sends, and the stop. */
export interface StreamHooks {
  onMessage?: (text: string) => void;
  onReport?: StopWatchOptions['onReport'];
}

async function streamFromTarget(session: DebugSession, probe: OpenedProbe, elfFile: string | undefined, opts: StreamCliOptions, hooks: StreamHooks = {}): Promise<number> {
  const facts = elfFacts(elfFile);
  const defmtChannel = parseNumber(opts.defmtChannel, '--defmt-channel');
  const channels = opts.channels ? opts.channels.split(',').map((c) => parseNumber(c, '--channels')) : [facts.table ? defmtChannel : 0];
  const scan = scanRanges(opts.rttScan, probe);
  const trace = opts.trace || opts.traceOut ? new SystemViewTrace() : undefined;
  const code = await streamRtt(session.ap, {
    ...outputSettings(opts),
    channels,
    defmtChannel: facts.table ? defmtChannel : undefined,
    table: facts.table,
    address: opts.rttScan ? undefined : facts.address,
    scan,
    mode: opts.rttMode,
    duration: parseSeconds(opts.duration, '--duration'),
    timeout: parseSeconds(opts.timeout, '--timeout'),
    stdinChannel: opts.stdin ? 0 : undefined,
    trace: trace ? { sink: trace, record: opts.traceOut, live: !!opts.trace && !opts.json } : undefined,
    core: watchCore(session, {
      program: facts.elf ? new ProgramInfo(facts.elf) : undefined,
      backtrace: opts.backtrace,
      backtraceLimit: parseNumber(opts.backtraceLimit ?? '50', '--backtrace-limit', { min: 1, max: 10000 }),
      commandLine: elfFile,
      info: (t) => process.stderr.write(t),
      onReport: hooks.onReport,
    }),
    onMessage: hooks.onMessage,
  });
  if (trace) {
    if (trace.decoder.stats.packets === 0) {
      process.stderr.write('dapdeck: warning: no SystemView packets arrived: the firmware has a "SysView" channel but did not answer the start command (does it record SystemView?)\n');
    } else if (opts.json) console.log(JSON.stringify({ trace: traceSummary(trace) }));
    else process.stderr.write(`${formatStatsTable(trace)}\n`);
  }
  return code;
}

function traceSummary(trace: SystemViewTrace) {
  return {
    seconds: trace.seconds(Number.isNaN(trace.timeline.first) ? 0 : trace.timeline.last - trace.timeline.first),
    sysFreq: trace.clockHz,
    lanes: statsRows(trace),
    gaps: trace.timeline.gaps,
    packets: trace.decoder.stats.packets,
    malformed: trace.decoder.stats.malformed,
    skippedBytes: trace.decoder.stats.skippedBytes,
    droppedOnTarget: trace.decoder.stats.dropped,
    inconsistentEvents: trace.timeline.inconsistent,
  };
}

const traceCmd = program.command('trace').description('SystemView task/ISR timelines');

streamOptions(probeOptions(traceCmd.command('record').description('record the SystemView stream of a running target to a file (defmt logs print meanwhile)')))
  .requiredOption('--out <file>', 'where to save the raw SystemView bytes')
  .action(async (opts: ProbeOptions & StreamCliOptions & { out: string }) => {
    await withSession(opts, async (session, probe) => {
      if (await session.core.isHalted()) await session.core.resume();
      const elf = opts.elf ?? probe.elf;
      process.exitCode = await streamFromTarget(session, probe, elf, { ...opts, traceOut: opts.out, trace: false, duration: opts.duration ?? (opts.until || opts.timeout ? undefined : '2') });
    });
  });

probeOptions(traceCmd.command('swo').description('interrupt timeline from ITM exception trace over SWO (ARMv7-M; no firmware changes)'))
  .option('--trace-clock <hz>', 'TRACECLKIN, usually the core clock', '48000000')
  .option('--baud <rate>', 'SWO rate (UART/NRZ)', '2000000')
  .option('--duration <seconds>', 'capture time (modeled time on simulated probes)', '1')
  .option('--out <file>', 'also write Chrome Trace Event JSON (Perfetto)')
  .option('--raw <file>', 'also save the raw ITM bytes')
  .option('--json', 'statistics as JSON')
  .action(async (opts: ProbeOptions & { traceClock: string; baud: string; duration: string; out?: string; raw?: string; json?: boolean }) => {
    const clock = parseNumber(opts.traceClock.replace(/M$/i, '000000'), '--trace-clock', { min: 1, max: 0xffffffff });
    const baud = parseNumber(opts.baud.replace(/M$/i, '000000'), '--baud', { min: 1, max: 0xffffffff });
    const seconds = parseSeconds(opts.duration, '--duration')!;
    await withSession(opts, async (session, probe) => {
      const arch = session.core.identity?.arch ?? 'unknown';
      const lineBaud = await enableExceptionTrace(session.ap, { traceClockHz: clock, baud }, arch);
      const reader = new SwoReader(session.probe);
      const actual = await reader.start(lineBaud);
      process.stderr.write(`SWO: ${Math.round(lineBaud)} baud on the target (prescaler from ${clock} Hz), probe capturing at ${actual} baud\n`);
      const trace = new ItmTrace(clock);
      const raw: Uint8Array[] = [];
      const modeled = probe.stats ? () => probe.stats!().modeledSeconds : null;
      const start = modeled ? modeled() : Date.now() / 1000;
      const now = () => (modeled ? modeled() : Date.now() / 1000);
      let stop = false;
      const onSigint = () => (stop = true);
      process.once('SIGINT', onSigint);
      try {
        while (!stop && now() - start < seconds) {
          const data = await reader.read();
          if (data.length) {
            trace.push(data);
            if (opts.raw) raw.push(data);
          } else if (!modeled) await new Promise((r) => setTimeout(r, 2));
        }
      } finally {
        process.removeListener('SIGINT', onSigint);
        await reader.stop().catch(() => undefined);
      }
      if (opts.raw) writeFileSync(opts.raw, Buffer.concat(raw));
      if (opts.out) writeFileSync(opts.out, JSON.stringify(toChromeTrace(trace)));
      const problems = reader.problems;
      if (opts.json) {
        console.log(JSON.stringify({ seconds: trace.seconds(trace.timeline.last - trace.timeline.first), clockHz: clock, lanes: statsRows(trace), gaps: trace.timeline.gaps, malformed: trace.decoder.stats.malformed, probe: problems }));
      } else {
        console.log(formatStatsTable(trace));
      }
      if (problems.overrun) process.stderr.write(`dapdeck: warning: the probe's SWO buffer overran ${problems.overrun} time(s): trace bytes were lost\n`);
      if (problems.streamError) process.stderr.write(`dapdeck: warning: SWO stream errors (${problems.streamError}): does --baud/--trace-clock match the target?\n`);
    });
  });

function loadTrace(file: string): SystemViewTrace {
  const trace = new SystemViewTrace();
  trace.push(readFileSync(file));
  if (trace.decoder.stats.packets === 0) throw new Error(`${file}: no SystemView packets in ${trace.decoder.stats.bytes} bytes`);
  return trace;
}

traceCmd
  .command('stats')
  .description('per-task/ISR statistics of a recorded SystemView stream')
  .argument('<file>')
  .option('--json', 'machine-readable')
  .action((file: string, opts: { json?: boolean }) => {
    const trace = loadTrace(file);
    if (opts.json) console.log(JSON.stringify(traceSummary(trace)));
    else console.log(formatStatsTable(trace));
  });

traceCmd
  .command('export')
  .description('convert a recorded SystemView stream for other viewers')
  .argument('<file>')
  .addOption(new Option('--format <format>', 'output format').choices(['perfetto']).default('perfetto'))
  .requiredOption('--out <file>', 'output file (Chrome Trace Event JSON: open in ui.perfetto.dev or chrome://tracing)')
  .action((file: string, opts: { out: string }) => {
    const trace = loadTrace(file);
    const json = toChromeTrace(trace);
    writeFileSync(opts.out, JSON.stringify(json));
    process.stderr.write(`${opts.out}: ${json.traceEvents.length} trace events\n`);
  });

/** What `run` did on one probe, for `dapdeck test`'s report and record. */
export interface RunOutcome {
  code: number;
  chip?: string;
  probe: { selector: string; serial?: string; product?: string };
}

/** `run` on one probe: flash and verify, catch faults, reset, stream until the firmware stops; `hooks` see the lines and the stop. */
async function flashAndRun(file: string, opts: FlashCliOptions & StreamCliOptions, hooks: StreamHooks = {}): Promise<RunOutcome> {
  return withSession({ ...opts, blank: true }, async (session, probe) => {
    const outcome: RunOutcome = { code: 0, probe: { selector: probe.selector, serial: session.summary?.probe.serial, product: session.summary?.probe.product } };
    const report = await flashFile(session, file, opts, probe);
    outcome.chip = report.chip;
    if (!report.verified) return { ...outcome, code: 3 };
    await setFaultCatch(session, opts.catchHardfault !== false);
    await session.core.reset({ halt: false });
    return { ...outcome, code: await streamFromTarget(session, probe, file, opts, hooks) };
  });
}

function runCommandOptions(cmd: Command): Command {
  return streamOptions(flashOptions(cmd)).option('--no-verify', 'skip verification').option('--no-skip', 'reprogram unchanged sectors too');
}

runCommandOptions(program.command('run').description('flash, reset and stream the firmware\'s RTT output, defmt decoded (usable as a cargo runner)').argument('<file>'))
  .action(async (file: string, opts: FlashCliOptions & StreamCliOptions) => {
    if (opts.probe && opts.probe.length > 1) {
      process.exitCode = await runOnProbes(opts.probe, commandArgs, { logFile: opts.logFile, stdin: opts.stdin });
      return;
    }
    process.exitCode = (await flashAndRun(file, opts)).code;
  });

registerTest(program, { options: runCommandOptions, run: flashAndRun, args: () => commandArgs });

streamOptions(probeOptions(program.command('attach').description('stream a running target\'s RTT output without flashing')))
  .action(async (opts: ProbeOptions & StreamCliOptions) => {
    if (opts.probe && opts.probe.length > 1) {
      process.exitCode = await runOnProbes(opts.probe, commandArgs, { logFile: opts.logFile, stdin: opts.stdin });
      return;
    }
    await withSession(opts, async (session, probe) => {
      await setFaultCatch(session, opts.catchHardfault !== false);
      if (await session.core.isHalted()) await session.core.resume();
      const elf = opts.elf ?? (probe.target ? ensureSampleElfPath(probe) : undefined);
      if (!elf && probe.recordFirmware) {
        process.stderr.write(`dapdeck: ${probe.selector} holds firmware that was not flashed from an ELF by dapdeck (or the ELF changed since): its output is shown undecoded; flash the ELF with dapdeck flash or run to decode it\n`);
      }
      process.exitCode = await streamFromTarget(session, probe, elf, opts);
    });
  });

/** For emu: probes booted with the default sample, its ELF (to decode what it sends). */
function ensureSampleElfPath(probe: OpenedProbe): string | undefined {
  return probe.elf;
}

outputOptions(probeOptions(program.command('gdb').description('GDB server (gdb-multiarch, arm-none-eabi-gdb, VS Code Cortex-Debug): breakpoints, watchpoints, load into flash; RTT keeps streaming here')))
  .option('--port <n>', 'TCP port (0 = any free one)', '1337')
  .option('--host <address>', 'address to listen on (the protocol has no authentication: anything but loopback only on a trusted network)', '127.0.0.1')
  .option('-c, --chip <name>', 'target chip, for GDB\'s load into flash with its flash algorithm (verified, unchanged sectors skipped); default: detected as flash does')
  .option('--algo <file.flm>', 'use this CMSIS-Pack flash algorithm (.FLM) instead of the chip\'s')
  .option('--target-file <file.yaml>', 'add a probe-rs target description (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
  .option('--blank', 'emulated boards start with blank flash (the firmware arrives by GDB\'s load)')
  .option('--no-rtt', 'do not stream RTT while the core runs')
  .option('--no-semihosting', 'leave the firmware\'s semihosting calls (BKPT 0xAB) to GDB as stops instead of serving them here')
  .option('--channels <list>', 'up channels to print, e.g. "0,1" (default: the defmt channel, else 0)')
  .option('--defmt-channel <n>', 'up channel carrying defmt frames', '0')
  .option('--rtt-scan <range>', 'RAM range to search for the control block, START..END')
  .option('--rtt-port <n>', 'also serve one up channel\'s raw bytes over TCP (e.g. for dapdeck decode tcp://HOST:PORT)')
  .option('--rtt-channel <n>', 'the up channel --rtt-port serves (default: the defmt channel)')
  .option('--once', 'exit when the first GDB client detaches')
  .action(async (opts: ProbeOptions & GdbCliOptions & StreamCliOptions) => {
    await withSession({ ...opts, blank: opts.blank }, async (session, probe) => {
      const elf = opts.elf ?? probe.elf;
      const facts = elfFacts(elf);
      const defmtChannel = parseNumber(opts.defmtChannel, '--defmt-channel');
      const channels = opts.channels ? opts.channels.split(',').map((c) => parseNumber(c, '--channels')) : [facts.table ? defmtChannel : 0];
      await runGdbServer(session, probe, opts, { facts, scan: scanRanges(opts.rttScan, probe), channels, defmtChannel, output: outputSettings(opts) });
    });
  });

const rtt = program.command('rtt').description('SEGGER RTT channels');

streamOptions(probeOptions(rtt.command('read').description('stream RTT up channels to stdout (raw text; defmt decoded with --elf)')))
  .action(async (opts: ProbeOptions & StreamCliOptions) => {
    await withSession(opts, async (session, probe) => {
      if (await session.core.isHalted()) await session.core.resume();
      process.exitCode = await streamFromTarget(session, probe, opts.elf, { ...opts, duration: opts.duration ?? (opts.until || opts.timeout ? undefined : '2') });
    });
  });

probeOptions(rtt.command('list').description('show the RTT control block and its channels'))
  .option('--rtt-scan <range>', 'RAM range to search, START..END')
  .action(async (opts: ProbeOptions & { rttScan?: string; json?: boolean }) => {
    await withSession(opts, async (session, probe) => {
      if (await session.core.isHalted()) await session.core.resume();
      const facts = elfFacts(opts.elf ?? probe.elf);
      const s = await RttSession.attach(session.ap, { address: opts.rttScan ? undefined : facts.address, scan: scanRanges(opts.rttScan, probe) });
      console.log(`RTT control block at ${hex32(s.address)}: ${s.block.maxUp} up, ${s.block.maxDown} down`);
      const modes = ['skip', 'trim', 'block', '?'];
      for (const c of s.channels()) {
        console.log(`${c.direction.padEnd(4)} ${c.index}  ${JSON.stringify(c.name).padEnd(12)} buffer ${hex32(c.buffer)} size ${String(c.size).padStart(5)}  mode ${modes[c.flags & 3]}`);
      }
    });
  });

probeOptions(rtt.command('write').description('write bytes to an RTT down channel').argument('<text>', 'text to send (use \\n for a newline)'))
  .option('--channel <n>', 'down channel', '0')
  .option('--hex', 'TEXT is hex bytes')
  .option('--rtt-scan <range>', 'RAM range to search, START..END')
  .action(async (text: string, opts: ProbeOptions & { channel: string; hex?: boolean; rttScan?: string }) => {
    const data = opts.hex ? parseHexBytes(text) : new TextEncoder().encode(text.replace(/\\n/g, '\n'));
    await withSession(opts, async (session, probe) => {
      if (await session.core.isHalted()) await session.core.resume();
      const facts = elfFacts(opts.elf ?? probe.elf);
      const s = await RttSession.attach(session.ap, { address: opts.rttScan ? undefined : facts.address, scan: scanRanges(opts.rttScan, probe) });
      const channel = parseNumber(opts.channel, '--channel');
      let sent = 0;
      const deadline = Date.now() + 2000;
      while (sent < data.length && Date.now() < deadline) {
        const n = await s.write(channel, data.subarray(sent));
        sent += n;
        if (n === 0) await new Promise((r) => setTimeout(r, 5));
      }
      if (sent < data.length) throw new Error(`down channel ${channel} accepted ${sent} of ${data.length} bytes: the firmware is not reading it`);
      process.stderr.write(`wrote ${sent} bytes to down channel ${channel}\n`);
    });
  });

outputOptions(program.command('decode').description('decode a recorded defmt stream (a file, stdin, or tcp://host:port) with the ELF\'s table').argument('[input]', 'file, - for stdin, or tcp://host:port', '-'))
  .requiredOption('--elf <file>', 'the firmware ELF (its defmt table)')
  .action(async (input: string, opts: StreamCliOptions & { elf: string }) => {
    const { table } = elfFacts(opts.elf);
    if (!table) defmtTableFromElf(new ElfFile(readFileSync(opts.elf), opts.elf)); // throws the "no defmt table" message
    process.exitCode = await decodeInput(input, table!, outputSettings(opts));
  });

function scanRanges(option: string | undefined, probe: OpenedProbe): { start: number; size: number }[] {
  if (option) {
    return [parseRange(option, '--rtt-scan')];
  }
  const ram = probe.target?.memoryMap.filter((r) => r.kind === 'ram') ?? [];
  return ram.length ? ram.map((r) => ({ start: r.start, size: r.size })) : [{ start: 0x20000000, size: 0x10000 }];
}

registerServe(program);
registerChips(program);
registerPack(program);

/** The arguments as given (`run` on several probes hands them on to one dapdeck per probe). */
let commandArgs: string[] = [];

export async function main(argv: string[]): Promise<number> {
  // `dapdeck run … | head`: a closed pipe ends the stream, not the process with a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
  commandArgs = argv;
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`dapdeck: error: ${message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}
