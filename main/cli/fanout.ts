/**
 * `dapdeck run` (or `attach`) on several probes at once, as a lab bench does it: each probe gets a dapdeck
 * process of its own (its own USB handle or emulator, its own failure), its output comes back one
 * line at a time prefixed with the probe, its log file is the `--log-file` template with `{n}` and
 * `{probe}` filled in, and the exit code is the worst of theirs.
 */
import { spawn } from 'node:child_process';
import { UsageError } from './parse';

export interface ProbeRun {
  n: number;
  probe: string;
  code: number;
  logFile?: string;
}

/** Exit codes from the worst to the mildest: error, firmware fault/lockup, not verified, timed out, usage. */
const SEVERITY = [1, 5, 3, 4, 2];
const MEANING: Record<number, string> = { 0: 'ok', 1: 'error', 2: 'usage error', 3: 'flashed but not verified', 4: 'timed out', 5: 'firmware stopped: fault, lockup or reset loop' };

export function worstExitCode(codes: number[]): number {
  for (const c of SEVERITY) if (codes.includes(c)) return c;
  return codes.find((c) => c !== 0) ?? 0;
}

/** A selector as a file-name part: `0d28:0204:ABC` → `0d28-0204-ABC`. */
export function probeLabel(selector: string): string {
  return selector.replace(/[^A-Za-z0-9._-]+/g, '-');
}

/**
 * The arguments without the ones the fan-out sets per probe (`--probe`, `--log-file`), in every
 * form commander accepts them: `--probe X`, `--probe=X`, `-p X`, `-pX`.
 */
export function withoutPerProbeOptions(args: string[], also: string[] = []): string[] {
  const out: string[] = [];
  const perProbe = ['--probe', '--log-file', ...also];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (a === '-p' || perProbe.includes(a)) {
      i++;
      continue;
    }
    if (perProbe.some((o) => a.startsWith(`${o}=`)) || (a.startsWith('-p') && !a.startsWith('--') && a.length > 2)) continue;
    out.push(a);
  }
  return out;
}

export async function runOnProbes(
  probes: string[],
  args: string[],
  options: {
    logFile?: string;
    stdin?: boolean;
    out?: (text: string) => void;
    err?: (text: string) => void;
    /** Options (taking a value) the caller sets per probe through `perProbeArgs` instead of passing them on. */
    perProbeOptions?: string[];
    perProbeArgs?: (n: number, probe: string) => string[];
  },
): Promise<number> {
  const out = options.out ?? ((t: string) => process.stdout.write(t));
  const err = options.err ?? ((t: string) => process.stderr.write(t));
  if (options.stdin) throw new UsageError('--stdin goes to one target: use it with a single --probe');
  if (options.logFile && !/\{(n|probe)\}/.test(options.logFile)) {
    throw new UsageError(`with several probes, --log-file needs {n} or {probe} in its path (one file per probe), got "${options.logFile}"`);
  }
  const common = withoutPerProbeOptions(args, options.perProbeOptions);
  const width = Math.max(...probes.map((p, i) => `${i + 1} ${p}`.length));
  // Ctrl-C reaches every child (same process group): each stops cleanly; we wait for them all.
  const onSigint = () => undefined;
  process.on('SIGINT', onSigint);
  try {
    const runs = await Promise.all(
      probes.map((probe, i) => {
        const n = i + 1;
        const logFile = options.logFile?.replace(/\{n\}/g, String(n)).replace(/\{probe\}/g, probeLabel(probe));
        const prefix = `[${`${n} ${probe}`.padEnd(width)}] `;
        const childArgs = [...process.execArgv, process.argv[1], ...common, '--probe', probe, ...(logFile ? ['--log-file', logFile] : []), ...(options.perProbeArgs?.(n, probe) ?? [])];
        return new Promise<ProbeRun>((done) => {
          const colour = process.stdout.isTTY && !common.includes('--no-color') && !common.includes('--json');
          const child = spawn(process.execPath, childArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: colour ? { ...process.env, DAPDECK_COLOR: '1' } : process.env });
          const pipe = (stream: NodeJS.ReadableStream, write: (t: string) => void) => {
            let partial = '';
            stream.setEncoding('utf8');
            stream.on('data', (text: string) => {
              const lines = (partial + text).split('\n');
              partial = lines.pop()!;
              // Progress bars redraw with \r: keep only what the line finally says.
              for (const line of lines) write(prefix + line.slice(line.lastIndexOf('\r') + 1) + '\n');
            });
            stream.on('end', () => partial && write(prefix + partial + '\n'));
          };
          pipe(child.stdout!, out);
          pipe(child.stderr!, err);
          child.on('error', (e) => {
            err(`${prefix}dapdeck: error: cannot start: ${e.message}\n`);
            done({ n, probe, code: 1, logFile });
          });
          child.on('close', (code, signal) => done({ n, probe, code: code ?? (signal ? 1 : 0), logFile }));
        });
      }),
    );
    const failed = runs.filter((r) => r.code !== 0);
    err(`dapdeck: ${runs.length - failed.length} of ${runs.length} probes ok${failed.length ? `; ${failed.map((r) => `${r.n} ${r.probe}: ${MEANING[r.code] ?? `exit ${r.code}`}`).join(', ')}` : ''}\n`);
    return worstExitCode(runs.map((r) => r.code));
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
