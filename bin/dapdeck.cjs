#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's require hook, so a checkout works without a build step.
require('tsx/cjs');
const { main } = require('../main/cli/index.ts');
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
