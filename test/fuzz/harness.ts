/**
 * A small seeded, bounded mutation fuzzer. Each input is a pure function of (seed, target,
 * iteration): a seed input from the target, mutated a few times. A failure can therefore be
 * reproduced from its numbers alone, and the parent process can rebuild the input that hung.
 *
 * Verdicts per input: the parser accepted it (then the target's invariants must hold, and it must
 * not be an input known to be invalid), or it refused it with its own typed error. Anything else —
 * another exception, taking longer than the per-input limit, running out of the memory bound — is
 * a failure.
 */

export type Rng = () => number;

/** mulberry32: a 32-bit seeded generator, deterministic across runs and machines. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  };
}

export const int = (r: Rng, n: number): number => Math.floor(r() * n);
export const pick = <T>(r: Rng, items: readonly T[]): T => items[int(r, items.length)];

/** Values that sit on boundaries parsers get wrong: zero, sign bits, all ones, powers of two. */
const INTERESTING_32 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** Concatenate byte arrays (spreading big ones into arrays would be slow). */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One generic byte-level mutation (AFL-style): flips, interesting values, inserts, deletes, splices. */
export function mutateBytes(r: Rng, input: Uint8Array, donors: readonly Uint8Array[] = []): Uint8Array {
  const b = Uint8Array.from(input);
  const at = () => int(r, Math.max(1, b.length));
  switch (int(r, 9)) {
    case 0: // bit flip
      if (b.length) b[at()] ^= 1 << int(r, 8);
      return b;
    case 1: // random byte
      if (b.length) b[at()] = int(r, 256);
      return b;
    case 2: {
      // interesting little-endian 16/32-bit value
      const v = pick(r, INTERESTING_32);
      const o = at();
      const width = r() < 0.5 ? 2 : 4;
      for (let k = 0; k < width && o + k < b.length; k++) b[o + k] = (v >>> (8 * k)) & 0xff;
      return b;
    }
    case 3: {
      // delete a run
      if (!b.length) return b;
      const o = at();
      const n = 1 + int(r, Math.min(64, b.length - o));
      return concat(b.subarray(0, o), b.subarray(o + n));
    }
    case 4: {
      // insert random bytes
      const o = int(r, b.length + 1);
      const extra = Uint8Array.from({ length: 1 + int(r, 32) }, () => int(r, 256));
      return concat(b.subarray(0, o), extra, b.subarray(o));
    }
    case 5: {
      // duplicate a chunk (repeated structures: records, frames, packets)
      if (!b.length) return b;
      const o = at();
      const n = 1 + int(r, Math.min(256, b.length - o));
      const dest = int(r, b.length + 1);
      return concat(b.subarray(0, dest), b.subarray(o, o + n), b.subarray(dest));
    }
    case 6: // truncate
      return b.subarray(0, int(r, b.length + 1));
    case 7: {
      // splice in a piece of another seed
      if (!donors.length) return b;
      const d = pick(r, donors);
      if (!d.length) return b;
      const o = int(r, d.length);
      const piece = d.subarray(o, o + 1 + int(r, Math.min(128, d.length - o)));
      const dest = int(r, b.length + 1);
      return concat(b.subarray(0, dest), piece, b.subarray(dest));
    }
    default: {
      // overwrite a run with one byte value (0x00, 0xff or random)
      if (!b.length) return b;
      const o = at();
      const v = pick(r, [0, 0xff, int(r, 256)]);
      b.fill(v, o, Math.min(b.length, o + 1 + int(r, 16)));
      return b;
    }
  }
}

export interface FuzzContext {
  rng: Rng;
  /** The target's seed inputs (for splicing). */
  seeds: readonly Uint8Array[];
}

export interface FuzzTarget<R = unknown> {
  /** Shown in test names and reports, e.g. "elf", "defmt-raw". */
  name: string;
  /** What it exercises (for the report). */
  description: string;
  /** Valid inputs the mutations start from. Built in the repository, never fetched. */
  seeds(): Uint8Array[] | Promise<Uint8Array[]>;
  /** A structure-aware mutation (optional); the generic byte mutations are used as well. */
  mutate?(input: Uint8Array, ctx: FuzzContext): Uint8Array;
  /** Parse/decode one input; returns what invariants are checked on. Throws to refuse it. */
  run(input: Uint8Array): R | Promise<R>;
  /** The parser's own errors: refusing an input with one of these is a correct verdict. */
  expectedErrors: readonly (abstract new (...args: never[]) => Error)[];
  /** Why the input is known to be invalid (then success is a silent success), or null. */
  knownInvalid?(input: Uint8Array): string | null;
  /** Invariants of an accepted input's result (throw to fail): statistics self-consistent, bounds. */
  check?(result: R, input: Uint8Array): void;
  /** Iterations for the short run inside `npx vitest run`. */
  shortIterations: number;
  /** Per-input time limit (ms). */
  timeLimitMs?: number;
  /** Optional cleanup after the run (servers, processes). */
  close?(): void | Promise<void>;
}

export interface TargetCounts {
  target: string;
  seed: number;
  runs: number;
  accepted: number;
  refused: number;
  /** The slowest input (ms). */
  slowestMs: number;
}

export type Failure = { iteration: number; kind: 'uncaught' | 'slow' | 'silent-success' | 'invariant' | 'hang' | 'memory'; detail: string };

/** The input for iteration `i`: a pure function of (seed, i) and the seeds. */
export function inputFor(target: FuzzTarget, seeds: readonly Uint8Array[], seed: number, i: number): Uint8Array {
  const r = rng((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
  const ctx: FuzzContext = { rng: r, seeds };
  const choice = r();
  // A few purely random inputs; the rest mutated seeds (1–8 stacked mutations).
  if (choice < 0.05 || seeds.length === 0) return Uint8Array.from({ length: int(r, 512) }, () => int(r, 256));
  let input = pick(r, seeds);
  const rounds = 1 + int(r, 8);
  for (let k = 0; k < rounds; k++) input = target.mutate && r() < 0.5 ? target.mutate(input, ctx) : mutateBytes(r, input, seeds);
  return input;
}

/** One input through a target: the verdict, or a failure description. */
export async function runOne(target: FuzzTarget, input: Uint8Array): Promise<{ verdict: 'accepted' | 'refused'; ms: number } | { failure: Failure['kind']; detail: string; ms: number }> {
  const limit = target.timeLimitMs ?? 2000;
  const started = performance.now();
  let result: unknown;
  try {
    result = await target.run(input);
  } catch (err) {
    const ms = performance.now() - started;
    if (target.expectedErrors.some((E) => err instanceof E)) {
      if (ms > limit) return { failure: 'slow', detail: `refused after ${ms.toFixed(0)} ms (limit ${limit} ms): ${(err as Error).message}`, ms };
      const message = (err as Error).message;
      if (!message || message.includes('\n')) return { failure: 'uncaught', detail: `refusal is not one line: ${JSON.stringify(message)}`, ms };
      return { verdict: 'refused', ms };
    }
    return { failure: 'uncaught', detail: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err), ms };
  }
  const ms = performance.now() - started;
  if (ms > limit) return { failure: 'slow', detail: `took ${ms.toFixed(0)} ms (limit ${limit} ms)`, ms };
  const invalid = target.knownInvalid?.(input);
  if (invalid) return { failure: 'silent-success', detail: `accepted an input known to be invalid: ${invalid}`, ms };
  try {
    target.check?.(result, input);
  } catch (err) {
    return { failure: 'invariant', detail: (err as Error).message, ms };
  }
  return { verdict: 'accepted', ms };
}

export function hex(bytes: Uint8Array, max = 256): string {
  return Buffer.from(bytes.subarray(0, max)).toString('hex') + (bytes.length > max ? `… (${bytes.length} bytes)` : '');
}
