#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx's loader, so a checkout works without a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../main/cli/index.ts');
process.exitCode = await main(process.argv.slice(2));
