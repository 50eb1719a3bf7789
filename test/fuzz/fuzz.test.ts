/**
 * The short fuzz run, part of `npx vitest run`: every registered target, a fixed seed, a few
 * thousand inputs each (FUZZ_ITERATIONS / FUZZ_SEED override). Each input must be accepted (with
 * the target's invariants holding, and not be one known to be invalid) or refused with the
 * parser's own error, within its time limit and the worker's memory bound. `npm run fuzz` runs
 * the same targets for much longer.
 */
import { describe, expect, it } from 'vitest';
import { FUZZ_TARGETS } from './targets';
import { describeFailure, fuzz } from './runner';

const seed = Number(process.env.FUZZ_SEED ?? 20261127);
const scale = Number(process.env.FUZZ_ITERATIONS ?? 0);

describe('fuzz (short run)', () => {
  for (const target of FUZZ_TARGETS) {
    const iterations = scale || target.shortIterations;
    it(`${target.name}: ${iterations} inputs without a crash, hang, silent success or broken invariant`, async () => {
      const result = await fuzz(target.name, { seed, iterations });
      process.stdout.write(`fuzz ${JSON.stringify(result.counts)}\n`);
      expect(result.failure ? describeFailure(target.name, result) : 'no failure').toBe('no failure');
      expect(result.counts.runs).toBe(iterations);
      // Both verdicts happen: the mutations reach past the first checks, and they break things.
      if (target.expectedErrors.length) expect(result.counts.refused).toBeGreaterThan(0);
      expect(result.counts.accepted).toBeGreaterThan(0);
    }, 120_000);
  }
});
