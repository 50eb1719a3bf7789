#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's require hook, so a checkout works without a build step.
require('tsx/cjs');
const { main } = require('../main/cli/index.ts');
let finished = false;
// A command whose work stalls with nothing left to wait for would otherwise end silently with
// exit 0 (Node exits when its event loop is empty): say so and fail instead.
process.on('beforeExit', () => {
  if (finished) return;
  finished = true;
  process.stderr.write('dapdeck: error: the command stopped before finishing (it was left waiting for nothing)\n');
  process.exitCode = 1;
});
main(process.argv.slice(2)).then((code) => {
  finished = true;
  process.exitCode = code;
});
