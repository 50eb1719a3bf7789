/**
 * `npm run fuzz`: the long run. Environment: FUZZ_ITERATIONS (per target, default 100 000),
 * FUZZ_SEED (default: a new one, printed), FUZZ_TARGETS (comma-separated names, default all).
 * One JSON line per target; exit 1 on the first failure, with the saved input's path.
 */
import { FUZZ_TARGETS } from './targets';
import { describeFailure, fuzz } from './runner';

async function main(): Promise<number> {
  const iterations = Number(process.env.FUZZ_ITERATIONS ?? 100_000);
  const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const names = process.env.FUZZ_TARGETS ? process.env.FUZZ_TARGETS.split(',') : FUZZ_TARGETS.map((t) => t.name);
  process.stderr.write(`fuzz: seed ${seed}, ${iterations} inputs per target, targets ${names.join(', ')}\n`);
  let failed = 0;
  for (const name of names) {
    const started = Date.now();
    const result = await fuzz(name, { seed, iterations });
    console.log(JSON.stringify({ ...result.counts, seconds: (Date.now() - started) / 1000, failure: result.failure ? `${result.failure.kind} at ${result.failure.iteration}` : undefined }));
    if (result.failure) {
      failed++;
      process.stderr.write(`${describeFailure(name, result)}\n`);
    }
  }
  return failed ? 1 : 0;
}

main().then((code) => (process.exitCode = code));
