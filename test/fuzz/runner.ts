/**
 * Runs fuzz targets in a worker thread each, with the bounds the harness cannot enforce from
 * inside: a hang (no progress within the hang limit) terminates the worker; a heap past the memory
 * bound kills it (resourceLimits). Either way the offending input is rebuilt here from (seed,
 * iteration) and saved, so it can be reproduced and turned into a regression test.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { hex, inputFor, type Failure, type TargetCounts } from './harness';
import { fuzzTarget } from './targets';

export interface FuzzOptions {
  seed: number;
  iterations: number;
  /** No progress for this long is a hang (the worker is terminated). */
  hangMs?: number;
  /** Heap bound of the worker (old generation, MB). */
  memoryMb?: number;
}

export interface FuzzResult {
  counts: TargetCounts;
  failure?: Failure & { input: string; saved: string };
}

const REPO = resolve(__dirname, '../..');

export async function fuzz(name: string, options: FuzzOptions): Promise<FuzzResult> {
  const target = fuzzTarget(name);
  const progress = new SharedArrayBuffer(4);
  const hangMs = options.hangMs ?? Math.max(10_000, 10 * (target.timeLimitMs ?? 2000));
  const worker = new Worker(resolve(__dirname, 'worker.cjs'), {
    workerData: { target: name, seed: options.seed, from: 0, iterations: options.iterations, progress },
    resourceLimits: { maxOldGenerationSizeMb: options.memoryMb ?? 512 },
    stdout: true,
    stderr: true,
  });
  const at = new Int32Array(progress);
  const outcome = await new Promise<{ counts?: TargetCounts; failure?: Failure; error?: string }>((done) => {
    let last = -1;
    let since = Date.now();
    const watchdog = setInterval(() => {
      const now = Atomics.load(at, 0);
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since > hangMs) {
        clearInterval(watchdog);
        void worker.terminate();
        done({ failure: { iteration: now, kind: 'hang', detail: `no progress for ${hangMs} ms` } });
      }
    }, 100);
    worker.on('message', (m: { kind: string; counts?: TargetCounts; failure?: Failure; detail?: string }) => {
      clearInterval(watchdog);
      if (m.kind === 'error') done({ error: m.detail });
      else done({ counts: m.counts, failure: m.failure });
    });
    worker.on('error', (err: Error & { code?: string }) => {
      clearInterval(watchdog);
      const iteration = Atomics.load(at, 0);
      done({ failure: { iteration, kind: err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'memory' : 'uncaught', detail: `${err.code ?? ''} ${err.message}` } });
    });
  });
  await worker.terminate();
  if (outcome.error) throw new Error(`fuzz worker for ${name} failed: ${outcome.error}`);
  const counts = outcome.counts ?? { target: name, seed: options.seed, runs: outcome.failure ? outcome.failure.iteration : 0, accepted: 0, refused: 0, slowestMs: 0 };
  if (!outcome.failure) return { counts };
  const input = inputFor(target, await target.seeds(), options.seed, outcome.failure.iteration);
  const dir = resolve(REPO, '.cache', 'fuzz');
  mkdirSync(dir, { recursive: true });
  const saved = resolve(dir, `${name}-seed${options.seed}-iteration${outcome.failure.iteration}.bin`);
  writeFileSync(saved, input);
  return { counts, failure: { ...outcome.failure, input: hex(input), saved } };
}

export function describeFailure(name: string, r: FuzzResult): string {
  const f = r.failure!;
  return `fuzz ${name}: ${f.kind} at iteration ${f.iteration} (seed ${r.counts.seed}): ${f.detail}\n  input (${f.saved}): ${f.input}`;
}
