/**
 * Runs one fuzz target's inputs in a worker thread. Before each input it stores the iteration in
 * shared memory, so the parent can tell which input hung (and terminate this thread) or which one
 * ran the heap past its bound (the thread dies with ERR_WORKER_OUT_OF_MEMORY).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { inputFor, runOne, type TargetCounts } from './harness';
import { fuzzTarget } from './targets';

interface Job {
  target: string;
  seed: number;
  from: number;
  iterations: number;
  progress: SharedArrayBuffer;
}

async function main(job: Job): Promise<void> {
  const progress = new Int32Array(job.progress);
  const target = fuzzTarget(job.target);
  const seeds = await target.seeds();
  const counts: TargetCounts = { target: target.name, seed: job.seed, runs: 0, accepted: 0, refused: 0, slowestMs: 0 };
  try {
    for (let i = job.from; i < job.iterations; i++) {
      Atomics.store(progress, 0, i);
      const input = inputFor(target, seeds, job.seed, i);
      const outcome = await runOne(target, input);
      counts.runs++;
      counts.slowestMs = Math.max(counts.slowestMs, outcome.ms);
      if ('failure' in outcome) {
        parentPort!.postMessage({ kind: 'failure', counts, failure: { iteration: i, kind: outcome.failure, detail: outcome.detail } });
        return;
      }
      counts[outcome.verdict]++;
    }
  } finally {
    await target.close?.();
  }
  parentPort!.postMessage({ kind: 'done', counts });
}

void main(workerData as Job).catch((err: Error) => parentPort!.postMessage({ kind: 'error', detail: err.stack ?? String(err) }));
