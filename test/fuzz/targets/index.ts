/**
 * The fuzz target registry: every parser and decoder that takes outside input. Add a target by
 * writing a FuzzTarget (see ../harness.ts) in this folder and listing it here; the short run in
 * `npx vitest run` and `npm run fuzz` pick it up by name. Async targets (a server answering
 * WebSocket or HTTP input) work the same way: run() may return a promise, close() cleans up.
 */
import type { FuzzTarget } from '../harness';
import { elfTarget } from './elf';
import { binTarget, hexTarget, uf2Target } from './images';
import { flmTarget, pdscTarget, targetYamlTarget } from './flash-descriptions';
import { defmtRawTarget, defmtRzcobsTarget, itmTarget, systemViewTarget } from './streams';
import { serveTarget } from './serve';

export const FUZZ_TARGETS: readonly FuzzTarget[] = [elfTarget, hexTarget, binTarget, uf2Target, targetYamlTarget, flmTarget, pdscTarget, defmtRzcobsTarget, defmtRawTarget, systemViewTarget, itmTarget, serveTarget] as FuzzTarget[];

export function fuzzTarget(name: string): FuzzTarget {
  const target = FUZZ_TARGETS.find((t) => t.name === name);
  if (!target) throw new Error(`no fuzz target "${name}" (known: ${FUZZ_TARGETS.map((t) => t.name).join(', ')})`);
  return target;
}
