/**
 * Every test file gets its own directory for the emulated boards' saved flash (DAPDECK_STATE_DIR),
 * inherited by the dapdeck processes it starts: files run in parallel, and a board one file
 * flashes must not be the board another file boots.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

process.env.DAPDECK_STATE_DIR = mkdtempSync(join(tmpdir(), 'dapdeck-boards-'));
