/** Polls `check` until it holds; throws naming the bound when it has not within `withinMs`. */
export async function eventually(check: () => boolean, withinMs: number, what = 'condition'): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > withinMs) throw new Error(`${what} not reached within ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}
